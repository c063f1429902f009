/**
 * What the agent reports: the /status JSON (the demo and the integration tests read it; its
 * keys are a contract) and the same numbers as Prometheus text for /metrics.
 */
import type { NackStats } from "./relay/packet-repair.js";
import { exposition, metricFamily, samplesByKey, type MetricType } from "../common/prometheus.js";
import type { VodStatus } from "./vod/vod.js";
import type { MetaRejection, MetaVerifierStats } from "./store/meta-verifier.js";

export interface AgentStatus {
  node: number;
  region: string;
  channel: string;
  role: string;
  /** Node ids of the assigned parents (each once). */
  parents: number[];
  children: number[];
  assignVersion: number;
  /** From the ASSIGN: hierarchy tier (null before one), three-tier role (null with the tree), mesh neighbours. */
  tier?: number | null;
  tierRole?: string | null;
  mesh?: number[];
  /** Segments of the channel in the cache. */
  segmentsHeld: number;
  /** Newest segment committed in this run (0: none). */
  newestSegment: number;
  /** Process start to the first playable segment, ms; null until then. */
  joinMs: number | null;
  continuity: { expected: number; onTime: number; ratio: number | null };
  bytes: { peerSent: number; peerReceived: number; fallbackReceived: number };
  packets: {
    received: number;
    duplicates: number;
    rejected: number;
    malformed: number;
    /** Sequence numbers never received nor rebuilt (the newest 256 not counted). */
    missed: number;
    /** Rebuilt from Reed-Solomon parity (tier 2). */
    recovered: number;
  };
  /** Erasure-coded tier (absent without coded links): parity received / made / duplicates. */
  fec?: { parityReceived: number; parityMade: number; parityDuplicates: number; recovered: number };
  /**
   * Packet-level repair: NACKs this node sent (`ask`: numbers found missing, asked, arrived after
   * asking, given up) and answered (`answer`: asked of it, resent, not held, refused).
   */
  nack?: NackStats;
  /** Children shed over the upload cap since the last ASSIGN; repairs by source. */
  shed?: number;
  /**
   * Segments repaired over HTTP (fromPeers of them from a parent, the rest from the origin;
   * fromRanges of those with only their missing bytes).
   */
  repaired?: { segments: number; fromPeers: number; failed: number; fromRanges?: number };
  /** Origin publish to held here, over the newest segments, ms (agent/delay-stats.ts). */
  delayMs?: { p50: number | null; p95: number | null; samples: number };
  heartbeatBytes: { max: number; mean: number };
  rssMB: number;
  cpuPct: number;
  uptimeMs: number;
  /**
   * The live channel's segment METAs (agent/store/meta-verifier.ts): signatures verified, repeats taken
   * on a byte compare, and METAs refused (never used), by reason and by sender (a parent's node
   * id, "rebuilt" from parity, "fallback" for the origin's HTTP answers, or an address).
   */
  meta?: MetaReport;
  /**
   * The control session: the endpoint it is on (`host:port`), its phase (`joining`, `joined`,
   * `resuming`, ...), the DCM epoch of the last ASSIGN applied, failovers started.
   */
  control?: { endpoint: string; phase: string; epoch: number; failovers: number };
  /** The VoD channels carried (absent when none). */
  vod?: VodStatus[];
}

export interface MetaReport {
  verified: number;
  repeats: number;
  rejected: number;
  byReason: Record<MetaRejection, number>;
  bySource: Record<string, number>;
}

/** The /status view of a MetaVerifier's counters (a copy). */
export function metaReport(s: MetaVerifierStats): MetaReport {
  return {
    verified: s.verified,
    repeats: s.repeats,
    rejected: s.rejected,
    byReason: { ...s.byReason },
    bySource: Object.fromEntries(s.bySource),
  };
}

export interface MetricsExtra {
  poisoned: number;
  repaired: number;
  repairFailed: number;
  fallbackRequests: number;
  cacheBytes: number;
  pacerDropped: number;
  heartbeatsSent: number;
  malformedByCode: Record<string, number>;
  /** Control datagrams dropped because they did not authenticate, by reason (docs/security.md). */
  controlAuthFailed: Record<string, number>;
  /** Times the session started to move to another control server (docs/agent.md "Failover"). */
  controlFailovers: number;
  /** RESUME attempts by result: ok, refused, unanswered. */
  controlResumes: Record<string, number>;
  /** ASSIGNs dropped because their DCM epoch was below one already seen (a deposed server). */
  assignFenced: number;
}

export function agentMetrics(s: AgentStatus, x: MetricsExtra): string {
  const out: string[] = [];
  const labels = { channel: s.channel };
  const metric = (name: string, kind: MetricType, help: string, value: number | null): void => {
    out.push(metricFamily(`tiercast_agent_${name}`, kind, help, [[labels, value]]));
  };
  metric("node_id", "gauge", "Compact node id given by the control center (0 before JOIN_ACK).", s.node);
  metric("assign_version", "gauge", "Version of the assignment the data plane runs on.", s.assignVersion);
  metric("parents", "gauge", "Assigned parents.", s.parents.length);
  metric("children", "gauge", "Assigned children.", s.children.length);
  metric("segments_held", "gauge", "Segments of the channel in the cache.", s.segmentsHeld);
  metric("newest_segment", "gauge", "Newest segment committed in this run.", s.newestSegment);
  metric("join_ms", "gauge", "Process start to the first playable segment, ms.", s.joinMs);
  metric(
    "continuity_expected_total",
    "counter",
    "Segments whose playback deadline has passed.",
    s.continuity.expected,
  );
  metric(
    "continuity_on_time_total",
    "counter",
    "Segments held by their playback deadline.",
    s.continuity.onTime,
  );
  metric("peer_sent_bytes_total", "counter", "Bytes forwarded to children.", s.bytes.peerSent);
  metric(
    "peer_received_bytes_total",
    "counter",
    "Bytes of data packets accepted from parents.",
    s.bytes.peerReceived,
  );
  metric(
    "fallback_received_bytes_total",
    "counter",
    "Bytes fetched from the origin's HTTP fallback.",
    s.bytes.fallbackReceived,
  );
  metric("packets_received_total", "counter", "Data packets accepted from parents.", s.packets.received);
  metric("packets_duplicate_total", "counter", "Duplicate data packets dropped.", s.packets.duplicates);
  metric(
    "packets_rejected_total",
    "counter",
    "Datagrams from addresses that are not assigned parents.",
    s.packets.rejected,
  );
  out.push(
    metricFamily(
      "tiercast_agent_control_auth_failed_total",
      "counter",
      "Control datagrams dropped because they did not authenticate (forged, replayed, not control's key), by reason.",
      samplesByKey(x.controlAuthFailed, (reason) => ({ ...labels, reason })),
    ),
  );
  metric(
    "control_failovers_total",
    "counter",
    "Times the control session started to move to another server (unanswered heartbeats, a REJOIN hint with a ticket, a REDIRECT).",
    x.controlFailovers,
  );
  out.push(
    metricFamily(
      "tiercast_agent_control_resumes_total",
      "counter",
      "RESUME attempts (failover without a new handshake), by result: ok, refused (full JOIN), unanswered (full JOIN).",
      samplesByKey(x.controlResumes, (result) => ({ ...labels, result })),
    ),
  );
  metric(
    "assign_fenced_total",
    "counter",
    "ASSIGNs dropped because their DCM epoch was below one already seen (a deposed control server).",
    x.assignFenced,
  );
  out.push(
    metricFamily(
      "tiercast_agent_packets_malformed_total",
      "counter",
      "Undecodable datagrams, by decode error code.",
      samplesByKey(x.malformedByCode, (code) => ({ ...labels, code })),
    ),
  );
  metric(
    "segments_poisoned_total",
    "counter",
    "Segments discarded because their hash did not match.",
    x.poisoned,
  );
  metric(
    "meta_verified_total",
    "counter",
    "Segment META signatures verified (each distinct META once).",
    s.meta?.verified ?? 0,
  );
  out.push(
    metricFamily(
      "tiercast_agent_meta_rejected_total",
      "counter",
      "Segment METAs refused (bad or missing origin signature, malformed), by sender.",
      samplesByKey(s.meta?.bySource ?? {}, (source) => ({ ...labels, source })),
    ),
  );
  metric(
    "nack_asked_total",
    "counter",
    "Missing packets asked of a parent (per attempt).",
    s.nack?.ask.asked ?? 0,
  );
  metric(
    "nack_recovered_total",
    "counter",
    "Missing packets that arrived after being asked for.",
    s.nack?.ask.recovered ?? 0,
  );
  metric(
    "nack_resent_total",
    "counter",
    "Packets resent to children on their NACKs.",
    s.nack?.answer.resent ?? 0,
  );
  metric("segments_repaired_total", "counter", "Segments fetched from the HTTP fallback.", x.repaired);
  metric("repair_failures_total", "counter", "Failed HTTP fallback fetches.", x.repairFailed);
  metric("fallback_requests_total", "counter", "HTTP fallback requests.", x.fallbackRequests);
  metric("cache_bytes", "gauge", "Bytes of segment data in the cache.", x.cacheBytes);
  metric(
    "pacer_dropped_total",
    "counter",
    "Datagrams dropped because the upload queue was full.",
    x.pacerDropped,
  );
  metric("heartbeats_sent_total", "counter", "HEARTBEAT messages sent.", x.heartbeatsSent);
  metric("heartbeat_bytes_max", "gauge", "Largest encoded heartbeat, bytes.", s.heartbeatBytes.max);
  metric("heartbeat_bytes_mean", "gauge", "Mean encoded heartbeat, bytes.", s.heartbeatBytes.mean);
  metric("rss_megabytes", "gauge", "Resident set size, MB.", s.rssMB);
  metric("cpu_percent", "gauge", "CPU over the last heartbeat interval, percent of one core.", s.cpuPct);
  metric("uptime_ms", "gauge", "Time since the process started, ms.", s.uptimeMs);
  return exposition(out);
}
