/**
 * Recruiting idle boxes (claim: a high-capacity node "recruited" to relay a channel it does not
 * watch). An idle agent is offered to one live channel — the one with the most members, so the
 * box serves where most viewers are — as a DCM member that does not watch (watching: false);
 * the topology decides whether to use it (tier 1 only). Called when the box joins and on the
 * eligibility schedule, so a box that joined before any channel went live is offered later.
 */
import { dcmMember, type NodeRecord } from "../client-manager.js";
import type { ControlContext } from "./context.js";

export function recruit(ctx: ControlContext, node: NodeRecord): void {
  // Only the three-tier engine knows recruits (the foundation's tree would make it a viewer).
  if (node.recruit !== true || node.channels.length > 0 || ctx.config.topology !== "tiered") return;
  const live = ctx.directory.all().filter((e) => e.origin !== null && e.info.vod === undefined);
  if (live.length === 0) return;
  const entry = live.reduce((a, b) => (b.dcm.members().length > a.dcm.members().length ? b : a));
  node.channels = [entry.info.name];
  entry.dcm.upsert(dcmMember(node));
  ctx.logger.info("relay_offered", { node: node.id, channel: entry.info.name, region: node.region });
  ctx.reconcile(entry.dcm);
}

/** The schedule's pass: idle boxes not yet offered to a channel. */
export function recruitIdle(ctx: ControlContext): void {
  for (const node of ctx.clients.all())
    if (node.recruit === true && node.channels.length === 0) recruit(ctx, node);
}
