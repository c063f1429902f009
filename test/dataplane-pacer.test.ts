import test from "ava";
import { Pacer, PRIORITY_BULK, PRIORITY_LIVE } from "../dataplane/pacer.js";
import { TokenBucket } from "../common/token-bucket.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";

test("token bucket refills at its rate up to the burst", (t) => {
  const b = new TokenBucket(1000, 500, 0);
  t.true(b.take(500, 0));
  t.false(b.take(1, 0));
  t.is(b.waitMs(100, 0), 100);
  t.true(b.take(100, 100));
  t.is(b.available(10_000), 500);
});

test("pacer keeps to its rate over a long run and never bursts above the bucket", (t) => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  const arrivals: number[] = [];
  b.onDatagram(() => arrivals.push(clock.now()));
  const rate = 100_000; // bytes/s
  const pacer = new Pacer(
    { clock, transport: a },
    { rateBytesPerSec: rate, burstBytes: 10_000, overheadBytes: 0 },
  );
  for (let i = 0; i < 500; i++) t.true(pacer.send(Buffer.alloc(1000), b.local));
  clock.advance(10_000);
  t.is(arrivals.length, 500);
  // 500 KB at 100 KB/s with a 10 KB head start: the last one leaves at ~4.9 s.
  const last = arrivals[arrivals.length - 1]!;
  t.true(last >= 4800 && last <= 5000, `last at ${last} ms`);
  // In any 1 s window no more than rate + burst bytes.
  for (let w = 0; w < 5000; w += 250) {
    const n = arrivals.filter((x) => x >= w && x < w + 1000).length;
    t.true(n * 1000 <= rate + 10_000, `window ${w}: ${n} KB`);
  }
  t.is(pacer.stats.sentPackets, 500);
  t.is(pacer.stats.queuedBytes, 0);
});

test("the cap counts wire bytes: each datagram costs 42 bytes more than its payload", (t) => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  let last = 0;
  b.onDatagram(() => (last = clock.now()));
  const pacer = new Pacer({ clock, transport: a }, { rateBytesPerSec: 120_000, burstBytes: 6000 });
  for (let i = 0; i < 100; i++) pacer.send(Buffer.alloc(1158), b.local);
  clock.advance(2000);
  // 100 x 1200 wire bytes less a 6000-byte burst at 120 kB/s: 950 ms (915 ms if only payload counted).
  t.true(last >= 940 && last <= 960, `last at ${last} ms`);
  t.is(pacer.stats.sentBytes, 115_800, "stats count payload bytes");
});

test("pacer sends live before bulk and drops past its queue limit", (t) => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  const order: number[] = [];
  b.onDatagram((d) => order.push(d[0]!));
  const pacer = new Pacer(
    { clock, transport: a },
    { rateBytesPerSec: 10_000, burstBytes: 100, maxQueueBytes: 1000 },
  );
  for (let i = 0; i < 5; i++) pacer.send(Buffer.alloc(100, PRIORITY_BULK + 1), b.local, PRIORITY_BULK);
  for (let i = 0; i < 5; i++) pacer.send(Buffer.alloc(100, PRIORITY_LIVE + 1), b.local, PRIORITY_LIVE);
  clock.advance(1000);
  // The first bulk packet left at once (burst); every live one overtook the queued bulk ones.
  t.deepEqual(order, [2, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
  for (let i = 0; i < 20; i++) pacer.send(Buffer.alloc(100), b.local);
  t.true(pacer.stats.droppedPackets > 0);
});

test("rate 0 sends at once", (t) => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  let got = 0;
  b.onDatagram(() => got++);
  const pacer = new Pacer({ clock, transport: a }, { rateBytesPerSec: 0 });
  for (let i = 0; i < 100; i++) pacer.send(Buffer.alloc(1200), b.local);
  clock.advance(0);
  t.is(got, 100);
});

test("takeLowWater: the least queued since the last call, 0 once the queue drained", (t) => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 0 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  const pacer = new Pacer(
    { clock, transport: a },
    { rateBytesPerSec: 10_000, burstBytes: 1042, overheadBytes: 42 },
  );
  t.is(pacer.takeLowWater(PRIORITY_LIVE), 0);
  for (let i = 0; i < 10; i++) pacer.send(Buffer.alloc(1000), b.local); // 1 leaves, 9 queued
  t.is(pacer.takeLowWater(PRIORITY_LIVE), 0, "the interval started empty");
  clock.advance(300); // ~2 more leave: 7 queued, never fewer since the last call
  t.is(pacer.takeLowWater(PRIORITY_LIVE), 7000);
  clock.advance(1000); // all gone
  t.is(pacer.takeLowWater(PRIORITY_LIVE), 0);
  t.is(pacer.takeLowWater(PRIORITY_LIVE), 0);
});
