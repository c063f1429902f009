/**
 * Preferred-node eligibility, on join and on a schedule (control/eligibility.ts has the rule):
 * a node's verdict comes from its closed sessions in the store and its current uptime, with
 * hysteresis (the previous verdict holds between the thresholds). A changed verdict updates the
 * node in its DCM, and a DCM whose eligible set changed rebuilds (promotion to tier 1 happens
 * only in a full plan).
 */
import { Role } from "../../protocol/messages.js";
import { dcmMember, type NodeRecord } from "../client-manager.js";
import type { Dcm } from "../dcm/dcm.js";
import { DEFAULT_ELIGIBILITY, eligibleFromHistory } from "../eligibility.js";
import type { SessionHistory } from "../store.js";
import type { ControlContext } from "./context.js";
import { recruitIdle } from "./recruit.js";

/**
 * How many of a node's newest sessions a verdict reads: sessions control ended are skipped by
 * the rule (eligibility.ts), so it reads past a few of them.
 */
export function eligibilitySessions(ctx: ControlContext): number {
  return 4 * (ctx.config.eligibility?.window ?? DEFAULT_ELIGIBILITY.window) + 1;
}

/**
 * The node's verdict now (its record's `eligible` is the previous one). `sessions`: the node's
 * newest first as the caller already read them (at least eligibilitySessions of them when it
 * has that many); read from the store when absent.
 */
export function evaluateEligibility(
  ctx: ControlContext,
  node: NodeRecord,
  sessions?: readonly SessionHistory[],
): boolean {
  if (node.role !== Role.AGENT) return true;
  const policy = { ...DEFAULT_ELIGIBILITY, ...ctx.config.eligibility };
  const limit = eligibilitySessions(ctx);
  const newest = sessions === undefined ? ctx.store.history(node.id, limit) : sessions.slice(0, limit);
  const closed = newest.filter((s) => s.endedAt !== null);
  return eligibleFromHistory(closed, ctx.clock.now() - node.joinedAt, node.eligible, policy);
}

/** Agents one step of a review evaluates (each reads its sessions from the store). */
export const ELIGIBILITY_CHUNK = 2000;

/**
 * The scheduled review of every agent, in steps of ELIGIBILITY_CHUNK agents: `later` runs the
 * next step as an event of its own (at 10^5 agents one pass, a store read each, held the event
 * loop for 0.9 to 11 s in the simulator). DCMs whose eligible set changed rebuild once, after the
 * last step. A node gone meanwhile is skipped by its DCMs (`has`).
 */
export function reviewEligibility(ctx: ControlContext, later: (step: () => void) => void = (f) => f()): void {
  recruitIdle(ctx);
  const agents = ctx.clients.all().filter((n) => n.role === Role.AGENT);
  const touched = new Set<Dcm>();
  const step = (from: number): void => {
    const end = Math.min(agents.length, from + ELIGIBILITY_CHUNK);
    for (let i = from; i < end; i++) {
      const node = agents[i]!;
      const now = evaluateEligibility(ctx, node);
      if (now === node.eligible) continue;
      node.eligible = now;
      ctx.logger.info("eligibility_changed", { node: node.id, eligible: now });
      for (const name of node.channels) {
        const dcm = ctx.directory.byName(name)?.dcm;
        if (dcm === undefined || !dcm.has(node.id)) continue;
        dcm.upsert(dcmMember(node));
        touched.add(dcm);
      }
    }
    if (end < agents.length) return later(() => step(end));
    for (const dcm of touched) {
      dcm.requestRebuild();
      ctx.reconcile(dcm);
    }
  };
  step(0);
}
