/**
 * What the flash-crowd test (test/control-flash-crowd.test.ts) reads: the nodes control declared
 * lost since a point in its log, and an agent's continuity over a window (from the failover
 * helpers' AgentLoss). The simulated nodes themselves run in bench:ingest's load generator
 * (tools/ingest/client.ts LoadGenerator).
 */
import { logEventsFrom } from "../../tools/ingest/proc.js";
import type { GroupProgress, LoadGenerator } from "../../tools/ingest/client.js";
import type { AgentLoss } from "./failover.js";

export interface LostNode {
  node: number;
  role: string;
  silentMs: number;
}

/** node_lost events in control's log from byte `offset` on. */
export function lostSince(logFile: string, offset: number): LostNode[] {
  return logEventsFrom(logFile, offset)
    .filter((e) => e.event === "node_lost")
    .map((e) => ({ node: Number(e.node), role: String(e.role), silentMs: Number(e.silentMs) }));
}

/** Segments played on time over the window, of those due in it (1 when none was due). */
export function windowContinuity(l: AgentLoss): number {
  const due = l.expectedAfter - l.expectedBefore;
  return due <= 0 ? 1 : (due - l.lost) / due;
}

/**
 * Waits until every viewer of `group` is admitted (JOIN_ACK accepted and an ASSIGN applied), or
 * the deadline passes; resolves with the group's progress either way (the caller asserts).
 */
export async function admittedWithin(
  load: LoadGenerator,
  group: string,
  timeoutMs: number,
): Promise<{ progress: GroupProgress; waitedMs: number }> {
  const start = Date.now();
  for (;;) {
    const progress = await load.progress(group);
    if (progress.admitted === progress.viewers || Date.now() - start > timeoutMs)
      return { progress, waitedMs: Date.now() - start };
    await new Promise((r) => setTimeout(r, 250));
  }
}
