/**
 * SegmentMeta: the payload of a FLAG_META data packet, fixed binary, big-endian, 124 bytes: the
 * segment's fields (60 bytes), then the origin's signature over them (64 bytes).
 *
 *   offset size field
 *    0     u32  segmentId
 *    4     u32  durationMs
 *    8     u32  totalBytes     bytes in the whole segment
 *   12     u32  firstSeq       channel seq of the segment's first data packet
 *   16     u16  packetCount    data packets in the segment (META packets not counted)
 *   18     u8   flags          bit 0 discontinuity; other bits must be 0 (E_BAD_FLAGS)
 *   19     u8   reserved       0 in v1
 *   20     u64  publishedAt    origin wall clock, ms since the epoch; <= 2^53-1
 *   28     32   sha256         of the whole segment
 *   60     64   signature      Ed25519 (RFC 8032) by the channel's origin key over
 *                              "tiercast-meta-v1" (16 ASCII bytes) || u32 channel || bytes 0..59
 *  124
 *
 * The channel id (the data header's, ChannelInfo.id) is signed but not carried: a META cannot be
 * replayed into another channel. The agent learns the channel's origin key from control
 * (ChannelInfo.originKey) and takes a META only once verifySegmentMeta says "valid".
 *
 * decodeSegmentMeta never throws and does not look at the signature (it has no key); the sha256
 * and signature it returns are copies, not views. verifySegmentMeta never throws on any bytes or
 * key, and builds a key's KeyObject once (a small cache), not per call.
 */
import { sign, verify, type KeyObject } from "node:crypto";
import { ed25519Key } from "./auth.js";
import { type DecodeResult, fail, ok } from "./errors.js";
import { FieldError, u16, u32, uSafe } from "./fields.js";
import { readU32 } from "./data-codec.js";
import {
  META_SIGNATURE_BYTES,
  ORIGIN_KEY_BYTES,
  SEGMENT_META_BYTES,
  SEGMENT_META_FIELDS_BYTES,
} from "./limits.js";
import type { SegmentMeta, SegmentMetaFields } from "./messages.js";

export const SHA256_BYTES = 32;
const FLAG_DISCONTINUITY = 0x01;
/** publishedAt's high word: at most 2^21 - 1 so that the value stays a safe integer. */
const MAX_SAFE_HIGH_WORD = 0x1fffff;
/** Domain separation: these signatures can never be mistaken for any other tiercast signature. */
export const META_SIGNING_CONTEXT = Buffer.from("tiercast-meta-v1", "ascii");
/**
 * HTTP header of the origin's fallback with each segment or chunk: base64 of its signed META
 * payload (SEGMENT_META_BYTES), checked by agents like a META that came by UDP.
 */
export const META_HEADER = "x-tiercast-meta";
/** Length of that header's value: base64 of SEGMENT_META_BYTES, padded. */
export const SEGMENT_META_BYTES_BASE64 = Math.ceil(SEGMENT_META_BYTES / 3) * 4;
/** SubjectPublicKeyInfo DER of an Ed25519 key, before its 32 raw bytes (RFC 8410). */
/** The 60 signed bytes of a META. Throws EncodeError for a field out of range. */
export function encodeMetaFields(m: SegmentMetaFields): Buffer {
  try {
    u32(m.segmentId, "segmentId");
    u32(m.durationMs, "durationMs");
    u32(m.totalBytes, "totalBytes");
    u32(m.firstSeq, "firstSeq");
    u16(m.packetCount, "packetCount");
    uSafe(m.publishedAt, "publishedAt");
    if (typeof m.discontinuity !== "boolean")
      throw new FieldError("E_BAD_FIELD", "expected a boolean", "discontinuity");
    if (!(m.sha256 instanceof Uint8Array) || m.sha256.length !== SHA256_BYTES) {
      throw new FieldError("E_BAD_FIELD", `expected ${SHA256_BYTES} bytes`, "sha256");
    }
  } catch (e) {
    if (e instanceof FieldError) throw e.toEncodeError();
    throw e;
  }
  const buf = Buffer.allocUnsafe(SEGMENT_META_FIELDS_BYTES);
  buf.writeUInt32BE(m.segmentId, 0);
  buf.writeUInt32BE(m.durationMs, 4);
  buf.writeUInt32BE(m.totalBytes, 8);
  buf.writeUInt32BE(m.firstSeq, 12);
  buf.writeUInt16BE(m.packetCount, 16);
  buf[18] = m.discontinuity ? FLAG_DISCONTINUITY : 0;
  buf[19] = 0;
  buf.writeUInt32BE(Math.floor(m.publishedAt / 0x100000000), 20);
  buf.writeUInt32BE(m.publishedAt % 0x100000000, 24);
  buf.set(m.sha256, 28);
  return buf;
}

/** The whole FLAG_META payload (fields + signature as given). Throws EncodeError. */
export function encodeSegmentMeta(m: SegmentMeta): Buffer {
  const fields = encodeMetaFields(m);
  if (!(m.signature instanceof Uint8Array) || m.signature.length !== META_SIGNATURE_BYTES) {
    throw new FieldError(
      "E_BAD_FIELD",
      `expected ${META_SIGNATURE_BYTES} bytes`,
      "signature",
    ).toEncodeError();
  }
  const buf = Buffer.allocUnsafe(SEGMENT_META_BYTES);
  fields.copy(buf, 0);
  buf.set(m.signature, SEGMENT_META_FIELDS_BYTES);
  return buf;
}

export function decodeSegmentMeta(buf: Uint8Array): DecodeResult<SegmentMeta> {
  const n = buf.length;
  if (n < SEGMENT_META_BYTES) return fail("E_TRUNCATED", `${n} bytes, segment meta is ${SEGMENT_META_BYTES}`);
  if (n > SEGMENT_META_BYTES)
    return fail("E_BAD_LENGTH", `${n} bytes, segment meta is ${SEGMENT_META_BYTES}`);
  const flags = buf[18] as number;
  if ((flags & ~FLAG_DISCONTINUITY) !== 0) {
    return fail("E_BAD_FLAGS", `unknown flag bits 0x${flags.toString(16)}`, "flags");
  }
  if (buf[19] !== 0) return fail("E_BAD_FIELD", "reserved byte must be 0 in v1", "reserved");
  const high = readU32(buf, 20);
  if (high > MAX_SAFE_HIGH_WORD) return fail("E_BAD_FIELD", "publishedAt exceeds 2^53-1", "publishedAt");
  return ok({
    segmentId: readU32(buf, 0),
    durationMs: readU32(buf, 4),
    totalBytes: readU32(buf, 8),
    firstSeq: readU32(buf, 12),
    packetCount: ((buf[16] as number) << 8) | (buf[17] as number),
    discontinuity: (flags & FLAG_DISCONTINUITY) !== 0,
    publishedAt: high * 0x100000000 + readU32(buf, 24),
    sha256: new Uint8Array(buf.subarray(28, 28 + SHA256_BYTES)),
    signature: new Uint8Array(buf.subarray(SEGMENT_META_FIELDS_BYTES, SEGMENT_META_BYTES)),
  });
}

/** What is signed: "tiercast-meta-v1" || u32 channel || the 60 field bytes (80 bytes). */
export function metaSigningInput(channel: number, fields: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(META_SIGNING_CONTEXT.length + 4 + SEGMENT_META_FIELDS_BYTES);
  META_SIGNING_CONTEXT.copy(out, 0);
  out.writeUInt32BE(channel >>> 0, META_SIGNING_CONTEXT.length);
  out.set(fields.subarray(0, SEGMENT_META_FIELDS_BYTES), META_SIGNING_CONTEXT.length + 4);
  return out;
}

/**
 * Signs a segment's META for `channel` with the origin's Ed25519 private key. Throws EncodeError
 * for a field out of range or a channel that is not a u32, TypeError for a key that is not an
 * Ed25519 private key (bugs in the caller).
 */
export function signSegmentMeta(channel: number, m: SegmentMetaFields, privateKey: KeyObject): SegmentMeta {
  try {
    u32(channel, "channel");
  } catch (e) {
    if (e instanceof FieldError) throw e.toEncodeError();
    throw e;
  }
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519")
    throw new TypeError("a META is signed with an Ed25519 private key");
  const fields = encodeMetaFields(m);
  const signature = new Uint8Array(sign(null, metaSigningInput(channel, fields), privateKey));
  return {
    segmentId: m.segmentId,
    durationMs: m.durationMs,
    totalBytes: m.totalBytes,
    firstSeq: m.firstSeq,
    packetCount: m.packetCount,
    discontinuity: m.discontinuity,
    publishedAt: m.publishedAt,
    sha256: Uint8Array.from(m.sha256),
    signature,
  };
}

/** The signed FLAG_META payload (124 bytes) of `m` for `channel`. */
export function encodeSignedMeta(channel: number, m: SegmentMetaFields, privateKey: KeyObject): Buffer {
  return encodeSegmentMeta(signSegmentMeta(channel, m, privateKey));
}

/**
 * What verifySegmentMeta found:
 * - `valid`: the signature is the origin's over these fields for this channel;
 * - `bad_length`: the payload is not SEGMENT_META_BYTES long;
 * - `bad_key`: the key is not 32 bytes or not an Ed25519 public key (nothing can verify);
 * - `bad_signature`: anything else (another key, another channel, a changed byte).
 */
export type MetaVerdict = "valid" | "bad_length" | "bad_key" | "bad_signature";

/**
 * Checks a FLAG_META payload's signature against the channel's origin key (pure; never throws,
 * whatever the bytes, the channel number or the key). It does not decode the fields: a payload
 * whose signature verifies may still fail decodeSegmentMeta (the origin never signs one).
 */
export function verifySegmentMeta(channel: number, payload: Uint8Array, originKey: Uint8Array): MetaVerdict {
  try {
    if (!(payload instanceof Uint8Array) || payload.length !== SEGMENT_META_BYTES) return "bad_length";
    const key = publicKeyObject(originKey);
    if (key === undefined) return "bad_key";
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffffffff) return "bad_signature";
    const signature = payload.subarray(SEGMENT_META_FIELDS_BYTES, SEGMENT_META_BYTES);
    return verify(null, metaSigningInput(channel, payload), key, signature) ? "valid" : "bad_signature";
  } catch {
    return "bad_signature";
  }
}

/** Keys seen recently (an agent has one per channel; a few more across re-joins). */
const KEY_CACHE_SIZE = 32;
const keyCache = new Map<string, KeyObject | null>();

/**
 * The KeyObject of a raw Ed25519 public key, made once per key (undefined when the bytes are not
 * one). The cache is bounded: the oldest key is forgotten first.
 */
export function publicKeyObject(raw: Uint8Array): KeyObject | undefined {
  if (!(raw instanceof Uint8Array) || raw.length !== ORIGIN_KEY_BYTES) return undefined;
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("hex");
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit ?? undefined;
  const key = ed25519Key(raw) ?? null;
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(id, key);
  return key ?? undefined;
}
