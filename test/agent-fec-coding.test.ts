// Erasure-coded tier, the coding: FecEncoder (tier-1 side) → lose any n of each group's k + n
// coded datagrams → FecDecoder (tier-2 side) rebuilds the lost data packets byte for byte
// (fast-check, and a segment cut by the origin's packetizer); partial groups coded at flush,
// holes named in the empty mask, and the u32 seq wrap. Framing is in agent-fec-shard.test.ts.
import test from "ava";
import fc from "fast-check";
import { FecDecoder } from "../agent/relay/fec-decoder.js";
import { FecEncoder } from "../dataplane/fec-encoder.js";
import { mulberry32 } from "../seams/prng.js";
import { FEC_SHARD_PREFIX_BYTES, fecGroupOf, lastFecGroup } from "../protocol/fec-shard.js";
import { FLAG_END, FLAG_META, FLAG_PARITY, MAX_CODED_PAYLOAD_BYTES } from "../protocol/limits.js";
import type { DataPacket } from "../protocol/messages.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { ManualClock } from "../seams/manual-clock.js";
import { CHANNEL, dataPacket, decoded, decoderConfig, reencode, U32 } from "./helpers/fec-packets.js";

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
    signingKey: TEST_ORIGIN.privateKey,
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
