/**
 * Tier 1 on the working state: the mesh (mesh.ts) with its flooding cost and BFS tree, or a
 * capacity-aware tree.
 */
import { addShortcuts, bfs, buildMesh, buildTier1Tree } from "./mesh.js";
import type { Rec, State } from "./state.js";
import { linkLimit } from "./tier-types.js";

/**
 * Tier 1 as a mesh, or as a tree when the policy says so or when the origin's upload cannot
 * pay for its mesh degree (it must send every packet to each neighbour). Returns the algorithm.
 */
export function buildTier1(st: State, origin: Rec, t1: Rec[]): "mesh" | "tree" {
  const order = [origin, ...t1];
  const all = (1 << st.k) - 1;
  const adj = buildMesh(
    order.map((r) => r.id),
    st.policy.c,
  );
  if (st.policy.tier1Algorithm === "tree" || origin.cap < adj.get(origin.id)!.length * st.U) {
    const fan = (id: number): number => Math.min(st.get(id).maxKids, Math.floor(st.get(id).cap / st.U));
    const { parent } = buildTier1Tree(
      order.map((r) => r.id),
      fan,
    );
    for (const r of t1) {
      const p = parent.get(r.id);
      r.np.depth = null;
      if (p === undefined || p === null) continue;
      const pr = st.get(p);
      for (let j = 0; j < st.k; j++) st.link(pr, r, j, "tree");
      r.np.depth = (pr.np.depth ?? 0) + 1;
      r.np.sources = [origin.id];
    }
    return "tree";
  }
  // Flooding costs (degree - 1) streams: a shortcut needs one spare stream at both ends.
  const room = (id: number): boolean => {
    const r = st.get(id);
    const deg = adj.get(id)!.length;
    return r.cap - deg * st.U >= st.U && deg + 1 <= linkLimit(st.policy, r.role) - st.policy.tier2FeedLinks;
  };
  addShortcuts(
    adj,
    origin.id,
    Math.ceil(Math.log2(Math.max(2, order.length))) + 1,
    (a, b) => room(a) && room(b),
  );
  const { parent, depth } = bfs(adj, origin.id);
  for (const r of order) {
    const nb = adj.get(r.id)!;
    r.np.mesh = nb;
    r.used += (r === origin ? nb.length : nb.length - 1) * st.U;
    if (r !== origin) {
      r.np.depth = depth.get(r.id) ?? null;
      r.np.sources = [origin.id];
      const p = parent.get(r.id);
      if (p !== undefined && p !== null) {
        r.np.parents.fill(p);
        st.get(p).np.children.push({ node: r.id, substreams: all, algorithm: "flood" });
      }
    }
  }
  // Mesh neighbours travel in the ASSIGN too: they take child-link room.
  for (const r of t1)
    r.maxKids = Math.max(0, linkLimit(st.policy, r.role) - r.np.mesh!.length + r.np.children.length);
  return "mesh";
}
