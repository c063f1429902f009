/**
 * Control messages of wire v1: one CBOR map per UDP datagram (first byte 0xA0..0xBF,
 * which is how classifyDatagram tells them from data packets), at most 1200 bytes.
 *
 *   envelope map   0 v     u8    wire version, 1 (anything else: E_BAD_VERSION)
 *                  1 type  u8    MsgType: 1 JOIN, 2 JOIN_ACK, 3 HEARTBEAT, 4 ASSIGN, 5 LEAVE, 6 COOKIE,
 *                                7 RESUME, 8 RESUME_ACK, 9 HEARTBEAT_ACK, 10 REDIRECT (resume-codec.ts)
 *                  2 sender u32  node id, 0 = control (and a node before its JOIN_ACK)
 *                  3 seq   u32   per-sender sequence (HEARTBEAT: FIG. 9 Heartbeat Seq)
 *                  4 ts    uint  sender's clock, ms since the epoch (<= 2^53-1; 8-byte int when > 2^32-1)
 *                  5 body  map   per type, see control-bodies.ts
 *                  6? auth bstr  the last key: 64-byte Ed25519 signature (JOIN, JOIN_ACK) or 16-byte
 *                                session tag (HEARTBEAT, ASSIGN, LEAVE, RESUME, RESUME_ACK,
 *                                HEARTBEAT_ACK); see auth.ts
 *
 * e.g. LEAVE (channel 3, SHUTDOWN) from node 123457, seq 2^31+99, ts 1779021356789 (33 bytes):
 *   a6 00 01  01 05  02 1a 0001e241  03 1a 80000063  04 1b 0000019e35ef9ef5  05 a2 00 03 01 00
 *
 * Encoding: a HEARTBEAT_ACK (envelope-heartbeat.ts) and an ASSIGN (assign-writer.ts) are written
 * straight to their bytes, the bytes the general path (the checked CBOR tree, cbor.ts) writes;
 * anything those writers decline goes the general way, which names the fault.
 *
 * Decoding: a HEARTBEAT written the canonical way is read straight from its bytes
 * (envelope-heartbeat.ts: the same result, a fraction of the work); everything else, and any
 * HEARTBEAT that reader does not take, goes the general way: size limit first (E_EMPTY /
 * E_TOO_LARGE), then the CBOR subset scan (cbor.ts:
 * E_TRUNCATED / E_BAD_CBOR), then cbor-x, then the version (E_BAD_VERSION, before anything
 * else so a newer sender gets one clear error), the type (E_BAD_TYPE) and the fields
 * (E_BAD_FIELD for missing/mistyped/out-of-range, E_LIMIT for too many elements or bytes).
 * Unknown keys are ignored. decodeControl never throws.
 */
import { decodeCbor, encodeCbor, scanCbor } from "./cbor.js";
import {
  assignCodec,
  cookieCodec,
  heartbeatCodec,
  joinAckCodec,
  joinCodec,
  leaveCodec,
  wireUint,
  type BodyCodec,
} from "./control-bodies.js";
import { writeAssign } from "./assign-writer.js";
import { readHeartbeatDirect, writeHeartbeatAck } from "./envelope-heartbeat.js";
import { heartbeatAckCodec, redirectCodec, resumeAckCodec, resumeCodec } from "./resume-codec.js";
import { type DecodeResult, EncodeError, fail, ok } from "./errors.js";
import { FieldError, asMap, bytes, describe, need, u32, uSafe, within } from "./fields.js";
import { MAX_AUTH_BYTES, MAX_CONTROL_BYTES, WIRE_VERSION } from "./limits.js";
import { type ControlMessage, MsgType } from "./messages.js";

const BODY_CODECS: ReadonlyMap<number, BodyCodec<unknown>> = new Map<number, BodyCodec<never>>([
  [MsgType.JOIN, joinCodec as BodyCodec<never>],
  [MsgType.JOIN_ACK, joinAckCodec as BodyCodec<never>],
  [MsgType.HEARTBEAT, heartbeatCodec as BodyCodec<never>],
  [MsgType.ASSIGN, assignCodec as BodyCodec<never>],
  [MsgType.LEAVE, leaveCodec as BodyCodec<never>],
  [MsgType.COOKIE, cookieCodec as BodyCodec<never>],
  [MsgType.RESUME, resumeCodec as BodyCodec<never>],
  [MsgType.RESUME_ACK, resumeAckCodec as BodyCodec<never>],
  [MsgType.HEARTBEAT_ACK, heartbeatAckCodec as BodyCodec<never>],
  [MsgType.REDIRECT, redirectCodec as BodyCodec<never>],
]) as ReadonlyMap<number, BodyCodec<unknown>>;

/** CBOR bytes of a control message; throws EncodeError if a field breaks a limit or the result exceeds 1200 bytes. */
export function encodeControl(msg: ControlMessage): Buffer {
  // A HEARTBEAT_ACK (one per heartbeat) and an ASSIGN written straight to their bytes: the same bytes.
  const ack = msg.type === MsgType.HEARTBEAT_ACK ? writeHeartbeatAck(msg) : undefined;
  if (ack !== undefined) return ack;
  const buf = (msg.type === MsgType.ASSIGN ? writeAssign(msg) : undefined) ?? encodeCbor(controlTree(msg));
  if (buf.length > MAX_CONTROL_BYTES) {
    throw new EncodeError(`${MsgType[msg.type]} encodes to ${buf.length} bytes, limit ${MAX_CONTROL_BYTES}`);
  }
  return buf;
}

/** The CBOR tree encodeControl writes (its fields checked); throws EncodeError as encodeControl does. */
export function controlTree(msg: ControlMessage): Map<number, unknown> {
  try {
    return envelope(msg);
  } catch (e) {
    if (e instanceof FieldError) throw e.toEncodeError();
    throw e;
  }
}

function envelope(msg: ControlMessage): Map<number, unknown> {
  if (msg.v !== WIRE_VERSION)
    throw new FieldError("E_BAD_VERSION", `this encoder writes version ${WIRE_VERSION}`, "v");
  const codec = BODY_CODECS.get(msg.type);
  if (!codec) throw new FieldError("E_BAD_TYPE", `unknown message type ${describe(msg.type)}`, "type");
  const tree = new Map<number, unknown>([
    [0, WIRE_VERSION],
    [1, msg.type],
    [2, u32(msg.sender, "sender")],
    [3, u32(msg.seq, "seq")],
    [4, wireUint(uSafe(msg.ts, "ts"))],
    [5, within("body", () => codec.write(msg.body))],
  ]);
  if (msg.auth !== undefined) tree.set(6, bytes(msg.auth, "auth", MAX_AUTH_BYTES));
  return tree;
}

/** Decode one control datagram. Never throws: bad input comes back as { ok: false, error: DecodeError }. */
export function decodeControl(buf: Uint8Array): DecodeResult<ControlMessage> {
  // A HEARTBEAT as every encoder writes it: read straight from its bytes (envelope-heartbeat.ts),
  // the same message the general path gives; anything else takes the general path.
  if (buf[4] === MsgType.HEARTBEAT) {
    const hb = readHeartbeatDirect(buf);
    if (hb !== undefined) return ok(hb);
  }
  return decodeControlTree(buf);
}

/** decodeControl through the CBOR tree (scan, cbor-x, the field readers): every message, every fault named. */
export function decodeControlTree(buf: Uint8Array): DecodeResult<ControlMessage> {
  if (buf.length === 0) return fail("E_EMPTY", "empty datagram");
  if (buf.length > MAX_CONTROL_BYTES) {
    return fail("E_TOO_LARGE", `${buf.length} bytes, limit ${MAX_CONTROL_BYTES}`);
  }
  const bad = scanCbor(buf);
  if (bad) return fail(bad.code, bad.message);
  let tree: unknown;
  try {
    tree = decodeCbor(buf);
  } catch (e) {
    return fail("E_BAD_CBOR", `cbor: ${e instanceof Error ? e.message : "unreadable"}`);
  }
  try {
    return ok(readEnvelope(tree));
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.toDecodeError() };
    // Not reachable by construction; kept so that no input can make decodeControl throw.
    return fail("E_BAD_FIELD", `unexpected: ${e instanceof Error ? e.message : "error"}`);
  }
}

function readEnvelope(tree: unknown): ControlMessage {
  const m = asMap(tree, "envelope");
  const v = need(m, 0, "v");
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new FieldError("E_BAD_FIELD", `expected a version number, got ${describe(v)}`, "v");
  }
  if (v !== WIRE_VERSION) {
    throw new FieldError(
      "E_BAD_VERSION",
      `unsupported wire version ${v} (this node speaks ${WIRE_VERSION})`,
      "v",
    );
  }
  const type = need(m, 1, "type");
  const codec = typeof type === "number" ? BODY_CODECS.get(type) : undefined;
  if (!codec) throw new FieldError("E_BAD_TYPE", `unknown message type ${describe(type)}`, "type");
  const body = need(m, 5, "body");
  const msg = {
    v,
    type: type as MsgType,
    sender: u32(need(m, 2, "sender"), "sender"),
    seq: u32(need(m, 3, "seq"), "seq"),
    ts: uSafe(need(m, 4, "ts"), "ts"),
    body: within("body", () => codec.read(asMap(body, ""))),
  } as ControlMessage;
  const auth = m.get(6);
  if (auth !== undefined) msg.auth = new Uint8Array(bytes(auth, "auth", MAX_AUTH_BYTES));
  return msg;
}
