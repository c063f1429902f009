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
 *    moving it at once churns for nothing, again and again (each move an ASSIGN to three nodes
 *    and make-before-break).
 *    As soon as the child has fewer than fec.k fresh coded substreams its lagging links are
 *    urgent: moved at once, under the backoff only.
 *
 * The child's report is per parent, not per coded substream: a parent feeding a child two coded
 * substreams of which one is cut still looks fresh (its other substream arrives).
 */
import type { HeartbeatBody } from "../protocol/messages.js";
import { byLag, type CongestedLink, isCongested, linkLag } from "./topology/congestion.js";
import { MoveBackoff, type MoveBackoffPolicy } from "./topology/move-backoff.js";
import type { NodePlan, Plan } from "./topology/plan.js";

export interface CongestionMonitorPolicy extends MoveBackoffPolicy {
  /** A parent link whose child got no packet on it for this long is not received, ms. */
  freshMs: number;
  /**
   * Nodes one tickStep() judges at most: a tick over more spans several steps (at 10^5 nodes a
   * whole tick took about 300 ms on a quiet machine, most of it cache misses; a chunk of 16,384
   * up to 300 ms in the simulator, collections included). Default 4,096.
   */
  chunk: number;
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

/**
 * One node's link reports of the current interval, merged as they come: each link's last report
 * (a node that heartbeats several times in an interval: the last heartbeat naming a link wins,
 * and links only an earlier one named still count). Kept as numbers in two arrays of the node's
 * own, written over in place interval after interval, not as the decoded heartbeat: report()
 * allocates nothing once a node's arrays are as long as its links, and no heartbeat body lives
 * on until the tick (a body kept for an interval is a dozen objects the collector promotes and
 * then traces: issue 13, heartbeats near the socket's speed).
 */
interface NodeLinks {
  /** The interval (tick number) the reports belong to. */
  interval: number;
  /** Whether the node reported in that interval (false once its tick ran). */
  reported: boolean;
  /** Links of which the node is the child: parent, last seq received, ageMs (RECV numbers each). */
  recv: number[];
  /** Entries of `recv` in use. */
  nRecv: number;
  /** Links of which the node is the parent: child, last seq sent (SENT_LINK numbers each). */
  sent: number[];
  /** Entries of `sent` in use. */
  nSent: number;
  /** The tick whose samples `prev` holds. */
  prevTick: number;
  /**
   * The samples of that tick of the links of which this node is the child, three numbers each:
   * parent, the parent's last seq sent, the lag (the next tick compares against them). An array
   * of exactly that length, made once per tick (NONE when there are none): a million nodes keep
   * one each (docs/performance.md, memory).
   */
  prev: readonly number[];
}

/** The samples of a node that has none (shared). */
const NONE: readonly number[] = [];

/**
 * Where `node`'s entry starts among the first `used` entries of `width` numbers each (the node
 * first): its own, else the next free one (`used * width`; the caller counts it in).
 */
function slotOf(entries: readonly number[], used: number, width: number, node: number): number {
  for (let j = 0; j < used * width; j += width) if (entries[j] === node) return j;
  return used * width;
}

/** Fields of a sample in NodeLinks.prev. */
const PARENT = 0;
const SENT = 1;
const LAG = 2;
const SAMPLE = 3;

/** Fields of an entry of NodeLinks.recv (the node, seq, age) and of NodeLinks.sent (the node, seq). */
const SEQ = 1;
const AGE = 2;
const RECV = 3;
const SENT_LINK = 2;

export class CongestionMonitor {
  readonly #backoff: MoveBackoff;
  readonly #freshMs: number;
  /** Nodes that reported in this interval or the last, by id. */
  readonly #nodes = new Map<number, NodeLinks>();
  /** Ticks so far: the interval the reports arriving now belong to. */
  #interval = 0;
  /** Scratch of tick(): a child's samples (reused, never shrunk). */
  readonly #samples: number[] = [];
  readonly #chunk: number;
  /**
   * A tick in progress (tickStep): the interval it judges, the nodes it visits and how far it
   * got, and the congested links found so far. Reports that come meanwhile belong to the next
   * interval; a node that reports before its turn is judged first (report()).
   */
  #pass:
    | { t: number; ids: number[]; at: number; found: CongestedLink[]; plan: Plan; lagPackets: number }
    | undefined;

  constructor(policy: Partial<CongestionMonitorPolicy> = {}) {
    this.#backoff = new MoveBackoff(policy);
    this.#freshMs = policy.freshMs ?? 2000;
    this.#chunk = policy.chunk ?? 4096;
    if (!(this.#chunk >= 1)) throw new RangeError(`congestion chunk must be >= 1, got ${this.#chunk}`);
  }

  /** A tick is in progress: tickStep() goes on with it. */
  get ticking(): boolean {
    return this.#pass !== undefined;
  }

  /** Substreams (child x substream) in a backoff streak. */
  get backoffKeys(): number {
    return this.#backoff.size;
  }

  /** Nodes whose reports the monitor holds (this interval's and the last tick's samples). */
  get nodes(): number {
    return this.#nodes.size;
  }

  /** A heartbeat's links: children give what this node sent, parents what it received. O(its links). */
  report(id: number, hb: HeartbeatBody): void {
    let n = this.#nodes.get(id);
    if (n === undefined) {
      n = { interval: -1, reported: false, recv: [], nRecv: 0, sent: [], nSent: 0, prevTick: -1, prev: NONE };
      this.#nodes.set(id, n);
    }
    // A tick in progress has not judged this node's reports yet: it does now, before they go.
    const pass = this.#pass;
    if (pass !== undefined && n.interval === pass.t && n.reported && n.prevTick !== pass.t)
      this.#judge(id, n, pass.t, pass.plan, pass.lagPackets, pass.found);
    // The interval's first report starts afresh; a later one is merged (a link it names again is
    // written over: the last report of a link wins).
    const fresh = n.interval !== this.#interval || !n.reported;
    if (fresh) {
      n.interval = this.#interval;
      n.reported = true;
      n.nRecv = 0;
      n.nSent = 0;
    }
    for (const l of hb.parents) {
      if (l === null) continue;
      const at = slotOf(n.recv, n.nRecv, RECV, l.node);
      if (at === n.nRecv * RECV) n.nRecv++;
      n.recv[at] = l.node;
      n.recv[at + SEQ] = l.lastSeq;
      n.recv[at + AGE] = l.ageMs;
    }
    for (const l of hb.children) {
      const at = slotOf(n.sent, n.nSent, SENT_LINK, l.node);
      if (at === n.nSent * SENT_LINK) n.nSent++;
      n.sent[at] = l.node;
      n.sent[at + SEQ] = l.lastSeq;
    }
  }

  /**
   * Once per heartbeat interval: joins both ends of every link of the plan in force, finds the
   * congested ones (lag >= lagPackets, not shrinking since the last interval) and splits them
   * into links to move now and links to hold (backoff, spare coded links). O(links reported):
   * each reported parent link of a child is joined with its parent's report of that child.
   */
  tick(plan: Plan, lagPackets: number, now: number): CongestionVerdict {
    for (;;) {
      const v = this.tickStep(plan, lagPackets, now, Infinity);
      if (v !== undefined) return v;
    }
  }

  /**
   * tick() in steps of `chunk` nodes: the first call ends the interval (reports from now on
   * belong to the next one) and judges the first nodes; the verdict comes with the last step,
   * undefined before. A link whose parent reported anew before the link's child was judged is
   * not judged this interval (its parent's numbers of the interval are gone).
   */
  tickStep(plan: Plan, lagPackets: number, now: number, chunk = this.#chunk): CongestionVerdict | undefined {
    if (this.#pass === undefined) {
      this.#pass = { t: this.#interval, ids: [...this.#nodes.keys()], at: 0, found: [], plan, lagPackets };
      this.#interval++;
    }
    const pass = this.#pass;
    pass.plan = plan;
    const end = Math.min(pass.ids.length, pass.at + chunk);
    for (let i = pass.at; i < end; i++) {
      const child = pass.ids[i]!;
      const c = this.#nodes.get(child);
      if (c === undefined || c.interval !== pass.t || !c.reported || c.prevTick === pass.t) continue;
      this.#judge(child, c, pass.t, plan, pass.lagPackets, pass.found);
    }
    pass.at = end;
    if (end < pass.ids.length) return undefined;
    this.#pass = undefined;
    pass.found.sort(byLag);
    const out = this.#verdicts(pass.found, plan, now);
    // The interval is over: nodes that did not report in it nor since are forgotten; the others'
    // arrays are written over by their next reports.
    for (const [id, n] of this.#nodes) {
      if (n.interval < pass.t) this.#nodes.delete(id);
      else if (n.interval === pass.t) n.reported = false;
    }
    this.#backoff.sweep(now);
    return out;
  }

  /** Judges a child's parent links of interval t against what its parents said they sent. */
  #judge(
    child: number,
    c: NodeLinks,
    t: number,
    plan: Plan,
    lagPackets: number,
    found: CongestedLink[],
  ): void {
    const policy = { lagPackets };
    const samples = this.#samples;
    const np = plan.nodes.get(child);
    const prev = c.prevTick === t - 1 ? c.prev : undefined;
    samples.length = 0;
    // The child's parent links, each once with its last report.
    const recv = c.recv;
    for (let i = (c.nRecv - 1) * RECV; i >= 0; i -= RECV) {
      const parent = recv[i]!;
      // Only links of the plan in force (both ends reported on it).
      if (np === undefined || !np.parents.includes(parent)) continue;
      const p = this.#nodes.get(parent);
      const sentSeq = p === undefined || p.interval !== t || !p.reported ? undefined : lastSent(p, child);
      if (sentSeq === undefined) continue;
      const lag = linkLag(sentSeq, recv[i + SEQ]!, recv[i + AGE]! >= this.#freshMs);
      samples.push(parent, sentSeq, lag);
      if (prev === undefined) continue;
      for (let j = 0; j < prev.length; j += SAMPLE) {
        if (prev[j + PARENT] !== parent) continue;
        const prevLag = prev[j + LAG]!;
        if (isCongested(prevLag, prev[j + SENT]!, lag, sentSeq, policy))
          found.push({ parent, child, lag, growth: lag - prevLag });
        break;
      }
    }
    c.prev = samples.length === 0 ? NONE : samples.slice();
    c.prevTick = t;
  }

  /** Moves and holds for the congested links, worst first (backoff, spare coded links). */
  #verdicts(found: readonly CongestedLink[], plan: Plan, now: number): CongestionVerdict {
    const out: CongestionVerdict = { moved: [], held: [] };
    if (found.length === 0) return out;
    /** Lagging parents by child. */
    const lagging = new Map<number, number[]>();
    for (const l of found) {
      const ps = lagging.get(l.child);
      if (ps === undefined) lagging.set(l.child, [l.parent]);
      else ps.push(l.parent);
    }
    for (const { parent, child, lag } of found) {
      const np = plan.nodes.get(child);
      if (np === undefined) continue;
      const coded = np.fec !== undefined && codedLink(plan, parent, child);
      const spare = coded && this.#received(np, child, lagging.get(child) ?? []) >= np.fec!.k;
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
    return out;
  }

  /** Coded substreams the child receives: a parent that is not lagging and sent lately. */
  #received(np: NodePlan, child: number, lagging: readonly number[]): number {
    const c = this.#nodes.get(child);
    let n = 0;
    for (const p of np.parents) {
      if (p === null || lagging.includes(p) || c === undefined) continue;
      const ageMs = lastReceivedAge(c, p);
      if (ageMs !== undefined && ageMs < this.#freshMs) n++;
    }
    return n;
  }
}

/** The last seq the node said it sent `child` this interval (its last report naming it). */
function lastSent(n: NodeLinks, child: number): number | undefined {
  const sent = n.sent;
  for (let i = 0; i < n.nSent * SENT_LINK; i += SENT_LINK) if (sent[i] === child) return sent[i + SEQ];
  return undefined;
}

/** ms since the node last received from `parent`, as its last report this interval naming it said. */
function lastReceivedAge(n: NodeLinks, parent: number): number | undefined {
  const recv = n.recv;
  for (let i = 0; i < n.nRecv * RECV; i += RECV) if (recv[i] === parent) return recv[i + AGE];
  return undefined;
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
