// Erasure-coded tier, the framing of protocol/fec-shard.ts: a data packet as a shard (12-byte
// prefix + payload) and back, shards no encoder makes refused without throwing, the parity
// datagram's header fields and parseParity's checks, and the FEC groups (floor(seq / k), the
// short last group before 2^32). The coding itself is in agent-fec-coding.test.ts, duplicates,
// forged parity and memory bounds in agent-fec-bounds.test.ts.
import test from "ava";
import {
  encodeParity,
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
import { CHANNEL, dataPacket, decoded, reencode, U32 } from "./helpers/fec-packets.js";

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
