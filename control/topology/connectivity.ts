/**
 * Vertex connectivity of a small undirected graph (the tier-1 mesh) by Menger's theorem:
 * the number of internally vertex-disjoint s-t paths equals the minimum s-t vertex cut, found
 * as a unit-capacity max flow on the split graph (v_in -> v_out, capacity 1). For adjacent
 * s, t the edge itself is one more path. kappa(G) = min over pairs; a complete graph on T
 * nodes has T - 1. The flow stops at `want` paths, so checking kappa >= c costs
 * O(T^2 * c * E) at most: fine for tier 1 (tens to a few hundred nodes).
 */

/** Local vertex connectivity between s and t, capped at `want`. */
export function localConnectivity(
  adj: ReadonlyMap<number, readonly number[]>,
  s: number,
  t: number,
  want: number,
): number {
  const ids = [...adj.keys()];
  const at = new Map(ids.map((id, i) => [id, i]));
  const T = ids.length;
  const si = at.get(s);
  const ti = at.get(t);
  if (si === undefined || ti === undefined || si === ti) return 0;
  // Split node v: in = 2v, out = 2v + 1. Residual capacities in a map keyed by arc.
  const cap = new Map<number, number>();
  const out: number[][] = Array.from({ length: 2 * T }, () => []);
  const arc = (a: number, b: number, c: number): void => {
    const key = a * 2 * T + b;
    if (!cap.has(key)) {
      out[a]!.push(b);
      out[b]!.push(a);
      if (!cap.has(b * 2 * T + a)) cap.set(b * 2 * T + a, 0);
    }
    cap.set(key, (cap.get(key) ?? 0) + c);
  };
  const INF = 1 << 20;
  for (let v = 0; v < T; v++) arc(2 * v, 2 * v + 1, v === si || v === ti ? INF : 1);
  let direct = 0;
  for (const [u, list] of adj) {
    const ui = at.get(u)!;
    for (const w of list) {
      const wi = at.get(w);
      if (wi === undefined) continue;
      if ((ui === si && wi === ti) || (ui === ti && wi === si)) {
        if (ui === si) direct = 1;
        continue;
      }
      arc(2 * ui + 1, 2 * wi, 1);
    }
  }
  let flow = direct;
  const src = 2 * si + 1;
  const dst = 2 * ti;
  while (flow < want) {
    const prev = new Int32Array(2 * T).fill(-1);
    prev[src] = src;
    const queue = [src];
    for (let i = 0; i < queue.length && prev[dst] === -1; i++) {
      const u = queue[i]!;
      for (const v of out[u]!) {
        if (prev[v] !== -1 || (cap.get(u * 2 * T + v) ?? 0) <= 0) continue;
        prev[v] = u;
        queue.push(v);
      }
    }
    if (prev[dst] === -1) break;
    for (let v = dst; v !== src; v = prev[v]!) {
      const u = prev[v]!;
      cap.set(u * 2 * T + v, cap.get(u * 2 * T + v)! - 1);
      cap.set(v * 2 * T + u, cap.get(v * 2 * T + u)! + 1);
    }
    flow++;
  }
  return Math.min(flow, want);
}

/** True when the graph is `c`-vertex-connected (or complete, when it has at most c nodes). */
export function isVertexConnected(adj: ReadonlyMap<number, readonly number[]>, c: number): boolean {
  const ids = [...adj.keys()];
  const need = Math.min(c, ids.length - 1);
  if (need <= 0) return true;
  for (let a = 0; a < ids.length; a++) {
    for (let b = a + 1; b < ids.length; b++) {
      if (localConnectivity(adj, ids[a]!, ids[b]!, need) < need) return false;
    }
  }
  return true;
}
