/**
 * Who goes where (FIG. 3-5) and the multi-scale decomposition into clusters (FIG. 7):
 *
 * - Tier 1, per region: the `tier1PerRegion` eligible agents with the most upload among those
 *   that can carry the mesh (upload >= c * R * (1 + margin), not behind a symmetric NAT).
 *   A region with no such agent gets its waypoints instead (always eligible, same upload
 *   rule); a waypoint not needed there serves as an ordinary high-capacity node. A region with
 *   neither gets recruits (claim: a high-capacity node "recruited" to relay a channel it does
 *   not watch: `watching: false`, eligible, same upload rule). A recruit that is not needed in
 *   tier 1 stays out of the plan: it does not want the stream.
 * - Tier 2 (levels >= 3), per region: every other node with upload >= highCapacity * R, except
 *   the `relegated` ones: nodes a first build could not feed from the tier above (engine.ts).
 *   They join the bottom tier as its best interior nodes (the patent's "relegated" variant),
 *   where any fed erasure-coded node of any region may feed them.
 * - Tier 3: everyone else, per region. Levels = 4 splits the high-capacity nodes: the upper
 *   half (by upload) stays tier 2, the rest form an erasure-coded tier 3 fed by tier 2, and
 *   the common nodes become tier 4. Levels = 2 collapses tier 2 into the bottom level
 *   (the patent's "relegated" variant): high-capacity nodes join tier 3 as its best
 *   interior nodes and tier 1 feeds the clusters directly.
 * - Clusters hold at most maxClusterSize nodes: a bigger group is split into ceil(n / max)
 *   clusters, dealt round-robin in capacity order so each gets its share of capacity. Tier-3
 *   groups smaller than minClusterSize are merged with other small regions' groups (in
 *   region-name order) into a "merged" cluster, where links may cross regions.
 */
import { NatType } from "../../protocol/messages.js";
import { StepMeter } from "./step-meter.js";
import type { TierNode, TierPolicy } from "./tier-types.js";

export interface Group {
  tier: number;
  /** An erasure-coded (middle) tier; else the bottom tier's multi-tree. */
  fec: boolean;
  regions: string[];
  merged: boolean;
  members: TierNode[];
}

export interface TierAssignment {
  /** Tier-1 nodes (origin excluded), highest capacity first. */
  tier1: TierNode[];
  groups: Group[];
}

/** Highest upload first; ties by the seeded key, then id. */
export function byCapacity(key: ReadonlyMap<number, number>): (a: TierNode, b: TierNode) => number {
  return (a, b) => b.uploadKbps - a.uploadKbps || key.get(a.id)! - key.get(b.id)! || a.id - b.id;
}

/**
 * A generator (engine.ts buildSteps): it pauses after each region's sort, the costly part
 * (10^5 nodes sort in about 100 ms at once).
 */
export function* assignTiers(
  nodes: readonly TierNode[],
  policy: TierPolicy,
  streamKbps: number,
  key: ReadonlyMap<number, number>,
  relegated: ReadonlySet<number> = new Set(),
  work = new StepMeter(Infinity),
): Generator<void, TierAssignment, void> {
  const order = byCapacity(key);
  const byRegion = new Map<string, TierNode[]>();
  for (const n of nodes) {
    let list = byRegion.get(n.region);
    if (list === undefined) byRegion.set(n.region, (list = []));
    list.push(n);
  }
  // Each region in capacity order (the order is total: sorting the parts is sorting the whole).
  for (const [r, list] of byRegion) {
    byRegion.set(r, sortByCapacity(list, key));
    if (work.add(list.length)) yield;
  }
  const regions = [...byRegion.keys()].sort();
  const meshMin = Math.max(2, policy.c) * streamKbps * (1 + policy.margin);
  const highMin = policy.highCapacity * streamKbps;
  const tier1: TierNode[] = [];
  const tier2 = new Map<string, TierNode[]>();
  const tier3 = new Map<string, TierNode[]>();
  for (const r of regions) {
    const list = byRegion.get(r)!;
    const canMesh = (n: TierNode): boolean => n.uploadKbps >= meshMin && n.nat !== NatType.SYMMETRIC;
    // Waypoints relay by nature; an agent that does not watch is a recruit.
    const viewer = (n: TierNode): boolean => n.role === "waypoint" || n.watching !== false;
    let top = list.filter((n) => n.role === "agent" && viewer(n) && n.eligible && canMesh(n));
    if (top.length === 0) top = list.filter((n) => n.role === "waypoint" && canMesh(n));
    if (top.length === 0) top = list.filter((n) => !viewer(n) && n.eligible && canMesh(n));
    const chosen = new Set(top.slice(0, policy.tier1PerRegion).map((n) => n.id));
    const t2: TierNode[] = [];
    const t3: TierNode[] = [];
    for (const n of list) {
      if (chosen.has(n.id)) tier1.push(n);
      else if (!viewer(n))
        continue; // a recruit the region does not need stays out of the plan
      else if (policy.levels >= 3 && n.uploadKbps >= highMin && !relegated.has(n.id)) t2.push(n);
      else t3.push(n);
    }
    if (t2.length > 0) tier2.set(r, t2);
    if (t3.length > 0) tier3.set(r, t3);
  }
  tier1.sort(order);
  if (work.add(nodes.length)) yield;

  const groups: Group[] = [];
  const bottom = policy.levels === 4 ? 4 : 3;
  for (const [r, list] of tier2) {
    // Four levels: the upper half by upload is tier 2, the rest an erasure-coded tier 3 fed by it.
    const cut = policy.levels === 4 ? Math.ceil(list.length / 2) : list.length;
    for (const g of split(list.slice(0, cut), policy.maxClusterSize)) groups.push(group(2, true, [r], g));
    if (cut < list.length)
      for (const g of split(list.slice(cut), policy.maxClusterSize)) groups.push(group(3, true, [r], g));
  }
  let pool: TierNode[] = [];
  let poolRegions: string[] = [];
  const flush = (): void => {
    if (pool.length === 0) return;
    const merged = poolRegions.length > 1;
    for (const g of split(pool.sort(order), policy.maxClusterSize))
      groups.push(group(bottom, false, poolRegions, g, merged));
    pool = [];
    poolRegions = [];
  };
  for (const r of regions) {
    const list = tier3.get(r);
    if (list === undefined) continue;
    if (list.length >= policy.minClusterSize) {
      for (const g of split(list, policy.maxClusterSize)) groups.push(group(bottom, false, [r], g));
      continue;
    }
    pool.push(...list);
    poolRegions.push(r);
    if (pool.length >= policy.minClusterSize) flush();
  }
  flush();
  return { tier1, groups };
}

/** byCapacity's order, with each node's key looked up once (not twice per comparison). */
function sortByCapacity(list: TierNode[], key: ReadonlyMap<number, number>): TierNode[] {
  const items = list.map((n) => ({ n, k: key.get(n.id)! }));
  items.sort((a, b) => b.n.uploadKbps - a.n.uploadKbps || a.k - b.k || a.n.id - b.n.id);
  return items.map((x) => x.n);
}

function group(tier: number, fec: boolean, regions: string[], members: TierNode[], merged = false): Group {
  return { tier, fec, regions: [...regions], merged, members };
}

/** Deals an ordered list round-robin into ceil(n / max) parts (capacity spread evenly). */
function split(list: TierNode[], max: number): TierNode[][] {
  const parts = Math.max(1, Math.ceil(list.length / max));
  if (parts === 1) return [list];
  const out: TierNode[][] = Array.from({ length: parts }, () => []);
  list.forEach((n, i) => out[i % parts]!.push(n));
  return out;
}
