/**
 * The last pass of a full build, which makes the origin the last resort (the invariants are
 * checkPlan's `origin-spare` and `unfed-spare`, check-origin.ts; the candidates here are the
 * ones it considers). The builder cannot get there alone: while a cluster is built, room on
 * the primary feeders of clusters built later is held back for them, and the robustness pass
 * frees room after the fact, so a node can end up fed by the origin, or unfed, beside an
 * upper-tier node with room. Here:
 *
 * 1. nodes still unfed take the room left on upper-tier nodes;
 * 2. substreams the origin sends below tier 1 move to upper-tier nodes with room: leaf ones
 *    only (where the child has no child of its own tier, so nobody else's path changes), and
 *    one stays on each origin link: one exit at the origin keeps the child robust (robust-exits.ts)
 *    and its cluster keeps the origin as a feeder (the >= 2 feeders rule);
 * 3. nodes still unfed take the origin's room, which step 2 may have freed.
 */
import { feedsFromAbove } from "./check-origin.js";
import { fedCount, needed } from "./plan-from-state.js";
import type { Rec, State } from "./state.js";
import type { StepMeter } from "./step-meter.js";

/** A node that can pass data on: tier 1 reached by the mesh, a lower tier fed. */
function live(r: Rec): boolean {
  return r.tier === 1 ? r.np.depth !== null : fedCount(r) >= needed(r);
}

/**
 * Steps 1-3 (module doc). A node fed here can feed the tier below it in turn, so the steps
 * repeat while they change something: a few rounds at most (every round feeds a substream or
 * takes one off the origin), bounded anyway. A generator: it pauses between steps (engine.ts
 * buildSteps).
 */
export function* relieveOrigin(st: State, origin: Rec, work: StepMeter): Generator<void, void, void> {
  let unfed = [...st.recs.values()].filter((r) => r.tier >= 2 && fedCount(r) < needed(r));
  unfed.sort((a, b) => a.tier - b.tier || a.id - b.id);
  for (let round = 0; round < 8; round++) {
    // Each pass walks the records (openUppers) or the unfed: a step's worth when there are many.
    if (work.add(st.recs.size)) yield;
    let changed = feedLeft(st, unfed, undefined);
    if (work.add(st.recs.size)) yield;
    // Upper nodes already linked to a child need no free link: moveOff runs even with none open.
    if (moveOff(st, origin, openUppers(st))) changed = true;
    if (work.add(unfed.length)) yield;
    if (feedLeft(st, unfed, origin)) changed = true;
    unfed = unfed.filter((r) => fedCount(r) < needed(r));
    if (!changed) return;
  }
}

/** Room for the cheapest substream and one more link. */
function hasRoom(r: Rec, min: number): boolean {
  return r.cap - r.used >= min && r.np.children.length < r.maxKids;
}

/** Upper-tier nodes that can pass data on and have room for a substream and a link, most spare first. */
function openUppers(st: State): Rec[] {
  const min = Math.min(st.bitCost("tree"), st.bitCost("fec-tree"));
  const open: Rec[] = [];
  for (const r of st.recs.values()) if (r.tier >= 1 && hasRoom(r, min) && live(r)) open.push(r);
  return open.sort((a, b) => b.cap - b.used - (a.cap - a.used) || a.id - b.id);
}

function findFrom(list: readonly Rec[], from: number, ok: (r: Rec) => boolean): Rec | undefined {
  for (let i = from; i < list.length; i++) if (ok(list[i]!)) return list[i];
  return undefined;
}

/**
 * Gives unfed nodes (tier order) their missing substreams: from upper-tier nodes (those linked
 * to the node first, they need no free link), or with `origin` from the origin. True when any moved.
 */
function feedLeft(st: State, nodes: readonly Rec[], origin: Rec | undefined): boolean {
  let any = false;
  let tier = -1;
  let open: Rec[] = [];
  // Links only take room here: a node at `at` or before it with no room left stays without,
  // and the search starts past them (a scan from the start for every unfed node was quadratic:
  // 42 s of one rebuild at 10^5 nodes).
  let at = 0;
  const min = Math.min(st.bitCost("tree"), st.bitCost("fec-tree"));
  for (const c of nodes) {
    if (fedCount(c) >= needed(c)) continue;
    // A node fed a tier up may feed this one: the candidates (tiers above it) are taken afresh per tier.
    if (origin === undefined && c.tier !== tier) {
      tier = c.tier;
      open = openUppers(st).filter((u) => u.tier < tier);
      at = 0;
    }
    while (at < open.length && !hasRoom(open[at]!, min)) at++;
    const alg = st.clusters[c.cluster]?.alg === "fec-tree" ? "fec-tree" : "tree";
    const ok = (u: Rec): boolean => (u === origin || feedsFromAbove(u.np, c.np)) && st.canFeed(u, c, alg);
    const before = c.np.depth;
    for (let j = 0; j < c.np.parents.length; j++) {
      if (c.np.parents[j] !== null) continue;
      const u =
        origin !== undefined
          ? ok(origin)
            ? origin
            : undefined
          : (c.ups.find((x) => x.tier > 0 && ok(x) && live(x)) ?? findFrom(open, at, ok));
      if (u === undefined) break;
      st.link(u, c, j, alg);
      any = true;
    }
    st.refreshDepth(c);
    if (c.np.depth !== before) deepen(st, c);
  }
  return any;
}

/** Moves the origin's leaf substreams below tier 1 to `open` nodes, one kept per link (module doc). */
function moveOff(st: State, origin: Rec, open: Rec[]): boolean {
  let any = false;
  const min = Math.min(st.bitCost("tree"), st.bitCost("fec-tree"));
  for (const e of [...origin.np.children]) {
    const c = st.recs.get(e.node);
    if (c === undefined || c.tier < 2 || e.algorithm === "flood") continue;
    const alg = e.algorithm === "fec-tree" ? "fec-tree" : "tree";
    let interior = 0;
    for (const x of c.np.children) if (st.recs.get(x.node)?.tier === c.tier) interior |= x.substreams;
    const leaves: number[] = [];
    for (let j = 0; j < 16; j++) if ((e.substreams & ~interior & (1 << j)) !== 0) leaves.push(j);
    // Keep one substream on the link (the last leaf one when the link carries no interior one).
    if ((e.substreams & interior) === 0) leaves.pop();
    const before = c.np.depth;
    let moved = false;
    for (const j of leaves) {
      const ok = (u: Rec): boolean => u !== origin && feedsFromAbove(u.np, c.np) && st.canFeed(u, c, alg);
      const u = c.ups.find((x) => ok(x) && live(x)) ?? open.find(ok);
      if (u === undefined) break;
      st.unlink(origin, c, j);
      st.link(u, c, j, alg);
      moved = true;
    }
    if (!moved) continue;
    any = true;
    open = open.filter((r) => hasRoom(r, min));
    st.refreshDepth(c);
    if (c.np.depth !== before) deepen(st, c);
  }
  return any;
}

/**
 * A node got deeper: the depths below it follow (same-tier children per sub-tree, lower-tier
 * children at its depth + 1). Depths only grow here and the links form no cycle, so the walk ends.
 */
function deepen(st: State, start: Rec): void {
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const r = queue[i]!;
    for (const e of r.np.children) {
      const x = st.recs.get(e.node);
      if (x === undefined || x.tier < r.tier) continue;
      let changed = false;
      for (let j = 0; j < x.tdepth.length; j++) {
        if ((e.substreams & (1 << j)) === 0) continue;
        const d = st.depthIn(r, j, x.tier > r.tier) + 1;
        if (x.tdepth[j] !== d) {
          x.tdepth[j] = d;
          changed = true;
        }
      }
      if (!changed) continue;
      st.refreshDepth(x);
      queue.push(x);
    }
  }
}
