import test from "ava";
import fc from "fast-check";
import { Pacer } from "../dataplane/pacer.js";
import type { Assignment } from "../agent/relay/assignment.js";
import { DataPlane } from "../agent/relay/data-plane.js";
import { NackTracker } from "../agent/relay/nack-tracker.js";
import { NackResponder } from "../dataplane/nack-responder.js";
import { RetransmitCache } from "../dataplane/retransmit-cache.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import type { DecodeErrorCode } from "../protocol/errors.js";
import { FLAG_META, FLAG_NACK, MAX_NACK_SPAN } from "../protocol/limits.js";
import { decodeNack, encodeNack, nackSpans } from "../protocol/nack-codec.js";
import { LinkAlgorithm, type DataPacket, type Peer } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { MemoryLogger } from "../seams/log.js";
import { addressKey } from "../seams/transport.js";
import { Capture } from "./helpers/capture-node.js";

const CH = 7;

function nackOf(buf: Buffer) {
  const d = decodeData(buf);
  if (!d.ok) throw new Error(d.error.message);
  return decodeNack(d.value);
}

function header(over: Partial<DataPacket> = {}): DataPacket {
  return {
    channel: CH,
    seq: 100,
    substream: 0,
    flags: FLAG_NACK,
    fecGroup: 0,
    fecIndex: 0,
    segmentId: 0,
    offset: 0,
    payload: Uint8Array.of(1),
    ...over,
  };
}

test("a NACK round-trips any set of numbers within its span, across the u32 wrap", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uniqueArray(fc.integer({ min: 1, max: MAX_NACK_SPAN - 1 }), { maxLength: 200 }),
      (base, offsets) => {
        const seqs = [base, ...offsets.map((o) => (base + o) >>> 0)];
        const r = nackOf(encodeNack(CH, [...seqs].reverse()));
        const want = [0, ...offsets].sort((a, b) => a - b).map((o) => (base + o) >>> 0);
        return r.ok && r.value.channel === CH && JSON.stringify(r.value.seqs) === JSON.stringify(want);
      },
    ),
  );
  t.pass();
});

test("encodeNack refuses an empty list and one wider than MAX_NACK_SPAN; nackSpans splits to fit", (t) => {
  t.throws(() => encodeNack(CH, []), { message: /no sequence numbers/ });
  t.throws(() => encodeNack(CH, [5, 5 + MAX_NACK_SPAN]), { message: /limit 1024/ });
  const seqs = [0, 1, 1023, 1024, 5000, 5001];
  t.deepEqual(nackSpans(seqs), [[0, 1, 1023], [1024], [5000, 5001]]);
  t.deepEqual(nackSpans([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  for (const run of nackSpans(seqs)) t.true(nackOf(encodeNack(CH, run)).ok);
});

test("decodeNack refuses other flags, non-zero header fields and malformed bitmaps, naming the field", (t) => {
  const bad: Array<[Partial<DataPacket>, DecodeErrorCode, string]> = [
    [{ flags: FLAG_NACK | FLAG_META }, "E_BAD_FLAGS", "flags"],
    [{ substream: 1 }, "E_BAD_FIELD", "header"],
    [{ segmentId: 3 }, "E_BAD_FIELD", "header"],
    [{ offset: 9 }, "E_BAD_FIELD", "header"],
    [{ payload: new Uint8Array(0) }, "E_BAD_LENGTH", "length"],
    [{ payload: new Uint8Array(MAX_NACK_SPAN / 8 + 1).fill(1) }, "E_LIMIT", "length"],
    [{ payload: Uint8Array.of(2) }, "E_BAD_FIELD", "payload"],
    [{ payload: Uint8Array.of(1, 0) }, "E_BAD_FIELD", "payload"],
  ];
  for (const [over, code, field] of bad) {
    const r = decodeNack(header(over));
    t.false(r.ok, JSON.stringify(over));
    if (!r.ok) {
      t.is(r.error.code, code);
      t.is(r.error.field, field);
    }
  }
  t.deepEqual(decodeNack(header({ payload: Uint8Array.of(0b101, 0x80) })), {
    ok: true,
    value: { channel: CH, seqs: [100, 102, 115] },
  });
});

test("decodeNack never throws on arbitrary payloads", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (payload, seq) => {
        const r = decodeNack(header({ payload, seq }));
        return r.ok ? r.value.seqs.length > 0 && r.value.seqs.length <= MAX_NACK_SPAN : true;
      },
    ),
  );
  t.pass();
});

test("RetransmitCache: a slot holds the newest number that maps to it", (t) => {
  const c = new RetransmitCache(8);
  c.put(3, Uint8Array.of(3));
  c.put(11, Uint8Array.of(11));
  t.is(c.get(3), undefined);
  t.deepEqual(c.get(11), Uint8Array.of(11));
  c.put(0xffffffff, Uint8Array.of(1));
  t.deepEqual(c.get(0xffffffff), Uint8Array.of(1));
  t.is(c.get(4), undefined);
});

// ---- tracker (pure) ----

const peer = (node: number): Peer => ({
  node,
  address: `10.0.0.${node}`,
  port: 5000,
  algorithm: LinkAlgorithm.TREE,
});

function tree(k: number, parents: Peer[]): Assignment {
  return { channel: CH, version: 1, k, parents, children: [] };
}

/** Feeds seqs (except `lost`) into a tracker with a window of what was received. */
function feed(tr: NackTracker, got: Set<number>, seqs: number[], now: number): void {
  for (const s of seqs) {
    got.add(s);
    tr.onPacket(s, now, (x) => got.has(x));
  }
}

test("tracker: a gap in a lane is asked of that lane's parent after delayMs, then of another parent, then given up", (t) => {
  const tr = new NackTracker({ delayMs: 40, retryMs: 250, maxAttempts: 3 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(2, [peer(1), peer(2)]), 0);
  feed(tr, got, [0, 1, 2, 3, 5, 6, 7, 8], 0); // 4 (lane 0, parent 1) lost
  t.is(tr.stats.missing, 1);
  t.deepEqual(tr.due(39, settled), []);
  t.deepEqual(tr.due(40, settled), [{ to: peer(1), seqs: [4] }]);
  t.deepEqual(tr.due(100, settled), []);
  t.deepEqual(tr.due(290, settled), [{ to: peer(2), seqs: [4] }]);
  t.deepEqual(tr.due(540, settled), [{ to: peer(2), seqs: [4] }]);
  t.deepEqual(tr.due(790, settled), []);
  t.is(tr.stats.givenUp, 1);
  t.is(tr.stats.asked, 3);
  t.is(tr.size, 0);
});

test("tracker: a number that arrives (from anywhere) is not asked for; one that arrives after asking counts as recovered", (t) => {
  const tr = new NackTracker({ delayMs: 40 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(1, [peer(1)]), 0);
  feed(tr, got, [10, 13], 0); // 11, 12 missing
  feed(tr, got, [11], 10);
  t.deepEqual(tr.due(40, settled), [{ to: peer(1), seqs: [12] }]);
  got.add(12);
  t.true(tr.onPacket(12, 60, settled));
  t.is(tr.stats.recovered, 1);
  t.is(tr.size, 0);
});

test("tracker: a coded lane waits codedDelayMs (parity may rebuild it), a mesh node meshDelayMs", (t) => {
  const coded: Assignment = {
    channel: CH,
    version: 1,
    k: 4,
    fec: { k: 2, n: 1 },
    parents: [1, 2, 3].map((n) => ({ ...peer(n), algorithm: LinkAlgorithm.FEC_TREE })),
    children: [],
  };
  const tr = new NackTracker({ delayMs: 40, codedDelayMs: 300, meshDelayMs: 150 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(coded, 0);
  feed(tr, got, [0, 1, 3, 4, 5], 0); // 2 is coded lane 0's (parent 1)
  t.deepEqual(tr.due(299, settled), []);
  t.deepEqual(tr.due(300, settled)[0]?.seqs, [2]);

  const mesh = new NackTracker({ delayMs: 40, codedDelayMs: 300, meshDelayMs: 150 });
  mesh.setAssignment({ ...tree(1, [peer(1)]), mesh: [peer(5), peer(6)] }, 0);
  const got2 = new Set<number>();
  feed(mesh, got2, [0, 2], 0);
  t.deepEqual(
    mesh.due(149, (x) => got2.has(x)),
    [],
  );
  t.deepEqual(
    mesh.due(150, (x) => got2.has(x)),
    [{ to: peer(1), seqs: [1] }],
  );
  // The next attempt goes to a mesh neighbour (they hold the whole stream).
  const next = mesh.due(400, (x) => got2.has(x));
  t.true([5, 6].includes(next[0]!.to.node));
});

test("tracker: numbers handed in with ask (a quiet segment's tail) go to their lane's parent at once", (t) => {
  const tr = new NackTracker({ delayMs: 40 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(2, [peer(1), peer(2)]), 0);
  feed(tr, got, [0, 1, 2], 0); // 3 and 4 lost at the tail: no later packet in their lanes
  t.deepEqual(tr.due(150, settled), []);
  tr.ask([2, 3, 4], 150, settled);
  t.deepEqual(
    tr.due(150, settled).sort((a, b) => a.to.node - b.to.node),
    [
      { to: peer(1), seqs: [4] },
      { to: peer(2), seqs: [3] },
    ],
  );
  tr.ask([3, 4], 160, settled); // already being asked for: not again before retryMs
  t.deepEqual(tr.due(160, settled), []);
});

test("tracker: ask skips numbers past the newest packet of a lane that still flows (a slower path)", (t) => {
  const tr = new NackTracker({ delayMs: 40, tailQuietMs: 150 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(2, [peer(1), peer(2)]), 0);
  feed(tr, got, [0, 2, 4, 6], 0); // lane 0 done with the segment
  feed(tr, got, [1], 100); // lane 1 is behind, but moving
  tr.ask([3, 5, 7], 200, settled);
  t.deepEqual(tr.due(200, settled), []);
  tr.ask([3, 5, 7], 250, settled); // lane 1 quiet for 150 ms: now they are asked for
  t.deepEqual(tr.due(250, settled), [{ to: peer(2), seqs: [3, 5, 7] }]);
});

test("tracker: asks are bounded by credit earned per packet; a completed segment's numbers are dropped", (t) => {
  const tr = new NackTracker({ delayMs: 0, askShare: 0.5, maxAskCredit: 2 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(1, [peer(1)]), 0);
  feed(tr, got, [0, 6], 0); // 1..5 missing; credit 2 (full, the 0.5 earned twice is capped)
  t.deepEqual(tr.due(0, settled), [{ to: peer(1), seqs: [1, 2] }]);
  t.is(tr.stats.throttled, 1);
  feed(tr, got, [7, 8], 1); // earns 1
  t.deepEqual(tr.due(1, settled), [{ to: peer(1), seqs: [3] }]);
  tr.forget(4, 2); // the segment holding 4 and 5 was repaired over HTTP
  t.is(tr.size, 3);
  feed(tr, got, [9, 10, 11, 12], 2);
  t.deepEqual(tr.due(2, settled), []);
  t.deepEqual(
    tr.due(300, settled).flatMap((r) => r.seqs),
    [1, 2],
  );
});

test("tracker: a parent switch keeps the lane, so the new parent's head start is asked for; a huge jump is bounded", (t) => {
  const tr = new NackTracker({ delayMs: 40, maxGap: 16 });
  const got = new Set<number>();
  const settled = (x: number) => got.has(x);
  tr.setAssignment(tree(1, [peer(1)]), 0);
  feed(tr, got, [0, 1, 2], 0);
  tr.setAssignment({ ...tree(1, [peer(3)]), version: 2 }, 5);
  feed(tr, got, [6], 10);
  t.deepEqual(tr.due(50, settled), [{ to: peer(3), seqs: [3, 4, 5] }]);
  feed(tr, got, [100_000], 60);
  t.is(tr.size, 3 + 16);
});

// ---- responder ----

function responderSetup(rate = 0) {
  const clock = new ManualClock();
  const transport = new Capture({ address: "10.0.0.9", port: 5000 });
  const pacer = new Pacer({ clock, transport }, { rateBytesPerSec: rate });
  const r = new NackResponder({ pacer }, { maxCredit: 4, creditPerPacket: 0.5, busyQueueMs: 30 });
  const child = { address: "10.0.0.2", port: 5000 };
  for (let s = 0; s < 20; s++) r.remember(s, Buffer.from(`packet ${s}`));
  return { clock, transport, pacer, r, child, key: addressKey(child) };
}

test("responder: resends what it holds to a node it feeds, within the node's credit", (t) => {
  const s = responderSetup();
  s.r.onNack({ channel: CH, seqs: [1, 2, 30] }, s.child, s.key, true);
  t.deepEqual(
    s.transport.sent.map((x) => x.data.toString()),
    ["packet 1", "packet 2"],
  );
  t.is(s.r.stats.notHeld, 1);
  s.r.onNack({ channel: CH, seqs: [3, 4, 5, 6] }, s.child, s.key, true);
  t.is(s.r.stats.resent, 4); // credit 4 at first
  t.is(s.r.stats.noCredit, 2);
  // Packets sent to it earn credit again.
  s.r.credit(s.key);
  s.r.credit(s.key);
  s.r.onNack({ channel: CH, seqs: [7, 8] }, s.child, s.key, true);
  t.is(s.r.stats.resent, 5);
});

test("responder: a NACK from an address it does not feed is rejected; a busy live queue answers nothing", (t) => {
  const s = responderSetup(10_000); // 10 kB/s: busy above 4800 bytes queued
  s.r.onNack({ channel: CH, seqs: [1] }, { address: "6.6.6.6", port: 1 }, "6.6.6.6:1", false);
  t.is(s.r.stats.rejected, 1);
  t.is(s.transport.sent.length, 0);
  for (let i = 0; i < 12; i++) s.pacer.send(Buffer.alloc(1200), s.child); // fills the bucket and the queue
  s.r.onNack({ channel: CH, seqs: [1, 2] }, s.child, s.key, true);
  t.is(s.r.stats.busy, 2);
  t.is(s.r.stats.resent, 0);
});

// ---- two data planes over a memory network ----

test("a packet lost on the way to a child is resent by its parent on the child's NACK, and forwarded on", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 5 });
  const src = net.bind("10.1.0.1", 5000);
  const pT = net.bind("10.1.0.2", 5000);
  const cT = net.bind("10.1.0.3", 5000);
  const gT = net.bind("10.1.0.4", 5000);
  const logger = new MemoryLogger();
  const mk = (tr: typeof pT, sunk: number[]) =>
    new DataPlane({
      clock,
      logger,
      pacer: new Pacer({ clock, transport: tr }, { rateBytesPerSec: 0 }),
      sink: (p) => sunk.push(p.seq),
    });
  const pSunk: number[] = [];
  const cSunk: number[] = [];
  const gSunk: number[] = [];
  const parent = mk(pT, pSunk);
  const child = mk(cT, cSunk);
  const grandchild = mk(gT, gSunk);
  const lose = new Set([4, 9]);
  pT.onDatagram((b, from) => parent.onDatagram(b, from));
  cT.onDatagram((b, from) => {
    const d = decodeData(b);
    if (d.ok && d.value.flags === 0 && lose.delete(d.value.seq)) return; // lost once on the link
    child.onDatagram(b, from);
  });
  gT.onDatagram((b, from) => grandchild.onDatagram(b, from));
  const at = (n: number, tr: typeof pT) => ({ node: n, ...tr.local });
  parent.setAssignment({
    channel: CH,
    version: 1,
    k: 1,
    parents: [at(1, src)],
    children: [{ ...at(3, cT), substreams: 1 }],
  });
  child.setAssignment({
    channel: CH,
    version: 1,
    k: 1,
    parents: [at(2, pT)],
    children: [{ ...at(4, gT), substreams: 1 }],
  });
  grandchild.setAssignment({ channel: CH, version: 1, k: 1, parents: [at(3, cT)], children: [] });
  for (let seq = 0; seq < 12; seq++) {
    const h = {
      channel: CH,
      seq,
      substream: 0,
      flags: 0,
      fecGroup: 0,
      fecIndex: 0,
      segmentId: 1,
      offset: seq,
    };
    src.send(encodeData(h, Buffer.from([seq])), pT.local);
    clock.advance(10);
  }
  clock.advance(500);
  const all = Array.from({ length: 12 }, (_, i) => i);
  t.deepEqual(
    [...cSunk].sort((a, b) => a - b),
    all,
  );
  t.deepEqual(
    [...gSunk].sort((a, b) => a - b),
    all,
  );
  t.is(child.nackStats.ask.recovered, 2);
  t.is(parent.nackStats.answer.resent, 2);
  t.is(grandchild.nackStats.ask.asked, 0, "the grandchild got the resent packets forwarded, never asked");
  parent.stop();
  child.stop();
  grandchild.stop();
});
