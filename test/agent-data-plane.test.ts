import test from "ava";
import fc from "fast-check";
import { Pacer } from "../dataplane/pacer.js";
import type { Assignment } from "../agent/relay/assignment.js";
import { DataPlane, DEFAULT_DATA_PLANE } from "../agent/relay/data-plane.js";
import { SeqWindow } from "../agent/relay/seq-window.js";
import { encodeData, decodeData } from "../protocol/data-codec.js";
import type { DataPacket } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { MemoryLogger } from "../seams/log.js";

const CHANNEL = 9;

function setup(k = 2) {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const self = net.bind("127.0.1.1", 5000);
  const parent = net.bind("127.0.0.2", 6000);
  const stranger = net.bind("127.0.0.3", 6000);
  const c1 = net.bind("127.0.1.2", 5000);
  const c2 = net.bind("127.0.1.3", 5000);
  const got = new Map<string, number[]>([
    ["c1", []],
    ["c2", []],
  ]);
  c1.onDatagram((b) => got.get("c1")!.push(seqOf(b)));
  c2.onDatagram((b) => got.get("c2")!.push(seqOf(b)));
  const sunk: DataPacket[] = [];
  const logger = new MemoryLogger();
  const pacer = new Pacer({ clock, transport: self }, { rateBytesPerSec: 1_000_000 });
  const dp = new DataPlane({
    clock,
    logger,
    pacer,
    sink: (p) => sunk.push({ ...p, payload: Buffer.from(p.payload) }),
  });
  self.onDatagram((b, from) => dp.onDatagram(b, from));
  const assignment: Assignment = {
    channel: CHANNEL,
    version: 1,
    k,
    parents: Array.from({ length: k }, () => ({ node: 2, ...parent.local })),
    children: [
      { node: 11, ...c1.local, substreams: 0b01 },
      { node: 12, ...c2.local, substreams: 0b10 },
    ],
  };
  return { clock, net, self, parent, stranger, c1, c2, got, sunk, logger, dp, pacer, assignment };
}

function packet(seq: number, k = 2, over: Partial<DataPacket> = {}): Buffer {
  return encodeData(
    {
      channel: CHANNEL,
      seq,
      substream: seq % k,
      flags: 0,
      fecGroup: 0,
      fecIndex: 0,
      segmentId: 1,
      offset: seq * 10,
      ...over,
    },
    Buffer.alloc(10, seq),
  );
}

function seqOf(b: Buffer): number {
  const r = decodeData(b);
  return r.ok ? r.value.seq : -1;
}

test("accepts from the parent, forwards unchanged per substream bitmask, hands each packet to the sink once", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  const sent: Buffer[] = [];
  for (let seq = 0; seq < 6; seq++) {
    const p = packet(seq);
    sent.push(p);
    s.parent.send(p, s.self.local);
  }
  const forwarded: Buffer[] = [];
  s.c1.onDatagram((b) => forwarded.push(b));
  s.clock.advance(10);
  t.deepEqual(
    s.sunk.map((p) => p.seq),
    [0, 1, 2, 3, 4, 5],
  );
  t.deepEqual(s.got.get("c2"), [1, 3, 5]);
  t.deepEqual(
    forwarded.map((b) => b.toString("hex")),
    [0, 2, 4].map((i) => sent[i]!.toString("hex")),
    "bytes unchanged",
  );
  t.like(s.dp.stats, { received: 6, duplicates: 0, rejected: 0 });
  t.is(s.dp.peerBytesSent, 6 * sent[0]!.length);
  t.is(s.dp.stats.peerBytesReceived, 6 * sent[0]!.length);
});

test("duplicates are dropped and counted, not forwarded again", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  for (const seq of [0, 1, 1, 0, 2, 1]) s.parent.send(packet(seq), s.self.local);
  s.clock.advance(10);
  t.deepEqual(
    s.sunk.map((p) => p.seq),
    [0, 1, 2],
  );
  t.deepEqual(s.got.get("c1"), [0, 2]);
  t.deepEqual(s.got.get("c2"), [1]);
  t.is(s.dp.stats.duplicates, 3);
});

test("a stranger, another channel and packets before any assignment are rejected", (t) => {
  const s = setup();
  s.parent.send(packet(0), s.self.local);
  s.clock.advance(5);
  s.dp.setAssignment(s.assignment);
  s.stranger.send(packet(1), s.self.local);
  s.parent.send(packet(2, 2, { channel: CHANNEL + 1 }), s.self.local);
  s.clock.advance(5);
  t.is(s.dp.stats.rejected, 3);
  t.deepEqual(s.sunk, []);
  t.deepEqual(s.got.get("c1"), []);
});

test("malformed datagrams are counted by code; an unknown data version is logged once per sender", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  const truncated = packet(0).subarray(0, 10);
  const badLength = Buffer.from(packet(0));
  badLength.writeUInt16BE(999, 2);
  const v2 = Buffer.from(packet(0));
  v2[0] = 2;
  for (const b of [truncated, badLength, v2, v2, Buffer.from([0x55])]) s.parent.send(b, s.self.local);
  s.clock.advance(5);
  t.deepEqual(s.dp.stats.malformed, { E_TRUNCATED: 1, E_BAD_LENGTH: 1, E_UNKNOWN_KIND: 3 });
  t.is(s.dp.malformedTotal, 5);
  t.is(s.logger.lines.filter((l) => l.event === "unknown_version").length, 1);
  t.is(s.dp.stats.received, 0);
});

test("a replaced parent is still accepted for the grace period (make-before-break), then rejected", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  s.dp.setAssignment({
    ...s.assignment,
    version: 2,
    parents: [
      { node: 3, ...s.stranger.local },
      { node: 3, ...s.stranger.local },
    ],
  });
  s.parent.send(packet(0), s.self.local);
  s.stranger.send(packet(1), s.self.local);
  s.clock.advance(1000);
  t.is(s.dp.stats.received, 2);
  s.clock.advance(1500);
  s.parent.send(packet(2), s.self.local);
  s.clock.advance(5);
  t.is(s.dp.stats.rejected, 1);
});

test("heartbeat link state: age and last seq per parent substream and per child; buffers per substream", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  const t0 = s.clock.now();
  s.clock.advance(100);
  s.parent.send(packet(0), s.self.local);
  s.parent.send(packet(1), s.self.local);
  s.parent.send(packet(2), s.self.local);
  s.clock.advance(1); // delivered at t0 + 101
  const ts = t0 + 500;
  t.deepEqual(s.dp.parentStates(ts), [
    { node: 2, ageMs: 399, lastSeq: 2 },
    { node: 2, ageMs: 399, lastSeq: 2 },
  ]);
  t.deepEqual(s.dp.childStates(ts), [
    { node: 11, ageMs: 399, lastSeq: 2 },
    { node: 12, ageMs: 399, lastSeq: 1 },
  ]);
  t.deepEqual(s.dp.buffers(undefined), [2, 1]);
  t.deepEqual(s.dp.buffers(1), [0, 0], "segment 1 is being played: nothing ahead");
  // A link with no packet yet is as old as its assignment.
  const q = setup(1);
  q.dp.setAssignment({ ...q.assignment, children: [] });
  t.deepEqual(q.dp.parentStates(q.clock.now() + 250), [{ node: 2, ageMs: 250, lastSeq: 0 }]);
});

test("seq window: duplicates, old, wrap-around and a sender restart", (t) => {
  const w = new SeqWindow({ size: 64, resetDistance: 1000 });
  t.is(w.check(100), "new");
  t.is(w.check(100), "duplicate");
  t.is(w.check(99), "new");
  t.is(w.check(99), "duplicate");
  t.is(w.check(200), "new");
  t.is(w.check(140), "new");
  t.is(w.check(136), "old", "below the window");
  const wrap = new SeqWindow({ size: 64, resetDistance: 1000 });
  t.is(wrap.check(0xffff_fff0), "new");
  t.is(wrap.check(5), "new", "wraps past 2^32: 21 ahead");
  t.is(wrap.check(0xffff_fff0), "duplicate");
  t.is(wrap.check(0xffff_fff1), "new");
  const restart = new SeqWindow({ size: 64, resetDistance: 1000 });
  restart.check(1_000_000);
  t.is(restart.check(0), "new", "far behind: the sender restarted its counter");
  t.is(restart.check(1), "new");
  t.is(restart.check(0), "duplicate");
});

test("fuzz: arbitrary datagrams from the parent never throw and are counted", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  let n = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1300 }), fc.boolean(), (bytes, asData) => {
      const b = Buffer.from(bytes);
      if (asData && b.length > 0) b[0] = 1;
      s.dp.onDatagram(b, s.parent.local);
      n++;
    }),
    { numRuns: 2000 },
  );
  const st = s.dp.stats;
  t.is(st.received + st.rejected + s.dp.malformedTotal, n);
});

test("seq window: missed counts sequence numbers never seen, old enough, across the window's slide", (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 299 }), { maxLength: 300 }),
      fc.integer({ min: 0, max: 8 }),
      (drop, horizon) => {
        const w = new SeqWindow({ size: 64, resetDistance: 1 << 20 });
        const lost = new Set(drop.filter((x) => x !== 0 && x !== 299));
        for (let s = 0; s < 300; s++) if (!lost.has(s)) w.check((0xfffffff0 + s) >>> 0); // across the u32 wrap
        const expected = [...lost].filter((x) => x <= 299 - horizon).length;
        if (w.missed(horizon) !== expected) throw new Error(`${w.missed(horizon)} != ${expected}`);
      },
    ),
  );
  const w = new SeqWindow({ size: 32, resetDistance: 1 << 20 });
  w.check(10);
  w.check(1000); // a jump past the window: 989 skipped
  t.is(w.missed(0), 989);
});

test("make-before-break: a child an ASSIGN took away keeps getting its substreams for the grace, then nothing", (t) => {
  const s = setup();
  s.dp.setAssignment(s.assignment);
  s.parent.send(packet(0), s.self.local);
  s.clock.advance(10);
  // c1 (substream 0) moves to another parent: it is no longer our child.
  s.dp.setAssignment({ ...s.assignment, version: 2, children: [s.assignment.children[1]!] });
  s.parent.send(packet(2), s.self.local);
  s.clock.advance(10);
  t.deepEqual(s.got.get("c1"), [0, 2], "still fed during the grace");
  t.true(s.dp.stats.formerChildSends > 0);
  s.clock.advance(DEFAULT_DATA_PLANE.formerChildGraceMs);
  s.parent.send(packet(4), s.self.local);
  s.clock.advance(10);
  t.deepEqual(s.got.get("c1"), [0, 2], "not after it");
  t.deepEqual(s.got.get("c2"), []);
  // Taken back: no double sending.
  s.dp.setAssignment({ ...s.assignment, version: 3 });
  s.dp.setAssignment({ ...s.assignment, version: 4 });
  s.parent.send(packet(6), s.self.local);
  s.clock.advance(10);
  t.deepEqual(s.got.get("c1"), [0, 2, 6]);
});
