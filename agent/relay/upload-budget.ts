/**
 * How an agent divides its upload cap (pure): the share kept for HTTP repairs served to children,
 * the rate its pacer sends at, and the upload it declares to control for the topology to fill.
 */
import { PAYLOAD_SHARE_OF_WIRE } from "../../protocol/limits.js";

/**
 * Share of the cap the pacer leaves to what does not pass through it: the TCP of HTTP repairs
 * (requests, ACKs, handshakes) and of /status and /metrics scrapes. A capture on a 600 kbit/s
 * tier-3 host in the lab (`npm run bench:lab`'s scenario) counted 31 kbit/s of TCP: 11 for Range
 * repairs from the origin, 8.5 for the lab's status polls (one a second), 12 for repairs asked of
 * parents that serve none (now skipped, agent/store/segment-repair.ts). A pacer at the full cap, backlogged for
 * seconds while it answers NACKs, kept the host's 50 ms tbf queue full and lost 3-32 datagrams
 * a minute there. It comes out of RESEND_HEADROOM: the declared upload stays as it was.
 */
export const UNPACED_RESERVE = 0.05;

/**
 * Upload kept free for packet repair (NACKs and resends): a few per cent of loss on each link. A
 * node planned to its full cap has a live queue that never drains, so it can answer no NACK, and
 * its children's asks then go round the other parents (seen in the lab's tier 3).
 */
export const RESEND_HEADROOM = 0.1;

/** `--peer-repair-share` as used: 0..0.5 of the cap. */
export function repairShare(peerRepairShare: number): number {
  return Math.min(0.5, Math.max(0, peerRepairShare));
}

/** The pacer's rate, wire bytes per second: the cap less the repair share and UNPACED_RESERVE. */
export function pacedBytesPerSec(capKbps: number, share: number): number {
  return ((capKbps * 1000) / 8) * (1 - share) * (1 - UNPACED_RESERVE);
}

/**
 * The upload a node declares to control (JOIN uploadKbps): what the topology may fill with stream
 * payload — the cap less the HTTP repair share, counted in payload, less the resend headroom.
 * Planned on the raw cap, a node at its plan would overrun the cap with headers (the pacer then
 * queues and sheds).
 */
export function declaredUploadKbps(capKbps: number, httpRepairShare: number): number {
  return Math.max(
    1,
    Math.floor(capKbps * (1 - httpRepairShare) * PAYLOAD_SHARE_OF_WIRE * (1 - RESEND_HEADROOM)),
  );
}
