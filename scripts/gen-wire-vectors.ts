/**
 * Writes the golden vectors of wire v1 (test/vectors/*.json) from tools/vectors/samples.ts.
 * Run `node --import tsx scripts/gen-wire-vectors.ts` only when the wire is meant to change,
 * and review the diff: test/protocol-vectors.test.ts fails whenever an encoding changes.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { decodeCbor, encodeCbor } from "../protocol/cbor.js";
import { encodeControl } from "../protocol/control-codec.js";
import { encodeData } from "../protocol/data-codec.js";
import { DATA_HEADER_BYTES } from "../protocol/limits.js";
import type { ControlMessage, DataHeader } from "../protocol/messages.js";
import { encodeSegmentMeta, signSegmentMeta } from "../protocol/segment-meta.js";
import { encodeNack } from "../protocol/nack-codec.js";
import {
  sampleAssign,
  sampleAssignTagged,
  sampleAssignTaggedBytes,
  sampleAssignTier2,
  sampleAssignTiered,
  sampleControlKey,
  sampleCookieBare,
  sampleCookieMsg,
  sampleDataHeader,
  sampleEndHeader,
  sampleHeartbeat,
  sampleHeartbeatTagged,
  sampleHeartbeatTaggedBytes,
  sampleJoinAck,
  sampleJoinAckContext,
  sampleJoinAckRejoin,
  sampleJoinAckSigned,
  sampleJoinAckSignedBytes,
  sampleJoinAgent,
  sampleJoinHandshake,
  sampleJoinHandshakeBytes,
  sampleJoinOrigin,
  sampleLeave,
  sampleMeta,
  sampleMetaHeader,
  sampleNodeKey,
  sampleOriginKey,
  samplePayload,
  sampleSessionKeys,
} from "../tools/vectors/samples.js";
import {
  type AuthCheck,
  type InvalidCase,
  type ValidCase,
  type VectorFile,
  toJson,
} from "../tools/vectors/vector-json.js";
import { joinContext } from "../protocol/handshake.js";

const dir = join(import.meta.dirname, "..", "test", "vectors");
type Tree = Map<unknown, unknown>;

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** The CBOR tree of a valid message, to break on purpose. */
function tree(msg: ControlMessage): Tree {
  return decodeCbor(encodeControl(msg)) as Tree;
}

/** Encode a tree; integers above 32 bits as 8-byte integers, as the codec writes them. */
function raw(t: unknown): string {
  const fix = (v: unknown): unknown => {
    if (typeof v === "number" && Number.isInteger(v) && v > 0xffffffff) return BigInt(v);
    if (Array.isArray(v)) return v.map(fix);
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, fix(x)]));
    return v;
  };
  return hex(encodeCbor(fix(t)));
}

const body = (t: Tree): Tree => t.get(5) as Tree;

function control(name: string, msg: ControlMessage): ValidCase {
  return { name, hex: hex(encodeControl(msg)), value: toJson(msg) };
}

/** An authenticated case: the bytes as sealed (they must equal encodeControl of the value). */
function sealed(name: string, msg: ControlMessage, bytes: Buffer, auth: AuthCheck): ValidCase {
  if (!encodeControl(msg).equals(bytes))
    throw new Error(`${name}: the sealed bytes are not the value's encoding`);
  return { name, hex: hex(bytes), value: toJson(msg), auth };
}

const sessionTag = (key: Uint8Array, note: string): AuthCheck => ({ scheme: "tag", key: hex(key), note });
const signedBy = (publicKey: Uint8Array, context: Uint8Array, note: string): AuthCheck => ({
  scheme: "signature",
  publicKey: hex(publicKey),
  context: hex(context),
  note,
});

function broken(
  name: string,
  msg: ControlMessage,
  code: string,
  field: string | undefined,
  edit: (t: Tree) => void,
): InvalidCase {
  const t = tree(msg);
  edit(t);
  return field === undefined ? { name, hex: raw(t), code } : { name, hex: raw(t), code, field };
}

async function write(file: string, v: VectorFile): Promise<void> {
  const path = join(dir, file);
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(path, await format(JSON.stringify(v, null, 2), { ...options, parser: "json" }));
  console.log(`${file}: ${v.valid.length} valid, ${v.invalid.length} invalid`);
}

const hb = sampleHeartbeat();
const hbHex = hex(encodeControl(hb));

await write("heartbeat.json", {
  kind: "HEARTBEAT",
  decoder: "control",
  valid: [
    control("4 parents, 8 children (the 256-byte budget case)", hb),
    control("one parent missing, no children", {
      ...hb,
      body: { ...hb.body, parents: [hb.body.parents[0] ?? null, null], children: [], buffers: [3, 0] },
    }),
    control("a suspect parent (its META failed the origin's signature)", {
      ...hb,
      body: {
        ...hb.body,
        parents: hb.body.parents.map((p, i) => (i === 1 && p !== null ? { ...p, suspect: true } : p)),
      },
    }),
    sealed(
      "tagged with the sample session's node-to-control key, counter 17",
      sampleHeartbeatTagged,
      sampleHeartbeatTaggedBytes,
      sessionTag(
        sampleSessionKeys.nodeToControl,
        "HKDF-SHA256 of X25519(sample ephemerals 0x11, 0x22), salt SHA-256(node key || node epk || control epk): first 32 bytes",
      ),
    ),
  ],
  invalid: [
    broken("version 2", hb, "E_BAD_VERSION", "v", (t) => t.set(0, 2)),
    broken("65 children", hb, "E_LIMIT", "body.children", (t) => {
      const children = body(t).get(3) as unknown[];
      body(t).set(
        3,
        Array.from({ length: 65 }, (_, i) => children[i % children.length]),
      );
    }),
    broken("resources missing", hb, "E_BAD_FIELD", "body.resources", (t) => body(t).delete(5)),
    broken("child age above u32", hb, "E_BAD_FIELD", "body.children[0].ageMs", (t) => {
      ((body(t).get(3) as unknown[][])[0] as unknown[])[1] = 2 ** 32;
    }),
    broken("sender negative", hb, "E_BAD_FIELD", "sender", (t) => t.set(2, -1)),
    broken("suspect 2", hb, "E_BAD_FIELD", "body.parents[0].suspect", (t) => {
      ((body(t).get(2) as unknown[][])[0] as unknown[])[3] = 2;
    }),
    { name: "truncated by one byte", hex: hbHex.slice(0, -2), code: "E_TRUNCATED" },
    { name: "one byte after the map", hex: hbHex + "00", code: "E_BAD_CBOR" },
    { name: "array length 2^64-1", hex: "a1009bffffffffffffffff", code: "E_TRUNCATED" },
    { name: "tagged timestamp (tag 1)", hex: "a104c11a6a1b2c3d", code: "E_BAD_CBOR" },
    { name: "not a map", hex: "8100", code: "E_BAD_FIELD", field: "envelope" },
    broken("65-byte tag", sampleHeartbeatTagged, "E_LIMIT", "auth", (t) => t.set(6, new Uint8Array(65))),
    broken("tag as a text string", sampleHeartbeatTagged, "E_BAD_FIELD", "auth", (t) =>
      t.set(6, "x".repeat(16)),
    ),
  ],
});

await write("join.json", {
  kind: "JOIN",
  decoder: "control",
  valid: [
    control("agent", sampleJoinAgent),
    control("origin", sampleJoinOrigin),
    sealed(
      "handshake: epk, cookie, token; signed by the node for control's key",
      sampleJoinHandshake,
      sampleJoinHandshakeBytes,
      signedBy(
        sampleNodeKey.publicKey,
        joinContext(sampleControlKey.publicKey),
        '"tiercast join v1\\0" || control\'s public key',
      ),
    ),
  ],
  invalid: [
    broken("65-byte key", sampleJoinAgent, "E_LIMIT", "body.key", (t) => body(t).set(0, new Uint8Array(65))),
    broken("201-byte channel name", sampleJoinAgent, "E_LIMIT", "body.channels[0]", (t) =>
      body(t).set(2, ["x".repeat(201)]),
    ),
    broken("httpPort 0", sampleJoinAgent, "E_BAD_FIELD", "body.httpPort", (t) => body(t).set(5, 0)),
    broken("unknown role", sampleJoinAgent, "E_BAD_FIELD", "body.role", (t) => body(t).set(1, 9)),
    broken("31-byte epk", sampleJoinHandshake, "E_BAD_FIELD", "body.epk", (t) =>
      body(t).set(14, new Uint8Array(31)),
    ),
    broken("33-byte epk", sampleJoinHandshake, "E_LIMIT", "body.epk", (t) =>
      body(t).set(14, new Uint8Array(33)),
    ),
    broken("65-byte cookie", sampleJoinHandshake, "E_LIMIT", "body.cookie", (t) =>
      body(t).set(15, new Uint8Array(65)),
    ),
    broken("cookie as a text string", sampleJoinHandshake, "E_BAD_FIELD", "body.cookie", (t) =>
      body(t).set(15, "cookie"),
    ),
    broken("201-byte token", sampleJoinHandshake, "E_LIMIT", "body.token", (t) =>
      body(t).set(16, "t".repeat(201)),
    ),
    broken("65-byte signature", sampleJoinHandshake, "E_LIMIT", "auth", (t) => t.set(6, new Uint8Array(65))),
  ],
});

await write("join-ack.json", {
  kind: "JOIN_ACK",
  decoder: "control",
  valid: [
    control("accepted", sampleJoinAck),
    control("rejoin", sampleJoinAckRejoin),
    sealed(
      "accepted with control's epk, signed over the sample JOIN's hash",
      sampleJoinAckSigned,
      sampleJoinAckSignedBytes,
      signedBy(
        sampleControlKey.publicKey,
        sampleJoinAckContext,
        '"tiercast join-ack v1\\0" || SHA-256(the join.json handshake vector\'s bytes)',
      ),
    ),
  ],
  invalid: [
    broken("k = 17", sampleJoinAck, "E_BAD_FIELD", "body.channels[0].k", (t) => {
      ((body(t).get(4) as Tree[])[0] as Tree).set(2, 17);
    }),
    broken("9 channels", sampleJoinAck, "E_LIMIT", "body.channels", (t) => {
      const c = (body(t).get(4) as Tree[])[0];
      body(t).set(
        4,
        Array.from({ length: 9 }, () => c),
      );
    }),
    broken("unknown error code", sampleJoinAck, "E_BAD_FIELD", "body.error", (t) => body(t).set(0, 99)),
    broken("16-byte epk", sampleJoinAckSigned, "E_BAD_FIELD", "body.epk", (t) =>
      body(t).set(5, new Uint8Array(16)),
    ),
    broken("epk as an integer", sampleJoinAckSigned, "E_BAD_FIELD", "body.epk", (t) => body(t).set(5, 7)),
  ],
});

await write("cookie.json", {
  kind: "COOKIE",
  decoder: "control",
  valid: [control("with control's key", sampleCookieMsg), control("cookie only", sampleCookieBare)],
  invalid: [
    broken("cookie missing", sampleCookieMsg, "E_BAD_FIELD", "body.cookie", (t) => body(t).delete(0)),
    broken("65-byte cookie", sampleCookieMsg, "E_LIMIT", "body.cookie", (t) =>
      body(t).set(0, new Uint8Array(65)),
    ),
    broken("cookie as a text string", sampleCookieMsg, "E_BAD_FIELD", "body.cookie", (t) =>
      body(t).set(0, "c"),
    ),
    broken("31-byte control key", sampleCookieMsg, "E_BAD_FIELD", "body.controlKey", (t) =>
      body(t).set(1, new Uint8Array(31)),
    ),
    broken("33-byte control key", sampleCookieMsg, "E_LIMIT", "body.controlKey", (t) =>
      body(t).set(1, new Uint8Array(33)),
    ),
    broken("type 11", sampleCookieMsg, "E_BAD_TYPE", "type", (t) => t.set(1, 11)),
  ],
});

await write("assign.json", {
  kind: "ASSIGN",
  decoder: "control",
  valid: [
    control("k = 4, IPv4 and IPv6 peers", sampleAssign),
    control("tier 1: flood parents, mesh, a coded child, part 0 of 2", sampleAssignTiered),
    control("tier 2: 12 + 2 coded parents, cluster", sampleAssignTier2),
    sealed(
      "k = 4, tagged with the sample session's control-to-node key, counter 1",
      sampleAssignTagged,
      sampleAssignTaggedBytes,
      sessionTag(
        sampleSessionKeys.controlToNode,
        "the same HKDF output as the heartbeat vector's key: its last 32 bytes",
      ),
    ),
  ],
  invalid: [
    broken("5-byte address", sampleAssign, "E_BAD_FIELD", "body.parents[0].address", (t) => {
      ((body(t).get(4) as unknown[][])[0] as unknown[])[1] = new Uint8Array(5);
    }),
    broken("substream bit beyond k", sampleAssign, "E_BAD_FIELD", "body.children[1].substreams", (t) => {
      ((body(t).get(5) as unknown[][])[1] as unknown[])[3] = 0b10000;
    }),
    broken("more parents than k", sampleAssign, "E_LIMIT", "body.parents", (t) => body(t).set(2, 3)),
    broken("port 70000", sampleAssign, "E_BAD_FIELD", "body.children[0].port", (t) => {
      ((body(t).get(5) as unknown[][])[0] as unknown[])[2] = 70_000;
    }),
    broken(
      "coded bit beyond fec.k + fec.n",
      sampleAssignTiered,
      "E_BAD_FIELD",
      "body.children[1].substreams",
      (t) => {
        ((body(t).get(5) as unknown[][])[1] as unknown[])[3] = 1 << 14;
      },
    ),
    broken(
      "FEC_TREE link without fec",
      sampleAssignTiered,
      "E_BAD_FIELD",
      "body.children[1].algorithm",
      (t) => {
        body(t).delete(8);
      },
    ),
    broken("fec k + n > 16", sampleAssignTiered, "E_BAD_FIELD", "body.fec.n", (t) => body(t).set(8, [12, 5])),
    broken("unknown link algorithm", sampleAssignTiered, "E_BAD_FIELD", "body.parents[0].algorithm", (t) => {
      ((body(t).get(4) as unknown[][])[0] as unknown[])[3] = 7;
    }),
    broken("unknown role", sampleAssignTiered, "E_BAD_FIELD", "body.role", (t) => body(t).set(6, 0)),
    broken("part >= parts", sampleAssignTiered, "E_BAD_FIELD", "body.part", (t) => body(t).set(10, 2)),
    broken("more coded parents than fec.k + fec.n", sampleAssignTier2, "E_LIMIT", "body.parents", (t) =>
      body(t).set(8, [12, 1]),
    ),
  ],
});

await write("leave.json", {
  kind: "LEAVE",
  decoder: "control",
  valid: [control("shutdown, with an auth tag", sampleLeave), control("no auth", withoutAuth(sampleLeave))],
  invalid: [
    broken("unknown type", sampleLeave, "E_BAD_TYPE", "type", (t) => t.set(1, 11)),
    broken("unknown reason", sampleLeave, "E_BAD_FIELD", "body.reason", (t) => body(t).set(1, 7)),
    broken("65-byte auth", sampleLeave, "E_LIMIT", "auth", (t) => t.set(6, new Uint8Array(65))),
    broken("unknown keys are ignored, but body is required", sampleLeave, "E_BAD_FIELD", "body", (t) => {
      t.delete(5);
      t.set(17, "future");
    }),
    // v=1, type=LEAVE, sender=0, seq=0, ts=0, body {1: 0, 1: 0}
    { name: "duplicate body key", hex: "a6000101050200030004000" + "5a201000100", code: "E_BAD_CBOR" },
  ],
});

function withoutAuth(m: ControlMessage): ControlMessage {
  const copy = { ...m };
  delete copy.auth;
  return copy;
}

function dataCase(name: string, h: DataHeader, payload: Uint8Array): ValidCase {
  return { name, hex: hex(encodeData(h, payload)), value: toJson({ ...h, payload }) };
}

/** hexString with the bytes at byte offset `at` replaced by byteHex. */
const patchHex = (hexString: string, at: number, byteHex: string): string =>
  hexString.slice(0, at * 2) + byteHex + hexString.slice(at * 2 + byteHex.length);
const dataHex = hex(encodeData(sampleDataHeader, samplePayload(16)));
const patch = (at: number, byteHex: string): string => patchHex(dataHex, at, byteHex);
const fullHex = hex(encodeData(sampleDataHeader, samplePayload(1172)));

await write("data.json", {
  kind: "DATA",
  decoder: "data",
  valid: [
    dataCase("data packet, 16-byte payload", sampleDataHeader, samplePayload(16)),
    dataCase("META packet", sampleMetaHeader, encodeSegmentMeta(sampleMeta)),
    dataCase("END packet, empty payload", sampleEndHeader, new Uint8Array(0)),
    dataCase(
      "full-size packet",
      { ...sampleDataHeader, fecGroup: 2 ** 32 - 1, fecIndex: 255 },
      samplePayload(1172),
    ),
  ],
  invalid: [
    { name: "version 2", hex: patch(0, "02"), code: "E_BAD_VERSION", field: "version" },
    { name: "unknown flag 0x10", hex: patch(1, "10"), code: "E_BAD_FLAGS", field: "flags" },
    { name: "length says 17", hex: patch(2, "0011"), code: "E_BAD_LENGTH", field: "length" },
    { name: "substream 16", hex: patch(12, "10"), code: "E_BAD_FIELD", field: "substream" },
    { name: "reserved not 0", hex: patch(14, "0001"), code: "E_BAD_FIELD", field: "reserved" },
    { name: "27 bytes", hex: dataHex.slice(0, (DATA_HEADER_BYTES - 1) * 2), code: "E_TRUNCATED" },
    {
      name: "1201 bytes",
      hex: patchHex(fullHex, 2, "0495") + "00", // length 1173, consistent, but over the datagram limit
      code: "E_TOO_LARGE",
    },
  ],
});

const metaHex = hex(encodeSegmentMeta(sampleMeta));
const patchMeta = (at: number, byteHex: string): string => patchHex(metaHex, at, byteHex);
// Signed by sampleOriginKey for channel 3, like sampleMeta (test/protocol-vectors.test.ts verifies both).
const maxMeta = signSegmentMeta(
  3,
  {
    ...sampleMeta,
    segmentId: 2 ** 32 - 1,
    packetCount: 65_535,
    discontinuity: true,
    publishedAt: Number.MAX_SAFE_INTEGER,
  },
  sampleOriginKey.privateKey,
);

await write("segment-meta.json", {
  kind: "SEGMENT_META",
  decoder: "segment-meta",
  valid: [
    { name: "segment", hex: metaHex, value: toJson(sampleMeta) },
    { name: "discontinuity, max values", hex: hex(encodeSegmentMeta(maxMeta)), value: toJson(maxMeta) },
  ],
  invalid: [
    { name: "123 bytes", hex: metaHex.slice(0, -2), code: "E_TRUNCATED" },
    {
      name: "60 bytes (an unsigned META of the old layout)",
      hex: metaHex.slice(0, 120),
      code: "E_TRUNCATED",
    },
    { name: "125 bytes", hex: metaHex + "00", code: "E_BAD_LENGTH" },
    { name: "unknown flag 0x02", hex: patchMeta(18, "02"), code: "E_BAD_FLAGS", field: "flags" },
    { name: "reserved not 0", hex: patchMeta(19, "01"), code: "E_BAD_FIELD", field: "reserved" },
    { name: "publishedAt 2^53", hex: patchMeta(20, "00200000"), code: "E_BAD_FIELD", field: "publishedAt" },
  ],
});

const nackSeqs = [0xfffffffe, 0xffffffff, 0, 5, 1021];
const nackHex = hex(encodeNack(sampleDataHeader.channel, nackSeqs));
const patchNack = (at: number, byteHex: string): string => patchHex(nackHex, at, byteHex);

await write("nack.json", {
  kind: "NACK",
  decoder: "nack",
  valid: [
    {
      name: "one number",
      hex: hex(encodeNack(sampleDataHeader.channel, [77])),
      value: { channel: sampleDataHeader.channel, seqs: [77] },
    },
    {
      name: "five numbers across the u32 wrap",
      hex: nackHex,
      value: { channel: sampleDataHeader.channel, seqs: nackSeqs },
    },
  ],
  invalid: [
    { name: "NACK and META flags", hex: patchNack(1, "09"), code: "E_BAD_FLAGS", field: "flags" },
    { name: "segmentId not 0", hex: patchNack(23, "01"), code: "E_BAD_FIELD", field: "header" },
    { name: "base bit clear", hex: patchNack(28, "02"), code: "E_BAD_FIELD", field: "payload" },
    { name: "last bitmap byte 0", hex: patchNack(28 + 127, "00"), code: "E_BAD_FIELD", field: "payload" },
    {
      name: "empty bitmap",
      hex: patchNack(2, "0000").slice(0, 28 * 2),
      code: "E_BAD_LENGTH",
      field: "length",
    },
  ],
});
