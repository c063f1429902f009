/**
 * Robustness pass (FIG. 3: "all nodes will get every packet ... even when as many as c - 1
 * nodes fail"). A node's data leaves its own tier, substream by substream, at an upper-tier
 * node (its "exit" for that sub-tree). It survives any c - 1 tier-1 failures when one exit
 * is robust by itself (the origin; for tier 3 also a tier-2 node, whose coded sub-trees obey
 * this rule in turn) or when its exits are >= c distinct tier-1 nodes (the mesh is
 * c-connected, so the rest of tier 1 still reaches them).
 *
 * Greedy construction can break this when a cluster is fed straight from tier 1. The pass
 * repairs it where it is cheap and local: in a sub-tree where the node is a leaf (every one
 * but its home), it swaps the parent for a tier-1 node it does not exit through yet, or for
 * the origin. Leaves have no children there, so nobody else's paths change.
 */
import { refreshSubtree } from "./attach.js";
import type { Rec, State } from "./state.js";

export interface Exits {
  robust: boolean;
  /** Tier-1 exit per sub-tree (null: robust exit, or no parent). */
  tier1: Array<number | null>;
}

export function exitsOf(st: State, r: Rec): Exits {
  const tier1: Array<number | null> = new Array<number | null>(r.np.parents.length).fill(null);
  for (let j = 0; j < r.np.parents.length; j++) {
    let at = r.np.parents[j];
    for (let hops = 0; at !== null && at !== undefined && hops < 64; hops++) {
      const p = st.get(at);
      if (p.tier < r.tier) {
        if (p.tier === 1) tier1[j] = p.id;
        else return { robust: true, tier1 };
        break;
      }
      at = p.np.parents[j];
    }
  }
  return { robust: false, tier1 };
}

function distinct(ids: Array<number | null>): number {
  return new Set(ids.filter((x) => x !== null)).size;
}

/** Makes every member of a cluster robust where a leaf swap can (see above). */
export function ensureRobust(st: State, members: readonly Rec[], tier1: readonly Rec[], origin: Rec): void {
  const c = st.policy.c;
  const alg = members[0]?.np.fec !== undefined ? "fec-tree" : "tree";
  for (const r of members) {
    const ex = exitsOf(st, r);
    if (ex.robust || distinct(ex.tier1) >= c) continue;
    for (let j = 0; j < r.np.parents.length; j++) {
      if (j === r.home || r.np.parents[j] === null) continue;
      const mine = ex.tier1[j];
      if (mine === null || mine === undefined) continue;
      // Only a sub-tree whose exit another sub-tree shares is worth moving.
      if (ex.tier1.filter((x) => x === mine).length < 2) continue;
      const old = st.get(r.np.parents[j]!);
      const taken = new Set(ex.tier1.filter((x): x is number => x !== null));
      let next = tier1.find((t) => !taken.has(t.id) && t.np.depth !== null && st.canFeed(t, r, alg));
      next ??= st.canFeed(origin, r, alg) ? origin : undefined;
      if (next === undefined) continue;
      st.unlink(old, r, j);
      st.link(next, r, j, alg);
      if (next === origin) break;
      ex.tier1[j] = next.id;
      if (distinct(ex.tier1) >= c) break;
    }
    const after = exitsOf(st, r);
    if (after.robust || distinct(after.tier1) >= c || !st.canFeed(origin, r, alg)) continue;
    // Not enough distinct tier-1 nodes with room: one sub-tree from the origin, a leaf one
    // if there is one (under the origin the node's own sub-tree only gets shallower).
    let j = r.np.parents.findIndex((p, i) => p !== null && i !== r.home);
    if (j < 0) j = r.np.parents.findIndex((p) => p !== null);
    if (j < 0) continue;
    st.unlink(st.get(r.np.parents[j]!), r, j);
    st.link(origin, r, j, alg);
    if (j === r.home) refreshSubtree(st, r, j);
  }
}
