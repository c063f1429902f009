/**
 * The simulator's GC split (sim/measure.ts, docs/sim.md "The figures"): GC pauses reported by
 * node:perf_hooks are matched against a long event's wall-time span once the event loop turned.
 * Collections are forced (heapUsed), so there is a pause to find; nothing here asserts a duration.
 */
import { performance } from "node:perf_hooks";
import test from "ava";
import { ControlMeter, enableGc, GcLog, gcFigures, heapUsed } from "../sim/measure.js";
import { ManualClock } from "../seams/manual-clock.js";

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

test("the CPU-time stall figures leave out the time the process was not running", (t) => {
  // Both clocks are the test's: an event moves wall time, CPU time, or both.
  let wall = 0;
  let cpu = 0;
  const clock = new ManualClock(0);
  const meter = new ControlMeter(clock, 0, 30, 5, { wall: () => wall, cpuMs: () => cpu });
  const mclock = meter.clock();
  // 300 ms of wall time with 10 of CPU (a process the machine gave no core to), then 50 ms of
  // both, then 40 ms of wall with 80 of CPU (the collector's helper threads beside the event).
  mclock.setTimeout(function waiting() {
    wall += 300;
    cpu += 10;
  }, 1);
  mclock.setTimeout(function spinning() {
    wall += 50;
    cpu += 50;
  }, 2);
  mclock.setTimeout(function helped() {
    wall += 40;
    cpu += 80;
  }, 3);
  mclock.setTimeout(function short() {
    wall += 20;
    cpu += 20;
  }, 4);
  clock.advance(5);
  meter.settleCpu();
  t.is(meter.overLimit, 3, "three over 30 ms in wall time");
  t.is(meter.longest.what, "waiting");
  t.is(meter.longest.ms, 300);
  t.is(meter.overLimitCpu, 2, "two over 30 ms in CPU time");
  t.is(meter.longestCpu.what, "spinning");
  t.is(meter.longestCpu.ms, 50, "an event's CPU time is at most its wall time");
});
