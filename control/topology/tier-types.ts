/**
 * Input of the three-tier engine (US 10,091,285 FIG. 3-7): what the DCM knows about a channel,
 * its nodes and regions, and the policy. Pure data; defaults in `resolvePolicy`.
 * Design and invariants: docs/topology.md.
 */
import { NatType } from "../../protocol/messages.js";
import { MAX_CHILDREN } from "../../protocol/limits.js";
import type { NodeRole, Plan } from "./plan.js";

export interface TierNode {
  id: number;
  region: string;
  /** Measured (or configured) upload, kbit/s. */
  uploadKbps: number;
  nat: NatType;
  /** A waypoint server (operator box) is always eligible for tier 1. */
  role: "agent" | "waypoint";
  /** Preferred-eligible (decided outside the engine from the node's history, with hysteresis). */
  eligible: boolean;
  joinedAt: number;
  /** False for a relay recruited for a channel it does not watch. */
  watching: boolean;
}

export interface TierOrigin {
  id: number;
  uploadKbps: number;
  region: string;
  /** Default OPEN: the origin must be reachable by everyone. */
  nat?: NatType;
}

export type AccessTech = "dsl" | "cable" | "fibre" | "wireless";

export interface RegionInfo {
  access?: AccessTech;
  /** Measured packet loss (0..1), from heartbeats. */
  loss?: number;
  jitterMs?: number;
  /** Operator override of the tier-2 parity count n. */
  fecN?: number;
}

export interface FecPolicy {
  /** Data packets per erasure-coded group (tier 2). k + n <= 16. */
  k: number;
  /** n by access technology. */
  nByAccess: Partial<Record<AccessTech, number>>;
  /** n by measured loss: the first entry with loss <= maxLoss wins (ascending maxLoss). */
  nByLoss: Array<{ maxLoss: number; n: number }>;
  /** n when nothing else says. */
  defaultN: number;
}

export interface TierPolicy {
  /** Vertex connectivity of the tier-1 mesh. */
  c: number;
  /** `tree` only when every tier-1 node is stable (the caller decides). */
  tier1Algorithm: "mesh" | "tree";
  /** Eligible agents per region in tier 1 (highest capacity first). */
  tier1PerRegion: number;
  maxClusterSize: number;
  minClusterSize: number;
  /** 2: tiers 1 + 3 (no erasure-coded tier); 3: the three tiers. */
  levels: 2 | 3 | 4;
  /** Headroom on upload for tier-1 nodes: upload >= c * R * (1 + margin). */
  margin: number;
  /** Children per node (keeps an ASSIGN inside one datagram). */
  maxChildren: number;
  /**
   * Children of a waypoint server: an ISP box with upload for many streams. Its ASSIGN spans
   * several datagrams (part/parts) and its HEARTBEAT lists at most MAX_CHILDREN links.
   */
  waypointMaxChildren: number;
  /** Upload (in multiples of R) from which a node is high-capacity, i.e. tier 2. */
  highCapacity: number;
  /** Child links a tier-2 node keeps for tier 3 (the rest may serve its tier-2 sub-tree). */
  tier2FeedLinks: number;
  fec: FecPolicy;
  /** Full rebuild after this many incremental changes per node present at the last rebuild. */
  rebuildChurn: number;
  /** Full rebuild when the origin runs short (90 % used) and its upload grew by this fraction (+ one stream) since the last rebuild. */
  rebuildOriginGrowth: number;
  /**
   * Full rebuild when membership grew by this fraction since the last rebuild (joins are placed
   * incrementally and count as no churn: a flash crowd of N joins makes O(log N) rebuilds).
   */
  rebuildGrowth: number;
}

export interface TierSnapshot {
  channel: { k: number; streamKbps: number };
  origin: TierOrigin | null;
  nodes: readonly TierNode[];
  regions: Readonly<Record<string, RegionInfo>>;
  policy?: Partial<TierPolicy>;
  /** Seeds the PRNG that breaks ties (same snapshot + seed = same plan). */
  seed: number;
  previous?: Plan;
}

/** Tuning defaults (the policy file overrides any of them). */
export const DEFAULT_POLICY: TierPolicy = {
  c: 3, // survive any 2 simultaneous tier-1 failures (the patent's example value)
  tier1Algorithm: "mesh", // "tree" only when every tier-1 node has been stable
  tier1PerRegion: 2, // "a few high capacity and stable nodes from each region"
  maxClusterSize: 1000, // one DCM manages thousands of nodes (MSD)
  minClusterSize: 50, // smaller groups are merged
  levels: 3,
  margin: 0.25, // tier-1 upload >= c * R * 1.25
  maxChildren: 24, // 16 IPv6 parents + 24 IPv6 children fit one 1200-byte ASSIGN
  waypointMaxChildren: 64, // MAX_CHILDREN: what one HEARTBEAT may list
  highCapacity: 2, // upload >= 2R: high capacity, tier 2
  tier2FeedLinks: 8, // links a tier-2 node keeps for tier 3 (each may carry all k substreams)
  fec: {
    k: 12, // 12 data packets per group: parity overhead n/12, and room for n <= 4
    nByAccess: { fibre: 1, dsl: 1, cable: 2, wireless: 3 },
    nByLoss: [
      { maxLoss: 0.005, n: 1 },
      { maxLoss: 0.02, n: 2 },
      { maxLoss: 0.05, n: 3 },
    ],
    defaultN: 2,
  },
  rebuildChurn: 0.25, // full rebuild after leaves and moves touching a quarter of the nodes
  rebuildOriginGrowth: 0.1, // ... or when the origin needs 10% (+ one stream) more than after the last build
  rebuildGrowth: 1, // ... or when membership doubled since the last build
};

export function resolvePolicy(p: Partial<TierPolicy> | undefined): TierPolicy {
  const policy: TierPolicy = { ...DEFAULT_POLICY, ...p, fec: { ...DEFAULT_POLICY.fec, ...p?.fec } };
  const intIn = (name: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new RangeError(`${name} must be ${lo}..${hi}, got ${v}`);
  };
  intIn("policy.c", policy.c, 1, 16);
  intIn("policy.tier1PerRegion", policy.tier1PerRegion, 0, 64);
  intIn("policy.maxClusterSize", policy.maxClusterSize, 2, 1_000_000);
  intIn("policy.minClusterSize", policy.minClusterSize, 1, policy.maxClusterSize);
  intIn("policy.levels", policy.levels, 2, 4);
  intIn("policy.maxChildren", policy.maxChildren, 2, 64);
  intIn("policy.waypointMaxChildren", policy.waypointMaxChildren, policy.maxChildren, MAX_CHILDREN);
  intIn("policy.tier2FeedLinks", policy.tier2FeedLinks, 1, policy.maxChildren - 1);
  intIn("policy.fec.k", policy.fec.k, 1, 15);
  if (!(policy.rebuildGrowth > 0))
    throw new RangeError(`policy.rebuildGrowth must be > 0, got ${policy.rebuildGrowth}`);
  if (!(policy.margin >= 0) || !(policy.highCapacity >= 1))
    throw new RangeError("policy.margin/highCapacity");
  return policy;
}

/** How many child links (mesh neighbours included) a node of this role may have. */
export function linkLimit(policy: TierPolicy, role: NodeRole | undefined): number {
  return role === "waypoint" ? policy.waypointMaxChildren : policy.maxChildren;
}

/** Parity count n for a region's tier-2 cluster: operator override, then measured loss, then access. */
export function fecNFor(info: RegionInfo | undefined, fec: FecPolicy): number {
  const cap = Math.min(16 - fec.k, 8); // k + n <= 16 substreams; the codec makes at most 8 parity
  let n = fec.defaultN;
  if (info?.fecN !== undefined) n = info.fecN;
  else if (info?.loss !== undefined) n = fec.nByLoss.find((e) => info.loss! <= e.maxLoss)?.n ?? cap;
  else if (info?.access !== undefined) n = fec.nByAccess[info.access] ?? fec.defaultN;
  return Math.max(0, Math.min(cap, Math.floor(n)));
}

/** NAT rule: a link cannot join two symmetric NATs (neither end can predict the other's port). */
export function natCompatible(a: NatType, b: NatType): boolean {
  return !(a === NatType.SYMMETRIC && b === NatType.SYMMETRIC);
}

/** Tier-3 (and tier-2) depth bound below an upper-tier node: ceil(log2(size)) + 2 hops. */
export function clusterDepthBound(size: number): number {
  return Math.ceil(Math.log2(Math.max(2, size))) + 2;
}
