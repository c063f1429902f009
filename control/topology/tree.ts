/**
 * The foundation's topology: one capacity-aware tree per channel, rooted at the origin.
 * Pure and deterministic (the same snapshot gives the same plan, whatever the node order).
 *
 * - A node (the origin likewise) can feed floor(uploadKbps / streamKbps) children, at most
 *   maxChildren. In a tree every child gets all k substreams from its one parent.
 * - Incremental: every edge of the previous plan whose ends are both still present is kept,
 *   up to the parent's capacity (earliest children first). Subtrees cut off from the origin
 *   (their root's parent left) and new nodes are placed, highest capacity first, then oldest,
 *   under the shallowest node with a free slot, preferring a parent in the same region at
 *   equal depth. Subtrees move whole: a moved node keeps its children.
 * - A node that finds no free slot anywhere stays unplaced (no parent; it repairs from the
 *   HTTP fallback) and is listed in `plan.unplaced`; its subtree is dissolved.
 * - The plan is rebuilt from scratch when the incremental one is more than one level deeper
 *   than a from-scratch build, or leaves more nodes unplaced than it.
 *
 * Placing in descending capacity order places everyone whenever that is possible at all,
 * i.e. when the origin has a slot and origin + all nodes but the smallest offer >= n slots.
 */
import {
  allSubstreams,
  type NodePlan,
  type Plan,
  type TopologyEngine,
  type TopologyNode,
  type TopologyRoot,
  type TopologySnapshot,
} from "./plan.js";

/**
 * Tuning: children per node. An ASSIGN with 16 IPv6 parents and 24 IPv6 children encodes to
 * about 1160 bytes, inside the 1200-byte datagram (checked by a test).
 */
export const DEFAULT_MAX_CHILDREN = 24;

export const buildTree: TopologyEngine = (s: TopologySnapshot): Plan => {
  checkSnapshot(s);
  const nodes = canonicalNodes(s.nodes, s.origin);
  if (s.origin === null) return rootlessPlan(s.k, nodes);
  const fresh = place(s, s.origin, nodes, undefined);
  if (s.previous === undefined) return fresh;
  const incremental = place(s, s.origin, nodes, s.previous);
  if (incremental.unplaced.length > fresh.unplaced.length || incremental.depth > fresh.depth + 1)
    return fresh;
  return incremental;
};

/** How many children a node with this upload can feed. */
export function treeCapacity(
  uploadKbps: number,
  streamKbps: number,
  maxChildren = DEFAULT_MAX_CHILDREN,
): number {
  if (!Number.isFinite(uploadKbps) || uploadKbps <= 0) return 0;
  return Math.min(maxChildren, Math.floor(uploadKbps / streamKbps));
}

function checkSnapshot(s: TopologySnapshot): void {
  if (!Number.isInteger(s.k) || s.k < 1 || s.k > 16) throw new RangeError(`k must be 1..16, got ${s.k}`);
  if (!Number.isFinite(s.streamKbps) || s.streamKbps <= 0) {
    throw new RangeError(`streamKbps must be > 0, got ${s.streamKbps}`);
  }
  const m = s.maxChildren ?? DEFAULT_MAX_CHILDREN;
  if (!Number.isInteger(m) || m < 0) throw new RangeError(`maxChildren must be an integer >= 0, got ${m}`);
}

/** Sorted by id, one entry per id, the origin left out: input order cannot change the plan. */
function canonicalNodes(nodes: readonly TopologyNode[], origin: TopologyRoot | null): TopologyNode[] {
  const sorted = [...nodes].sort(
    (a, b) => a.id - b.id || a.joinedAt - b.joinedAt || b.uploadKbps - a.uploadKbps,
  );
  return sorted.filter((n, i) => n.id !== origin?.id && (i === 0 || sorted[i - 1]!.id !== n.id));
}

function rootlessPlan(k: number, nodes: TopologyNode[]): Plan {
  const plan = new Map<number, NodePlan>();
  for (const n of nodes) plan.set(n.id, unplacedNode(k));
  return { k, root: null, nodes: plan, unplaced: nodes.map((n) => n.id), depth: 0, rebuilt: true };
}

function unplacedNode(k: number): NodePlan {
  return { parents: new Array<number | null>(k).fill(null), children: [], depth: null, tier: 0 };
}

function place(s: TopologySnapshot, origin: TopologyRoot, nodes: TopologyNode[], previous?: Plan): Plan {
  const maxChildren = s.maxChildren ?? DEFAULT_MAX_CHILDREN;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const cap = (id: number): number =>
    treeCapacity(id === origin.id ? origin.uploadKbps : byId.get(id)!.uploadKbps, s.streamKbps, maxChildren);
  const regionOf = (id: number): string => (id === origin.id ? (origin.region ?? "") : byId.get(id)!.region);

  const kids = new Map<number, number[]>();
  const parentOf = new Map<number, number>();
  if (previous !== undefined) keepEdges(previous, [origin.id, ...byId.keys()], byId, cap, kids, parentOf);

  const depth = new Map<number, number>();
  const slots = new SlotIndex();
  const attach = (top: number, d: number): void => {
    const queue: Array<[number, number]> = [[top, d]];
    for (let i = 0; i < queue.length; i++) {
      const [id, at] = queue[i]!;
      depth.set(id, at);
      const children = kids.get(id) ?? [];
      slots.add(id, at, regionOf(id), cap(id) - children.length);
      for (const c of children) queue.push([c, at + 1]);
    }
  };
  attach(origin.id, 0);
  breakCycles(nodes, depth, kids, parentOf);

  const detached = nodes.filter((n) => !depth.has(n.id) && !parentOf.has(n.id));
  detached.sort((a, b) => cap(b.id) - cap(a.id) || a.joinedAt - b.joinedAt || a.id - b.id);
  const unplaced: number[] = [];
  for (const n of detached) {
    const p = slots.take(n.region);
    if (p !== undefined) {
      kids.set(p.id, [...(kids.get(p.id) ?? []), n.id]);
      parentOf.set(n.id, p.id);
      attach(n.id, p.depth + 1);
      continue;
    }
    // No slot anywhere: the node and its former subtree get no parent.
    const lost = [n.id];
    for (let i = 0; i < lost.length; i++) {
      const id = lost[i]!;
      for (const c of kids.get(id) ?? []) lost.push(c);
      kids.delete(id);
      parentOf.delete(id);
    }
    unplaced.push(...lost);
  }

  const bits = allSubstreams(s.k);
  const out = new Map<number, NodePlan>();
  let maxDepth = 0;
  for (const id of [origin.id, ...byId.keys()]) {
    const d = depth.get(id);
    if (d === undefined) {
      out.set(id, unplacedNode(s.k));
      continue;
    }
    maxDepth = Math.max(maxDepth, d);
    const parent = parentOf.get(id) ?? null;
    out.set(id, {
      parents: new Array<number | null>(s.k).fill(parent),
      children: (kids.get(id) ?? []).map((c) => ({ node: c, substreams: bits })),
      depth: d,
      tier: 0,
    });
  }
  unplaced.sort((a, b) => a - b);
  return { k: s.k, root: origin.id, nodes: out, unplaced, depth: maxDepth, rebuilt: previous === undefined };
}

/** Keeps the previous plan's edges whose ends are both present, within the parent's capacity. */
function keepEdges(
  previous: Plan,
  parents: number[],
  byId: Map<number, TopologyNode>,
  cap: (id: number) => number,
  kids: Map<number, number[]>,
  parentOf: Map<number, number>,
): void {
  for (const p of parents) {
    const before = previous.nodes.get(p);
    if (before === undefined) continue;
    const room = cap(p);
    const kept: number[] = [];
    for (const e of before.children) {
      if (kept.length >= room) break;
      if (e.node === p || !byId.has(e.node) || parentOf.has(e.node)) continue;
      kept.push(e.node);
      parentOf.set(e.node, p);
    }
    if (kept.length > 0) kids.set(p, kept);
  }
}

/**
 * A node that is neither under the origin nor under a parentless subtree root sits on a
 * cycle (only a corrupt `previous` can hold one): its parent edge is dropped.
 */
function breakCycles(
  nodes: TopologyNode[],
  attached: Map<number, number>,
  kids: Map<number, number[]>,
  parentOf: Map<number, number>,
): void {
  const reached = new Set<number>(attached.keys());
  const queue = nodes.filter((n) => !reached.has(n.id) && !parentOf.has(n.id)).map((n) => n.id);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    reached.add(id);
    for (const c of kids.get(id) ?? []) queue.push(c);
  }
  for (const n of nodes) {
    if (reached.has(n.id)) continue;
    const p = parentOf.get(n.id);
    if (p === undefined) continue;
    kids.set(
      p,
      (kids.get(p) ?? []).filter((c) => c !== n.id),
    );
    parentOf.delete(n.id);
  }
}

interface Cursor {
  ids: number[];
  at: number;
}

interface Level {
  all: Cursor;
  byRegion: Map<string, Cursor>;
}

/**
 * Free slots by depth, and by region within a depth, in the order nodes were attached.
 * Slots only ever get used up while a plan is built, so exhausted entries are skipped lazily
 * and a lookup costs amortised O(1) per level.
 */
class SlotIndex {
  #free = new Map<number, number>();
  #levels: Array<Level | undefined> = [];
  #min = 0;

  add(id: number, depth: number, region: string, free: number): void {
    if (free <= 0) return;
    this.#free.set(id, free);
    let level = this.#levels[depth];
    if (level === undefined) this.#levels[depth] = level = { all: { ids: [], at: 0 }, byRegion: new Map() };
    level.all.ids.push(id);
    let r = level.byRegion.get(region);
    if (r === undefined) level.byRegion.set(region, (r = { ids: [], at: 0 }));
    r.ids.push(id);
    this.#min = Math.min(this.#min, depth);
  }

  /** Takes a slot at the shallowest depth, a parent of `region` first. */
  take(region: string): { id: number; depth: number } | undefined {
    for (let d = this.#min; d < this.#levels.length; d++) {
      const level = this.#levels[d];
      const sameRegion = level?.byRegion.get(region);
      let id = sameRegion === undefined ? undefined : this.#first(sameRegion);
      if (id === undefined && level !== undefined) id = this.#first(level.all);
      if (id === undefined) {
        if (d === this.#min) this.#min++;
        continue;
      }
      this.#free.set(id, this.#free.get(id)! - 1);
      return { id, depth: d };
    }
    return undefined;
  }

  #first(c: Cursor): number | undefined {
    while (c.at < c.ids.length && (this.#free.get(c.ids[c.at]!) ?? 0) <= 0) c.at++;
    return c.ids[c.at];
  }
}
