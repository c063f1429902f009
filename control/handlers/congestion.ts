/**
 * Congestion (FIG. 9), once per liveness interval: every tiered DCM joins what parents said they
 * sent with what children said they received, and moves the substreams of a congested link to
 * another parent (planMove at the next reconcile). Heartbeats of the two ends are up to one
 * interval apart, so a healthy link can look a whole interval of packets behind: the threshold
 * is 64 packets plus two intervals' worth of the stream's packets. Moves are braked per child x
 * substream (backoff) and a coded link whose child still rebuilds everything waits (held links).
 * The same tick hands each DCM the regions' published quality (region-quality.ts): a region
 * whose measured loss calls for another tier-2 redundancy n gets its clusters rebuilt.
 */
import { DEFAULT_CONGESTION } from "../topology/congestion.js";
import { MAX_CODED_PAYLOAD_BYTES } from "../../protocol/limits.js";
import type { ControlContext } from "./context.js";

/** Sequence numbers the channel uses per heartbeat interval (data packets of the origin's 1160-byte payload). */
export function packetsPerInterval(streamKbps: number, heartbeatMs: number): number {
  return Math.ceil((streamKbps * 1000 * heartbeatMs) / 1000 / 8 / MAX_CODED_PAYLOAD_BYTES);
}

/**
 * The interval's congestion check. `later` runs the next step as an event of its own: a DCM
 * whose monitor has more members than its chunk judges them over several steps (each call
 * goes on where the last stopped; quality is published with the first).
 */
export function checkCongestion(
  ctx: ControlContext,
  later: (step: () => void) => void = (f) => f(),
  first = true,
): void {
  if (ctx.config.topology !== "tiered") return;
  const quality = first ? ctx.quality.publish() : undefined;
  let pending = false;
  for (const entry of ctx.directory.all()) {
    if (quality !== undefined && entry.dcm.setRegionQuality(quality)) {
      ctx.logger.info("region_quality_changed", { channel: entry.info.name, regions: quality });
      ctx.reconcile(entry.dcm);
    }
    if (!first && !entry.dcm.congestionPending) continue;
    const lag =
      DEFAULT_CONGESTION.lagPackets + 2 * packetsPerInterval(entry.info.streamKbps, ctx.config.heartbeatMs);
    const verdict = entry.dcm.congestion(lag, ctx.clock.now());
    if (verdict.pending) pending = true;
    const { moved, held } = verdict;
    // Held: under the move backoff, or a spare coded link (control/congestion-monitor.ts).
    if (held.length > 0)
      ctx.logger.debug("links_congested_held", { channel: entry.info.name, links: held.slice(0, 20) });
    if (moved.length === 0) continue;
    ctx.metrics.congestedLinks += moved.length;
    ctx.logger.info("links_congested", {
      channel: entry.info.name,
      links: moved.slice(0, 20),
      held: held.length,
    });
    ctx.reconcile(entry.dcm);
  }
  if (pending) later(() => checkCongestion(ctx, later, false));
}
