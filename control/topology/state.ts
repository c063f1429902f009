/**
 * The mutable working form of a three-tier plan: one record per node with its capacity in
 * integer units, what it already uses, and its NodePlan (shared with the Plan's map). The
 * builder and the incremental repairs both work on it; `link`/`unlink` keep parents,
 * children and upload usage consistent. Internal to control/topology.
 *
 * Units: 1 unit = R / U with U = lcm(k, fec.k): a channel substream (tier 3) costs U/k, a
 * coded substream (tier 2) U/fec.k, the whole stream U. A node offers floor(upload * U / R).
 */
import { NatType } from "../../protocol/messages.js";
import type { ChildEdge, ClusterPlan, LinkAlgorithm, NodePlan, NodeRole } from "./plan.js";
import type { TierPolicy } from "./tier-types.js";

export interface Rec {
  id: number;
  region: string;
  nat: NatType;
  /** 0 origin, 1 .. levels (3 for levels 2). */
  tier: number;
  role: NodeRole;
  /** Cluster index, -1 for tier 1 and the origin. */
  cluster: number;
  /** Upload in units, and units in use. */
  cap: number;
  used: number;
  /** Child links allowed (the origin: unbounded). */
  maxKids: number;
  /** Sub-tree in which the node may be interior (-1: leaf everywhere). */
  home: number;
  /** Free slots in its home sub-tree (set when its cluster is built; link/unlink keep it). */
  fan: number;
  /** Per sub-tree: hops from the origin, and hops below the nearest upper-tier node. */
  tdepth: number[];
  tlocal: number[];
  np: NodePlan;
  /**
   * Distinct upper-tier nodes with a link to this node (kept by link/unlink; NO_UPS, shared and
   * frozen, until the first: a million records, most with one or two).
   */
  ups: Rec[];
  /** Index of `np.children` by child id, kept once the list grows long (the origin). */
  edgeMap?: Map<number, ChildEdge>;
}

export interface ClusterState {
  plan: ClusterPlan;
  /** Sub-trees: k for tier 3, fec.k + n for tier 2. */
  m: number;
  alg: LinkAlgorithm;
  /** Members with home tree j, per j (repair looks for free slots here). */
  homes: number[][];
  /** Upper-tier feeders of the cluster: substreams each sends into it. */
  feeds: Map<number, number>;
  /** Free home slots per sub-tree (sum of the members' `fan`). */
  free: number[];
}

/** The `ups` of a record that has none yet (shared: link() replaces it, nothing else writes it). */
export const NO_UPS: Rec[] = Object.freeze([]) as unknown as Rec[];

export function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export class State {
  readonly recs = new Map<number, Rec>();
  readonly clusters: ClusterState[] = [];
  readonly U: number;
  originId: number | null = null;
  tier1Algorithm: "mesh" | "tree" = "mesh";

  constructor(
    readonly k: number,
    readonly streamKbps: number,
    readonly policy: TierPolicy,
  ) {
    this.U = (k * policy.fec.k) / gcd(k, policy.fec.k);
  }

  units(uploadKbps: number): number {
    if (!Number.isFinite(uploadKbps) || uploadKbps <= 0) return 0;
    return Math.floor((uploadKbps * this.U) / this.streamKbps + 1e-9);
  }

  /** Units one substream bit costs on a link of this algorithm (flood: paid by the mesh). */
  bitCost(alg: LinkAlgorithm): number {
    if (alg === "flood") return 0;
    return alg === "fec-tree" ? this.U / this.policy.fec.k : this.U / this.k;
  }

  get(id: number): Rec {
    const r = this.recs.get(id);
    if (r === undefined) throw new Error(`topology: unknown node ${id}`);
    return r;
  }

  edge(p: Rec, child: number): ChildEdge | undefined {
    if (p.edgeMap !== undefined) return p.edgeMap.get(child);
    for (const e of p.np.children) if (e.node === child) return e;
    return undefined;
  }

  /**
   * Incremental repairs (plan-repair.ts) set this: a cluster member feeding the tier below keeps the
   * upload its free home slots need (Rec.fan), so that joins into its own cluster still find
   * slots there. (A full build fills every tier top-down: what is left is the tier below's.)
   */
  reserveHomeRoom = false;

  /** True when p can send c one more substream bit over `alg` (capacity, links, NAT). */
  canFeed(p: Rec, c: Rec, alg: LinkAlgorithm): boolean {
    let keep = 0;
    if (this.reserveHomeRoom && p.tier >= 2 && p.tier < c.tier && p.fan > 0) {
      const own = this.clusters[p.cluster];
      keep = p.fan * this.bitCost(own?.alg === "fec-tree" ? "fec-tree" : "tree");
    }
    if (p.cap - p.used - keep < this.bitCost(alg)) return false;
    if (p.nat === NatType.SYMMETRIC && c.nat === NatType.SYMMETRIC) return false;
    const links = p.np.children.length + (keep > 0 ? p.fan : 0);
    return links < p.maxKids || this.edge(p, c.id) !== undefined;
  }

  /** p feeds c substream j. Depths of c in tree j follow p's. */
  link(p: Rec, c: Rec, j: number, alg: LinkAlgorithm): void {
    let e = this.edge(p, c.id);
    if (e === undefined) {
      e = { node: c.id, substreams: 0, algorithm: alg };
      p.np.children.push(e);
      // The first one in an array of its own size (a push onto an empty array reserves 17 slots).
      if (p.tier < c.tier) {
        if (c.ups.length === 0) c.ups = [p];
        else c.ups.push(p);
      }
      if (p.edgeMap !== undefined) p.edgeMap.set(c.id, e);
      else if (p.np.children.length > 32) p.edgeMap = new Map(p.np.children.map((x) => [x.node, x]));
    }
    e.substreams |= 1 << j;
    p.used += this.bitCost(alg);
    c.np.parents[j] = p.id;
    const upper = p.tier < c.tier;
    if (p.tier === c.tier) {
      p.fan--;
      const cl = this.clusters[p.cluster];
      if (cl !== undefined && p.home >= 0) cl.free[p.home]!--;
    }
    if (upper && c.cluster >= 0) {
      const feeds = this.clusters[c.cluster]!.feeds;
      feeds.set(p.id, (feeds.get(p.id) ?? 0) + 1);
    }
    c.tdepth[j] = this.depthIn(p, j, upper) + 1;
    c.tlocal[j] = upper ? 1 : (p.tlocal[j] ?? 0) + 1;
  }

  /** Told when p has room again (an unlink): the repair caches (upper-pool.ts) listen. */
  onFreed?: (p: Rec) => void;

  /** Removes p -> c for substream j (no-op when absent). */
  unlink(p: Rec, c: Rec, j: number): void {
    const e = this.edge(p, c.id);
    if (e === undefined || (e.substreams & (1 << j)) === 0) return;
    e.substreams &= ~(1 << j);
    p.used -= this.bitCost(e.algorithm ?? "tree");
    if (e.substreams === 0) {
      const i = p.np.children.indexOf(e);
      p.np.children.splice(i, 1);
      p.edgeMap?.delete(c.id);
      const u = c.ups.indexOf(p);
      if (u >= 0) c.ups.splice(u, 1);
    }
    if (c.np.parents[j] === p.id) c.np.parents[j] = null;
    if (p.tier === c.tier) {
      p.fan++;
      const cl = this.clusters[p.cluster];
      if (cl !== undefined && p.home >= 0) cl.free[p.home]!++;
    }
    if (p.tier < c.tier && c.cluster >= 0) {
      const feeds = this.clusters[c.cluster]!.feeds;
      const n = (feeds.get(p.id) ?? 0) - 1;
      if (n > 0) feeds.set(p.id, n);
      else feeds.delete(p.id);
    }
    this.onFreed?.(p);
  }

  /** Depth a child of p in tree j gets from p: an upper-tier parent counts with its own depth. */
  depthIn(p: Rec, j: number, upper: boolean): number {
    if (upper || p.tier <= 1) return p.np.depth ?? 0;
    return p.tdepth[j] ?? p.np.depth ?? 0;
  }

  /** Node depth = the slowest substream: max over its sub-trees. */
  refreshDepth(r: Rec): void {
    let d = 0;
    let any = false;
    for (let j = 0; j < r.np.parents.length; j++) {
      if (r.np.parents[j] === null || r.np.parents[j] === undefined) continue;
      any = true;
      d = Math.max(d, r.tdepth[j] ?? 0);
    }
    r.np.depth = any ? d : r.tier <= 1 ? r.np.depth : null;
  }
}

export function newNodePlan(slots: number, tier: number, role: NodeRole): NodePlan {
  return { parents: new Array<number | null>(slots).fill(null), children: [], depth: null, tier, role };
}
