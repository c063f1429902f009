/**
 * What the failover tests measure on real processes (test/control-failover-*.test.ts, and
 * bench:failover may use it too): when every node is back in a live control server's view, and
 * how many segments each agent lost across the failover — its count of segments played late or
 * never, from its /status, once the segments of the window have come due.
 */
import type { AgentStatus } from "../../cli/demo/status.js";
import { waitFor } from "../../tools/cli.js";

/**
 * Waits until every id in `ids` is listed by `seen()` (the node ids of the live servers'
 * /api/nodes); resolves with the time it happened (Date.now()).
 */
export async function reassociated(
  ids: ReadonlySet<number>,
  seen: () => Promise<Set<number>>,
  timeoutMs: number,
): Promise<number> {
  return waitFor(
    "every node back in a live server's view",
    async () => {
      const now = await seen();
      return [...ids].every((id) => now.has(id)) ? Date.now() : undefined;
    },
    timeoutMs,
    50,
  );
}

export interface AgentLoss {
  expectedBefore: number;
  expectedAfter: number;
  /** Segments played late or never since `before`. */
  lost: number;
}

/**
 * Waits until every agent has come to `segments` more segments than in `before` (so the
 * segments of the failover window are due), then says what each lost since `before`.
 */
export async function lossSince(
  all: () => Promise<Array<AgentStatus | undefined>>,
  before: Array<AgentStatus | undefined>,
  segments: number,
  timeoutMs: number,
): Promise<AgentLoss[]> {
  const after = await waitFor(
    `every agent ${segments} segments further`,
    async () => {
      const now = await all();
      const due = now.every(
        (s, i) => s !== undefined && s.continuity.expected >= before[i]!.continuity.expected + segments,
      );
      return due ? now : undefined;
    },
    timeoutMs,
    250,
  );
  return after.map((s, i) => {
    const b = before[i]!.continuity;
    const a = s!.continuity;
    return {
      expectedBefore: b.expected,
      expectedAfter: a.expected,
      lost: a.expected - a.onTime - (b.expected - b.onTime),
    };
  });
}

/**
 * Waits until every agent says (its /status) that its control session is joined again after a
 * failover: one more failover than in `before`, and back in phase `joined` (its RESUME was
 * answered by a RESUME_ACK it accepted). Resolves with the time it happened (Date.now()). This
 * is the node side of "reassociated": a server listing a node only says its RESUME passed the
 * server's checks. (`control.epoch` is the epoch of the last ASSIGN applied, which a healthy
 * adopted tree does not change.)
 */
export async function resumedAll(
  all: () => Promise<Array<AgentStatus | undefined>>,
  before: Array<AgentStatus | undefined>,
  timeoutMs: number,
): Promise<number> {
  return waitFor(
    "every agent's session joined again after the failover",
    async () => {
      const now = await all();
      const back = now.every((s, i) => {
        const c = s?.control;
        return c !== undefined && c.phase === "joined" && c.failovers > (before[i]?.control?.failovers ?? 0);
      });
      return back ? Date.now() : undefined;
    },
    timeoutMs,
    50,
  );
}
