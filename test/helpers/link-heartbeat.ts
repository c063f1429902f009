/**
 * A HEARTBEAT body with these links and nothing else (no buffers, zero resources): what the
 * congestion monitor and the DCM's watchdog read of a heartbeat, for their tests.
 */
import type { HeartbeatBody, LinkState } from "../../protocol/messages.js";

export function linkHeartbeat(
  parents: Array<LinkState | null>,
  children: LinkState[],
  channel = 1,
): HeartbeatBody {
  return {
    channel,
    assignVersion: 1,
    parents,
    children,
    buffers: [],
    resources: { uploadKbps: 0, nat: 0, cacheBytes: 0, cpuPct: 0, rssMB: 0 },
    newestSegment: 0,
  };
}
