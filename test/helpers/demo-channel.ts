/**
 * The live channel the agent's session, failover and whole-agent tests have control announce:
 * "demo", id 9, k = 1, 1 Mbit/s in 2 s segments. Its fallback URL names a host that does not
 * resolve (.test is reserved): these tests stub fetch or never reach it. A test whose agent
 * verifies data adds the origin's key: `{ ...DEMO_CHANNEL, originKey: TEST_ORIGIN.publicKey }`.
 * idleHeartbeat() is what an agent that holds nothing of it reports.
 */
import { NatType, type ChannelInfo, type HeartbeatBody } from "../../protocol/messages.js";

export const DEMO_CHANNEL: Readonly<ChannelInfo> = {
  name: "demo",
  id: 9,
  k: 1,
  streamKbps: 1000,
  segmentMs: 2000,
  fallbackUrl: "http://origin.test",
};

/** The heartbeat of an agent on DEMO_CHANNEL with no parents, children or segments (a fresh object). */
export function idleHeartbeat(): Omit<HeartbeatBody, "assignVersion"> {
  return {
    channel: DEMO_CHANNEL.id,
    parents: [],
    children: [],
    buffers: [0],
    resources: { uploadKbps: 0, nat: NatType.UNKNOWN, cacheBytes: 0, cpuPct: 0, rssMB: 0 },
    newestSegment: 0,
  };
}
