/**
 * A HEARTBEAT read straight from its bytes (decodeControl's fast path; issue 13: control decodes
 * every node's heartbeat every interval). The general path scans the datagram (cbor.ts), builds
 * the CBOR tree with cbor-x (a Map per map, an array per array) and reads the message from the
 * tree; this reads the one layout every encoder of wire v1 writes, in one pass over the bytes,
 * and builds only the message:
 *
 *   envelope  map(6|7) 00 01  01 03  02 <sender u32>  03 <seq u32>  04 <ts uSafe>  05 <body>  [06 50 <16-byte tag>]
 *   body      map(7)  00 <channel u32>  01 <assignVersion u32>  02 [parents]  03 [children]
 *                     04 [buffers u16]  05 [resources]  06 <newestSegment u32>
 *   link      [node u32, ageMs u16, lastSeq u16]  or  [..., suspect 0|1]; a parent may be null
 *   resources [uploadKbps u32, nat, cacheBytes uSafe, cpuPct u16, rssMB u16, (loss u8 | null), (shed u8)]
 *
 * every integer unsigned, of any argument width. Anything else — another order, unknown keys,
 * floats, an auth field that is not a 16-byte session tag, more elements than the limits, bytes
 * left over — returns undefined and the general path decides (and names the fault). What this
 * returns is exactly what the general path returns for the same bytes
 * (test/protocol-envelope-heartbeat.test.ts holds both to it, on random and corrupted datagrams).
 * Untrusted bytes: every read is bounded by the datagram, nothing throws, nothing is allocated
 * beyond the message (its `auth` is a view of the datagram's tag, not a copy).
 */
import { putUint, uintSize } from "./cbor-uint.js";
import {
  MAX_CHILDREN,
  MAX_CONTROL_BYTES,
  MAX_PARENTS,
  MAX_SUBSTREAMS,
  SESSION_TAG_BYTES,
  WIRE_VERSION,
} from "./limits.js";
import {
  type ControlMessage,
  type HeartbeatBody,
  type LinkState,
  MsgType,
  type NatType,
  type Resources,
} from "./messages.js";

const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** NatType's values: 0..5. */
const NAT_MAX = 5;

/** The reader's position in the datagram; -1 once something did not fit the layout. */
let buf: Uint8Array = new Uint8Array(0);
let at = 0;

/** An unsigned integer item at `at` (any width) no greater than `max`; -1 when it is not one. */
function uint(max: number): number {
  if (at >= buf.length) return -1;
  const b = buf[at]!;
  let v: number;
  if (b < 0x18) {
    v = b;
    at += 1;
  } else if (b === 0x18) {
    if (at + 2 > buf.length) return -1;
    v = buf[at + 1]!;
    at += 2;
  } else if (b === 0x19) {
    if (at + 3 > buf.length) return -1;
    v = (buf[at + 1]! << 8) | buf[at + 2]!;
    at += 3;
  } else if (b === 0x1a) {
    if (at + 5 > buf.length) return -1;
    v = ((buf[at + 1]! << 24) | (buf[at + 2]! << 16) | (buf[at + 3]! << 8) | buf[at + 4]!) >>> 0;
    at += 5;
  } else if (b === 0x1b) {
    if (at + 9 > buf.length) return -1;
    const hi = ((buf[at + 1]! << 24) | (buf[at + 2]! << 16) | (buf[at + 3]! << 8) | buf[at + 4]!) >>> 0;
    const lo = ((buf[at + 5]! << 24) | (buf[at + 6]! << 16) | (buf[at + 7]! << 8) | buf[at + 8]!) >>> 0;
    // Above 2^53 - 1 a number is not exact: no field takes it.
    if (hi >= 0x200000) return -1;
    v = hi * 0x100000000 + lo;
    at += 9;
  } else return -1;
  return v <= max ? v : -1;
}

/** The byte at `at` is `b`: consumed. */
function is(b: number): boolean {
  if (buf[at] !== b) return false;
  at++;
  return true;
}

/** An array header (major 4, definite) of at most `max` elements at `at`; -1 otherwise. */
function arrayOf(max: number): number {
  const b = buf[at];
  if (b === undefined) return -1;
  let n: number;
  if (b >= 0x80 && b < 0x98) {
    n = b - 0x80;
    at += 1;
  } else if (b === 0x98 && at + 1 < buf.length) {
    n = buf[at + 1]!;
    at += 2;
  } else return -1;
  return n <= max ? n : -1;
}

function link(): LinkState | undefined {
  const n = arrayOf(4);
  if (n < 3) return undefined;
  const node = uint(U32_MAX);
  const ageMs = uint(U16_MAX);
  const lastSeq = uint(U16_MAX);
  if (node < 0 || ageMs < 0 || lastSeq < 0) return undefined;
  if (n === 3) return { node, ageMs, lastSeq };
  const suspect = uint(1);
  if (suspect < 0) return undefined;
  return suspect === 0 ? { node, ageMs, lastSeq } : { node, ageMs, lastSeq, suspect: true };
}

function resources(): Resources | undefined {
  const n = arrayOf(7);
  if (n < 5) return undefined;
  const uploadKbps = uint(U32_MAX);
  const nat = uint(NAT_MAX);
  const cacheBytes = uint(Number.MAX_SAFE_INTEGER);
  const cpuPct = uint(U16_MAX);
  const rssMB = uint(U16_MAX);
  if (uploadKbps < 0 || nat < 0 || cacheBytes < 0 || cpuPct < 0 || rssMB < 0) return undefined;
  const r: Resources = { uploadKbps, nat: nat as NatType, cacheBytes, cpuPct, rssMB };
  if (n >= 6 && !is(0xf6)) {
    const loss = uint(0xff);
    if (loss < 0) return undefined;
    r.loss = loss / 255;
  }
  if (n === 7) {
    const shed = uint(0xff);
    if (shed < 0) return undefined;
    r.shed = shed;
  }
  return r;
}

function body(): HeartbeatBody | undefined {
  if (!is(0xa7) || !is(0x00)) return undefined;
  const channel = uint(U32_MAX);
  if (channel < 0 || !is(0x01)) return undefined;
  const assignVersion = uint(U32_MAX);
  if (assignVersion < 0 || !is(0x02)) return undefined;
  const np = arrayOf(MAX_PARENTS);
  if (np < 0) return undefined;
  const parents = new Array<LinkState | null>(np);
  for (let i = 0; i < np; i++) {
    if (is(0xf6)) parents[i] = null;
    else {
      const l = link();
      if (l === undefined) return undefined;
      parents[i] = l;
    }
  }
  if (!is(0x03)) return undefined;
  const nc = arrayOf(MAX_CHILDREN);
  if (nc < 0) return undefined;
  const children = new Array<LinkState>(nc);
  for (let i = 0; i < nc; i++) {
    const l = link();
    if (l === undefined) return undefined;
    children[i] = l;
  }
  if (!is(0x04)) return undefined;
  const nb = arrayOf(MAX_SUBSTREAMS);
  if (nb < 0) return undefined;
  const buffers = new Array<number>(nb);
  for (let i = 0; i < nb; i++) {
    const s = uint(U16_MAX);
    if (s < 0) return undefined;
    buffers[i] = s;
  }
  if (!is(0x05)) return undefined;
  const r = resources();
  if (r === undefined || !is(0x06)) return undefined;
  const newestSegment = uint(U32_MAX);
  if (newestSegment < 0) return undefined;
  return { channel, assignVersion, parents, children, buffers, resources: r, newestSegment };
}

function envelope(): ControlMessage | undefined {
  const entries = buf[0];
  if ((entries !== 0xa6 && entries !== 0xa7) || buf[1] !== 0x00 || buf[2] !== WIRE_VERSION) return undefined;
  if (buf[3] !== 0x01 || buf[4] !== MsgType.HEARTBEAT || buf[5] !== 0x02) return undefined;
  at = 6;
  const sender = uint(U32_MAX);
  if (sender < 0 || !is(0x03)) return undefined;
  const seq = uint(U32_MAX);
  if (seq < 0 || !is(0x04)) return undefined;
  const ts = uint(Number.MAX_SAFE_INTEGER);
  if (ts < 0 || !is(0x05)) return undefined;
  const b = body();
  if (b === undefined) return undefined;
  const msg = { v: WIRE_VERSION, type: MsgType.HEARTBEAT, sender, seq, ts, body: b } as ControlMessage;
  if (entries === 0xa7) {
    if (!is(0x06) || !is(0x40 + SESSION_TAG_BYTES) || at + SESSION_TAG_BYTES !== buf.length) return undefined;
    // A view of the datagram's tag, not a copy (a copy is an ArrayBuffer per heartbeat): the
    // tag is checked over the datagram's own bytes, and nothing writes to either.
    msg.auth = new Uint8Array(buf.buffer, buf.byteOffset + at, SESSION_TAG_BYTES);
    at += SESSION_TAG_BYTES;
  }
  return at === buf.length ? msg : undefined;
}

/** The HEARTBEAT in `data` when it is written the canonical way (above); undefined otherwise. */
export function readHeartbeatDirect(data: Uint8Array): ControlMessage | undefined {
  if (data.length === 0 || data.length > MAX_CONTROL_BYTES) return undefined;
  buf = data;
  try {
    return envelope();
  } finally {
    buf = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);

/** -0 is left to the general path (its writer hands -0 to cbor-x). */
const isU32 = (n: unknown): n is number =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= U32_MAX && !Object.is(n, -0);
const isUSafe = (n: unknown): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0);

/**
 * A HEARTBEAT_ACK without auth written straight to its bytes — control sends one per heartbeat
 * (encodeTagged encodes it, then appends the tag) — exactly the bytes encodeControl's general
 * path writes (test/protocol-envelope-heartbeat.test.ts); undefined for anything else (another
 * type, an auth field, a field out of range: the general path then writes it or names the fault).
 */
export function writeHeartbeatAck(msg: ControlMessage): Buffer | undefined {
  if (msg.type !== MsgType.HEARTBEAT_ACK || msg.v !== WIRE_VERSION || msg.auth !== undefined)
    return undefined;
  const { sender, seq, ts } = msg;
  const epoch = msg.body.epoch;
  if (!isU32(sender) || !isU32(seq) || !isUSafe(ts)) return undefined;
  if (epoch !== undefined && !isUSafe(epoch)) return undefined;
  // map(6) 00 01 01 09 02 sender 03 seq 04 ts 05 body
  const body = epoch === undefined ? 1 : 2 + uintSize(epoch);
  const out = Buffer.allocUnsafe(9 + uintSize(sender) + uintSize(seq) + uintSize(ts) + body);
  out[0] = 0xa6;
  out[1] = 0x00;
  out[2] = WIRE_VERSION;
  out[3] = 0x01;
  out[4] = MsgType.HEARTBEAT_ACK;
  out[5] = 0x02;
  let at = putUint(out, 6, sender);
  out[at++] = 0x03;
  at = putUint(out, at, seq);
  out[at++] = 0x04;
  at = putUint(out, at, ts);
  out[at++] = 0x05;
  if (epoch === undefined) out[at++] = 0xa0;
  else {
    out[at++] = 0xa1;
    out[at++] = 0x00;
    at = putUint(out, at, epoch);
  }
  return out;
}
