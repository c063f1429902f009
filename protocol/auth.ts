/**
 * Authentication of control messages over their exact bytes (docs/security.md).
 *
 * The envelope's key 6 (`auth`) is written last, so an authenticated datagram ends with
 *
 *   ... 06 50 <16-byte tag>            session messages: HMAC-SHA256 truncated to 16 bytes
 *   ... 06 58 40 <64-byte signature>   handshake messages: Ed25519
 *
 * and the tag or signature covers every byte before it (the map header with its entry count,
 * the envelope, the body, and the `06 50` that announces the tag). A datagram whose auth field
 * is not last, or not of the expected length, does not authenticate. The envelope's `seq` is
 * the message counter the receiver checks against a ReplayWindow (replay-window.ts) once the
 * tag verifies.
 *
 * Signatures carry a context: a domain-separation label and what the message is bound to
 * (for a JOIN, control's public key; for a JOIN_ACK, the hash of the JOIN it answers).
 * Nothing here throws on bad input: a check returns false.
 */
import { createHmac, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from "node:crypto";
import { encodeControl } from "./control-codec.js";
import { EncodeError } from "./errors.js";
import { MAX_CONTROL_BYTES, PUBLIC_KEY_BYTES, SESSION_TAG_BYTES } from "./limits.js";
import { type ControlMessage, MsgType } from "./messages.js";

export { PUBLIC_KEY_BYTES };

/** Session tag: HMAC-SHA256 truncated to 128 bits. */
export const TAG_BYTES = SESSION_TAG_BYTES;
export const SIGNATURE_BYTES = 64;
/** Session keys (HMAC keys), bytes. */
export const SESSION_KEY_BYTES = 32;

/** The bytes that end an envelope before its auth value: key 6, then the bstr header. */
const TAG_HEADER = Uint8Array.of(0x06, 0x50);
const SIGNATURE_HEADER = Uint8Array.of(0x06, 0x58, 0x40);

/**
 * Encodes `msg` with a session tag made with `key` (32 bytes). Throws EncodeError like encodeControl.
 *
 * The bytes are encodeControl's for `msg` with `auth` set to the tag: the envelope without auth,
 * its map header counting one entry more, then `06 50` and the tag (auth is the envelope's last
 * key). Encoding without the auth value and appending it is what makes a tagged message cost
 * little more than an untagged one: it is sent once per heartbeat (HEARTBEAT_ACK).
 */
export function encodeTagged(msg: ControlMessage, key: Uint8Array): Buffer {
  let plain: ControlMessage = msg;
  if (msg.auth !== undefined) {
    const { auth: _auth, ...rest } = msg;
    plain = rest as ControlMessage;
  }
  const body = encodeControl(plain);
  const head = body[0]!;
  // A map of fewer than 23 entries has its count in its first byte (0xa0 + n): one more fits.
  if (head < 0xa0 || head >= 0xb7) return encodeTaggedSlow(msg, key);
  const length = body.length + TAG_HEADER.length + TAG_BYTES;
  if (length > MAX_CONTROL_BYTES)
    throw new EncodeError(`${MsgType[msg.type]} encodes to ${length} bytes, limit ${MAX_CONTROL_BYTES}`);
  const buf = Buffer.allocUnsafe(length);
  body.copy(buf, 0);
  buf[0] = head + 1;
  const at = body.length + TAG_HEADER.length;
  buf.set(TAG_HEADER, body.length);
  hmac(key, buf.subarray(0, at)).copy(buf, at, 0, TAG_BYTES);
  return buf;
}

/** encodeTagged through the codec with a placeholder tag (an envelope whose header is not one byte). */
function encodeTaggedSlow(msg: ControlMessage, key: Uint8Array): Buffer {
  const buf = encodeControl({ ...msg, auth: new Uint8Array(TAG_BYTES) });
  const at = buf.length - TAG_BYTES;
  hmac(key, buf.subarray(0, at)).copy(buf, at, 0, TAG_BYTES);
  return buf;
}

/** True when `buf` ends with a session tag that `key` made over the bytes before it. */
export function checkTag(buf: Uint8Array, key: Uint8Array): boolean {
  const at = authOffset(buf, TAG_HEADER, TAG_BYTES);
  if (at === undefined) return false;
  const want = hmac(key, buf.subarray(0, at)).subarray(0, TAG_BYTES);
  return timingSafeEqual(want, buf.subarray(at));
}

/** Encodes `msg` signed with an Ed25519 private key over `context` and the message bytes. */
export function encodeSigned(msg: ControlMessage, privateKey: KeyObject, context: Uint8Array): Buffer {
  const buf = encodeControl({ ...msg, auth: new Uint8Array(SIGNATURE_BYTES) });
  const at = buf.length - SIGNATURE_BYTES;
  const sig = sign(null, Buffer.concat([context, buf.subarray(0, at)]), privateKey);
  sig.copy(buf, at);
  return buf;
}

/** True when `buf` ends with an Ed25519 signature by `publicKey` over `context` and the bytes before it. */
export function checkSignature(buf: Uint8Array, publicKey: KeyObject, context: Uint8Array): boolean {
  const at = authOffset(buf, SIGNATURE_HEADER, SIGNATURE_BYTES);
  if (at === undefined) return false;
  try {
    return verify(null, Buffer.concat([context, buf.subarray(0, at)]), publicKey, buf.subarray(at));
  } catch {
    return false;
  }
}

/** Offset of the auth value when `buf` ends with `header` and `length` bytes of it. */
function authOffset(buf: Uint8Array, header: Uint8Array, length: number): number | undefined {
  const at = buf.length - length;
  const h = at - header.length;
  if (h < 1) return undefined;
  for (let i = 0; i < header.length; i++) if (buf[h + i] !== header[i]) return undefined;
  return at;
}

function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** A raw 32-byte Ed25519 public key as a KeyObject; undefined when it is not one. */
export function ed25519Key(raw: Uint8Array): KeyObject | undefined {
  return rawKey(raw, "Ed25519");
}

/** A raw 32-byte X25519 public key as a KeyObject; undefined when it is not one. */
export function x25519Key(raw: Uint8Array): KeyObject | undefined {
  return rawKey(raw, "X25519");
}

/**
 * Imported as a JWK (RFC 8037 OKP: the raw key, base64url), not as DER SPKI: the same key,
 * and OpenSSL 3's DER decoder costs about 15 times as much (one per JOIN and JOIN_ACK).
 */
function rawKey(raw: Uint8Array, crv: "Ed25519" | "X25519"): KeyObject | undefined {
  if (!(raw instanceof Uint8Array) || raw.length !== PUBLIC_KEY_BYTES) return undefined;
  try {
    const x = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString("base64url");
    return createPublicKey({ key: { kty: "OKP", crv, x }, format: "jwk" });
  } catch {
    return undefined;
  }
}

/**
 * The raw 32 bytes of an Ed25519 or X25519 public (or private: its public half) KeyObject.
 * Exported as DER SPKI, not as JWK: on Node 20 (20.20.2 here) `export({ format: "jwk" })` of a
 * key from generateKeyPairSync deadlocks when a garbage collection during the export finalizes
 * that key's generation job (ExportJWKEdKey -> GC -> ~KeyGenJob -> uv_mutex_lock). Used once
 * per identity; the per-JOIN ephemeral key gets its public half from the generation itself
 * (handshake.ts).
 */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const type = key.asymmetricKeyType;
  if (type !== "ed25519" && type !== "x25519") {
    throw new TypeError(`not an Ed25519 or X25519 key: ${type ?? key.type}`);
  }
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - PUBLIC_KEY_BYTES));
}
