/**
 * The demo's summary (pure): what `npm start -- --json` prints as its last line.
 * originBytes counts everything the origin sent (UDP to the top of the tree + HTTP fallback);
 * peerBytes counts what agents forwarded to each other.
 */
import type { AgentStatus, OriginStatus } from "./status.js";

export interface Summary {
  agents: number;
  regions: number;
  durationS: number;
  segmentsExpected: number;
  segmentsDelivered: number;
  continuity: { min: number | null; mean: number | null };
  originBytes: number;
  originUdpBytes: number;
  originHttpBytes: number;
  peerBytes: number;
  offload: number | null;
  joinMs: { p50: number | null; p95: number | null; max: number | null };
  heartbeatBytes: { max: number; mean: number };
  agentRssMB: { max: number | null; mean: number | null };
  /** Agents that answered /status at the end. */
  agentsReporting: number;
  packets: { duplicates: number; rejected: number; malformed: number };
}

export function summarize(
  agents: Array<AgentStatus | undefined>,
  origin: OriginStatus | undefined,
  regions: number,
  durationS: number,
): Summary {
  const live = agents.filter((a): a is AgentStatus => a !== undefined);
  const ratios = live.map((a) => a.continuity.ratio).filter((r): r is number => r !== null);
  const joins = live.map((a) => a.joinMs).filter((j): j is number => j !== null);
  const originUdp = origin?.bytes.udpSent ?? 0;
  const originHttp = origin?.bytes.httpServed ?? 0;
  const peer = sum(live.map((a) => a.bytes.peerSent));
  const originBytes = originUdp + originHttp;
  const hbMean = live.filter((a) => a.heartbeatBytes.mean > 0);
  return {
    agents: agents.length,
    regions,
    durationS,
    segmentsExpected: sum(live.map((a) => a.continuity.expected)),
    segmentsDelivered: sum(live.map((a) => a.continuity.onTime)),
    continuity: { min: ratios.length ? Math.min(...ratios) : null, mean: mean(ratios) },
    originBytes,
    originUdpBytes: originUdp,
    originHttpBytes: originHttp,
    peerBytes: peer,
    offload: originBytes + peer > 0 ? round(peer / (originBytes + peer), 4) : null,
    joinMs: {
      p50: percentile(joins, 0.5),
      p95: percentile(joins, 0.95),
      max: joins.length ? Math.max(...joins) : null,
    },
    heartbeatBytes: {
      max: Math.max(0, ...live.map((a) => a.heartbeatBytes.max)),
      mean: hbMean.length ? round(sum(hbMean.map((a) => a.heartbeatBytes.mean)) / hbMean.length, 1) : 0,
    },
    agentRssMB: {
      max: live.length ? Math.max(...live.map((a) => a.rssMB)) : null,
      mean: mean(live.map((a) => a.rssMB)),
    },
    agentsReporting: live.length,
    packets: {
      duplicates: sum(live.map((a) => a.packets.duplicates)),
      rejected: sum(live.map((a) => a.packets.rejected)),
      malformed: sum(live.map((a) => a.packets.malformed)),
    },
  };
}

/** Nearest-rank percentile; null for no samples. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function mean(xs: number[]): number | null {
  return xs.length ? round(sum(xs) / xs.length, 4) : null;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
