// Erasure-coded tier: FecEncoder (tier-1 side) → lose any n of each group's k + n coded
// datagrams → FecDecoder (tier-2 side) rebuilds the lost data packets byte for byte. Also the
// framing of protocol/fec-shard.ts, partial groups (flush, holes), the u32 seq wrap, duplicates,
// forged and garbage parity, and the memory bounds of both sides.
import test from "ava";
import fc from "fast-check";
import { FecDecoder, type FecDecoderConfig } from "../agent/fec-decoder.js";
import { FecEncoder } from "../agent/fec-encoder.js";
import { mulberry32 } from "../common/prng.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import {
  encodeParity,
  FEC_SHARD_PREFIX_BYTES,
  fecGroupOf,
  fromShard,
  groupFirstSeq,
  groupSize,
  lastFecGroup,
  parseParity,
  toShard,
} from "../protocol/fec-shard.js";
import {
  FLAG_END,
  FLAG_META,
  FLAG_PARITY,
  MAX_CODED_PAYLOAD_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
} from "../protocol/limits.js";
import type { DataPacket } from "../protocol/messages.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { ManualClock } from "../seams/manual-clock.js";

const CHANNEL = 7;
const U32 = 2 ** 32;

interface Sent {
  packet: DataPacket;
  datagram: Buffer;
}

/** A data packet as the origin sends it (fecGroup = fecIndex = 0), and its datagram. */
function dataPacket(
  seq: number,
  o: { flags?: number; len?: number; segmentId?: number; offset?: number; fill?: number; channelK?: number },
): Sent {
  const len = o.len ?? 100;
  const fill = o.fill ?? seq;
  const payload = Uint8Array.from({ length: len }, (_, i) => (fill + i * 31) & 255);
  const datagram = encodeData(
    {
      channel: CHANNEL,
      seq,
      substream: seq % (o.channelK ?? 4),
      flags: o.flags ?? 0,
      fecGroup: 0,
      fecIndex: 0,
      segmentId: o.segmentId ?? 42,
      offset: o.offset ?? 0,
    },
    payload,
  );
  return { packet: decoded(datagram), datagram };
}

function decoded(datagram: Uint8Array): DataPacket {
  const r = decodeData(datagram);
  if (!r.ok) throw r.error;
  return r.value;
}

const reencode = (p: DataPacket): string => encodeData(p, p.payload).toString("hex");

function decoderConfig(k: number, n: number, over: Partial<FecDecoderConfig> = {}): FecDecoderConfig {
  return { k, n, maxGroups: 64, groupTtlMs: 5_000, channelK: 4, ...over };
}

// ---------------------------------------------------------------- framing

test("a shard is the 12-byte prefix + payload, and fromShard reads it back (padded or not)", (t) => {
  const { packet } = dataPacket(5, { flags: FLAG_END, len: 3, segmentId: 0xdeadbeef, offset: 0x01020304 });
  const shard = toShard(packet);
  t.is(
    Buffer.from(shard).toString("hex"),
    "04000003deadbeef01020304" + Buffer.from(packet.payload).toString("hex"),
  );
  const padded = new Uint8Array(40);
  padded.set(shard);
  const r = fromShard(padded, { channel: CHANNEL, seq: 5, substream: 1 });
  if (!r.ok || r.value === null) return t.fail("decodes");
  t.is(reencode(r.value), reencode(packet));
  const empty = fromShard(new Uint8Array(30), { channel: CHANNEL, seq: 5, substream: 1 });
  t.deepEqual(empty, { ok: true, value: null });
});

test("fromShard refuses shards no encoder makes, without throwing", (t) => {
  const good = toShard(dataPacket(1, { len: 4 }).packet);
  const pad = (s: Uint8Array, len: number): Uint8Array => {
    const out = new Uint8Array(len);
    out.set(s);
    return out;
  };
  const edit = (f: (s: Uint8Array) => void, len = 20): Uint8Array => {
    const s = pad(good, len);
    f(s);
    return s;
  };
  const cases: Array<[Uint8Array, string]> = [
    [new Uint8Array(11), "E_TRUNCATED"],
    [new Uint8Array(MAX_DATA_PAYLOAD_BYTES + 1), "E_TOO_LARGE"],
    [edit((s) => (s[0] = FLAG_PARITY)), "E_BAD_FLAGS"],
    [edit((s) => (s[0] = 0x80)), "E_BAD_FLAGS"],
    [edit((s) => (s[1] = 1)), "E_BAD_FIELD"],
    [edit((s) => (s[3] = 9)), "E_BAD_LENGTH"],
    [edit((s) => ((s[2] = 0x04), (s[3] = 0x89))), "E_LIMIT"], // 1161
    [edit((s) => (s[19] = 1)), "E_BAD_FIELD"], // padding
  ];
  for (const [shard, code] of cases) {
    const r = fromShard(shard, { channel: 1, seq: 1, substream: 1 });
    t.false(r.ok, code);
    if (!r.ok) t.is(r.error.code as string, code, r.error.message);
  }
  t.throws(() => toShard({ flags: FLAG_PARITY, segmentId: 0, offset: 0, payload: new Uint8Array(1) }), {
    message: /flags/,
  });
  t.throws(
    () =>
      toShard({ flags: 0, segmentId: 0, offset: 0, payload: new Uint8Array(MAX_CODED_PAYLOAD_BYTES + 1) }),
    { message: /coded limit 1160/ },
  );
});

test("parity datagrams: header fields, and parseParity refuses each field out of place", (t) => {
  const k = 4;
  const [dg] = encodeParity({ channel: CHANNEL, k, fecGroup: 10, dataCount: 3, emptyMask: 0b010 }, [
    new Uint8Array(20).fill(9),
  ]);
  const p = decoded(dg!);
  t.like(p, {
    channel: CHANNEL,
    seq: 40,
    substream: 4,
    flags: FLAG_PARITY,
    fecGroup: 10,
    fecIndex: 4,
    segmentId: 0b010,
    offset: 3,
  });
  t.is(p.payload.length, 20);
  const r = parseParity(p, k, 2);
  t.true(r.ok);
  if (r.ok) t.like(r.value, { fecGroup: 10, index: 4, dataCount: 3, emptyMask: 0b010, k });
  const bad: Array<[Partial<DataPacket>, string]> = [
    [{ flags: FLAG_PARITY | FLAG_META }, "flags"],
    [{ fecIndex: 3, substream: 3 }, "fecIndex"],
    [{ fecIndex: 6, substream: 6 }, "fecIndex"],
    [{ substream: 5 }, "substream"],
    [{ seq: 41 }, "seq"],
    [{ fecGroup: lastFecGroup(k) + 1 }, "fecGroup"],
    [{ segmentId: 0b1000 }, "segmentId"], // empty mask past D = 3
    [{ offset: 0 }, "offset"],
    [{ offset: 5 }, "offset"],
    [{ payload: new Uint8Array(11) }, "length"],
  ];
  for (const [change, field] of bad) {
    const r2 = parseParity({ ...p, ...change }, k, 2);
    t.false(r2.ok, field);
    if (!r2.ok) t.is(r2.error.field, field, r2.error.message);
  }
});

test("groups: floor(seq / k), and the last group before 2^32 is short when k does not divide 2^32", (t) => {
  t.is(fecGroupOf(17, 8), 2);
  for (const k of [1, 2, 3, 5, 6, 7, 8, 10, 16]) {
    const last = lastFecGroup(k);
    t.is(fecGroupOf(U32 - 1, k), last);
    t.is(groupFirstSeq(last, k) + groupSize(last, k), U32, `k ${k}`);
    t.is(groupSize(last, k), U32 % k === 0 ? k : U32 % k, `k ${k}`);
    t.is(groupSize(last - 1, k), k);
  }
});

// ---------------------------------------------------------------- encoder → loss → decoder

const packetSpec = fc.record({
  flags: fc.constantFrom(0, FLAG_META, FLAG_END),
  len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: MAX_CODED_PAYLOAD_BYTES })),
  segmentId: fc.nat(),
  offset: fc.nat(),
  fill: fc.integer({ min: 0, max: 255 }),
});

const roundTrip = fc.integer({ min: 1, max: 15 }).chain((k) =>
  fc.record({
    k: fc.constant(k),
    n: fc.integer({ min: 1, max: Math.min(8, 16 - k) }),
    channelK: fc.integer({ min: 1, max: 16 }),
    start: fc.oneof(fc.nat({ max: U32 - 1 }), fc.integer({ min: U32 - 40, max: U32 - 1 })),
    specs: fc.array(packetSpec, { minLength: 1, maxLength: 40 }),
    seed: fc.nat(),
  }),
);

test("any n of each group's k + n datagrams lost: the decoder rebuilds the data byte for byte (fast-check)", (t) => {
  fc.assert(
    fc.property(roundTrip, ({ k, n, channelK, start, specs, seed }) => {
      const clock = new ManualClock();
      const enc = new FecEncoder({ clock }, { k, n, flushMs: 50 });
      const sent = specs.map((s, i) => {
        // A flag-less empty packet at segment 0 offset 0 would be an empty shard: the origin sends none.
        const len = s.flags === 0 && s.len === 0 ? 1 : s.len;
        return dataPacket((start + i) % U32, { ...s, len, channelK });
      });
      const parity: Buffer[] = [];
      for (const s of sent) parity.push(...enc.push(s.packet));
      clock.advance(100);
      parity.push(...enc.flush());
      const groups = new Set(sent.map((s) => fecGroupOf(s.packet.seq, k)));
      t.is(parity.length, groups.size * n, "n parity datagrams per group");
      t.is(enc.openGroups, 0);

      // Per group, lose up to n of its coded datagrams (data present + parity).
      const rand = mulberry32(seed);
      const survivors: Buffer[] = [];
      const lost = new Set<number>();
      /** Groups whose parity was all lost: a gap the encoder left there looks like a loss. */
      let noParity = 0;
      for (const g of groups) {
        const coded: Array<{ dg: Buffer; seq?: number }> = [
          ...sent
            .filter((s) => fecGroupOf(s.packet.seq, k) === g)
            .map((s) => ({ dg: s.datagram, seq: s.packet.seq })),
          ...parity.filter((p) => decoded(p).fecGroup === g).map((dg) => ({ dg })),
        ];
        const drop = Math.floor(rand() * (n + 1));
        for (let i = 0; i < drop; i++) {
          const [gone] = coded.splice(Math.floor(rand() * coded.length), 1);
          if (gone?.seq !== undefined) lost.add(gone.seq);
        }
        survivors.push(...coded.map((c) => c.dg));
        if (coded.every((c) => c.seq !== undefined)) noParity++;
      }
      for (let i = survivors.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [survivors[i], survivors[j]] = [survivors[j]!, survivors[i]!];
      }

      const dec = new FecDecoder({ clock }, decoderConfig(k, n, { channelK }));
      const rebuilt = new Map<number, string>();
      for (const dg of survivors) {
        const p = decoded(dg);
        for (const r of (p.flags & FLAG_PARITY) !== 0 ? dec.onParity(p) : dec.onData(p)) {
          t.false(rebuilt.has(r.seq), `seq ${r.seq} rebuilt once`);
          rebuilt.set(r.seq, reencode(r));
        }
      }
      // Every lost packet is rebuilt; so may be packets still on their way when k shards were in
      // (the data plane drops the duplicate): all byte for byte.
      for (const seq of lost) t.true(rebuilt.has(seq), `lost seq ${seq} rebuilt`);
      const original = new Map(sent.map((s) => [s.packet.seq, s.datagram.toString("hex")]));
      for (const [seq, hex] of rebuilt) t.is(hex, original.get(seq) ?? "", `seq ${seq}`);
      const st = dec.stats;
      t.is(st.packetsRecovered, rebuilt.size);
      t.is(st.parityRejected, 0);
      t.is(st.rebuildsRejected, 0);
      clock.advance(10_000);
      dec.expire();
      t.is(dec.groupCount, 0);
      t.true(dec.stats.groupsUnrecoverable <= noParity, "only groups without parity can look lost");
    }),
    { numRuns: 150 },
  );
});

test("a segment cut by the origin's packetizer at 1160-byte payloads survives the loss of 2 of every 10", (t) => {
  const bytes = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7919) & 255);
  const seg = packetizeSegment({
    channel: CHANNEL,
    segmentId: 3,
    firstSeq: U32 - 13,
    k: 4,
    durationMs: 2000,
    discontinuity: false,
    publishedAt: 1_700_000_000_000,
    bytes,
    payloadBytes: MAX_CODED_PAYLOAD_BYTES,
  });
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 8, n: 2, flushMs: 20 });
  const dec = new FecDecoder({ clock }, decoderConfig(8, 2, { channelK: 4 }));
  const parity: Buffer[] = [];
  for (const p of seg.packets) parity.push(...enc.push(decoded(p.datagram)));
  clock.advance(20);
  parity.push(...enc.flush());
  // Lose data positions 0 and 5 of every group; all parity arrives after the data.
  const out = new Map<number, string>();
  const lostSeqs = seg.packets.filter((p) => [0, 5].includes(p.seq % 8)).map((p) => p.seq);
  for (const p of seg.packets)
    if (!lostSeqs.includes(p.seq)) t.deepEqual(dec.onData(decoded(p.datagram)), []);
  for (const dg of parity) for (const r of dec.onParity(decoded(dg))) out.set(r.seq, reencode(r));
  t.deepEqual([...out.keys()].sort(), [...lostSeqs].sort());
  for (const p of seg.packets) if (lostSeqs.includes(p.seq)) t.is(out.get(p.seq), p.datagram.toString("hex"));
  t.log(`${seg.packets.length} packets, ${parity.length} parity, ${lostSeqs.length} lost and rebuilt`);
});

// ---------------------------------------------------------------- partial groups and the wrap

test("a partial group is coded at flush, not before, with offset = data count", (t) => {
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 4, n: 2, flushMs: 100 });
  const a = dataPacket(8, { len: 50 });
  const b = dataPacket(9, { len: 70, flags: FLAG_END });
  t.deepEqual(enc.push(a.packet), []);
  t.deepEqual(enc.push(b.packet), []);
  clock.advance(99);
  t.deepEqual(enc.flush(), []);
  clock.advance(1);
  const parity = enc.flush().map(decoded);
  t.is(parity.length, 2);
  for (const [i, p] of parity.entries()) {
    t.like(p, { seq: 8, fecGroup: 2, fecIndex: 4 + i, substream: 4 + i, offset: 2, flags: FLAG_PARITY });
    t.is(p.payload.length, FEC_SHARD_PREFIX_BYTES + 70);
  }
  t.like(enc.stats, { groupsCoded: 1, groupsPartial: 1, parityDatagrams: 2 });
  // Late: the group is closed.
  t.deepEqual(enc.push(dataPacket(10, {}).packet), []);
  t.is(enc.stats.late, 1);

  const dec = new FecDecoder({ clock }, decoderConfig(4, 2));
  t.deepEqual(dec.onParity(parity[1]!), []); // 2 empty positions + 1 parity: 3 of 4
  const got = dec.onData(b.packet);
  t.deepEqual(got.map(reencode), [a.datagram.toString("hex")]);
});

test("holes in a flushed group are named in the empty mask and cost the decoder no parity", (t) => {
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 6, n: 2, flushMs: 10 });
  // The encoder joined mid-group (no 0, 1) and lost 3 upstream.
  const p2 = dataPacket(2, { len: 30 });
  const p4 = dataPacket(4, { len: 40 });
  enc.push(p2.packet);
  enc.push(p4.packet);
  clock.advance(10);
  const parity = enc.flush().map(decoded);
  t.like(parity[0], { offset: 5, segmentId: 0b01011 }, "D = last coded position + 1, holes 0, 1, 3");
  const dec = new FecDecoder({ clock }, decoderConfig(6, 2));
  // The node got seq 3 some other way: it was not coded, so it stays out of the decoding.
  t.deepEqual(dec.onData(dataPacket(3, { len: 500 }).packet), []);
  t.deepEqual(dec.onData(p2.packet), []);
  const got = dec.onParity(parity[1]!);
  t.deepEqual(got.map(reencode), [p4.datagram.toString("hex")]);
  t.like(dec.stats, { groupsRebuilt: 1, packetsRecovered: 1, parityRejected: 0 });
});

test("seq wrap: the short last group before 2^32 is complete with its packets, then group 0 starts", (t) => {
  const k = 6; // 2^32 mod 6 = 4: the last group holds seqs 2^32-4 .. 2^32-1
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k, n: 2, flushMs: 1_000 });
  const dec = new FecDecoder({ clock }, decoderConfig(k, 2));
  const seqs = [U32 - 4, U32 - 3, U32 - 2, U32 - 1, 0, 1, 2, 3, 4, 5];
  const sent = seqs.map((s) => dataPacket(s, { len: 10 + (s % 50) }));
  const parity: DataPacket[] = [];
  for (const s of sent) parity.push(...enc.push(s.packet).map(decoded));
  t.is(parity.length, 4, "both groups complete without a flush");
  t.like(parity[0], { seq: U32 - 4, fecGroup: lastFecGroup(k), offset: 4 });
  t.like(parity[2], { seq: 0, fecGroup: 0, offset: 6 });
  // Lose the first two packets of each group.
  const lost = [U32 - 4, U32 - 3, 0, 1];
  const out: DataPacket[] = [];
  for (const s of sent) if (!lost.includes(s.packet.seq)) out.push(...dec.onData(s.packet));
  for (const p of parity) out.push(...dec.onParity(p));
  t.deepEqual(
    out.map(reencode).sort(),
    sent
      .filter((s) => lost.includes(s.packet.seq))
      .map((s) => s.datagram.toString("hex"))
      .sort(),
  );
});

// ---------------------------------------------------------------- duplicates, oversize, forged parity

test("duplicates are counted and change nothing; a group is rebuilt exactly once", (t) => {
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 3, n: 2, flushMs: 10 });
  const sent = [0, 1, 2].map((s) => dataPacket(s, { len: 20 + s }));
  t.deepEqual(enc.push(sent[0]!.packet), []);
  t.deepEqual(enc.push(sent[0]!.packet), []);
  t.is(enc.stats.duplicates, 1);
  enc.push(sent[1]!.packet);
  const parity = enc.push(sent[2]!.packet).map(decoded);
  t.is(parity.length, 2);

  const dec = new FecDecoder({ clock }, decoderConfig(3, 2));
  dec.onData(sent[2]!.packet);
  t.deepEqual(dec.onData(sent[2]!.packet), []);
  t.deepEqual(dec.onParity(parity[0]!), []);
  t.deepEqual(dec.onParity(parity[0]!), []);
  const got = dec.onParity(parity[1]!);
  t.is(got.length, 2);
  t.deepEqual(dec.onData(sent[0]!.packet), [], "late data after the rebuild");
  t.deepEqual(dec.onParity(parity[1]!), [], "late parity after the rebuild");
  t.like(dec.stats, { groupsRebuilt: 1, packetsRecovered: 2, duplicates: 2, parityReceived: 4 });
});

test("a payload over 1160 bytes is sent uncoded: an empty shard in its group, which still completes", (t) => {
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 2, n: 1, flushMs: 10 });
  const big = dataPacket(0, { len: MAX_CODED_PAYLOAD_BYTES + 1 });
  const small = dataPacket(1, { len: 5 });
  enc.push(big.packet);
  const parity = enc.push(small.packet).map(decoded);
  t.is(parity.length, 1);
  t.is(enc.stats.notCodable, 1);
  const dec = new FecDecoder({ clock }, decoderConfig(2, 1));
  t.deepEqual(dec.onData(big.packet), [], "the decoder leaves it out of the group");
  const got = dec.onParity(parity[0]!);
  t.deepEqual(got.map(reencode), [small.datagram.toString("hex")]);
});

test("forged parity: shorter than the data it covers, disagreeing, or overruled by data, is dropped", (t) => {
  const clock = new ManualClock();
  const k = 4;
  const enc = new FecEncoder({ clock }, { k, n: 2, flushMs: 10 });
  const sent = [0, 1, 2, 3].map((s) => dataPacket(100 + s, { len: 200 + s }));
  const parity = sent.flatMap((s) => enc.push(s.packet)).map(decoded);
  const genuine = parity[0]!;
  const forged = (shardLen: number, dataCount = 4, index = 4): DataPacket => {
    const [dg] = encodeParity({ channel: CHANNEL, k, fecGroup: 25, dataCount, emptyMask: 0 }, [
      new Uint8Array(shardLen).fill(0xab),
    ]);
    return { ...decoded(dg!), fecIndex: index, substream: index };
  };

  // Shorter than a data shard already held: refused.
  const dec = new FecDecoder({ clock }, decoderConfig(k, 2));
  dec.onData(sent[0]!.packet);
  t.deepEqual(dec.onParity(forged(30, 4, 5)), []);
  t.is(dec.stats.parityRejected, 1);
  // First parity fixes D and L: a genuine-shaped one with another D is refused later.
  t.deepEqual(dec.onParity(genuine), []);
  t.deepEqual(dec.onParity({ ...forged(genuine.payload.length, 3, 5) }), []);
  t.is(dec.stats.parityRejected, 2);
  t.deepEqual(dec.onData(sent[1]!.packet), []);
  const got = dec.onParity(parity[1]!);
  t.deepEqual(got.map(reencode).sort(), [sent[2]!, sent[3]!].map((s) => s.datagram.toString("hex")).sort());

  // Forged parity first, then longer data: the data wins, the forged parity goes, the genuine one rebuilds.
  const dec2 = new FecDecoder({ clock }, decoderConfig(k, 2));
  t.deepEqual(dec2.onParity(forged(40)), []);
  t.deepEqual(dec2.onParity(forged(40, 4, 5)), []);
  t.deepEqual(dec2.onData(sent[0]!.packet), []);
  t.is(dec2.stats.parityRejected, 2, "both forged parity dropped when longer data came");
  dec2.onData(sent[1]!.packet);
  dec2.onParity(parity[1]!);
  const got2 = dec2.onParity(genuine);
  t.is(got2.length, 2);
  t.deepEqual(got2.map(reencode).sort(), [sent[2]!, sent[3]!].map((s) => s.datagram.toString("hex")).sort());

  // Right shape, garbage bytes: the rebuilt shards are not ones an encoder makes; nothing comes out.
  const dec3 = new FecDecoder({ clock }, decoderConfig(k, 2));
  dec3.onData(sent[0]!.packet);
  dec3.onData(sent[1]!.packet);
  dec3.onParity(forged(genuine.payload.length));
  t.deepEqual(dec3.onParity(forged(genuine.payload.length, 4, 5)), []);
  t.like(dec3.stats, { rebuildsRejected: 1, packetsRecovered: 0, groupsRebuilt: 0 });
});

test("random and plausible-but-forged datagrams never make the decoder throw or outgrow maxGroups (fast-check)", (t) => {
  const clock = new ManualClock();
  const k = 5;
  const n = 3;
  const dec = new FecDecoder({ clock }, decoderConfig(k, n, { maxGroups: 16 }));
  const anything = fc.record({
    channel: fc.constantFrom(CHANNEL, 8),
    seq: fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: U32 - 1 })),
    substream: fc.nat({ max: 15 }),
    flags: fc.constantFrom(0, FLAG_PARITY, FLAG_META, FLAG_END, FLAG_PARITY | FLAG_END),
    fecGroup: fc.oneof(fc.nat({ max: 10 }), fc.nat({ max: U32 - 1 })),
    fecIndex: fc.nat({ max: 255 }),
    segmentId: fc.constantFrom(0, 1),
    offset: fc.nat({ max: 7 }),
  });
  // Parity that passes parseParity, for the groups the data below falls in: rebuilds happen.
  const parity = fc
    .record({
      group: fc.nat({ max: 8 }),
      j: fc.integer({ min: k, max: k + n - 1 }),
      d: fc.integer({ min: 1, max: k }),
    })
    .chain(({ group, j, d }) =>
      fc.record({
        channel: fc.constant(CHANNEL),
        seq: fc.constant(group * k),
        substream: fc.constant(j),
        flags: fc.constant(FLAG_PARITY),
        fecGroup: fc.constant(group),
        fecIndex: fc.constant(j),
        segmentId: fc.nat({ max: 2 ** d - 1 }),
        offset: fc.constant(d),
      }),
    );
  const data = fc.nat({ max: 9 * k - 1 }).chain((seq) =>
    fc.record({
      channel: fc.constant(CHANNEL),
      seq: fc.constant(seq),
      substream: fc.constant(seq % 4),
      flags: fc.constantFrom(0, FLAG_META, FLAG_END),
      fecGroup: fc.constant(0),
      fecIndex: fc.constant(0),
      segmentId: fc.nat({ max: 3 }),
      offset: fc.nat({ max: 5000 }),
    }),
  );
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: MAX_DATA_PAYLOAD_BYTES }),
    fc.uint8Array({ minLength: 12, maxLength: 40 }),
  );
  fc.assert(
    fc.property(fc.oneof(anything, parity, data), payload, fc.nat({ max: 200 }), (h, bytes, dt) => {
      clock.advance(dt);
      const p = decoded(encodeData(h, bytes));
      t.notThrows(() => dec.onData(p));
      t.true(dec.groupCount <= 16);
    }),
    { numRuns: 3000 },
  );
  const st = dec.stats;
  t.log(st);
  t.true(st.parityReceived > st.parityRejected, "some forged parity was accepted, so rebuilds ran");
  t.true(st.groupsRebuilt + st.rebuildsRejected > 0);
});

// ---------------------------------------------------------------- memory bounds and expiry

test("the decoder holds at most maxGroups groups and forgets them after groupTtlMs, counting losses", (t) => {
  const clock = new ManualClock();
  const dec = new FecDecoder({ clock }, decoderConfig(4, 2, { maxGroups: 8, groupTtlMs: 1_000 }));
  let most = 0;
  for (let g = 0; g < 100; g++) {
    // Three of four data packets: each group has a gap, with no parity to fill it.
    for (const i of [0, 1, 3]) dec.onData(dataPacket(g * 4 + i, {}).packet);
    most = Math.max(most, dec.groupCount);
  }
  t.is(most, 8);
  t.like(dec.stats, { groupsEvicted: 92, groupsUnrecoverable: 92 });
  clock.advance(999);
  dec.expire();
  t.is(dec.groupCount, 8);
  clock.advance(1);
  dec.expire();
  t.is(dec.groupCount, 0);
  t.is(dec.stats.groupsUnrecoverable, 100);
  // A complete group, and one that may simply have ended early (no gap, no parity), count no loss.
  for (let i = 0; i < 4; i++) dec.onData(dataPacket(1000 + i, {}).packet);
  for (let i = 0; i < 2; i++) dec.onData(dataPacket(2000 + i, {}).packet);
  clock.advance(1_000);
  dec.expire();
  t.is(dec.stats.groupsUnrecoverable, 100);
});

test("the encoder holds at most maxOpenGroups groups, dropping the oldest", (t) => {
  const clock = new ManualClock();
  const enc = new FecEncoder({ clock }, { k: 4, n: 1, flushMs: 10_000, maxOpenGroups: 4 });
  for (let g = 0; g < 10; g++) {
    enc.push(dataPacket(g * 4, {}).packet);
    t.true(enc.openGroups <= 4);
  }
  t.is(enc.stats.groupsDropped, 6);
  clock.advance(10_000);
  const parity = enc.flush().map(decoded);
  t.deepEqual(
    parity.map((p) => p.fecGroup),
    [6, 7, 8, 9],
  );
});

test("bad configurations are refused", (t) => {
  const clock = new ManualClock();
  t.throws(() => new FecEncoder({ clock }, { k: 0, n: 1, flushMs: 1 }), { instanceOf: RangeError });
  t.throws(() => new FecEncoder({ clock }, { k: 10, n: 7, flushMs: 1 }), { instanceOf: RangeError });
  t.throws(() => new FecEncoder({ clock }, { k: 4, n: 9, flushMs: 1 }), { instanceOf: RangeError });
  t.throws(() => new FecDecoder({ clock }, decoderConfig(4, 0)), { instanceOf: RangeError });
  t.throws(() => new FecDecoder({ clock }, decoderConfig(4, 2, { maxGroups: 0 })), {
    instanceOf: RangeError,
  });
  t.throws(() => new FecDecoder({ clock }, decoderConfig(4, 2, { groupTtlMs: 0 })), {
    instanceOf: RangeError,
  });
});
