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

/**
 * How data moves on a link (three-tier engine): `flood` = tier-1 mesh, flooding with duplicate
 * elimination; `fec-tree` = tier-2 Reed-Solomon multi-tree (bits are coded substreams 0..k+n-1);
 * `tree` = plain multi-tree (bits are channel substreams, seq mod k).
 */
export type LinkAlgorithm = "flood" | "fec-tree" | "tree";

/** What a node does in the three-tier hierarchy. */
export type NodeRole = "origin" | "tier1" | "waypoint" | "tier2" | "tier3" | "tier4";

export interface ChildEdge {
  node: number;
  /** Bit i set: the child gets substream i from this parent. */
  substreams: number;
  /** Absent: `tree` (the foundation engine). */
  algorithm?: LinkAlgorithm;
}

export interface NodePlan {
  /** parents[i] feeds substream i; null where none (the node repairs from the HTTP fallback). */
  parents: Array<number | null>;
  children: ChildEdge[];
  /** Hops from the origin (origin 0); null when the node is unplaced. */
  depth: number | null;
  /** Hierarchy tier (1 = top); 0 until an engine assigns tiers. */
  tier: number;
  /** Three-tier engine only (absent from the foundation's tree): */
  role?: NodeRole;
  /** Cluster id (index into `Plan.clusters`); absent for tier 1 and the origin. */
  cluster?: number;
  /** Tier 2: erasure code of the node's inbound links; `parents` then has k + n entries (coded substreams). */
  fec?: { k: number; n: number };
  /** Tier 1 with the mesh algorithm: every flooding neighbour, ascending ids. */
  mesh?: number[];
  /** The upper-tier nodes that feed this node's cluster (tier 1: the origin). */
  sources?: readonly number[];
}

/** A group of nodes managed together (one DCM per channel x cluster). */
export interface ClusterPlan {
  id: number;
  /** 2..levels; erasure-coded clusters carry `fec`, the bottom tier's do not. */
  tier: number;
  /** The cluster's region; merged clusters list several, joined by "+". */
  region: string;
  merged: boolean;
  members: number[];
  /** Upper-tier nodes that feed the cluster (>= 2 when that many exist). */
  feeders: number[];
  /** Tier 2: the erasure code (k data + n parity substreams). */
  fec?: { k: number; n: number };
  /** Largest number of hops allowed below an upper-tier node inside this cluster. */
  depthBound: number;
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
  /** Three-tier engine only: how tier 1 was built (a mesh falls back to a tree when the origin cannot pay its degree). */
  tier1Algorithm?: "mesh" | "tree";
  /** Three-tier engine only: clusters, ascending ids. */
  clusters?: ClusterPlan[];
  /** Three-tier engine only: why each unplaced node is unplaced. */
  unplacedReasons?: ReadonlyMap<number, string>;
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
