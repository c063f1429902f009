/**
 * How an agent divides its upload cap (pure): the share kept for HTTP repairs served to children,
 * the rate its pacer sends at, and the upload it declares to control for the topology to fill.
 */
import { PAYLOAD_SHARE_OF_WIRE } from "../../protocol/limits.js";

/**
 * Share of the cap the pacer leaves to what does not pass through it: the TCP of HTTP repairs
 * (requests, ACKs, handshakes) and of /status and /metrics scrapes: a few per cent of a small
 * host's cap (CHANGELOG has the lab's capture). A pacer at the full cap, backlogged for seconds
 * while it answers NACKs, keeps the host's uplink queue full, and the queue drops datagrams. It
 * comes out of RESEND_HEADROOM: the declared upload stays as it was.
 */
export const UNPACED_RESERVE = 0.05;

/**
 * Upload kept free for packet repair (NACKs and resends): a few per cent of loss on each link. A
 * node planned to its full cap has a live queue that never drains, so it can answer no NACK, and
 * its children's asks then go round the other parents.
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
