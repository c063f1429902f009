/**
 * What a channel's DCM does about congestion besides the congestion monitor's lagging links
 * (congestion-monitor.ts, FIG. 9): a parent over its upload cap that shed children gets them moved
 * (shedMoves, pure), and the regions' measured loss and jitter (region-quality.ts) set each
 * region's tier-2 redundancy, which a rebuild applies when it changes (RegionQuality: owns the
 * measured quality and the count of members per region, which the Dcm keeps up to date). Returns
 * decisions; the Dcm queues the moves and asks for the rebuild.
 */
import type { HeartbeatBody } from "../../protocol/messages.js";
import type { Plan } from "../topology/plan.js";
import { type FecPolicy, fecNFor, type RegionInfo } from "../topology/tier-types.js";
import type { Change } from "./planning.js";

/** A shed child's link is this idle before it is moved, ms. */
const SHED_IDLE_MS = 2000;

/**
 * A node over its upload cap shed children (resources.shed): the children it stopped sending
 * to (their link idle for SHED_IDLE_MS) get their substreams from another parent now. The moves,
 * for `id`'s heartbeat `hb`; none when it shed nothing.
 */
export function shedMoves(plan: Plan, id: number, hb: HeartbeatBody): Change[] {
  if ((hb.resources.shed ?? 0) === 0) return [];
  const np = plan.nodes.get(id);
  const moves: Change[] = [];
  for (const c of hb.children) {
    if (c.ageMs < SHED_IDLE_MS || !np?.children.some((e) => e.node === c.node)) continue;
    moves.push({ kind: "move", parent: id, child: c.node });
  }
  return moves;
}

/** A region's measured quality (region-quality.ts). */
export type Quality = Readonly<Record<string, { loss: number; jitterMs: number }>>;

/** The regions' quality as the engine reads it: the policy's region info and the measurements. */
export class RegionQuality {
  readonly #policy: Readonly<Record<string, RegionInfo>> | undefined;
  #quality: Quality = {};
  /** Members per region (the regions present: only theirs can change the plan). */
  readonly #members = new Map<string, number>();

  constructor(policy: Readonly<Record<string, RegionInfo>> | undefined) {
    this.#policy = policy;
  }

  /** A member joins (`by` 1) or leaves (-1) `region`. */
  count(region: string, by: number): void {
    const n = (this.#members.get(region) ?? 0) + by;
    if (n > 0) this.#members.set(region, n);
    else this.#members.delete(region);
  }

  /** Policy region info (access technology) merged with the measured quality. */
  regions(): Record<string, RegionInfo> {
    const out: Record<string, RegionInfo> = { ...this.#policy };
    for (const [r, q] of Object.entries(this.#quality))
      out[r] = { ...out[r], loss: q.loss, jitterMs: q.jitterMs };
    return out;
  }

  /**
   * New measurements: true when a region with members gets another tier-2 redundancy (`fec`:
   * the policy's) than `plan` has in force.
   */
  measure(q: Quality, plan: Plan, fec: FecPolicy): boolean {
    const before = this.regions();
    this.#quality = q;
    const after = this.regions();
    // Against the redundancy the plan has in force: after a failover that is what the nodes
    // reported (the adopted clusters' fec), not what this DCM's first, empty quality would give,
    // so the new DCM's first measurement does not reshuffle a tree that already fits it.
    const inForce = new Map<string, number>();
    for (const c of plan.clusters ?? [])
      if (c.fec !== undefined) for (const r of c.region.split("+")) inForce.set(r, c.fec.n);
    for (const r of this.#members.keys()) {
      // A region with no measurement yet (a new DCM's first ticks) changes nothing.
      if (q[r] === undefined && before[r]?.loss === undefined) continue;
      if ((inForce.get(r) ?? fecNFor(before[r], fec)) !== fecNFor(after[r], fec)) return true;
    }
    return false;
  }
}
