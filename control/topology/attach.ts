/**
 * Local (re)attachment, shared by incremental repair and congestion moves: give a node a
 * parent in one sub-tree of its cluster without touching anyone else's parents.
 *
 * - A slot inside the cluster: a member whose home is sub-tree j, with a free home slot,
 *   upload left, a NAT-compatible end, not in the node's own sub-tree (no cycle), shallowest
 *   first, and within the cluster's depth bound counting the node's own sub-tree below it.
 * - Else a feeder of the tier above: the cluster's feeders, then the region's tier-2 and
 *   tier-1 nodes, then the origin (repairs skip the global search a full build does; the
 *   drift measure catches what that costs).
 */
import { Cursor, Feeders } from "./feeders.js";
import type { ClusterState, Rec, State } from "./state.js";
import type { UpperPools } from "./upper-pool.js";

/** Hops below `r` in sub-tree j (0 for a leaf), over same-tier children. */
export function subtreeHeight(st: State, r: Rec, j: number): number {
  let h = 0;
  for (const e of r.np.children) {
    if ((e.substreams & (1 << j)) === 0) continue;
    const c = st.recs.get(e.node);
    if (c === undefined || c.tier !== r.tier) continue;
    h = Math.max(h, 1 + subtreeHeight(st, c, j));
  }
  return h;
}

/** Recomputes depths below `r` in sub-tree j after it moved; collects the nodes below in `moved`. */
export function refreshSubtree(st: State, r: Rec, j: number, moved?: Set<number>): void {
  for (const e of r.np.children) {
    if ((e.substreams & (1 << j)) === 0) continue;
    const c = st.recs.get(e.node);
    if (c === undefined || c.tier !== r.tier) continue;
    c.tdepth[j] = r.tdepth[j]! + 1;
    c.tlocal[j] = r.tlocal[j]! + 1;
    st.refreshDepth(c);
    moved?.add(c.id);
    refreshSubtree(st, c, j, moved);
  }
}

function isBelow(st: State, q: Rec, r: Rec, j: number): boolean {
  let at: number | null | undefined = q.id;
  for (let hops = 0; at !== null && at !== undefined && hops < 64; hops++) {
    if (at === r.id) return true;
    const cur = st.recs.get(at);
    if (cur === undefined || cur.tier !== r.tier) return false;
    at = cur.np.parents[j];
  }
  return false;
}

export interface AttachContext {
  st: State;
  /** Upper-tier candidates by region and tier (kept by plan-repair.ts across changes). */
  pools: UpperPools;
  origin: Rec;
  /** Per-change cache, by cluster: its feeders of the tier above. */
  primaries?: Map<number, Rec[]>;
}

/**
 * Finds r a parent in sub-tree j of its cluster (never `avoid`). `preferUpper`: try the tier
 * above first (r lost an upper-tier feeder: another one keeps it one hop down, and one link
 * carries all its lost substreams). Returns false when nobody can.
 */
export function attach(
  ctx: AttachContext,
  r: Rec,
  j: number,
  avoid?: number,
  moved?: Set<number>,
  preferUpper = false,
): boolean {
  const st = ctx.st;
  const cl = st.clusters[r.cluster]!;
  const alg = cl.alg === "fec-tree" ? "fec-tree" : "tree";
  let best = preferUpper ? upperFeed(ctx, cl, r, j, avoid) : undefined;
  if (best === undefined) {
    const height = subtreeHeight(st, r, j);
    const bound = cl.plan.depthBound;
    for (const id of cl.homes[j] ?? []) {
      const q = st.recs.get(id);
      if (q === undefined || q === r || q.id === avoid || q.fan <= 0) continue;
      if (q.np.parents[j] === null || q.tlocal[j]! + 1 + height > bound) continue;
      if (best !== undefined && q.tlocal[j]! >= best.tlocal[j]!) continue;
      if (!st.canFeed(q, r, alg) || isBelow(st, q, r, j)) continue;
      best = q;
    }
  }
  best ??= upperFeed(ctx, cl, r, j, avoid);
  if (best === undefined) return false;
  st.link(best, r, j, alg);
  refreshSubtree(st, r, j, moved);
  return true;
}

function upperFeed(ctx: AttachContext, cl: ClusterState, r: Rec, j: number, avoid?: number): Rec | undefined {
  const st = ctx.st;
  ctx.primaries ??= new Map();
  let primaries = ctx.primaries.get(cl.plan.id);
  if (primaries === undefined) {
    primaries = [];
    for (const id of cl.feeds.keys()) {
      const x = st.get(id);
      if (x.tier < r.tier) primaries.push(x);
    }
    ctx.primaries.set(cl.plan.id, primaries);
  }
  const lists = [...ctx.pools.cursors(cl.plan.region, r.tier), new Cursor([ctx.origin])];
  const feeders = new Feeders(st, cl.alg, primaries, lists, avoid);
  // Below two distinct feeders, the next feed comes from a new one when possible.
  const fresh = cl.plan.fec === undefined && cl.feeds.size < 2;
  if (fresh) for (const id of cl.feeds.keys()) feeders.handed.add(id);
  return feeders.take(j, r, fresh);
}

/**
 * Keeps >= 2 distinct feeders on a bottom-tier cluster after a repair took one away: one leaf
 * substream of a member moves to a feeder the cluster does not use yet, if any has room.
 * Returns the nodes whose assignment changed.
 */
export function ensureFeeders(ctx: AttachContext, cl: ClusterState, moved?: Set<number>): number[] {
  const st = ctx.st;
  if (cl.plan.fec !== undefined || cl.feeds.size >= 2 || cl.feeds.has(ctx.origin.id)) return [];
  // Leaf sub-trees first; a home sub-tree edge may move too (under a feeder the node sits
  // one hop down, so its own sub-tree only gets shallower).
  for (const leafOnly of [true, false])
    for (const id of cl.plan.members) {
      const r = st.get(id);
      for (let j = 0; j < r.np.parents.length; j++) {
        const p = r.np.parents[j];
        if ((leafOnly && j === r.home) || p === null || p === undefined) continue;
        const old = st.get(p);
        const lists = [...ctx.pools.cursors(cl.plan.region, r.tier), new Cursor([ctx.origin])];
        const feeders = new Feeders(st, cl.alg, [], lists);
        for (const f of cl.feeds.keys()) feeders.handed.add(f);
        const next = feeders.take(j, r, true);
        // Only robust feeders (tier 2, the origin): a tier-1 one could break the c - 1 failure rule.
        if (next === undefined || cl.feeds.has(next.id) || next.tier === 1) return [];
        st.unlink(old, r, j);
        st.link(next, r, j, "tree");
        refreshSubtree(st, r, j, moved);
        return [old.id, r.id, next.id];
      }
    }
  return [];
}
