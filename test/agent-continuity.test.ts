import test from "ava";
import { Continuity } from "../agent/lan/continuity.js";

test("nothing is expected before the anchor or before the first deadline", (t) => {
  const c = new Continuity({ segmentMs: 2000 });
  t.deepEqual(c.report(1_000_000), { expected: 0, onTime: 0, ratio: null });
  t.false(c.isPast(5, 1_000_000));
  c.onHeld(10, 2000, 1000);
  t.deepEqual(c.anchor, { id: 10, at: 1000 });
  t.is(c.playoutDelayMs, 4000);
  t.is(c.deadline(10, 1000), 5000);
  t.is(c.deadline(12, 1000), 9000);
  t.deepEqual(c.report(5000), { expected: 0, onTime: 0, ratio: null });
  t.is(c.playing(5000), undefined);
});

test("deadline(s) = t0 + playoutDelay + durations of s0..s-1; held by it counts as on time", (t) => {
  const c = new Continuity({ segmentMs: 2000, playoutDelayMs: 3000 });
  c.onHeld(1, 1500, 0); // deadline(1) = 3000
  c.onHeld(2, 2500, 4000); // deadline(2) = 4500: on time
  c.onHeld(3, 2000, 7001); // deadline(3) = 7000: 1 ms late
  c.noteDuration(4, 1000); // deadline(4) = 9000, deadline(5) = 10000
  c.onHeld(5, 2000, 9500);
  t.is(c.deadline(5, 0), 10_000);
  t.deepEqual(c.report(3001), { expected: 1, onTime: 1, ratio: 1 });
  t.is(c.playing(3001), 1);
  t.deepEqual(c.report(7001), { expected: 3, onTime: 2, ratio: 2 / 3 });
  // 4 is never held: missed; 5 on time.
  t.deepEqual(c.report(10_001), { expected: 5, onTime: 3, ratio: 3 / 5 });
  t.true(c.isPast(4, 10_001));
  t.false(c.isPast(6, 10_001));
  t.true(c.isPast(0, 10_001), "ids below the anchor count as past");
});

test("unknown durations use segmentMs, settled deadlines do not move", (t) => {
  const c = new Continuity({ segmentMs: 1000 });
  c.onHeld(100, 1000, 0); // delay 2000
  t.is(c.deadline(103, 0), 5000);
  c.report(3500); // settles 100 (2000) and 101 (3000)
  c.noteDuration(101, 5000); // too late to matter
  t.is(c.deadline(103, 3500), 5000);
  c.setSegmentMs(2000); // applies to unsettled unknown durations (102)
  t.is(c.deadline(103, 3500), 6000);
  t.deepEqual(c.report(3500), { expected: 2, onTime: 1, ratio: 0.5 });
});

test("segments held before the anchor's id are ignored; a late first hold is still the anchor", (t) => {
  const c = new Continuity({ segmentMs: 1000, playoutDelayMs: 0 });
  c.onHeld(50, 1000, 10);
  c.onHeld(49, 1000, 11);
  t.deepEqual(c.anchor, { id: 50, at: 10 });
  t.deepEqual(c.report(1011), { expected: 2, onTime: 1, ratio: 0.5 });
});
