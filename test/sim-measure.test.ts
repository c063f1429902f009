/**
 * The simulator's GC split (sim/measure.ts, docs/sim.md "The figures"): GC pauses reported by
 * node:perf_hooks are matched against a long event's wall-time span once the event loop turned.
 * Collections are forced (heapUsed), so there is a pause to find; nothing here asserts a duration.
 */
import { performance } from "node:perf_hooks";
import test from "ava";
import { enableGc, GcLog, gcFigures, heapUsed } from "../sim/measure.js";

test("GC pauses inside an event's span are found once the loop turned, and taken out of it", async (t) => {
  t.true(await enableGc(), "a collector to force");
  const gc = new GcLog();
  const before0 = performance.now();
  const before1 = performance.now();
  const t0 = performance.now();
  heapUsed(); // two forced full collections, inside [t0, t1]
  const t1 = performance.now();
  t.is(gc.count, 0, "nothing is reported while the run is synchronous");
  await gc.flush();
  gc.disconnect();
  t.true(gc.count >= 2, `pauses reported: ${gc.count}`);
  const inside = gc.pauseWithin(t0, t1);
  t.true(inside > 0 && inside <= t1 - t0, `pause inside the span: ${inside} of ${t1 - t0} ms`);
  t.is(gc.pauseWithin(before0, before1), 0, "none in a span before the collections");
  t.true(gc.pauses(t0, t1).count >= 2);

  // The span as a run's one long event: its GC is named, and what is left is the event less it.
  const ms = t1 - t0;
  const f = gcFigures(
    { wall0: t0, wall1: t1, longestStart: t0, longestMs: ms, over: [t0, ms], limitMs: 0 },
    gc,
  );
  t.is(f.longestStallGcMs, Math.round(inside * 100) / 100);
  t.is(f.longestStallNoGcMs, Math.round((ms - inside) * 100) / 100);
  t.is(f.eventsOverLimitNoGc, ms - inside > 0 ? 1 : 0);
  t.is(f.gcPauses, 0, "the collections heapUsed() forced are not the run's pauses");
});
