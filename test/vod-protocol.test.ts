// VoD on the wire: ChannelInfo and JOIN carry optional VoD keys (kind, fileBytes, chunkBytes,
// fileName) that old peers skip (keys 0..5 are unchanged), that decode back to `vod`, and whose
// bad values are refused; the chunk arithmetic tiles a file exactly.
import test from "ava";
import fc from "fast-check";
import { encodeCbor, decodeCbor } from "../protocol/cbor.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { MAX_VOD_CHUNK_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type ChannelInfo,
  ChannelKind,
  type ControlMessage,
  JoinError,
  MsgType,
  NatType,
  Role,
} from "../protocol/messages.js";
import { chunkCount, chunkSpan, chunksOfRange } from "../protocol/vod-chunks.js";

const live: ChannelInfo = {
  name: "match",
  id: 3,
  k: 2,
  streamKbps: 800,
  segmentMs: 1000,
  fallbackUrl: "http://127.0.0.1:8080",
};
const movie: ChannelInfo = {
  name: "movie",
  id: 4,
  k: 1,
  streamKbps: 2000,
  segmentMs: 4194,
  fallbackUrl: "http://127.0.0.1:8080",
  vod: { fileBytes: 3_500_000_123, chunkBytes: 1 << 20, fileName: "movie.mp4" },
};

function ack(channels: ChannelInfo[]): ControlMessage {
  return {
    v: WIRE_VERSION,
    type: MsgType.JOIN_ACK,
    sender: 0,
    seq: 1,
    ts: 1_779_000_000_000,
    body: { error: JoinError.NONE, node: 7, region: "east", heartbeatMs: 1000, channels },
  };
}

/** The ChannelInfo maps of an encoded JOIN_ACK, as plain CBOR (what any decoder sees). */
function rawChannels(bytes: Buffer): Array<Map<number, unknown>> {
  const env = decodeCbor(bytes) as Map<number, unknown>;
  return (env.get(5) as Map<number, unknown>).get(4) as Array<Map<number, unknown>>;
}

/** A JOIN_ACK whose one ChannelInfo is `live` plus the raw keys given. */
function ackWithKeys(extra: Array<[number, unknown]>): Buffer {
  const bytes = encodeControl(ack([live]));
  const env = decodeCbor(bytes) as Map<number, unknown>;
  const info = ((env.get(5) as Map<number, unknown>).get(4) as Array<Map<number, unknown>>)[0]!;
  for (const [k, v] of extra) info.set(k, v);
  return encodeCbor(env);
}

test("a VoD ChannelInfo round-trips; a live one decodes without vod", (t) => {
  const r = decodeControl(encodeControl(ack([live, movie])));
  if (!r.ok) throw r.error;
  const channels = (r.value.body as { channels: ChannelInfo[] }).channels;
  t.deepEqual(channels, [live, movie]);
  t.false("vod" in channels[0]!);
});

test("the VoD keys are 6..9 on top of an unchanged 0..5 (an old decoder reads 0..5 and skips the rest)", (t) => {
  const [plain, vod] = rawChannels(encodeControl(ack([live, { ...movie, name: live.name, id: live.id }])));
  const { vod: _v, ...asLive } = movie;
  const [same] = rawChannels(encodeControl(ack([{ ...asLive, name: live.name, id: live.id }])));
  t.deepEqual([...plain!.keys()], [0, 1, 2, 3, 4, 5]);
  for (const k of [0, 1, 2, 3, 4, 5]) t.deepEqual(vod!.get(k), same!.get(k), `key ${k}`);
  t.deepEqual(
    [...vod!.keys()].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.is(vod!.get(6), ChannelKind.VOD);
  t.is(Number(vod!.get(7)), movie.vod!.fileBytes);
  t.is(vod!.get(8), movie.vod!.chunkBytes);
  t.is(vod!.get(9), "movie.mp4");
});

test("kind LIVE (or absent) ignores the other VoD keys; fileName is optional", (t) => {
  const liveKind = decodeControl(
    ackWithKeys([
      [6, ChannelKind.LIVE],
      [7, 99],
    ]),
  );
  if (!liveKind.ok) throw liveKind.error;
  t.false("vod" in (liveKind.value.body as { channels: ChannelInfo[] }).channels[0]!);
  const noName = decodeControl(
    ackWithKeys([
      [6, ChannelKind.VOD],
      [7, 10],
      [8, 4],
    ]),
  );
  if (!noName.ok) throw noName.error;
  t.deepEqual((noName.value.body as { channels: ChannelInfo[] }).channels[0]!.vod, {
    fileBytes: 10,
    chunkBytes: 4,
  });
});

test("bad VoD keys are refused with E_BAD_FIELD naming the field", (t) => {
  const cases: Array<[string, Array<[number, unknown]>, string]> = [
    ["unknown kind", [[6, 9]], "kind"],
    [
      "VOD without fileBytes",
      [
        [6, 1],
        [8, 4],
      ],
      "fileBytes",
    ],
    [
      "VOD without chunkBytes",
      [
        [6, 1],
        [7, 10],
      ],
      "chunkBytes",
    ],
    [
      "empty file",
      [
        [6, 1],
        [7, 0],
        [8, 4],
      ],
      "fileBytes",
    ],
    [
      "chunk 0",
      [
        [6, 1],
        [7, 10],
        [8, 0],
      ],
      "chunkBytes",
    ],
    [
      "chunk too large",
      [
        [6, 1],
        [7, 10],
        [8, MAX_VOD_CHUNK_BYTES + 1],
      ],
      "chunkBytes",
    ],
    [
      "more than 2^32 chunks",
      [
        [6, 1],
        [7, 2 ** 32 + 1],
        [8, 1],
      ],
      "chunkBytes",
    ],
    [
      "fileName not text",
      [
        [6, 1],
        [7, 10],
        [8, 4],
        [9, 5],
      ],
      "fileName",
    ],
  ];
  for (const [what, keys, field] of cases) {
    const r = decodeControl(ackWithKeys(keys));
    t.false(r.ok, what);
    if (!r.ok) {
      t.is(r.error.code, "E_BAD_FIELD", what);
      t.true(r.error.field?.endsWith(field), `${what}: ${r.error.field}`);
    }
  }
  // The encoder refuses what the decoder would.
  t.throws(() => encodeControl(ack([{ ...movie, vod: { fileBytes: 10, chunkBytes: 0 } }])));
});

test("a VoD origin's JOIN carries vod at keys 10..13 and round-trips", (t) => {
  const join: ControlMessage = {
    v: WIRE_VERSION,
    type: MsgType.JOIN,
    sender: 0,
    seq: 1,
    ts: 1,
    body: {
      key: new Uint8Array(32).fill(1),
      role: Role.ORIGIN,
      channels: ["movie"],
      uploadKbps: 5000,
      nat: NatType.OPEN,
      httpPort: 8080,
      streamKbps: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
      segmentMs: 4194,
      vod: { fileBytes: 5, chunkBytes: 2, fileName: "a.bin" },
    },
  };
  const bytes = encodeControl(join);
  const body = (decodeCbor(bytes) as Map<number, unknown>).get(5) as Map<number, unknown>;
  t.deepEqual(
    [10, 11, 12, 13].map((k) => body.get(k)),
    [ChannelKind.VOD, 5, 2, "a.bin"],
  );
  const r = decodeControl(bytes);
  if (!r.ok) throw r.error;
  t.deepEqual(r.value, join);
});

test("chunks tile the file: contiguous, all chunkBytes but the last, ranges map to the chunks holding them", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 1, max: 700 }),
      fc.nat(),
      fc.nat(),
      (fileBytes, chunkBytes, a, b) => {
        const v = { fileBytes, chunkBytes };
        const n = chunkCount(v);
        let next = 0;
        for (let i = 0; i < n; i++) {
          const s = chunkSpan(v, i);
          t.is(s.offset, next);
          t.true(s.length >= 1 && s.length <= chunkBytes);
          if (i < n - 1) t.is(s.length, chunkBytes);
          next += s.length;
        }
        t.is(next, fileBytes);
        t.is(chunkSpan(v, n).length, 0);
        const [first, last] = [a % fileBytes, b % fileBytes].sort((x, y) => x - y) as [number, number];
        const r = chunksOfRange(v, first, last);
        const fs = chunkSpan(v, r.first);
        const ls = chunkSpan(v, r.last);
        t.true(fs.offset <= first && first < fs.offset + fs.length);
        t.true(ls.offset <= last && last < ls.offset + ls.length);
      },
    ),
    { seed: 6, numRuns: 200 },
  );
});
