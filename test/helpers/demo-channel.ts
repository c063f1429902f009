/**
 * The live channel the agent's session, failover and whole-agent tests have control announce:
 * "demo", id 9, k = 1, 1 Mbit/s in 2 s segments. Its fallback URL names a host that does not
 * resolve (.test is reserved): these tests stub fetch or never reach it. A test whose agent
 * verifies data adds the origin's key: `{ ...DEMO_CHANNEL, originKey: TEST_ORIGIN.publicKey }`.
 */
import type { ChannelInfo } from "../../protocol/messages.js";

export const DEMO_CHANNEL: Readonly<ChannelInfo> = {
  name: "demo",
  id: 9,
  k: 1,
  streamKbps: 1000,
  segmentMs: 2000,
  fallbackUrl: "http://origin.test",
};
