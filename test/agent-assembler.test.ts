import test from "ava";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { Assembler } from "../agent/store/assembler.js";
import type { VerifiedMeta } from "../agent/store/meta-verifier.js";
import { verifiedMeta } from "../tools/origin-key.js";

function segment(id: number, size: number, seed = id): { meta: VerifiedMeta; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return {
    bytes,
    meta: verifiedMeta({
      segmentId: id,
      durationMs: 2000,
      totalBytes: size,
      firstSeq: 0,
      packetCount: Math.ceil(size / 100),
      discontinuity: false,
      publishedAt: 0,
      sha256: createHash("sha256").update(bytes).digest(),
    }),
  };
}

function chunks(bytes: Buffer, size = 100): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let off = 0; off < bytes.length; off += size) out.push([off, bytes.subarray(off, off + size)]);
  return out;
}

test("completes a segment delivered in reverse order, META last", (t) => {
  const a = new Assembler();
  const { meta, bytes } = segment(5, 1050);
  for (const [off, c] of chunks(bytes).reverse()) t.is(a.onChunk(5, off, c, 0).kind, "partial");
  const r = a.onMeta(meta, 0);
  t.is(r.kind, "complete");
  if (r.kind !== "complete") return;
  t.true(r.segment.bytes.equals(bytes));
  t.is(r.segment.durationMs, 2000);
  t.is(a.stats.completed, 1);
  t.true(a.isDone(5));
  t.is(a.bufferedBytes, 0);
  t.deepEqual(a.pending(), []);
});

test("META first, duplicates counted, trailing META copy ignored as done", (t) => {
  const a = new Assembler();
  const { meta, bytes } = segment(1, 250);
  t.is(a.onMeta(meta, 0).kind, "partial");
  t.deepEqual(a.onMeta(meta, 0), { kind: "ignored", reason: "duplicate" });
  const cs = chunks(bytes);
  t.is(a.onChunk(1, cs[0]![0], cs[0]![1], 0).kind, "partial");
  t.deepEqual(a.onChunk(1, cs[0]![0], cs[0]![1], 0), { kind: "ignored", reason: "duplicate" });
  t.is(a.onChunk(1, cs[1]![0], cs[1]![1], 0).kind, "partial");
  t.is(a.onChunk(1, cs[2]![0], cs[2]![1], 0).kind, "complete");
  t.deepEqual(a.onMeta(meta, 0), { kind: "ignored", reason: "done" });
  t.is(a.stats.duplicates, 1);
});

test("copies payloads: a reused datagram buffer does not corrupt the segment", (t) => {
  const a = new Assembler();
  const { meta, bytes } = segment(2, 200);
  const datagram = Buffer.from(bytes.subarray(0, 100));
  a.onChunk(2, 0, datagram, 0);
  datagram.fill(0);
  a.onChunk(2, 100, bytes.subarray(100), 0);
  t.is(a.onMeta(meta, 0).kind, "complete");
});

test("overlapping and out-of-range chunks are rejected", (t) => {
  const a = new Assembler({ maxSegmentBytes: 1000 });
  const { meta, bytes } = segment(3, 300);
  a.onChunk(3, 100, bytes.subarray(100, 200), 0);
  t.deepEqual(a.onChunk(3, 150, bytes.subarray(150, 250), 0), { kind: "ignored", reason: "overlap" });
  t.deepEqual(a.onChunk(3, 50, bytes.subarray(50, 150), 0), { kind: "ignored", reason: "overlap" });
  t.deepEqual(a.onChunk(3, 100, bytes.subarray(100, 150), 0), { kind: "ignored", reason: "overlap" });
  t.deepEqual(a.onChunk(3, 950, Buffer.alloc(100), 0), { kind: "ignored", reason: "out_of_range" });
  a.onMeta(meta, 0);
  t.deepEqual(a.onChunk(3, 250, Buffer.alloc(100), 0), { kind: "ignored", reason: "out_of_range" });
  a.onChunk(3, 0, bytes.subarray(0, 100), 0);
  t.is(a.onChunk(3, 200, bytes.subarray(200), 0).kind, "complete");
  t.is(a.stats.overlaps, 3);
  t.is(a.stats.outOfRange, 2);
});

test("an oversize META is refused and a chunk beyond a late META's total poisons the segment", (t) => {
  const a = new Assembler({ maxSegmentBytes: 1000 });
  const big = segment(4, 2000).meta;
  t.deepEqual(a.onMeta(big, 0), { kind: "ignored", reason: "bad_meta" });
  t.deepEqual(a.onMeta({ ...segment(4, 10).meta, sha256: new Uint8Array(5) }, 0), {
    kind: "ignored",
    reason: "bad_meta",
  });
  const { meta } = segment(6, 100);
  a.onChunk(6, 150, Buffer.alloc(50), 0);
  const r = a.onMeta(meta, 0);
  t.like(r, { kind: "poisoned", id: 6, why: "beyond_total" });
  t.is(a.bufferedBytes, 0);
});

test("a hash mismatch poisons the segment: discarded, never completed, left for repair", (t) => {
  const a = new Assembler();
  const { meta, bytes } = segment(7, 300);
  const bad = Buffer.from(bytes);
  bad[123] = bad[123]! ^ 0xff;
  a.onMeta(meta, 10);
  a.onChunk(7, 0, bad.subarray(0, 150), 10);
  const r = a.onChunk(7, 150, bad.subarray(150), 11);
  t.like(r, { kind: "poisoned", id: 7, why: "hash" });
  t.is(a.stats.poisoned, 1);
  t.false(a.isDone(7));
  // Later packets of the poisoned segment are ignored; it stays pending, META dropped.
  t.deepEqual(a.onChunk(7, 0, bytes.subarray(0, 150), 12), { kind: "ignored", reason: "poisoned" });
  const p = a.pending();
  t.is(p.length, 1);
  t.like(p[0], { id: 7, meta: undefined, receivedBytes: 0 });
  a.markDone(7);
  t.deepEqual(a.pending(), []);
});

test("two different METAs for one segment poison it", (t) => {
  const a = new Assembler();
  a.onMeta(segment(8, 100, 1).meta, 0);
  t.like(a.onMeta(segment(8, 100, 2).meta, 0), { kind: "poisoned", why: "meta_conflict" });
});

test("a newer id reveals the skipped ids as gaps; markDone moves the newest id", (t) => {
  const a = new Assembler({ maxGapFill: 3 });
  a.onChunk(10, 0, Buffer.alloc(10), 100);
  t.is(a.highestSeen, 10);
  a.onChunk(16, 0, Buffer.alloc(10), 200);
  const p = a.pending();
  t.deepEqual(
    p.map((x) => [x.id, x.gap, x.firstSeenAt]),
    [
      [10, false, 100],
      [13, true, 200],
      [14, true, 200],
      [15, true, 200],
      [16, false, 200],
    ],
  );
  // A packet of a gap segment turns it into an ordinary one (same firstSeenAt).
  a.onChunk(14, 0, Buffer.alloc(10), 250);
  t.like(
    a.pending().find((x) => x.id === 14),
    { gap: false, firstSeenAt: 200, lastPacketAt: 250 },
  );
  const b = new Assembler();
  b.markDone(20);
  b.onChunk(22, 0, Buffer.alloc(1), 5);
  t.deepEqual(
    b.pending().map((x) => [x.id, x.gap]),
    [
      [21, true],
      [22, false],
    ],
  );
});

test("bounded: the in-flight set evicts the oldest, which stays pending without bytes", (t) => {
  const a = new Assembler({ maxInFlight: 2 });
  a.onChunk(1, 0, Buffer.alloc(10), 0);
  a.onChunk(2, 0, Buffer.alloc(10), 0);
  a.onChunk(3, 0, Buffer.alloc(10), 0);
  t.is(a.stats.evicted, 1);
  t.is(a.bufferedBytes, 20);
  t.deepEqual(a.onChunk(1, 10, Buffer.alloc(10), 0), { kind: "ignored", reason: "stale" });
  t.like(
    a.pending().find((x) => x.id === 1),
    { receivedBytes: 0 },
  );
  // An id older than every one in flight does not evict a newer one.
  const b = new Assembler({ maxInFlight: 1 });
  b.onChunk(5, 0, Buffer.alloc(10), 0);
  t.deepEqual(b.onChunk(4, 0, Buffer.alloc(10), 0), { kind: "ignored", reason: "stale" });
});

test("bounded: total buffered bytes and the horizon", (t) => {
  const a = new Assembler({ maxBufferedBytes: 250, maxInFlight: 10 });
  a.onChunk(1, 0, Buffer.alloc(100), 0);
  a.onChunk(2, 0, Buffer.alloc(100), 0);
  a.onChunk(3, 0, Buffer.alloc(100), 0);
  t.true(a.bufferedBytes <= 250);
  t.is(a.stats.evicted, 1);
  const h = new Assembler({ horizon: 10 });
  h.onChunk(100, 0, Buffer.alloc(1), 0);
  t.deepEqual(h.onChunk(90, 0, Buffer.alloc(1), 0), { kind: "ignored", reason: "stale" });
  t.is(h.onChunk(91, 0, Buffer.alloc(1), 0).kind, "partial");
  h.onChunk(200, 0, Buffer.alloc(1), 0);
  t.deepEqual(
    h.pending().map((x) => x.id),
    [192, 193, 194, 195, 196, 197, 198, 199, 200],
  );
});

test("an empty segment completes with its META", (t) => {
  const a = new Assembler();
  const { meta } = segment(9, 0);
  a.onChunk(9, 0, Buffer.alloc(0), 0, true);
  t.is(a.onMeta(meta, 0).kind, "complete");
});

test("property: any order, splits and duplicates give back the exact bytes; one flipped byte never completes", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.integer({ min: -1, max: 2999 }),
      (data, sizes, order, flip) => {
        const bytes = Buffer.from(data);
        const parts: Array<[number, Buffer]> = [];
        for (let off = 0, i = 0; off < bytes.length; i++) {
          const n = sizes[i % sizes.length]!;
          parts.push([off, bytes.subarray(off, off + n)]);
          off += n;
        }
        // Shuffle deterministically and repeat some parts.
        const seq = [...parts, ...order.map((o) => parts[o % parts.length]!)];
        for (let i = seq.length - 1; i > 0; i--) {
          const j = (order[i % Math.max(1, order.length)] ?? i) % (i + 1);
          [seq[i], seq[j]] = [seq[j]!, seq[i]!];
        }
        const corrupt = flip >= 0 && flip < bytes.length;
        const meta = verifiedMeta({
          ...segment(1, 1).meta,
          totalBytes: bytes.length,
          sha256: createHash("sha256").update(bytes).digest(),
        });
        const a = new Assembler();
        let done: Buffer | undefined;
        let poisoned = false;
        a.onMeta(meta, 0);
        for (const [off, c] of seq) {
          const payload = Buffer.from(c);
          if (corrupt && flip >= off && flip < off + payload.length)
            payload[flip - off] = payload[flip - off]! ^ 1;
          const r = a.onChunk(1, off, payload, 0);
          if (r.kind === "complete") done = r.segment.bytes;
          if (r.kind === "poisoned") poisoned = true;
        }
        if (corrupt) return done === undefined && poisoned;
        return done !== undefined && done.equals(bytes);
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
