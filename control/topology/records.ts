/**
 * Building blocks of a plan's working state: canonical node order, one record per node
 * (origin, members) and per cluster. Shared by the full build and the incremental repairs.
 */
import { NatType } from "../../protocol/messages.js";
import type { ClusterPlan, NodeRole } from "./plan.js";
import { newNodePlan, NO_UPS, type ClusterState, type Rec, type State } from "./state.js";
import { clusterDepthBound, linkLimit, type TierNode, type TierSnapshot } from "./tier-types.js";
import type { Group } from "./tiers.js";

/** Sorted by id, one entry per id, the origin left out: input order cannot change the plan. */
export function canonical(nodes: readonly TierNode[], originId: number | undefined): TierNode[] {
  const sorted = [...nodes].sort((a, b) => a.id - b.id);
  return sorted.filter((n, i) => n.id !== originId && (i === 0 || sorted[i - 1]!.id !== n.id));
}

export function addOrigin(st: State, s: TierSnapshot): Rec {
  const o = s.origin!;
  const rec: Rec = {
    id: o.id,
    region: o.region,
    nat: o.nat ?? NatType.OPEN,
    tier: 0,
    role: "origin",
    cluster: -1,
    cap: st.units(o.uploadKbps),
    used: 0,
    maxKids: Infinity,
    home: -1,
    fan: 0,
    tdepth: [0],
    tlocal: [0],
    np: { ...newNodePlan(st.k, 1, "origin"), depth: 0 },
    ups: NO_UPS,
  };
  st.recs.set(o.id, rec);
  st.originId = o.id;
  return rec;
}

export function addRec(st: State, n: TierNode, tier: number, cluster: number, slots = st.k): Rec {
  const role: NodeRole =
    tier === 1
      ? n.role === "waypoint"
        ? "waypoint"
        : "tier1"
      : tier === 2
        ? "tier2"
        : tier === 3
          ? "tier3"
          : "tier4";
  const rec: Rec = {
    id: n.id,
    region: n.region,
    nat: n.nat,
    tier,
    role,
    cluster,
    cap: st.units(n.uploadKbps),
    used: 0,
    maxKids: linkLimit(st.policy, role),
    home: -1,
    fan: 0,
    tdepth: new Array<number>(slots).fill(0),
    tlocal: new Array<number>(slots).fill(0),
    np: newNodePlan(slots, tier, role),
    ups: NO_UPS,
  };
  if (cluster >= 0) rec.np.cluster = cluster;
  st.recs.set(n.id, rec);
  return rec;
}

export function addCluster(st: State, g: Group, tier: number, m: number, n?: number): ClusterState {
  const plan: ClusterPlan = {
    id: st.clusters.length,
    tier,
    region: g.regions.join("+"),
    merged: g.merged,
    members: g.members.map((x) => x.id).sort((a, b) => a - b),
    feeders: [],
    depthBound: clusterDepthBound(g.members.length),
  };
  if (n !== undefined) plan.fec = { k: st.policy.fec.k, n };
  const cl: ClusterState = {
    plan,
    m,
    alg: n !== undefined ? "fec-tree" : "tree",
    homes: [],
    feeds: new Map(),
    free: [],
  };
  st.clusters.push(cl);
  return cl;
}
