/**
 * The standard capacity mix of the topology benchmark (docs/topology.md), also used by tests:
 * stream R, nodes spread over ceil(N / 1000) regions (at least 2), each region with one
 * waypoint server (upload 10R, open NAT); agents draw their upload uniformly from
 *   20%: [2R, 3R]    (high capacity: tier 2)
 *   50%: [R/4, R]
 *   30%: [0, R/4]
 * and NAT types 10% symmetric, 40% port-restricted, 50% open/cone. Mean agent upload 0.85R,
 * so the network as a whole is 15% short and the origin must cover the deficit.
 */
import { mulberry32 } from "../seams/prng.js";
import { NatType } from "../protocol/messages.js";
import type { RegionInfo, TierNode, TierSnapshot } from "../control/topology/tier-types.js";

export const MIX_STREAM_KBPS = 2000;

export function mixUpload(u: number, R: number): number {
  if (u < 0.2) return R * (2 + u / 0.2);
  if (u < 0.7) return R * (0.25 + (0.75 * (u - 0.2)) / 0.5);
  return R * 0.25 * ((u - 0.7) / 0.3);
}

export function mixNodes(count: number, seed: number, R = MIX_STREAM_KBPS): TierNode[] {
  const rng = mulberry32(seed);
  const regions = Math.max(2, Math.ceil(count / 1000));
  const nodes: TierNode[] = [];
  for (let r = 0; r < regions; r++) {
    nodes.push({
      id: 1 + r,
      region: `r${r}`,
      uploadKbps: 10 * R,
      nat: NatType.OPEN,
      role: "waypoint",
      eligible: true,
      joinedAt: 0,
      watching: false,
    });
  }
  for (let i = regions; i < count; i++) {
    const n = rng();
    nodes.push({
      id: 1 + i,
      region: `r${Math.floor(rng() * regions)}`,
      uploadKbps: Math.round(mixUpload(rng(), R)),
      nat: n < 0.1 ? NatType.SYMMETRIC : n < 0.5 ? NatType.PORT_RESTRICTED : NatType.FULL_CONE,
      role: "agent",
      eligible: rng() < 0.5,
      joinedAt: i,
      watching: true,
    });
  }
  return nodes;
}

export function mixSnapshot(count: number, seed: number, k = 16): TierSnapshot {
  const nodes = mixNodes(count, seed);
  const regions: Record<string, RegionInfo> = {};
  for (const n of nodes) regions[n.region] ??= { access: n.id % 2 === 0 ? "dsl" : "fibre" };
  return {
    channel: { k, streamKbps: MIX_STREAM_KBPS },
    origin: { id: 0, uploadKbps: 1e9, region: "r0" },
    nodes,
    regions,
    seed,
  };
}
