/**
 * Liveness (run on a clock interval): a node not heard from for missedHeartbeats x
 * heartbeatMs is gone (one interval more before its first heartbeat). It is removed and the DCMs it was in re-plan, so its children get
 * new parents (and an origin's channel loses its root until the origin comes back). Then each
 * DCM's feed watchdog runs (checkFeeds; Dcm.watchdog: a member without a complete feed is
 * repaired), as an event of its own: the control center schedules it after the liveness check.
 */
import type { ControlContext } from "./context.js";
import { type NodeRecord, roleName } from "../client-manager.js";
import { removeNodes } from "./remove-node.js";
import { type Dcm, viewDigest } from "../dcm/dcm.js";

/** Heartbeat intervals a replacement DCM waits for the nodes' reports before it completes the plan. */
export const ADOPTION_WAIT_INTERVALS = 1.5;
/** ... and at most this many while nodes the reports name have not resumed (they may be gone). */
export const ADOPTION_MAX_WAIT_INTERVALS = 4;

export function checkLiveness(ctx: ControlContext): void {
  const now = ctx.clock.now();
  const timeout = ctx.config.missedHeartbeats * ctx.config.heartbeatMs;
  // A node that has not heartbeated yet gets one interval more: its silence is counted from its
  // JOIN, and its JOIN_ACK (signed, after the cookie round trip) has to reach it first.
  const lost = ctx.clients
    .silent(now, timeout)
    .filter((n) => n.lastHeartbeat !== null || now - n.lastHeard > timeout + ctx.config.heartbeatMs);
  if (lost.length > 0) removeLost(ctx, lost, now);
  finishAdoptions(ctx, now);
}

/**
 * The feed watchdog: every live member has a complete feed in its channel's plan
 * (dcm/watchdog.ts). A DCM with more members than the watchdog's chunk goes on with its pass in
 * steps that `later` runs as events of their own, so that a tick is still one pass over everyone.
 */
export function checkFeeds(ctx: ControlContext, later: (step: () => void) => void = (f) => f()): void {
  for (const e of ctx.directory.all()) {
    if (e.dcm.watchdog()) ctx.reconcile(e.dcm);
    if (e.dcm.watchdogPending) later(() => continueFeeds(ctx, e.dcm, later));
  }
}

function continueFeeds(ctx: ControlContext, dcm: Dcm, later: (step: () => void) => void): void {
  // A channel gone meanwhile (withdrawn): its DCM is left alone.
  if (!ctx.directory.all().some((e) => e.dcm === dcm)) return;
  if (dcm.watchdogStep()) ctx.reconcile(dcm);
  if (dcm.watchdogPending) later(() => continueFeeds(ctx, dcm, later));
}

/**
 * A DCM that took over a channel (failover) adopts what the nodes report: once every live node
 * had one heartbeat interval and a half to RESUME and heartbeat, the adopted plan is completed
 * and only the nodes whose assignment must change get an ASSIGN (docs/resilience.md).
 */
function finishAdoptions(ctx: ControlContext, now: number): void {
  for (const e of ctx.directory.all()) {
    if (!e.dcm.adopting || e.adoptingSince === undefined) continue;
    const waited = (now - e.adoptingSince) / ctx.config.heartbeatMs;
    if (waited < ADOPTION_WAIT_INTERVALS) continue;
    // Nodes the others name that have not resumed yet: wait for them, up to a limit.
    const awaited = e.dcm.awaitedNodes();
    if (awaited.length > 0 && waited < ADOPTION_MAX_WAIT_INTERVALS) continue;
    const summary = e.dcm.finishAdoption();
    if (!summary.done) continue;
    // The view's digest: an operator (or a test) compares it with the old DCM's (GET /api/topology).
    ctx.logger.info("dcm_adopted", {
      dcm: e.dcm.logicalId,
      ...summary,
      viewDigest: viewDigest(e.dcm.view()),
    });
    ctx.reconcile(e.dcm);
  }
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
