/**
 * Preferred-node eligibility from a node's history (claim 5: a preferred client "has been
 * stable"). Pure: the node's closed sessions (from the SQLite store, so it survives control
 * restarts) and its current uptime in, a verdict out. The upload rule (upload >= c x R x
 * (1 + margin)) is the topology engine's; this decides only the stability half.
 *
 * Rule, over the last `window` closed sessions:
 * - failure ratio = sessions that ended "lost" (missed heartbeats) / closed sessions;
 * - mean uptime of those sessions.
 * Enter (become eligible): failure ratio <= enterFailureRatio and mean uptime >= minUptimeMs,
 *   or the current session has been up for stableUptimeMs; a node without history gets the
 *   benefit of the doubt (eligible) — it still needs the upload.
 * Leave: failure ratio >= leaveFailureRatio or mean uptime < minUptimeMs / 2 (unless the current
 *   session has been up for stableUptimeMs).
 * Between the two thresholds the node keeps its previous verdict (hysteresis, so it does not
 * flap in and out of tier 1); a first verdict there is "not eligible".
 *
 * Sessions that control ended ("control_restart": closed at the next start after a crash or a
 * kill; "control_stop": closed by a clean shutdown) say nothing about the node: control went
 * away, the node did not. They never count against it — such a session is left out of the
 * window unless it lasted minUptimeMs, in which case it counts as the good session it was. (A
 * node is never declared lost while control itself is stalled: the liveness tick's stall guard,
 * control-center.ts.) Without this rule every agent of a short run had a short session at a
 * restart, lost its eligibility, and a region left with no tier-1 node went dark (issue 12).
 */
import type { SessionRow } from "./store.js";

export interface EligibilityPolicy {
  window: number;
  enterFailureRatio: number;
  leaveFailureRatio: number;
  minUptimeMs: number;
  stableUptimeMs: number;
}

export const DEFAULT_ELIGIBILITY: EligibilityPolicy = {
  window: 10, // the last 10 sessions
  enterFailureRatio: 0.2, // at most 1 in 5 sessions ended by a failure
  leaveFailureRatio: 0.5, // half of them failed: out
  minUptimeMs: 60_000, // sessions last a minute on average
  stableUptimeMs: 600_000, // up for 10 minutes now: stable whatever the past
};

/** Eligible now? `closed`: the node's closed sessions, newest first; `previous`: the last verdict. */
export function eligibleFromHistory(
  closed: readonly Pick<SessionRow, "reason" | "uptimeMs">[],
  currentUptimeMs: number,
  previous: boolean | undefined,
  policy: EligibilityPolicy = DEFAULT_ELIGIBILITY,
): boolean {
  if (currentUptimeMs >= policy.stableUptimeMs) return true;
  const recent = closed
    .filter((s) => !endedByControl(s.reason) || (s.uptimeMs ?? 0) >= policy.minUptimeMs)
    .slice(0, policy.window);
  if (recent.length === 0) return true;
  const failures = recent.filter((s) => s.reason === "lost").length / recent.length;
  const uptime = recent.reduce((a, s) => a + (s.uptimeMs ?? 0), 0) / recent.length;
  if (failures >= policy.leaveFailureRatio || uptime < policy.minUptimeMs / 2) return false;
  if (failures <= policy.enterFailureRatio && uptime >= policy.minUptimeMs) return true;
  return previous ?? false;
}

/** A session that control ended (restart after a crash, clean stop): not the node's doing. */
export function endedByControl(reason: SessionRow["reason"]): boolean {
  return reason === "control_restart" || reason === "control_stop" || reason === "control_failover";
}
