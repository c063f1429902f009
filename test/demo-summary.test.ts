import test from "ava";
import type { AgentStatus } from "../cli/demo/status.js";
import { percentile, summarize } from "../cli/demo/summary.js";

function agent(
  over: Partial<AgentStatus> & { ratio: number | null; joinMs: number | null; peerSent: number },
): AgentStatus {
  return {
    node: 1,
    region: "a",
    channel: "demo",
    role: "agent",
    parents: [],
    children: [],
    assignVersion: 1,
    segmentsHeld: 10,
    newestSegment: 10,
    continuity: {
      expected: 10,
      onTime: over.ratio === null ? 0 : Math.round(over.ratio * 10),
      ratio: over.ratio,
    },
    bytes: { peerSent: over.peerSent, peerReceived: 0, fallbackReceived: 0 },
    packets: { received: 0, duplicates: 1, rejected: 0, malformed: 0, missed: 0, recovered: 0 },
    heartbeatBytes: { max: 120, mean: 100 },
    rssMB: 50,
    cpuPct: 1,
    uptimeMs: 1000,
    ...over,
  };
}

test("percentile is nearest-rank", (t) => {
  t.is(percentile([], 0.5), null);
  t.is(percentile([5], 0.95), 5);
  t.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5), 5);
  t.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95), 10);
  t.is(percentile([10, 1, 9, 2], 0.25), 1);
});

test("summary: offload is peer / (origin + peer), continuity min/mean over reporting agents", (t) => {
  const s = summarize(
    [
      agent({ ratio: 1, joinMs: 400, peerSent: 3000 }),
      agent({ ratio: 0.9, joinMs: 800, peerSent: 1000 }),
      undefined,
    ],
    { bytes: { udpSent: 800, httpServed: 200 }, segmentsPublished: 10, newestSegment: 10 },
    3,
    40,
  );
  t.is(s.agents, 3);
  t.is(s.agentsReporting, 2);
  t.is(s.originBytes, 1000);
  t.is(s.peerBytes, 4000);
  t.is(s.offload, 0.8);
  t.deepEqual(s.continuity, { min: 0.9, mean: 0.95 });
  t.is(s.segmentsExpected, 20);
  t.is(s.segmentsDelivered, 19);
  t.deepEqual(s.joinMs, { p50: 400, p95: 800, max: 800 });
  t.deepEqual(s.heartbeatBytes, { max: 120, mean: 100 });
  t.is(s.packets.duplicates, 2);
});

test("summary of nothing has nulls, not NaN", (t) => {
  const s = summarize([undefined], undefined, 1, 0);
  t.is(s.offload, null);
  t.deepEqual(s.continuity, { min: null, mean: null });
  t.false(JSON.stringify(s).includes("NaN"));
});
