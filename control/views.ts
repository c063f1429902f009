/**
 * The admin API's JSON, computed from control state (pure: state in, plain objects out).
 * Field names are part of the admin API (docs/control.md).
 */
import { NatType } from "../protocol/messages.js";
import type { Clock } from "../seams/clock.js";
import { heartbeatBytesMean, roleName, type ClientManager, type NodeRecord } from "./client-manager.js";
import type { ContentDirectory } from "./content-directory.js";
import type { ControlMetrics, Gauges } from "./metrics.js";
import { unpackHeartbeat } from "./heartbeat-report.js";
import { planEdges } from "./topology/plan.js";
import { viewDigest } from "./dcm/dcm.js";
import type { RegionQuality } from "./region-quality.js";

/** The read-only part of the ControlCenter the views (and the admin HTTP server) use. */
export interface ControlState {
  readonly clock: Clock;
  readonly clients: ClientManager;
  readonly directory: ContentDirectory;
  readonly metrics: ControlMetrics;
  readonly quality: RegionQuality;
}

export function channelsView(s: ControlState): object[] {
  return s.directory.all().map((e) => ({
    id: e.info.id,
    name: e.info.name,
    k: e.info.k,
    streamKbps: e.info.streamKbps,
    segmentMs: e.info.segmentMs,
    fallbackUrl: e.info.fallbackUrl,
    origin: e.origin,
    dcm: e.dcm.logicalId,
    dcms: e.dcm.clusterDcms(),
    members: e.dcm.members().length,
    depth: e.dcm.plan.depth,
    unplaced: e.dcm.plan.unplaced.length,
  }));
}

export function nodesView(s: ControlState): object[] {
  const now = s.clock.now();
  return s.clients
    .all()
    .sort((a, b) => a.id - b.id)
    .map((n) => nodeView(s, n, now));
}

function nodeView(s: ControlState, n: NodeRecord, now: number): object {
  const dcm = n.channels[0] === undefined ? undefined : s.directory.byName(n.channels[0])?.dcm;
  const assign = dcm?.assignment(n.id);
  return {
    id: n.id,
    /** The node's identity key (hex): what POST /api/keys/revoke takes. */
    key: n.key,
    role: roleName(n.role),
    region: n.region,
    regionSource: n.regionSource,
    address: n.address,
    port: n.port,
    channel: n.channels[0] ?? null,
    channels: n.channels,
    httpPort: n.httpPort,
    nat: NatType[n.nat] ?? n.nat,
    parents: assign?.parents ?? [],
    children: assign?.children ?? [],
    depth: dcm?.plan.nodes.get(n.id)?.depth ?? null,
    tier: assign?.tier ?? null,
    /** Three-tier role in the plan (origin, tier1, waypoint, tier2, tier3, tier4); null with the tree. */
    tierRole: dcm?.plan.nodes.get(n.id)?.role ?? null,
    cluster: dcm?.plan.nodes.get(n.id)?.cluster ?? null,
    fec: assign?.fec ?? null,
    mesh: assign?.mesh?.map((p) => p.node) ?? [],
    uploadKbps: n.uploadKbps,
    joinedAt: n.joinedAt,
    lastHeartbeatAgoMs: n.lastHeartbeat === null ? null : now - n.lastHeartbeat,
    heartbeats: n.heartbeats,
    heartbeatBytes: { max: n.heartbeatBytesMax, mean: Math.round(heartbeatBytesMean(n) * 10) / 10 },
    assignVersion: { sent: assign?.version ?? 0, acked: n.assignVersionAcked },
    lastHeartbeat: n.heartbeat === null ? null : unpackHeartbeat(n.heartbeat),
  };
}

/** Region quality: the means kept from heartbeats, and what the topology uses (published). */
export function regionsView(s: ControlState): object[] {
  const published = s.quality.published();
  return s.quality.regions().map((region) => ({
    region,
    ...s.quality.view(region),
    published: published[region] ?? null,
  }));
}

export function topologyView(s: ControlState): object[] {
  return s.directory.all().map((e) => {
    const plan = e.dcm.plan;
    return {
      channel: e.info.name,
      id: e.info.id,
      dcm: e.dcm.logicalId,
      topology: e.dcm.topology,
      origin: plan.root,
      nodes: plan.nodes.size,
      depth: plan.depth,
      rebuilt: plan.rebuilt,
      edges: planEdges(plan),
      /** Members and parent/child links per substream slot: what a failover's adoption must rebuild. */
      view: e.dcm.view(),
      viewDigest: viewDigest(e.dcm.view()),
      adopting: e.dcm.adopting,
      unplaced: plan.unplaced,
      tier1Algorithm: plan.tier1Algorithm ?? null,
      clusters: (plan.clusters ?? []).map((c) => ({
        id: c.id,
        tier: c.tier,
        region: c.region,
        merged: c.merged,
        members: c.members.length,
        feeders: c.feeders,
        fec: c.fec ?? null,
        depthBound: c.depthBound,
      })),
      tiers: [...plan.nodes].map(([id, np]) => ({
        id,
        tier: np.tier,
        role: np.role ?? null,
        cluster: np.cluster ?? null,
        depth: np.depth,
        mesh: np.mesh ?? [],
      })),
    };
  });
}

export function gauges(s: ControlState): Gauges {
  const counts = new Map<string, { role: string; region: string; count: number }>();
  for (const n of s.clients.all()) {
    const role = roleName(n.role);
    const key = `${role}\n${n.region}`;
    const g = counts.get(key) ?? { role, region: n.region, count: 0 };
    g.count++;
    counts.set(key, g);
  }
  const channels = s.directory.all();
  return {
    nodes: [...counts.values()].sort(
      (a, b) => a.role.localeCompare(b.role) || a.region.localeCompare(b.region),
    ),
    channels: channels.length,
    unplaced: channels.reduce((sum, e) => sum + e.dcm.plan.unplaced.length, 0),
  };
}
