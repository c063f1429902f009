/**
 * Liveness (run on a clock interval): a node not heard from for missedHeartbeats x
 * heartbeatMs is gone (one interval more before its first heartbeat). It is removed and the DCMs it was in re-plan, so its children get
 * new parents (and an origin's channel loses its root until the origin comes back). Then each
 * DCM's feed watchdog runs (Dcm.watchdog: a member without a complete feed is repaired).
 */
import type { ControlContext } from "./context.js";
import { type NodeRecord, roleName } from "../client-manager.js";
import { removeNodes } from "./remove-node.js";

export function checkLiveness(ctx: ControlContext): void {
  const now = ctx.clock.now();
  const timeout = ctx.config.missedHeartbeats * ctx.config.heartbeatMs;
  // A node that has not heartbeated yet gets one interval more: its silence is counted from its
  // JOIN, and its JOIN_ACK (signed, after the cookie round trip) has to reach it first.
  const lost = ctx.clients
    .silent(now, timeout)
    .filter((n) => n.lastHeartbeat !== null || now - n.lastHeard > timeout + ctx.config.heartbeatMs);
  if (lost.length > 0) removeLost(ctx, lost, now);
  // The feed watchdog: every live member has a complete feed in its channel's plan (dcm.ts).
  for (const e of ctx.directory.all()) if (e.dcm.watchdog()) ctx.reconcile(e.dcm);
}

function removeLost(ctx: ControlContext, lost: NodeRecord[], now: number): void {
  for (const node of lost) {
    ctx.metrics.lost++;
    ctx.logger.warn("node_lost", {
      node: node.id,
      role: roleName(node.role),
      region: node.region,
      address: node.address,
      port: node.port,
      silentMs: now - node.lastHeard,
      heartbeats: node.heartbeats,
    });
  }
  removeNodes(ctx, lost, "lost");
}
