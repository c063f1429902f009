/**
 * A SegmentRepairer for tests (agent/store/segment-repair.ts) on a manual clock and a fake fetch: commits go to a
 * list (and mark the segment done, as the agent does); the origin is http://origin:8000 and signs
 * with TEST_ORIGIN for channel 0.
 */
import type { Assembler, CompletedSegment } from "../../agent/store/assembler.js";
import { FallbackClient } from "../../agent/store/fallback-client.js";
import { MetaVerifier } from "../../agent/store/meta-verifier.js";
import { SegmentRepairer, repairTiming, REPAIR_LIMITS } from "../../agent/store/segment-repair.js";
import { MemoryLogger } from "../../seams/log.js";
import type { ManualClock } from "../../seams/manual-clock.js";
import { TEST_ORIGIN } from "../../tools/origin-key.js";

export function testRepairer(
  clock: ManualClock,
  assembler: Assembler,
  fetch: typeof globalThis.fetch,
  peers?: string[],
) {
  const committed: Array<{ seg: CompletedSegment; source: string }> = [];
  const logger = new MemoryLogger();
  const repairer = new SegmentRepairer(
    {
      clock,
      logger,
      client: new FallbackClient({ fetch }),
      assembler,
      // The channel's origin is TEST_ORIGIN (tools/origin-key.ts), channel id 0.
      verifier: new MetaVerifier({ channel: 0, originKey: TEST_ORIGIN.publicKey }),
      commit: (seg, source) => {
        committed.push({ seg, source });
        assembler.markDone(seg.id);
      },
      wanted: () => true,
      segmentMs: 2000,
      ...(peers === undefined ? {} : { peers: () => peers }),
    },
    { ...repairTiming(2000), ...REPAIR_LIMITS, channel: "demo", fallbackUrl: "http://origin:8000" },
  );
  return { repairer, committed, logger };
}

/** Waits (without timers) until `cond` holds, at most `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in time`);
    await new Promise((r) => setImmediate(r));
  }
}
