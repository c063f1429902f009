/**
 * One contract suite for the Transport seam, run against real UDP on loopback and against the
 * in-memory network, so the simulator cannot drift from the real thing.
 */
import test from "ava";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import type { Address, Transport } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";

interface Harness {
  name: string;
  bind(host: string, port?: number): Promise<Transport>;
  /** Lets the network run until `cond` holds; throws past a bound. */
  until(cond: () => boolean): Promise<void>;
}

function udpHarness(): Harness {
  return {
    name: "udp",
    bind: (host, port = 0) => UdpTransport.bind({ host, port }),
    async until(cond) {
      const deadline = Date.now() + 5000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error("condition not met within 5 s");
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

function memoryHarness(): Harness {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 2 });
  return {
    name: "memory",
    bind: (host, port = 0) => Promise.resolve(net.bind(host, port)),
    async until(cond) {
      for (let i = 0; i < 1000 && !cond(); i++) clock.advance(1);
      if (!cond()) throw new Error("condition not met within 1000 simulated ms");
    },
  };
}

for (const make of [udpHarness, memoryHarness]) {
  const h = make();

  test(`${h.name}: a datagram arrives intact with the sender's address`, async (t) => {
    const a = await h.bind("127.0.0.1");
    const b = await h.bind("127.0.0.2");
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const got: Array<{ data: Buffer; from: Address }> = [];
    b.onDatagram((data, from) => got.push({ data: Buffer.from(data), from }));
    const payload = Buffer.alloc(1200, 7);
    payload[0] = 1;
    a.send(payload, b.local);
    await h.until(() => got.length === 1);
    t.deepEqual(got[0]!.data, payload);
    t.deepEqual(got[0]!.from, a.local);
  });

  test(`${h.name}: many datagrams both ways, nothing invented`, async (t) => {
    const a = await h.bind("127.0.0.1");
    const b = await h.bind("127.0.0.1");
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const atA: number[] = [];
    const atB: number[] = [];
    a.onDatagram((d) => atA.push(d.readUInt32BE(0)));
    b.onDatagram((d) => atB.push(d.readUInt32BE(0)));
    for (let i = 0; i < 50; i++) {
      const m = Buffer.alloc(4);
      m.writeUInt32BE(i);
      a.send(m, b.local);
      b.send(m, a.local);
    }
    await h.until(() => atA.length === 50 && atB.length === 50);
    t.deepEqual(
      [...atA].sort((x, y) => x - y),
      [...Array(50).keys()],
    );
    t.deepEqual(
      [...atB].sort((x, y) => x - y),
      [...Array(50).keys()],
    );
  });

  test(`${h.name}: a closed transport receives nothing more`, async (t) => {
    const a = await h.bind("127.0.0.1");
    const b = await h.bind("127.0.0.1");
    t.teardown(() => a.close());
    let got = 0;
    b.onDatagram(() => got++);
    a.send(Buffer.from([1]), b.local);
    await h.until(() => got === 1);
    await b.close();
    a.send(Buffer.from([2]), b.local);
    // A probe to a live endpoint proves the network has moved past the datagram sent to the closed one.
    const c = await h.bind("127.0.0.1");
    t.teardown(() => c.close());
    let probe = 0;
    c.onDatagram(() => probe++);
    a.send(Buffer.from([3]), c.local);
    await h.until(() => probe === 1);
    t.is(got, 1);
  });

  test(`${h.name}: a closed address can be bound again and receives (a restarted server)`, async (t) => {
    const a = await h.bind("127.0.0.1");
    const first = await h.bind("127.0.0.1");
    const port = first.local.port;
    await first.close();
    const again = await h.bind("127.0.0.1", port);
    t.teardown(() => Promise.all([a.close(), again.close()]));
    t.is(again.local.port, port);
    let got = 0;
    again.onDatagram(() => got++);
    a.send(Buffer.from([1]), { address: "127.0.0.1", port });
    await h.until(() => got === 1);
    t.is(got, 1);
  });
}

test("memory: a host that is down neither sends nor receives, in flight included, until up", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 5 });
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  const c = net.bind("10.0.0.3");
  const at = { a: 0, b: 0, c: 0 };
  a.onDatagram(() => at.a++);
  b.onDatagram(() => at.b++);
  c.onDatagram(() => at.c++);
  a.send(Buffer.from([1]), b.local); // in flight when b goes down
  net.down("10.0.0.2");
  t.true(net.isDown("10.0.0.2"));
  b.send(Buffer.from([2]), a.local);
  a.send(Buffer.from([3]), b.local);
  a.send(Buffer.from([4]), c.local); // others are not affected
  clock.advance(10);
  t.deepEqual(at, { a: 0, b: 0, c: 1 });
  t.is(net.dropped, 3);
  net.up("10.0.0.2");
  b.send(Buffer.from([5]), a.local);
  a.send(Buffer.from([6]), b.local);
  clock.advance(10);
  t.deepEqual(at, { a: 1, b: 1, c: 1 });
  t.is(net.deliveredBytes, 3);
});

test("memory: loss and partitions drop datagrams, deterministically per seed", (t) => {
  const run = (seed: number): number => {
    const clock = new ManualClock();
    const net = new MemoryNetwork(clock, { loss: 0.3, seed });
    const a = net.bind("10.0.0.1");
    const b = net.bind("10.0.0.2");
    let got = 0;
    b.onDatagram(() => got++);
    for (let i = 0; i < 1000; i++) a.send(Buffer.from([i & 255]), b.local);
    clock.advance(10);
    return got;
  };
  const first = run(42);
  t.is(run(42), first);
  t.true(first > 600 && first < 800, `about 70% delivered, got ${first}`);

  const clock = new ManualClock();
  const net = new MemoryNetwork(clock);
  const a = net.bind("10.0.0.1");
  const b = net.bind("10.0.0.2");
  let got = 0;
  b.onDatagram(() => got++);
  net.partition("10.0.0.1", "10.0.0.2");
  a.send(Buffer.from([1]), b.local);
  clock.advance(10);
  t.is(got, 0);
  net.heal("10.0.0.1", "10.0.0.2");
  a.send(Buffer.from([1]), b.local);
  clock.advance(10);
  t.is(got, 1);
});
