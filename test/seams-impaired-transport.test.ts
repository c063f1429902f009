/**
 * ImpairedTransport (the lab's delay/jitter layer) on simulated time: a MemoryNetwork with
 * zero latency under a ManualClock, so every arrival time is exactly the impairment's doing.
 */
import test from "ava";
import fc from "fast-check";
import { mulberry32 } from "../seams/prng.js";
import {
  formatDelayRules,
  ImpairedTransport,
  parseDelayRules,
  type DelayRule,
} from "../seams/impaired-transport.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";

interface Arrival {
  at: number;
  seq: number;
  to: string;
}

function rig(rules: DelayRule[], opts: { random?: () => number; maxQueued?: number } = {}) {
  const clock = new ManualClock(1_000_000);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const inner = net.bind("10.77.0.10", 5000);
  const far = net.bind("10.77.2.10", 5000);
  const far6 = net.bind("fd00:77:2::10", 5000);
  const near = net.bind("10.77.0.11", 5000);
  const arrivals: Arrival[] = [];
  for (const dest of [far, far6, near]) {
    dest.onDatagram((data) =>
      arrivals.push({ at: clock.now(), seq: data.readUInt32BE(0), to: dest.local.address }),
    );
  }
  const t = new ImpairedTransport(
    inner,
    rules,
    { clock, random: opts.random ?? mulberry32(7) },
    opts.maxQueued === undefined ? {} : { maxQueued: opts.maxQueued },
  );
  const send = (seq: number, to: Address): void => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(seq, 0);
    t.send(b, to);
  };
  return {
    clock,
    t,
    send,
    arrivals,
    farEnd: far,
    far: far.local,
    far6: far6.local,
    near: near.local,
    t0: clock.now(),
  };
}

test("parseDelayRules reads prefixes, delays and jitter (± or +-), ignoring spaces", (t) => {
  const r = parseDelayRules(" 10.77.2.0/24=50 , 10.77.3.0/24=50±5,fd00::/8=1.5+-0.5");
  t.deepEqual(r, {
    ok: true,
    rules: [
      { prefix: "10.77.2.0/24", delayMs: 50, jitterMs: 0 },
      { prefix: "10.77.3.0/24", delayMs: 50, jitterMs: 5 },
      { prefix: "fd00::/8", delayMs: 1.5, jitterMs: 0.5 },
    ],
  });
  t.deepEqual(parseDelayRules(""), { ok: true, rules: [] });
});

test("parseDelayRules names the bad part", (t) => {
  const cases: Array<[string, RegExp]> = [
    ["10.77.2.0/24=50,10.77.3.0/24", /"10\.77\.3\.0\/24": missing '='/],
    ["10.77.2.0=50", /"10\.77\.2\.0" is not a CIDR prefix/],
    ["10.77.2.0/33=50", /"10\.77\.2\.0\/33" is not a CIDR prefix/],
    ["10.77.2/24=50", /"10\.77\.2\/24" is not a CIDR prefix/],
    ["10.77.2.0/24=fast", /delay "fast" is not a number/],
    ["10.77.2.0/24=-5", /delay "-5" is not a number/],
    ["10.77.2.0/24=50±x", /jitter "x" is not a number/],
    ["10.77.2.0/24=50±", /jitter "" is not a number/],
    ["10.77.2.0/24=50±1±2", /more than one '±'/],
    ["10.77.2.0/24=600000", /delay "600000" is not a number of ms in 0\.\.60000/],
    ["10.77.2.0/24=5,,", /"": missing '='/],
  ];
  for (const [text, want] of cases) {
    const r = parseDelayRules(text);
    t.false(r.ok, text);
    if (!r.ok) t.regex(r.error, want, text);
  }
});

test("formatDelayRules and parseDelayRules round-trip", (t) => {
  const rule = fc.record({
    prefix: fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
    delayMs: fc.integer({ min: 0, max: 60_000 }),
    jitterMs: fc.integer({ min: 0, max: 60_000 }),
  });
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 5 }), (rules) => {
      t.deepEqual(parseDelayRules(formatDelayRules(rules)), { ok: true, rules });
    }),
  );
});

test("a datagram to a delayed prefix arrives exactly delayMs later; others at once", (t) => {
  const r = rig([{ prefix: "10.77.2.0/24", delayMs: 50, jitterMs: 0 }]);
  r.send(1, r.far);
  r.send(2, r.near);
  r.clock.advance(0);
  t.deepEqual(r.arrivals, [{ at: r.t0, seq: 2, to: "10.77.0.11" }]);
  r.clock.advance(49);
  t.is(r.arrivals.length, 1, "not before 50 ms");
  r.clock.advance(1);
  t.deepEqual(r.arrivals[1], { at: r.t0 + 50, seq: 1, to: "10.77.2.10" });
  t.is(r.t.delayed, 1);
  t.is(r.t.passed, 1);
  t.is(r.t.queued, 0);
});

test("the first rule whose prefix holds the destination applies; IPv6 prefixes work", (t) => {
  const r = rig([
    { prefix: "10.77.2.0/24", delayMs: 20, jitterMs: 0 },
    { prefix: "10.0.0.0/8", delayMs: 90, jitterMs: 0 },
    { prefix: "fd00:77::/32", delayMs: 30, jitterMs: 0 },
  ]);
  r.send(1, r.far);
  r.send(2, r.near);
  r.send(3, r.far6);
  r.clock.advance(100);
  t.deepEqual(
    r.arrivals.map((a) => [a.seq, a.at - r.t0]),
    [
      [1, 20],
      [3, 30],
      [2, 90],
    ],
  );
});

test("without jitter, datagrams keep their order and each waits exactly the delay (any send times)", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.boolean()), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 0, max: 100 }),
      (steps, delayMs) => {
        const r = rig([{ prefix: "10.77.2.0/24", delayMs, jitterMs: 0 }]);
        const sentAt = new Map<number, number>();
        steps.forEach(([gap, toFar], seq) => {
          r.clock.advance(gap);
          sentAt.set(seq, r.clock.now());
          r.send(seq, toFar ? r.far : r.near);
        });
        r.clock.advance(delayMs + 1);
        t.is(r.arrivals.length, steps.length);
        const far = r.arrivals.filter((a) => a.to === "10.77.2.10").map((a) => a.seq);
        t.deepEqual(
          far,
          [...far].sort((a, b) => a - b),
        );
        for (const a of r.arrivals) {
          const expect = sentAt.get(a.seq)! + (a.to === "10.77.2.10" ? delayMs : 0);
          t.is(a.at, expect);
        }
      },
    ),
  );
});

test("jitter spreads arrivals over delay ± jitter, both ends reachable, and may reorder", (t) => {
  const r = rig([{ prefix: "10.77.2.0/24", delayMs: 50, jitterMs: 10 }], { random: mulberry32(3) });
  for (let seq = 0; seq < 500; seq++) r.send(seq, r.far);
  r.clock.advance(61);
  t.is(r.arrivals.length, 500);
  const delays = r.arrivals.map((a) => a.at - r.t0);
  t.true(delays.every((d) => d >= 40 && d <= 60));
  t.true(Math.min(...delays) < 42 && Math.max(...delays) > 58, "the whole band is used");
  const seqs = r.arrivals.map((a) => a.seq);
  t.notDeepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    "a jittered path reorders",
  );
  // The extremes of random() map to the extremes of the band, and a delay never goes below 0.
  const lo = rig([{ prefix: "10.77.2.0/24", delayMs: 3, jitterMs: 10 }], { random: () => 0 });
  lo.send(1, lo.far);
  lo.clock.advance(0);
  t.deepEqual(
    lo.arrivals.map((a) => a.at - lo.t0),
    [0],
  );
  const hi = rig([{ prefix: "10.77.2.0/24", delayMs: 3, jitterMs: 10 }], { random: () => 0.999999 });
  hi.send(1, hi.far);
  hi.clock.advance(12);
  t.is(hi.arrivals.length, 0);
  hi.clock.advance(1);
  t.is(hi.arrivals.length, 1);
});

test("the queue is bounded: past maxQueued new datagrams are dropped and counted", (t) => {
  const r = rig([{ prefix: "10.77.2.0/24", delayMs: 50, jitterMs: 0 }], { maxQueued: 3 });
  for (let seq = 0; seq < 5; seq++) r.send(seq, r.far);
  r.send(9, r.near);
  t.is(r.t.queued, 3);
  t.is(r.t.dropped, 2);
  r.clock.advance(50);
  t.deepEqual(
    r.arrivals.map((a) => a.seq),
    [9, 0, 1, 2],
  );
  r.send(5, r.far);
  t.is(r.t.queued, 1, "delivery frees room");
});

test("the held copy is the datagram as sent, even if the caller reuses its buffer", (t) => {
  const r = rig([{ prefix: "10.77.2.0/24", delayMs: 5, jitterMs: 0 }]);
  const b = Buffer.alloc(8);
  b.writeUInt32BE(42, 0);
  r.t.send(b, r.far);
  b.writeUInt32BE(7, 0);
  r.clock.advance(5);
  t.deepEqual(
    r.arrivals.map((a) => a.seq),
    [42],
  );
});

test("close drops what is held, cancels the timer and closes the inner transport", async (t) => {
  const r = rig([{ prefix: "10.77.2.0/24", delayMs: 50, jitterMs: 0 }]);
  r.send(1, r.far);
  r.send(2, r.far);
  await r.t.close();
  t.is(r.t.dropped, 2);
  t.is(r.clock.pendingTimers, 0);
  r.send(3, r.near);
  r.clock.advance(100);
  t.deepEqual(r.arrivals, []);
});

test("local and incoming datagrams pass through untouched and undelayed", (t) => {
  const r = rig([{ prefix: "10.0.0.0/8", delayMs: 50, jitterMs: 0 }]);
  t.deepEqual(r.t.local, { address: "10.77.0.10", port: 5000 });
  const got: Array<[number, string, number]> = [];
  r.t.onDatagram((d, from) => got.push([d.readUInt32BE(0), from.address, r.clock.now() - r.t0]));
  const b = Buffer.alloc(8);
  b.writeUInt32BE(77, 0);
  r.farEnd.send(b, r.t.local);
  r.clock.advance(0);
  t.deepEqual(got, [[77, "10.77.2.10", 0]]);
});
