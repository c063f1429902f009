/**
 * Data packets of wire v1: a fixed 28-byte big-endian header and the payload, no CBOR.
 *
 *   offset size field
 *    0     u8   version    DATA_VERSION = 1; also the demux byte (control datagrams start 0xA0..0xBF)
 *    1     u8   flags      FLAG_META 0x01, FLAG_PARITY 0x02, FLAG_END 0x04, FLAG_NACK 0x08
 *                            (a resend request, nack-codec.ts); other bits: E_BAD_FLAGS
 *    2     u16  length     payload bytes; must equal datagram length - 28 (E_BAD_LENGTH)
 *    4     u32  channel    compact channel id (ChannelInfo.id)
 *    8     u32  seq        channel sequence number
 *   12     u8   substream  seq mod k; < MAX_SUBSTREAMS
 *   13     u8   fecIndex   index in the FEC group (0 until FEC)
 *   14     u16  reserved   0 in v1
 *   16     u32  fecGroup   FEC group (0 until FEC)
 *   20     u32  segmentId
 *   24     u32  offset     byte offset of the payload in the segment
 *   28     ...  payload    <= MAX_DATA_PAYLOAD_BYTES (1172): the datagram is at most 1200 bytes
 *
 * A FLAG_META packet's payload is a SegmentMeta (segment-meta.ts).
 * decodeData returns the payload as a view into the datagram (no copy) and never throws.
 */
import { type DecodeResult, EncodeError, fail, ok } from "./errors.js";
import { FieldError, int, u32, u8 } from "./fields.js";
import {
  DATA_HEADER_BYTES,
  DATA_VERSION,
  KNOWN_DATA_FLAGS,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_DATAGRAM_BYTES,
  MAX_SUBSTREAMS,
} from "./limits.js";
import type { DataHeader, DataPacket } from "./messages.js";

/** First byte of a control datagram: a CBOR map of 0..23 entries, or with a 1..8 byte length. */
const CBOR_MAP_FIRST = 0xa0;
const CBOR_MAP_LAST = 0xbf;

/** Which decoder a datagram from the shared UDP socket goes to. */
export function classifyDatagram(buf: Uint8Array): "control" | "data" | "unknown" {
  const first = buf[0];
  if (first === DATA_VERSION) return "data";
  if (first !== undefined && first >= CBOR_MAP_FIRST && first <= CBOR_MAP_LAST) return "control";
  return "unknown";
}

/** One datagram: header + payload. Throws EncodeError if a header field is out of range or the payload too long. */
export function encodeData(h: DataHeader, payload: Uint8Array): Buffer {
  try {
    checkHeader(h);
  } catch (e) {
    if (e instanceof FieldError) throw e.toEncodeError();
    throw e;
  }
  if (payload.length > MAX_DATA_PAYLOAD_BYTES) {
    throw new EncodeError(`payload: ${payload.length} bytes, limit ${MAX_DATA_PAYLOAD_BYTES}`);
  }
  const buf = Buffer.allocUnsafe(DATA_HEADER_BYTES + payload.length);
  buf[0] = DATA_VERSION;
  buf[1] = h.flags;
  buf.writeUInt16BE(payload.length, 2);
  buf.writeUInt32BE(h.channel, 4);
  buf.writeUInt32BE(h.seq, 8);
  buf[12] = h.substream;
  buf[13] = h.fecIndex;
  buf.writeUInt16BE(0, 14);
  buf.writeUInt32BE(h.fecGroup, 16);
  buf.writeUInt32BE(h.segmentId, 20);
  buf.writeUInt32BE(h.offset, 24);
  buf.set(payload, DATA_HEADER_BYTES);
  return buf;
}

function checkHeader(h: DataHeader): void {
  const flags = u8(h.flags, "flags");
  if ((flags & ~KNOWN_DATA_FLAGS) !== 0)
    throw new FieldError("E_BAD_FLAGS", `unknown flag bits ${flags}`, "flags");
  u32(h.channel, "channel");
  u32(h.seq, "seq");
  int(h.substream, "substream", 0, MAX_SUBSTREAMS - 1);
  u8(h.fecIndex, "fecIndex");
  u32(h.fecGroup, "fecGroup");
  u32(h.segmentId, "segmentId");
  u32(h.offset, "offset");
}

/** Decode one data datagram; the payload is a view into buf. Never throws. */
export function decodeData(buf: Uint8Array): DecodeResult<DataPacket> {
  const n = buf.length;
  if (n < DATA_HEADER_BYTES) return fail("E_TRUNCATED", `${n} bytes, header needs ${DATA_HEADER_BYTES}`);
  if (n > MAX_DATAGRAM_BYTES) return fail("E_TOO_LARGE", `${n} bytes, limit ${MAX_DATAGRAM_BYTES}`);
  const b = buf;
  if (b[0] !== DATA_VERSION) return fail("E_BAD_VERSION", `unsupported data version ${b[0]}`, "version");
  const flags = b[1] as number;
  if ((flags & ~KNOWN_DATA_FLAGS) !== 0)
    return fail("E_BAD_FLAGS", `unknown flag bits 0x${flags.toString(16)}`, "flags");
  const length = ((b[2] as number) << 8) | (b[3] as number);
  if (length !== n - DATA_HEADER_BYTES) {
    return fail(
      "E_BAD_LENGTH",
      `length field ${length}, datagram carries ${n - DATA_HEADER_BYTES}`,
      "length",
    );
  }
  const substream = b[12] as number;
  if (substream >= MAX_SUBSTREAMS)
    return fail("E_BAD_FIELD", `substream ${substream} >= ${MAX_SUBSTREAMS}`, "substream");
  if (b[14] !== 0 || b[15] !== 0) return fail("E_BAD_FIELD", "reserved bytes must be 0 in v1", "reserved");
  return ok({
    channel: readU32(b, 4),
    seq: readU32(b, 8),
    substream,
    flags,
    fecGroup: readU32(b, 16),
    fecIndex: b[13] as number,
    segmentId: readU32(b, 20),
    offset: readU32(b, 24),
    payload: b.subarray(DATA_HEADER_BYTES),
  });
}

/** Big-endian u32 at `at` (caller checked the length). */
export function readU32(b: Uint8Array, at: number): number {
  return (
    (b[at] as number) * 0x1000000 +
    (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
  );
}
