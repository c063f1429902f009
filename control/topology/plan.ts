/**
 * What a topology engine takes and returns. Engines are pure functions (snapshot in,
 * plan out): no clock, no sockets, no randomness. The DCM owns the snapshot and turns a
 * plan into ASSIGN messages (it knows the addresses; the plan only knows node ids).
 * The foundation ships one engine, the capacity-aware tree (tree.ts); the three-tier
 * engine of a later issue implements the same `TopologyEngine` type.
 */

/** A node as the topology sees it. */
export interface TopologyNode {
  id: number;
  region: string;
  /** Configured upload capacity, kbit/s. */
  uploadKbps: number;
  /** When the node joined (ms); older nodes win ties. */
  joinedAt: number;
}

/** The live source: the root of every tree. */
export interface TopologyRoot {
  id: number;
  uploadKbps: number;
  region?: string;
}

export interface TopologySnapshot {
  /** Substreams (1..16). */
  k: number;
  /** Stream rate, kbit/s (> 0). */
  streamKbps: number;
  /** null while no origin offers the channel: every node is then unplaced. */
  origin: TopologyRoot | null;
  nodes: readonly TopologyNode[];
  /** The plan in force: an engine keeps what it can of it (fewer parent switches). */
  previous?: Plan;
  /** Upper bound on children per node (keeps an ASSIGN inside one datagram). */
  maxChildren?: number;
}

export interface ChildEdge {
  node: number;
  /** Bit i set: the child gets substream i from this parent. */
  substreams: number;
}

export interface NodePlan {
  /** parents[i] feeds substream i; null where none (the node repairs from the HTTP fallback). */
  parents: Array<number | null>;
  children: ChildEdge[];
  /** Hops from the origin (origin 0); null when the node is unplaced. */
  depth: number | null;
  /** Hierarchy tier (1 = top); 0 until an engine assigns tiers. */
  tier: number;
}

export interface Plan {
  k: number;
  /** The origin's id, or null when there is none. */
  root: number | null;
  /** Every node of the snapshot, the origin included. */
  nodes: ReadonlyMap<number, NodePlan>;
  /** Nodes that got no parent (no free slot anywhere), ascending ids. */
  unplaced: number[];
  /** Largest depth of a placed node (0 when only the origin is placed). */
  depth: number;
  /** True when the plan was built from scratch rather than derived from `previous`. */
  rebuilt: boolean;
}

export type TopologyEngine = (snapshot: TopologySnapshot) => Plan;

/** Bitmask with all k substream bits set. */
export function allSubstreams(k: number): number {
  return 2 ** k - 1;
}

/** Parent -> child edges of a plan, in plan order (origin's children first). */
export function planEdges(plan: Plan): Array<{ parent: number; child: number; substreams: number }> {
  const edges: Array<{ parent: number; child: number; substreams: number }> = [];
  for (const [parent, np] of plan.nodes) {
    for (const c of np.children) edges.push({ parent, child: c.node, substreams: c.substreams });
  }
  return edges;
}
