/**
 * churn: after the N viewers are placed, 5 % of them leave per minute (LEAVE) and as many new
 * ones join, spread evenly, for `minutes` (default 3; a fraction runs that part of a minute: the
 * scenario test runs 0.5). Every leaver's children must be repaired
 * and every newcomer placed; nobody is lost (a LEAVE is not a loss).
 */
import { liveIds, soundlyPlaced, warmUp, type Scenario } from "./common.js";
import type { Viewer } from "../viewer.js";

export const CHURN_PER_MINUTE = 0.05;

export function churn(minutes = 3): Scenario {
  return {
    name: "churn",
    describe: `5 %/min leave and join for ${minutes} min; all present placed on live parents, none lost`,
    run(ctx) {
      const w = ctx.world;
      const hb = w.options.heartbeatMs;
      const up = warmUp(ctx, ctx.nodes);
      ctx.mark("joined");
      const lostBefore = w.control.metrics.lost;
      const present = new Set<Viewer>(up.viewers);
      const perSecond = (ctx.nodes * CHURN_PER_MINUTE) / 60;
      let owed = 0;
      let left = 0;
      let joined = 0;
      const newcomers: Viewer[] = [];
      const changesBefore = up.viewers.reduce((a, v) => a + v.stats.parentChanges, 0);
      for (let s = 0; s < minutes * 60; s++) {
        owed += perSecond;
        const n = Math.floor(owed);
        owed -= n;
        const list = [...present];
        for (let k = 0; k < n && list.length > 0; k++) {
          const i = Math.floor(w.rng() * list.length);
          const v = list[i]!;
          list[i] = list[list.length - 1]!;
          list.pop();
          v.leave();
          present.delete(v);
          left++;
        }
        const fresh = w.addViewers(n);
        w.startAt(
          fresh,
          fresh.map(() => Math.floor(w.rng() * 1000)),
        );
        for (const v of fresh) {
          present.add(v);
          newcomers.push(v);
        }
        joined += n;
        w.run(1000, 1000);
        if (s % 60 === 59) ctx.log(`  churn minute ${(s + 1) / 60}: ${left} left, ${joined} joined`);
      }
      // Two intervals to repair the last ones.
      const all = [...present];
      const settleMs = w.runUntil(() => soundlyPlaced(all, liveIds(w, all)) === all.length, 6 * hb, 1000);
      ctx.log(`  settled in ${settleMs} ms`);
      const live = liveIds(w, all);
      const sound = soundlyPlaced(all, live);
      const lost = w.control.metrics.lost - lostBefore;
      const repairs = up.viewers.reduce((a, v) => a + v.stats.parentChanges, 0) - changesBefore;
      return {
        checks: {
          allPlaced: sound === all.length,
          settledWithin2Intervals: settleMs <= 2 * hb,
          noneLost: lost === 0,
          newcomersPlaced: newcomers.filter((v) => present.has(v)).every((v) => v.placed),
        },
        figures: {
          left,
          joined,
          present: all.length,
          placedOnLiveParents: sound,
          settleMs,
          lost,
          parentChanges: repairs,
        },
      };
    },
  };
}
