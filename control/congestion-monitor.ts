/**
 * Congestion moves of one channel's DCM (FIG. 9): collects the link reports of heartbeats
 * (the last seq each parent sent a child, the last seq and age each child received from a
 * parent), and once per heartbeat interval says which congested links (congestion.ts) to move
 * now and which to hold. Pure: `now` comes from the caller's injected Clock; the DCM turns the
 * moves into planMove changes.
 *
 * Two brakes keep a fault that a move cannot cure from churning the topology:
 *
 * 1. **Backoff** (move-backoff.ts), per child x substream: a link whose replacement lags again
 *    is moved again only after 4 s, then 8, 16, 32, 60 s (the cap); a substream that has not
 *    lagged for 30 s starts afresh.
 *
 * 2. **Spare coded links.** A lagging FEC_TREE link is *spare* when its child still receives
 *    at least fec.k of its k + n coded substreams from its other parents (fresh: a packet
 *    within `freshMs`, and not lagging themselves): the child rebuilds every data packet, and
 *    the rebuilt ones travel on to its children as if received, so nobody's viewing suffers.
 *    A spare link is moved only under the backoff, and the backoff starts at its cap: it is
 *    moved once it has lagged for `capMs` (60 s), and then at most once per `capMs`.
 *    Why not never: the code's margin is gone while the link is down (one more lost substream
 *    and the child loses data), and parity is only relayed, not made again, by a coded interior
 *    node, so its coded children in that substream's tree are one parity short as well. A fault
 *    tied to the parent or to the path (a bad route, a parent's lossy uplink that stays below
 *    its cap so it sheds nothing) is cured by a move, and a minute's wait costs no data.
 *    Why not at once: the detector sees only the symptom; a fault that follows the substream or
 *    the child (a lossy last mile, a filter at the child's ingress) is not cured by a move, and
 *    in a lab run with one coded substream cut at the child's ingress, moving at once made 79
 *    moves in 45 s (each an ASSIGN to three nodes and make-before-break churn) for nothing.
 *    As soon as the child has fewer than fec.k fresh coded substreams its lagging links are
 *    urgent: moved at once, under the backoff only.
 *
 * The child's report is per parent, not per coded substream: a parent feeding a child two coded
 * substreams of which one is cut still looks fresh (its other substream arrives).
 */
import type { HeartbeatBody } from "../protocol/messages.js";
import { congestedLinks, type LinkSample } from "./topology/congestion.js";
import { MoveBackoff, type MoveBackoffPolicy } from "./topology/move-backoff.js";
import type { NodePlan, Plan } from "./topology/plan.js";

export interface CongestionMonitorPolicy extends MoveBackoffPolicy {
  /** A parent link whose child got no packet on it for this long is not received, ms. */
  freshMs: number;
}

/** A congested link moved now (event `links_congested`). */
export interface CongestionMove {
  parent: number;
  child: number;
  /** Packets the child is behind on the link. */
  lag: number;
  /** FEC_TREE link whose child still received >= fec.k coded substreams without it. */
  spare: boolean;
  /** Moves of the link's substreams in their current streak, this one included. */
  moves: number;
  /** ms before these substreams may be moved again. */
  backoffMs: number;
}

/** A congested link left where it is for now. */
export interface HeldLink {
  parent: number;
  child: number;
  lag: number;
  spare: boolean;
  moves: number;
  /** ms before the link may be moved. */
  waitMs: number;
}

export interface CongestionVerdict {
  moved: CongestionMove[];
  held: HeldLink[];
}

export class CongestionMonitor {
  readonly #backoff: MoveBackoff;
  readonly #freshMs: number;
  /** This interval's reports: parent's last seq sent, child's last seq received and its age. */
  readonly #sent = new Map<string, LinkSample>();
  readonly #recv = new Map<string, { seq: number; ageMs: number }>();
  #last: LinkSample[] = [];

  constructor(policy: Partial<CongestionMonitorPolicy> = {}) {
    this.#backoff = new MoveBackoff(policy);
    this.#freshMs = policy.freshMs ?? 2000;
  }

  /** Substreams (child x substream) in a backoff streak. */
  get backoffKeys(): number {
    return this.#backoff.size;
  }

  /** A heartbeat's links: children give what this node sent, parents what it received. */
  report(id: number, hb: HeartbeatBody): void {
    for (const c of hb.children)
      this.#sent.set(`${id}>${c.node}`, { parent: id, child: c.node, sentSeq: c.lastSeq, recvSeq: 0 });
    for (const p of hb.parents)
      if (p !== null) this.#recv.set(`${p.node}>${id}`, { seq: p.lastSeq, ageMs: p.ageMs });
  }

  /**
   * Once per heartbeat interval: joins both ends of every link of the plan in force, finds the
   * congested ones (lag >= lagPackets, not shrinking since the last interval) and splits them
   * into links to move now and links to hold (backoff, spare coded links).
   */
  tick(plan: Plan, lagPackets: number, now: number): CongestionVerdict {
    const current: LinkSample[] = [];
    for (const [key, s] of this.#sent) {
      const recv = this.#recv.get(key);
      const np = plan.nodes.get(s.child);
      // Only links of the plan in force (both ends reported on it).
      if (recv === undefined || np === undefined || !np.parents.includes(s.parent)) continue;
      current.push({ ...s, recvSeq: recv.seq, ...(recv.ageMs >= this.#freshMs ? { stale: true } : {}) });
    }
    const found = congestedLinks(this.#last, current, { lagPackets });
    this.#last = current;
    const lagging = new Set(found.map((l) => `${l.parent}>${l.child}`));
    const out: CongestionVerdict = { moved: [], held: [] };
    for (const { parent, child, lag } of found) {
      const np = plan.nodes.get(child);
      if (np === undefined) continue;
      const coded = np.fec !== undefined && codedLink(plan, parent, child);
      const spare = coded && this.#received(np, child, lagging) >= np.fec!.k;
      const keys = substreamKeys(np, parent, child, coded);
      for (const k of keys) this.#backoff.lagging(k, now);
      const waitMs = Math.max(...keys.map((k) => this.#backoff.waitMs(k, now, !spare)));
      if (waitMs > 0) {
        const moves = Math.max(...keys.map((k) => this.#backoff.moves(k)));
        out.held.push({ parent, child, lag, spare, moves, waitMs });
        continue;
      }
      let backoffMs = spare ? this.#backoff.policy.capMs : 0;
      for (const k of keys) backoffMs = Math.max(backoffMs, this.#backoff.moved(k, now));
      const moves = Math.max(...keys.map((k) => this.#backoff.moves(k)));
      out.moved.push({ parent, child, lag, spare, moves, backoffMs });
    }
    this.#sent.clear();
    this.#recv.clear();
    this.#backoff.sweep(now);
    return out;
  }

  /** Coded substreams the child receives: a parent that is not lagging and sent lately. */
  #received(np: NodePlan, child: number, lagging: ReadonlySet<string>): number {
    let n = 0;
    for (const p of np.parents) {
      if (p === null || lagging.has(`${p}>${child}`)) continue;
      const r = this.#recv.get(`${p}>${child}`);
      if (r !== undefined && r.ageMs < this.#freshMs) n++;
    }
    return n;
  }
}

function codedLink(plan: Plan, parent: number, child: number): boolean {
  return plan.nodes.get(parent)?.children.find((e) => e.node === child)?.algorithm === "fec-tree";
}

/** Backoff keys of the substreams the parent feeds the child: `<child>/c<j>` coded, `<child>/s<j>` plain. */
function substreamKeys(np: NodePlan, parent: number, child: number, coded: boolean): string[] {
  const keys: string[] = [];
  np.parents.forEach((p, j) => {
    if (p === parent) keys.push(`${child}/${coded ? "c" : "s"}${j}`);
  });
  // Not reached for a link of the plan (the child lists its parent); a key all the same.
  return keys.length > 0 ? keys : [`${child}/p${parent}`];
}
