/**
 * The multi-tree of one cluster (FIG. 5 text; tier 2 uses it with erasure-coded substreams).
 * The stream is cut into m substreams; each gets a sub-tree over all members. Each member is
 * interior in at most one sub-tree (its "home") and a leaf in every other one, so its upload
 * is spent on one substream: fanout = min(links left, floor(spare upload / substream rate)).
 *
 * Greedy construction, one sub-tree at a time, in the patent's order: homes are dealt
 * highest fanout first (ties: symmetric NAT first, the most constrained) to the sub-tree with
 * the least fanout so far (balanced capacity per sub-tree). Sub-tree j then places its home
 * members (highest fanout first), then everybody else (symmetric NAT first), each under the
 * shallowest free slot (minimum depth) whose owner is NAT-compatible; when no slot is left
 * within the cluster's depth bound, a feeder of the tier above takes the child (and the
 * origin covers the last deficit, see feeders.ts). Every member ends with one parent per
 * sub-tree unless even the origin is out of upload.
 */
import { NatType } from "../../protocol/messages.js";
import type { FeedSource } from "./feeders.js";
import type { ClusterState, Rec, State } from "./state.js";
import type { StepMeter } from "./step-meter.js";

/**
 * Members with free home slots (Rec.fan, which link/unlink keep), by local depth, split by NAT
 * (a symmetric owner cannot take a symmetric child).
 */
class Slots {
  readonly open: Rec[][] = [];
  readonly sym: Rec[][] = [];
  readonly heads = { open: [] as number[], sym: [] as number[] };

  push(rec: Rec, depth: number): void {
    const kind = rec.nat === NatType.SYMMETRIC ? "sym" : "open";
    const levels = this[kind];
    while (levels.length <= depth) {
      levels.push([]);
      this.heads[kind].push(0);
    }
    levels[depth]!.push(rec);
  }

  /** The shallowest slot with depth < maxDepth that a child with this NAT may use. */
  take(childSym: boolean, maxDepth: number): { slot: Rec; depth: number } | undefined {
    let best: { slot: Rec; depth: number } | undefined;
    for (const kind of childSym ? (["open"] as const) : (["open", "sym"] as const)) {
      const levels = this[kind];
      const heads = this.heads[kind];
      const limit = Math.min(levels.length, maxDepth, best?.depth ?? Infinity);
      for (let d = 0; d < limit; d++) {
        const level = levels[d]!;
        while (heads[d]! < level.length && level[heads[d]!]!.fan <= 0) heads[d]!++;
        const s = level[heads[d]!];
        if (s !== undefined) {
          best = { slot: s, depth: d };
          break;
        }
      }
    }
    return best;
  }
}

/** Members' fanout in their home sub-tree given what they have left. */
export function homeFanout(st: State, r: Rec, alg: "tree" | "fec-tree", keepLinks: number): number {
  const byUpload = Math.floor((r.cap - r.used) / st.bitCost(alg));
  return Math.max(0, Math.min(byUpload, r.maxKids - keepLinks - r.np.children.length));
}

/**
 * Builds every sub-tree of `cl` over `members` (already in capacity order). `keepLinks`
 * child links of every member stay free (tier 2 keeps them to feed tier 3).
 */
export function* buildMultitree(
  st: State,
  cl: ClusterState,
  members: readonly Rec[],
  feed: FeedSource,
  keepLinks: number,
  work: StepMeter,
): Generator<void, void, void> {
  const m = cl.m;
  const alg = cl.alg === "fec-tree" ? "fec-tree" : "tree";
  const sym = (r: Rec): number => (r.nat === NatType.SYMMETRIC ? 0 : 1);
  const interior: Rec[] = [];
  for (const r of members) {
    r.fan = homeFanout(st, r, alg, keepLinks);
    if (r.fan > 0) interior.push(r);
  }
  interior.sort((a, b) => b.fan - a.fan || sym(a) - sym(b));
  const load = new Array<number>(m).fill(0);
  cl.homes = Array.from({ length: m }, () => []);
  for (const r of interior) {
    let j = 0;
    for (let t = 1; t < m; t++) if (load[t]! < load[j]!) j = t;
    load[j]! += r.fan;
    r.home = j;
    cl.homes[j]!.push(r.id);
  }
  cl.free = load;
  const leaves = [...members].sort((a, b) => sym(a) - sym(b));
  const homeRecs = cl.homes.map((ids) => ids.map((id) => st.get(id)));
  const bound = cl.plan.depthBound;
  // One sub-tree alone (m = 1) takes two roots, so that two feeders serve the cluster.
  const roots = m === 1 ? 2 : 1;
  for (let j = 0; j < m; j++) {
    const slots = new Slots();
    let placed = 0;
    const place = (r: Rec): void => {
      const direct = placed < roots ? feed.take(j + placed, r, true) : undefined;
      const s = direct === undefined ? slots.take(r.nat === NatType.SYMMETRIC, bound) : undefined;
      if (s !== undefined) {
        st.link(s.slot, r, j, alg);
      } else {
        const p = direct ?? feed.take(j, r);
        if (p === undefined) return;
        st.link(p, r, j, alg);
      }
      placed++;
      if (r.home === j) slots.push(r, r.tlocal[j]!);
    };
    // A cluster of thousands is m x its members of placements: the build pauses within it.
    for (const r of homeRecs[j]!) {
      place(r);
      if (work.add(1)) yield;
    }
    for (const r of leaves) {
      if (r.home === j) continue;
      place(r);
      if (work.add(1)) yield;
    }
  }
}
