// Erasure-coded tier, what the FEC encoder and decoder withstand: duplicates, payloads too big
// to code, forged and garbage parity, random datagrams (fast-check: never a throw), the memory
// bounds of both sides (maxGroups, groupTtlMs, maxOpenGroups) and bad configurations. The
// coding itself is in agent-fec-coding.test.ts.
import test from "ava";
import fc from "fast-check";
import { FecDecoder } from "../agent/relay/fec-decoder.js";
import { FecEncoder } from "../dataplane/fec-encoder.js";
import { encodeData } from "../protocol/data-codec.js";
import { encodeParity } from "../protocol/fec-shard.js";
import {
  FLAG_END,
  FLAG_META,
  FLAG_PARITY,
  MAX_CODED_PAYLOAD_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
} from "../protocol/limits.js";
import type { DataPacket } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { CHANNEL, dataPacket, decoded, decoderConfig, reencode, U32 } from "./helpers/fec-packets.js";

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
