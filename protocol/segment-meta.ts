/**
 * SegmentMeta: the payload of a FLAG_META data packet, fixed binary, big-endian, 60 bytes.
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
 *   60
 *
 * decodeSegmentMeta never throws; the sha256 it returns is a copy, not a view.
 */
import { type DecodeResult, fail, ok } from "./errors.js";
import { FieldError, u16, u32, uSafe } from "./fields.js";
import { readU32 } from "./data-codec.js";
import { SEGMENT_META_BYTES } from "./limits.js";
import type { SegmentMeta } from "./messages.js";

export const SHA256_BYTES = 32;
const FLAG_DISCONTINUITY = 0x01;
/** publishedAt's high word: at most 2^21 - 1 so that the value stays a safe integer. */
const MAX_SAFE_HIGH_WORD = 0x1fffff;

export function encodeSegmentMeta(m: SegmentMeta): Buffer {
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
  const buf = Buffer.allocUnsafe(SEGMENT_META_BYTES);
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
  });
}
