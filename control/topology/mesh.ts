/**
 * Tier 1: the preferred nodes, the waypoints and the origin in a c-vertex-connected overlay
 * mesh (FIG. 3, "flooding with duplicate elimination": a node that receives a new packet
 * from neighbour N sends it to every other neighbour), or a plain tree when the policy says
 * every tier-1 node is stable.
 *
 * The mesh is a Harary graph H(c, T) over the tier-1 nodes in the given order (origin first,
 * then by capacity): node i links to i +- 1..floor(c/2) on a ring and, for odd c, to the node
 * across the ring. H(c, T) is c-vertex-connected with the fewest edges (ceil(cT/2)); degrees
 * are c, one node (position 0, the origin) may have c + 1. With T <= c the mesh is complete
 * (connectivity T - 1, the most T nodes allow). c = 1 is built as c = 2 (a ring).
 *
 * Upload: a flooding node sends each packet to its degree - 1 other neighbours (the origin to
 * all of them), so tier 1 needs upload >= c * R (with margin) per node.
 */

/** Undirected edges of H(c, T) over positions 0..T-1 (each pair once, smaller first). */
export function hararyEdges(T: number, c: number): Array<[number, number]> {
  const seen = new Set<number>();
  const edges: Array<[number, number]> = [];
  const add = (a: number, b: number): void => {
    if (a === b) return;
    const [x, y] = a < b ? [a, b] : [b, a];
    const key = x * T + y;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push([x, y]);
  };
  if (T <= 1) return edges;
  const cc = Math.max(2, c);
  if (T <= cc) {
    for (let a = 0; a < T; a++) for (let b = a + 1; b < T; b++) add(a, b);
    return edges;
  }
  const r = Math.floor(cc / 2);
  for (let i = 0; i < T; i++) for (let s = 1; s <= r; s++) add(i, (i + s) % T);
  if (cc % 2 === 1) {
    if (T % 2 === 0) for (let i = 0; i < T / 2; i++) add(i, i + T / 2);
    else for (let i = 0; i <= (T - 1) / 2; i++) add(i, (i + (T + 1) / 2) % T);
  }
  return edges;
}

/** Neighbour lists (ascending ids) of the mesh over `order` (ids; origin first). */
export function buildMesh(order: readonly number[], c: number): Map<number, number[]> {
  const adj = new Map<number, number[]>(order.map((id) => [id, []]));
  for (const [a, b] of hararyEdges(order.length, c)) {
    adj.get(order[a]!)!.push(order[b]!);
    adj.get(order[b]!)!.push(order[a]!);
  }
  for (const list of adj.values()) list.sort((x, y) => x - y);
  return adj;
}

/**
 * Tier-1 tree: breadth first from the root, each node taking up to `fanout(id)` children, in
 * `order` (highest capacity first). Returns parent per node (root: null) and the unplaced.
 */
export function buildTier1Tree(
  order: readonly number[],
  fanout: (id: number) => number,
): { parent: Map<number, number | null>; unplaced: number[] } {
  const parent = new Map<number, number | null>();
  const unplaced: number[] = [];
  if (order.length === 0) return { parent, unplaced };
  parent.set(order[0]!, null);
  const open: Array<{ id: number; free: number }> = [{ id: order[0]!, free: fanout(order[0]!) }];
  let head = 0;
  for (let i = 1; i < order.length; i++) {
    while (head < open.length && open[head]!.free <= 0) head++;
    const slot = open[head];
    const id = order[i]!;
    if (slot === undefined) {
      unplaced.push(id);
      continue;
    }
    slot.free--;
    parent.set(id, slot.id);
    open.push({ id, free: fanout(id) });
  }
  return { parent, unplaced };
}

/** Breadth-first parents and hop counts from `root` over an adjacency map. */
export function bfs(
  adj: ReadonlyMap<number, readonly number[]>,
  root: number,
  removed?: ReadonlySet<number>,
): { parent: Map<number, number | null>; depth: Map<number, number> } {
  const parent = new Map<number, number | null>([[root, null]]);
  const depth = new Map<number, number>([[root, 0]]);
  const queue = [root];
  for (let i = 0; i < queue.length; i++) {
    const u = queue[i]!;
    for (const v of adj.get(u) ?? []) {
      if (depth.has(v) || removed?.has(v)) continue;
      depth.set(v, depth.get(u)! + 1);
      parent.set(v, u);
      queue.push(v);
    }
  }
  return { parent, depth };
}

/**
 * Shortcuts: a Harary ring is c-connected but its diameter grows as T / c. While some node
 * is deeper than `target` hops from the root, link the deepest one to the shallowest node
 * that can afford one more neighbour (`canAdd`); more edges never lower the connectivity.
 * Returns the number of edges added. O(T * E): tier 1 is small.
 */
export function addShortcuts(
  adj: Map<number, number[]>,
  root: number,
  target: number,
  canAdd: (a: number, b: number) => boolean,
): number {
  let added = 0;
  const stuck = new Set<number>();
  for (;;) {
    const { depth } = bfs(adj, root);
    let v: number | undefined;
    for (const [id, d] of depth) {
      if (d > target && !stuck.has(id) && (v === undefined || d > depth.get(v)!)) v = id;
    }
    if (v === undefined) return added;
    const vn = adj.get(v)!;
    let u: number | undefined;
    for (const [id, d] of depth) {
      if (id === v || id === root || vn.includes(id) || d + 1 >= depth.get(v)! - 1) continue;
      if ((u === undefined || d < depth.get(u)!) && canAdd(id, v)) u = id;
    }
    if (u === undefined) {
      stuck.add(v);
      continue;
    }
    vn.push(u);
    adj.get(u)!.push(v);
    vn.sort((a, b) => a - b);
    adj.get(u)!.sort((a, b) => a - b);
    added++;
  }
}
