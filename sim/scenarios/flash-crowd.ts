/**
 * flash-crowd: N viewers join over 60 s (seeded uniform start times) into a channel whose origin
 * is up. Goal (issue 13): every one placed within 60 s + 2 heartbeat intervals of the first JOIN,
 * no node lost (every node here is established or becoming so: none leaves).
 */
import { JOIN_WINDOW_MS, warmUp, type Scenario } from "./common.js";

export const flashCrowd: Scenario = {
  name: "flash-crowd",
  describe: "N joins spread over 60 s; all placed within 60 s + 2 heartbeat intervals, none lost",
  run(ctx) {
    const w = ctx.world;
    const hb = w.options.heartbeatMs;
    const goalMs = JOIN_WINDOW_MS + 2 * hb;
    const up = warmUp(ctx, ctx.nodes);
    ctx.mark("joined");
    // Two more intervals: the tree settles and nobody established is lost afterwards either.
    w.run(2 * hb);
    const lost = w.control.metrics.lost;
    return {
      checks: {
        allPlaced: up.allPlacedMs !== null && w.placed(up.viewers) === ctx.nodes,
        withinGoal: up.allPlacedMs !== null && up.allPlacedMs <= goalMs,
        noneLost: lost === 0,
        originUp: w.origin.phase === "joined",
      },
      figures: {
        allPlacedMs: up.allPlacedMs,
        goalMs,
        placed: w.placed(up.viewers),
        lost,
      },
    };
  },
};
