import test from "ava";
import { ManualClock } from "../seams/manual-clock.js";

test("manual clock fires timers in time order, intervals repeat, cleared timers do not fire", (t) => {
  const c = new ManualClock(1000);
  const fired: string[] = [];
  c.setTimeout(() => fired.push(`b@${c.now()}`), 20);
  c.setTimeout(() => fired.push(`a@${c.now()}`), 10);
  const iv = c.setInterval(() => fired.push(`i@${c.now()}`), 15);
  const gone = c.setTimeout(() => fired.push("never"), 5);
  c.clearTimeout(gone);
  c.advance(30);
  t.deepEqual(fired, ["a@1010", "i@1015", "b@1020", "i@1030"]);
  t.is(c.now(), 1030);
  c.clearInterval(iv);
  c.advance(100);
  t.is(fired.length, 4);
  t.is(c.pendingTimers, 0);
});

test("a timer set from a timer callback fires in the same advance when due", (t) => {
  const c = new ManualClock(0);
  const fired: number[] = [];
  c.setTimeout(() => {
    fired.push(c.now());
    c.setTimeout(() => fired.push(c.now()), 5);
  }, 5);
  c.advance(10);
  t.deepEqual(fired, [5, 10]);
});
