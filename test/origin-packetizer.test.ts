import test from "ava";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { decodeData } from "../protocol/data-codec.js";
import {
  FLAG_END,
  FLAG_META,
  MAX_CODED_PAYLOAD_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_DATAGRAM_BYTES,
} from "../protocol/limits.js";
import { decodeSegmentMeta, verifySegmentMeta } from "../protocol/segment-meta.js";
import { packetizeSegment, type PacketizeInput } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";

function segmentBytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

function input(bytes: Uint8Array, over: Partial<PacketizeInput> = {}): PacketizeInput {
  return {
    channel: 3,
    signingKey: TEST_ORIGIN.privateKey,
    segmentId: 41,
    firstSeq: 1000,
    k: 1,
    durationMs: 1000,
    discontinuity: false,
    publishedAt: 1_700_000_000_123,
    bytes,
    ...over,
  };
}

/** Decodes the datagrams and puts the segment back together from the data packets. */
function reassemble(datagrams: Buffer[]): { bytes: Buffer; metas: number; endFlags: number } {
  const data = datagrams.map((d) => {
    const r = decodeData(d);
    if (!r.ok) throw r.error;
    return r.value;
  });
  const parts = data.filter((p) => (p.flags & FLAG_META) === 0).sort((a, b) => a.offset - b.offset);
  return {
    bytes: Buffer.concat(parts.map((p) => Buffer.from(p.payload))),
    metas: data.filter((p) => p.flags & FLAG_META).length,
    endFlags: data.filter((p) => p.flags & FLAG_END).length,
  };
}

test("META, data, META: reassembling the data packets gives the segment back", (t) => {
  const bytes = segmentBytes(85_000);
  const p = packetizeSegment(input(bytes));
  const n = Math.ceil(bytes.length / MAX_CODED_PAYLOAD_BYTES);
  t.is(p.packets.length, n + 2);
  t.is(p.nextSeq, 1000 + n + 2);
  const r = reassemble(p.packets.map((x) => x.datagram));
  t.true(r.bytes.equals(Buffer.from(bytes)));
  t.is(r.metas, 2);
  t.is(r.endFlags, 1);

  const first = decodeData(p.packets[0]!.datagram);
  const last = decodeData(p.packets[p.packets.length - 1]!.datagram);
  if (!first.ok || !last.ok) return t.fail("undecodable META");
  t.is(first.value.flags, FLAG_META);
  t.is(last.value.flags, FLAG_META);
  const meta = decodeSegmentMeta(first.value.payload);
  if (!meta.ok) return t.fail(meta.error.message);
  t.deepEqual(meta.value, p.meta);
  t.like(meta.value, {
    segmentId: 41,
    durationMs: 1000,
    totalBytes: 85_000,
    firstSeq: 1001,
    packetCount: n,
    discontinuity: false,
    publishedAt: 1_700_000_000_123,
  });
  t.is(Buffer.from(meta.value.sha256).toString("hex"), createHash("sha256").update(bytes).digest("hex"));
  t.deepEqual(Buffer.from(last.value.payload), Buffer.from(first.value.payload));

  const end = decodeData(p.packets[p.packets.length - 2]!.datagram);
  if (!end.ok) return t.fail("undecodable");
  t.is(end.value.flags, FLAG_END);
  t.is(end.value.offset, (n - 1) * MAX_CODED_PAYLOAD_BYTES);
});

test("every datagram is <= 1200 bytes, headers carry channel, segment id, offsets and seq mod k", (t) => {
  const p = packetizeSegment(input(segmentBytes(10_000), { k: 4, firstSeq: 7 }));
  let offset = 0;
  p.packets.forEach((pk, i) => {
    t.true(pk.datagram.length <= MAX_DATAGRAM_BYTES);
    const d = decodeData(pk.datagram);
    if (!d.ok) return t.fail(d.error.message);
    t.is(d.value.seq, 7 + i);
    t.is(pk.seq, 7 + i);
    t.is(d.value.substream, (7 + i) % 4);
    t.is(pk.substream, d.value.substream);
    t.is(d.value.channel, 3);
    t.is(d.value.segmentId, 41);
    t.is(d.value.fecGroup, 0);
    t.is(d.value.fecIndex, 0);
    if (d.value.flags & FLAG_META) return;
    t.is(d.value.offset, offset);
    offset += d.value.payload.length;
  });
  t.is(offset, 10_000);
});

test("sequence numbers continue across segments and wrap at 2^32", (t) => {
  let seq = 0xffff_fffd;
  const seen: number[] = [];
  for (let id = 0; id < 3; id++) {
    const p = packetizeSegment(input(segmentBytes(3000, id), { segmentId: id, firstSeq: seq }));
    seen.push(...p.packets.map((x) => x.seq));
    seq = p.nextSeq;
  }
  t.is(seen.length, 3 * 5);
  for (let i = 1; i < seen.length; i++) t.is(seen[i], (seen[i - 1]! + 1) % 0x1_0000_0000);
  t.is(seen[3], 0);
});

test("an empty segment still has one (empty) data packet with FLAG_END; a discontinuity is carried", (t) => {
  const p = packetizeSegment(input(new Uint8Array(0), { discontinuity: true }));
  t.is(p.packets.length, 3);
  t.is(p.meta.packetCount, 1);
  t.true(p.meta.discontinuity);
  const d = decodeData(p.packets[1]!.datagram);
  if (!d.ok) return t.fail(d.error.message);
  t.is(d.value.flags, FLAG_END);
  t.is(d.value.payload.length, 0);
});

test("bad k or payload size is a caller bug (RangeError)", (t) => {
  t.throws(() => packetizeSegment(input(segmentBytes(10), { k: 0 })), { instanceOf: RangeError });
  t.throws(() => packetizeSegment(input(segmentBytes(10), { k: 17 })), { instanceOf: RangeError });
  t.throws(() => packetizeSegment(input(segmentBytes(10), { payloadBytes: MAX_DATA_PAYLOAD_BYTES + 1 })), {
    instanceOf: RangeError,
  });
});

test("property: any segment, any k, any payload size: packets reassemble to the segment", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 20_000 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: MAX_DATA_PAYLOAD_BYTES }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      (bytes, k, payloadBytes, firstSeq) => {
        const p = packetizeSegment(input(bytes, { k, payloadBytes, firstSeq }));
        const r = reassemble(p.packets.map((x) => x.datagram));
        return (
          r.bytes.equals(Buffer.from(bytes)) &&
          r.metas === 2 &&
          r.endFlags === 1 &&
          p.packets.every((x) => x.datagram.length <= MAX_DATAGRAM_BYTES && x.substream === x.seq % k)
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test("alignTo pads the segment with META copies so the next one starts on a FEC group boundary", (t) => {
  for (const align of [1, 4, 12, 16]) {
    const p = packetizeSegment(input(segmentBytes(5000), { alignTo: align }));
    t.is(p.nextSeq % align, 0, `alignTo ${align}`);
    const plain = packetizeSegment(input(segmentBytes(5000)));
    const extra = p.packets.slice(plain.packets.length);
    t.true(extra.length < align);
    for (const x of extra) {
      const d = decodeData(x.datagram);
      t.true(d.ok && d.value.flags === FLAG_META);
    }
  }
  t.throws(() => packetizeSegment(input(segmentBytes(10), { alignTo: 17 })), { message: /alignTo/ });
});

test("every META copy is the same 124 bytes, signed by the origin for the packets' channel", (t) => {
  const p = packetizeSegment(input(segmentBytes(5000), { alignTo: 4 }));
  const metas = p.packets
    .map((x) => decodeData(x.datagram))
    .flatMap((r) => (r.ok && (r.value.flags & FLAG_META) !== 0 ? [Buffer.from(r.value.payload)] : []));
  t.true(metas.length >= 2);
  for (const m of metas) t.deepEqual(m, metas[0]);
  t.is(verifySegmentMeta(3, metas[0]!, TEST_ORIGIN.publicKey), "valid");
  t.is(verifySegmentMeta(4, metas[0]!, TEST_ORIGIN.publicKey), "bad_signature");
  t.deepEqual(p.meta.signature, new Uint8Array(metas[0]!.subarray(60)));
});
