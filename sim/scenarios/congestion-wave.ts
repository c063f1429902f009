/**
 * congestion-wave: after the N viewers are placed, 10 % of the placed viewers report lag on their
 * parent links for `waveMs` (default 30 s), 6,000 packets behind (FIG. 9: far past control's
 * threshold). Half of them lag on the parents they have when the wave starts (a bad path: a move
 * cures it), half on whatever parent they have (the fault follows the child: a move cannot cure
 * it, the move backoff must bound the moves). Checks: moves happen, at least half of the lagging
 * path links are left within the wave (figures: how many links and viewers still lag, coded and
 * not), no parent slot (substream) of a child-lagging one changes more often than the backoff
 * allows (per child and substream, move-backoff.ts), and the moves stop once the wave is over. A coded child that still gets fec.k of its
 * substreams from fresh parents may keep a lagging link as a spare (held up to 60 s by design,
 * control/congestion-monitor.ts): counted apart, not as a failure.
 */
import { warmUp, type Scenario } from "./common.js";
import type { Viewer } from "../viewer.js";

const LAG_PACKETS = 6000;
/** Base of control's move backoff (control/topology/move-backoff.ts): moves at 0, 4, 12, 28, 60 s... */
const BACKOFF_BASE_MS = 4000;

export function congestionWave(waveMs = 30_000): Scenario {
  return {
    name: "congestion-wave",
    describe: `10 % report lag for ${waveMs / 1000} s; moved off bad paths, backoff bounds the rest, moves stop`,
    run(ctx) {
      const w = ctx.world;
      const hb = w.options.heartbeatMs;
      const up = warmUp(ctx, ctx.nodes);
      ctx.mark("joined");
      w.run(2 * hb);
      const placed = up.viewers.filter((v) => v.placed && v.parents.some((p) => p !== 0));
      const wave: Viewer[] = [];
      for (const v of placed) if (w.rng() < 0.1) wave.push(v);
      const path = wave.filter((_, i) => i % 2 === 0);
      const follow = wave.filter((_, i) => i % 2 === 1);
      const laggingOn = (v: Viewer): number =>
        v.parents.filter((p) => p !== 0 && v.lagParents !== undefined && v.lagParents.includes(p)).length;
      for (const v of wave) v.resetSlotChanges();
      const moves0 = w.control.metrics.congestedLinks;
      for (const v of path) v.reportLag(LAG_PACKETS);
      const laggingLinks = (): number => path.reduce((a, v) => a + laggingOn(v), 0);
      const linksAtStart = laggingLinks();
      const t0 = w.elapsed;
      // The fault follows the child: every heartbeat lags on whatever parents it has now.
      const refollow = (): void => {
        for (const v of follow) v.reportLag(LAG_PACKETS);
      };
      refollow();
      ctx.log(`  wave: ${wave.length} viewers lag`);
      while (w.elapsed - t0 < waveMs) {
        w.run(500, 500);
        refollow();
      }
      const movesInWave = w.control.metrics.congestedLinks - moves0;
      // A coded (FEC_TREE) child that still gets fec.k substreams from fresh parents keeps a lagging
      // link as a spare for up to the backoff's cap (60 s, congestion-monitor.ts): held, by design.
      const spareOnly = (v: Viewer): boolean => {
        const fec = v.placement?.fec;
        return fec !== undefined && v.parents.filter((p) => p !== 0).length - laggingOn(v) >= fec.k;
      };
      const stillLagging = path.filter((v) => v.lagging && !spareOnly(v)).length;
      const spareHeld = path.filter((v) => v.lagging && spareOnly(v)).length;
      const linksAtEnd = laggingLinks();
      const uncodedLeft = path.filter((v) => v.placement?.fec === undefined && v.lagging).length;
      for (const v of wave) v.clearLag();
      ctx.log(`  wave over: ${movesInWave} moves`);
      // An interval's grace for reports already made, then no more moves.
      w.run(2 * hb);
      const moves1 = w.control.metrics.congestedLinks;
      w.run(4 * hb);
      const movesAfter = w.control.metrics.congestedLinks - moves1;
      // The backoff is per child and substream: the most changes of one parent slot of a child whose
      // fault follows it (a slot also changes when its parent is moved or lost: an upper bound).
      let maxFollowChanges = 0;
      for (const v of follow) maxFollowChanges = Math.max(maxFollowChanges, v.stats.maxSlotChanges);
      // Moves under the backoff within the wave: at 0, base, 3 base, 7 base, ... (plus the grace interval).
      let allowed = 0;
      for (let at = 0, gap = BACKOFF_BASE_MS; at <= waveMs + 2 * hb; at += gap, gap *= 2) allowed++;
      return {
        checks: {
          movesHappened: movesInWave > 0,
          // Most bad links left within the wave (the rest: spare, under the backoff, or not yet).
          badPathsLeft: linksAtStart > 0 && linksAtEnd <= linksAtStart / 2,
          backoffBounds: maxFollowChanges <= allowed + 1,
          movesStop: movesAfter === 0,
        },
        figures: {
          wave: wave.length,
          movesInWave,
          pathLinksLaggingAtStart: linksAtStart,
          pathLinksLaggingAtEnd: linksAtEnd,
          pathStillLagging: stillLagging,
          pathUncodedStillLagging: uncodedLeft,
          pathSpareHeld: spareHeld,
          maxMovesOfAFollowedChild: maxFollowChanges,
          backoffAllows: allowed,
          movesAfterWave: movesAfter,
        },
      };
    },
  };
}
