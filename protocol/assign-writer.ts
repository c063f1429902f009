/**
 * An ASSIGN written straight to its bytes (encodeControl's fast path; issue 13: control sends
 * hundreds of thousands of ASSIGNs in a flash crowd). The general path checks the body field by
 * field into a CBOR tree (assign-codec.ts: a Map for the body, an array per peer) and writes the
 * tree (cbor.ts); this checks the same fields and writes the same bytes in one pass, allocating
 * nothing but the result:
 *
 *   envelope  map(6|7) 00 01  01 04  02 <sender u32>  03 <seq u32>  04 <ts uSafe>  05 <body>  [06 <auth bstr>]
 *   body      map(n)  00 <channel u32>  01 <version u32>  02 <k>  03 <tier u8>  04 [parents]  05 [children]
 *                     [06 role] [07 cluster] [08 [fec.k, fec.n]] [09 [mesh]] [0c [parentHttpPorts]]
 *                     [0d epoch] [0a part 0b parts]
 *   parent    null | [node, ip bstr(4|16), port, (algorithm: when not TREE)]
 *   child     [node, ip bstr(4|16), port, substreams, (algorithm: when not TREE)]
 *   mesh      [node, ip bstr(4|16), port]
 *
 * integers in their shortest form, 8 bytes above 2^32 - 1 (as wireUint makes cbor.ts write them).
 * Anything the general path would refuse or write otherwise (a field out of range, a bad
 * address, -0, a value of the wrong type) is declined: writeAssign returns undefined and the
 * general path writes it or names the fault. What it returns is exactly the general path's bytes
 * (test/protocol-assign-writer.test.ts, on random and edge-case messages).
 *
 * The sizes of list elements (elementBytes) are what this writes for them; splitAssign
 * (assign-parts.ts) sizes parts by adding them up instead of encoding each candidate part.
 */
import { putUint as writeUint, uintSize } from "./cbor-uint.js";
import { FieldError } from "./fields.js";
import { ipToBytes } from "./ip-bytes.js";
import {
  MAX_ASSIGN_PARTS,
  MAX_AUTH_BYTES,
  MAX_CHILDREN,
  MAX_PARENTS,
  MAX_SUBSTREAMS,
  WIRE_VERSION,
} from "./limits.js";
import { type AssignBody, type ControlMessage, LinkAlgorithm, MsgType, TierRole } from "./messages.js";

// LinkAlgorithm's and TierRole's values as plain constants (an enum member is a property load).
const TREE = LinkAlgorithm.TREE;
const FLOOD = LinkAlgorithm.FLOOD;
const FEC_TREE = LinkAlgorithm.FEC_TREE;
const ROLE_MIN = TierRole.ORIGIN;
const ROLE_MAX = TierRole.TIER4;
const ASSIGN = MsgType.ASSIGN;

// The limits as module constants too.
const AUTH_MAX = MAX_AUTH_BYTES;
const CHILDREN_MAX = MAX_CHILDREN;
const PARENTS_MAX = MAX_PARENTS;
const SUBSTREAMS = MAX_SUBSTREAMS;
const PARTS_MAX = MAX_ASSIGN_PARTS;

const U8_MAX = 0xff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/** n when it is an integer in min..max other than -0 (which the general path hands to cbor-x); else -1. */
function intIn(n: unknown, min: number, max: number): number {
  if (typeof n !== "number" || !(n >= min && n <= max) || !Number.isInteger(n)) return -1;
  return n === 0 && 1 / n < 0 ? -1 : n;
}

/** An address's 4 or 16 bytes; undefined when it is not an IPv4 or IPv6 literal. */
function addressOf(a: unknown): Uint8Array | undefined {
  if (typeof a !== "string") return undefined;
  try {
    return ipToBytes(a, "address");
  } catch (e) {
    if (e instanceof FieldError) return undefined;
    throw e;
  }
}

type Fec = { k: number; n: number } | undefined;

/** The checked fec of a body: undefined when absent, null when declined. */
function fecOf(b: AssignBody): Fec | null {
  const f: unknown = b.fec;
  if (f === undefined) return undefined;
  if (f === null || typeof f !== "object") return null;
  const k = intIn((f as { k?: unknown }).k, 1, SUBSTREAMS - 1);
  if (k < 0) return null;
  const n = intIn((f as { n?: unknown }).n, 0, SUBSTREAMS - k);
  if (n < 0) return null;
  return { k, n };
}

/**
 * A peer's fields, checked: node, port and address bytes in `peer`; the byte count of
 * `[node, ip, port]` without its array header; -1 when declined.
 */
const peer: { node: number; port: number; ip: Uint8Array } = { node: 0, port: 0, ip: new Uint8Array(0) };
function checkPeer(v: unknown): number {
  if (v === null || typeof v !== "object") return -1;
  const p = v as { node?: unknown; address?: unknown; port?: unknown };
  const node = intIn(p.node, 0, U32_MAX);
  const port = intIn(p.port, 1, U16_MAX);
  if (node < 0 || port < 0) return -1;
  const ip = addressOf(p.address);
  if (ip === undefined) return -1;
  peer.node = node;
  peer.port = port;
  peer.ip = ip;
  return uintSize(node) + 1 + ip.length + uintSize(port);
}

/** A link's algorithm: 0 TREE (absent, or -0), 1, 2; -1 when declined. */
function algorithmOf(v: unknown): number {
  const alg = (v as { algorithm?: unknown }).algorithm;
  if (alg === undefined || alg === TREE) return TREE;
  return alg === FLOOD || alg === FEC_TREE ? alg : -1;
}

/** The checked link of a child: mask and algorithm, beside `peer`; its bytes (array header included) or -1. */
const child = { mask: 0, alg: 0 };
function checkChild(v: unknown, k: number, fec: Fec): number {
  const size = checkPeer(v);
  if (size < 0) return -1;
  const alg = algorithmOf(v);
  if (alg < 0) return -1;
  let bits = k;
  if (alg === FEC_TREE) {
    if (fec === undefined) return -1;
    bits = fec.k + fec.n;
  }
  const mask = intIn((v as { substreams?: unknown }).substreams, 0, U16_MAX);
  // bits <= 16 and mask <= 0xffff: no bit at or above `bits`.
  if (mask < 0 || mask >>> bits !== 0) return -1;
  child.mask = mask;
  child.alg = alg;
  return 1 + size + uintSize(mask) + (alg === TREE ? 0 : 1);
}

/**
 * The bytes each of `body`'s children, then each of its mesh neighbours, takes (array header
 * included), as this writes them in an ASSIGN with the body's k and fec; undefined when the
 * writer declines any of them, or k or fec (the general path then decides).
 */
export function elementBytes(body: AssignBody): number[] | undefined {
  const k = intIn(body.k, 1, SUBSTREAMS);
  const fec = fecOf(body);
  const { children } = body;
  const mesh: unknown = body.mesh ?? [];
  if (k < 0 || fec === null || !Array.isArray(children) || !Array.isArray(mesh)) return undefined;
  const sizes = new Array<number>(children.length + mesh.length);
  for (let i = 0; i < children.length; i++) {
    const size = checkChild(children[i], k, fec);
    if (size < 0) return undefined;
    sizes[i] = size;
  }
  for (let i = 0; i < mesh.length; i++) {
    const size = checkPeer(mesh[i]);
    if (size < 0) return undefined;
    sizes[children.length + i] = 1 + size;
  }
  return sizes;
}

// ---------------------------------------------------------------- the writer

/** Scratch the message is written into, then copied out of; the largest ASSIGN the checks admit fits. */
const out = Buffer.allocUnsafe(16_384);
let at = 0;

function putUint(n: number): void {
  at = writeUint(out, at, n);
}

/** An array header (lists here hold at most 64 elements, compact arrays 5). */
function putArray(n: number): void {
  if (n < 24) out[at++] = 0x80 + n;
  else {
    out[at++] = 0x98;
    out[at++] = n;
  }
}

function putBytes(b: Uint8Array): void {
  if (b.length < 24) out[at++] = 0x40 + b.length;
  else {
    out[at++] = 0x58;
    out[at++] = b.length;
  }
  out.set(b, at);
  at += b.length;
}

/** [node, ip, port of `peer`] without the array header. */
function putPeer(): void {
  putUint(peer.node);
  putBytes(peer.ip);
  putUint(peer.port);
}

/** The body at `at`; false when declined (what was written is then garbage). */
function putBody(b: AssignBody): boolean {
  const k = intIn(b.k, 1, SUBSTREAMS);
  const fec = fecOf(b);
  if (k < 0 || fec === null) return false;
  const slots = fec === undefined ? k : Math.max(k, fec.k + fec.n);
  const channel = intIn(b.channel, 0, U32_MAX);
  const version = intIn(b.version, 0, U32_MAX);
  const tier = intIn(b.tier, 0, U8_MAX);
  if (channel < 0 || version < 0 || tier < 0) return false;
  const { parents, children } = b;
  if (!Array.isArray(parents) || parents.length > slots) return false;
  if (!Array.isArray(children) || children.length > CHILDREN_MAX) return false;
  const role = b.role === undefined ? undefined : intIn(b.role, ROLE_MIN, ROLE_MAX);
  const cluster = b.cluster === undefined ? undefined : intIn(b.cluster, 0, U32_MAX);
  const mesh: unknown = b.mesh;
  if (mesh !== undefined && (!Array.isArray(mesh) || mesh.length > CHILDREN_MAX)) return false;
  const ports: unknown = b.parentHttpPorts;
  if (ports !== undefined && (!Array.isArray(ports) || ports.length > PARENTS_MAX)) return false;
  if (ports !== undefined && (ports as unknown[]).length !== parents.length) return false;
  const epoch = b.epoch === undefined ? undefined : intIn(b.epoch, 0, Number.MAX_SAFE_INTEGER);
  if (role === -1 || cluster === -1 || epoch === -1) return false;
  let parts = -1;
  let part = -1;
  if (b.part !== undefined || b.parts !== undefined) {
    parts = intIn(b.parts ?? 1, 1, PARTS_MAX);
    if (parts < 0) return false;
    part = intIn(b.part ?? 0, 0, parts - 1);
    if (part < 0) return false;
  }
  const entries =
    6 +
    (role === undefined ? 0 : 1) +
    (cluster === undefined ? 0 : 1) +
    (fec === undefined ? 0 : 1) +
    (mesh === undefined ? 0 : 1) +
    (ports === undefined ? 0 : 1) +
    (epoch === undefined ? 0 : 1) +
    (parts < 0 ? 0 : 2);
  out[at++] = 0xa0 + entries;
  out[at++] = 0x00;
  putUint(channel);
  out[at++] = 0x01;
  putUint(version);
  out[at++] = 0x02;
  out[at++] = k;
  out[at++] = 0x03;
  putUint(tier);
  out[at++] = 0x04;
  putArray(parents.length);
  for (let i = 0; i < parents.length; i++) {
    const p: unknown = parents[i];
    if (p === null) {
      out[at++] = 0xf6;
      continue;
    }
    if (checkPeer(p) < 0) return false;
    const alg = algorithmOf(p);
    if (alg < 0) return false;
    putArray(alg === TREE ? 3 : 4);
    putPeer();
    if (alg !== TREE) out[at++] = alg;
  }
  out[at++] = 0x05;
  putArray(children.length);
  for (let i = 0; i < children.length; i++) {
    if (checkChild(children[i], k, fec) < 0) return false;
    const coded = child.alg !== TREE;
    putArray(coded ? 5 : 4);
    putPeer();
    putUint(child.mask);
    if (coded) out[at++] = child.alg;
  }
  if (role !== undefined) {
    out[at++] = 0x06;
    out[at++] = role;
  }
  if (cluster !== undefined) {
    out[at++] = 0x07;
    putUint(cluster);
  }
  if (fec !== undefined) {
    out[at++] = 0x08;
    out[at++] = 0x82;
    out[at++] = fec.k;
    out[at++] = fec.n;
  }
  if (mesh !== undefined) {
    const m = mesh as unknown[];
    out[at++] = 0x09;
    putArray(m.length);
    for (let i = 0; i < m.length; i++) {
      if (checkPeer(m[i]) < 0) return false;
      out[at++] = 0x83;
      putPeer();
    }
  }
  if (ports !== undefined) {
    const list = ports as unknown[];
    out[at++] = 0x0c;
    putArray(list.length);
    for (let i = 0; i < list.length; i++) {
      const port = intIn(list[i], 0, U16_MAX);
      if (port < 0) return false;
      putUint(port);
    }
  }
  if (epoch !== undefined) {
    out[at++] = 0x0d;
    putUint(epoch);
  }
  if (parts >= 0) {
    out[at++] = 0x0a;
    putUint(part);
    out[at++] = 0x0b;
    putUint(parts);
  }
  return true;
}

/**
 * An ASSIGN written straight to its bytes: exactly encodeControl's general path's bytes, before
 * its size check (the caller checks the limit); undefined for anything else (another type, a
 * field the general path refuses or writes otherwise).
 */
export function writeAssign(msg: ControlMessage): Buffer | undefined {
  if (!put(msg)) return undefined;
  const buf = Buffer.allocUnsafe(at);
  out.copy(buf, 0, 0, at);
  return buf;
}

/** The byte count writeAssign gives `msg` (written, then dropped: nothing allocated); -1 when it declines. */
export function assignLength(msg: ControlMessage): number {
  return put(msg) ? at : -1;
}

/** `msg` written into the scratch, `at` bytes; false when declined. */
function put(msg: ControlMessage): boolean {
  if (msg.type !== ASSIGN || msg.v !== WIRE_VERSION) return false;
  const body: unknown = msg.body;
  if (body === null || typeof body !== "object") return false;
  const sender = intIn(msg.sender, 0, U32_MAX);
  const seq = intIn(msg.seq, 0, U32_MAX);
  const ts = intIn(msg.ts, 0, Number.MAX_SAFE_INTEGER);
  if (sender < 0 || seq < 0 || ts < 0) return false;
  const auth: unknown = msg.auth;
  if (auth !== undefined && (!(auth instanceof Uint8Array) || auth.length > AUTH_MAX)) return false;
  at = 0;
  out[at++] = auth === undefined ? 0xa6 : 0xa7;
  out[at++] = 0x00;
  out[at++] = WIRE_VERSION;
  out[at++] = 0x01;
  out[at++] = ASSIGN;
  out[at++] = 0x02;
  putUint(sender);
  out[at++] = 0x03;
  putUint(seq);
  out[at++] = 0x04;
  putUint(ts);
  out[at++] = 0x05;
  if (!putBody(body as AssignBody)) return false;
  if (auth !== undefined) {
    out[at++] = 0x06;
    putBytes(auth as Uint8Array);
  }
  return true;
}
