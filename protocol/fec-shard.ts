/**
 * Wire framing of the erasure-coded tier (pure): how data packets become Reed-Solomon shards
 * (reed-solomon.ts) and how parity rides in data datagrams (data-codec.ts).
 *
 * Groups: data packet seq belongs to FEC group floor(seq / k) at coded index seq mod k, so a
 * group is k consecutive channel seqs (whatever their META/END flags). The u32 seq wraps: when
 * k does not divide 2^32 the last group before the wrap, floor((2^32 - 1) / k), holds only
 * 2^32 mod k packets (groupSize) and counts as complete with those; seq 0 then starts group 0
 * again (group numbers repeat every 2^32 packets, far beyond any group's lifetime).
 *
 * Shard of a data packet (the coded unit; payloads differ in length, so the length travels too):
 *
 *   offset size field
 *    0     u8   flags      the packet's flags (FLAG_META, FLAG_END; never FLAG_PARITY)
 *    1     u8   reserved   0
 *    2     u16  length     payload bytes, <= MAX_CODED_PAYLOAD_BYTES (1160)
 *    4     u32  segmentId
 *    8     u32  offset
 *   12     ...  payload, then zeros up to the group's longest shard
 *
 * A group's shards are zero-padded to the longest. A position the encoder had no packet for
 * (a partial group at a flush, the short group at the wrap) is an empty shard: all zeros. An
 * all-zero shard stands for "no packet" (fromShard answers null): the origin never sends a
 * flag-less empty packet (an empty segment's one data packet has FLAG_END).
 *
 * Parity datagram j (k <= j < k + n) of a group: the 28-byte data header with flags =
 * FLAG_PARITY, seq = the group's first seq (group · k), fecGroup = group, fecIndex = substream
 * = j, offset = D, the number of data positions coded (positions D..k-1 are empty shards), and
 * segmentId = the empty mask: bit i set when position i < D was coded as an empty shard
 * because the encoder lacked that packet (it joined mid-group, or a packet was lost upstream
 * before a flush) or could not code it (payload over 1160 bytes). A full group has D = k and
 * mask 0; a group cut short at a flush or at the wrap has D = its packet count and mask 0; the
 * mask is non-zero only for groups with holes. Knowing the holes, a decoder counts them as
 * present (zero) shards instead of spending parity on them, and never mixes in a packet it got
 * elsewhere for a position that was not coded. Payload = parity shard j, as long as the longest
 * data shard (12..1172 bytes). Data packets themselves travel unchanged (fecGroup = fecIndex = 0
 * as the origin sent them): their group follows from seq.
 */
import { encodeData, readU32 } from "./data-codec.js";
import { type DecodeResult, EncodeError, fail, ok } from "./errors.js";
import { FLAG_PARITY, KNOWN_DATA_FLAGS, MAX_CODED_PAYLOAD_BYTES, MAX_DATA_PAYLOAD_BYTES } from "./limits.js";
import type { DataPacket } from "./messages.js";

export const FEC_SHARD_PREFIX_BYTES = 12;
/** Longest shard: prefix + the longest coded payload = MAX_DATA_PAYLOAD_BYTES. */
export const FEC_MAX_SHARD_BYTES = FEC_SHARD_PREFIX_BYTES + MAX_CODED_PAYLOAD_BYTES;

const SEQ_SPACE = 2 ** 32;

/** The FEC group of a seq: floor(seq / k). */
export function fecGroupOf(seq: number, k: number): number {
  return Math.floor(seq / k);
}

/** Coded index of a seq inside its group: seq mod k. */
export function fecIndexOf(seq: number, k: number): number {
  return seq % k;
}

/** First seq of a group: group · k. */
export function groupFirstSeq(group: number, k: number): number {
  return group * k;
}

/** The last group before the seq wraps: floor((2^32 - 1) / k). */
export function lastFecGroup(k: number): number {
  return Math.floor((SEQ_SPACE - 1) / k);
}

/** Data packets in a group: k, or 2^32 - group · k for the short last group before the wrap. */
export function groupSize(group: number, k: number): number {
  return Math.max(0, Math.min(k, SEQ_SPACE - group * k));
}

/** Can this packet be coded: not parity, payload <= MAX_CODED_PAYLOAD_BYTES. */
export function isCodable(p: Pick<DataPacket, "flags" | "payload">): boolean {
  return (p.flags & FLAG_PARITY) === 0 && p.payload.length <= MAX_CODED_PAYLOAD_BYTES;
}

/**
 * The shard of a data packet (a new array: 12-byte prefix + payload, unpadded). Throws
 * EncodeError for a packet that cannot be coded (parity, unknown flags, payload > 1160 bytes,
 * segmentId/offset not u32): check isCodable first.
 */
export function toShard(p: Pick<DataPacket, "flags" | "segmentId" | "offset" | "payload">): Uint8Array {
  if (!isU32(p.flags) || (p.flags & ~KNOWN_DATA_FLAGS) !== 0 || (p.flags & FLAG_PARITY) !== 0) {
    throw new EncodeError(`flags: 0x${p.flags.toString(16)} cannot be coded`);
  }
  if (p.payload.length > MAX_CODED_PAYLOAD_BYTES) {
    throw new EncodeError(`payload: ${p.payload.length} bytes, coded limit ${MAX_CODED_PAYLOAD_BYTES}`);
  }
  if (!isU32(p.segmentId)) throw new EncodeError(`segmentId: ${p.segmentId} is not a u32`);
  if (!isU32(p.offset)) throw new EncodeError(`offset: ${p.offset} is not a u32`);
  const shard = new Uint8Array(FEC_SHARD_PREFIX_BYTES + p.payload.length);
  const view = new DataView(shard.buffer);
  shard[0] = p.flags;
  view.setUint16(2, p.payload.length);
  view.setUint32(4, p.segmentId);
  view.setUint32(8, p.offset);
  shard.set(p.payload, FEC_SHARD_PREFIX_BYTES);
  return shard;
}

/** Header fields of a rebuilt packet that its shard does not carry (the decoder knows them). */
export interface ShardContext {
  channel: number;
  seq: number;
  substream: number;
  /** Default 0, as data packets travel. */
  fecGroup?: number;
  fecIndex?: number;
}

/**
 * The data packet of a (rebuilt, padded) shard: its payload is a view into `shard`. null for an
 * empty shard (all zeros: no packet at that position). Never throws: a shard that no encoder
 * makes (bad flags, non-zero reserved byte or padding, length past the end) is an error.
 */
export function fromShard(shard: Uint8Array, ctx: ShardContext): DecodeResult<DataPacket | null> {
  const n = shard.length;
  if (n < FEC_SHARD_PREFIX_BYTES)
    return fail("E_TRUNCATED", `shard of ${n} bytes, prefix needs ${FEC_SHARD_PREFIX_BYTES}`);
  if (n > FEC_MAX_SHARD_BYTES)
    return fail("E_TOO_LARGE", `shard of ${n} bytes, limit ${FEC_MAX_SHARD_BYTES}`);
  const flags = shard[0] as number;
  if ((flags & ~KNOWN_DATA_FLAGS) !== 0 || (flags & FLAG_PARITY) !== 0)
    return fail("E_BAD_FLAGS", `shard flags 0x${flags.toString(16)}`, "flags");
  if (shard[1] !== 0) return fail("E_BAD_FIELD", "shard reserved byte must be 0", "reserved");
  const length = ((shard[2] as number) << 8) | (shard[3] as number);
  if (length > MAX_CODED_PAYLOAD_BYTES)
    return fail("E_LIMIT", `shard payload ${length} bytes, limit ${MAX_CODED_PAYLOAD_BYTES}`, "length");
  const end = FEC_SHARD_PREFIX_BYTES + length;
  if (end > n)
    return fail("E_BAD_LENGTH", `shard payload ${length} bytes, shard carries ${n - 12}`, "length");
  for (let i = end; i < n; i++) {
    if (shard[i] !== 0) return fail("E_BAD_FIELD", `shard padding byte ${i} is not 0`, "padding");
  }
  const segmentId = readU32(shard, 4);
  const offset = readU32(shard, 8);
  if (flags === 0 && length === 0 && segmentId === 0 && offset === 0) return ok(null);
  return ok({
    channel: ctx.channel,
    seq: ctx.seq,
    substream: ctx.substream,
    flags,
    fecGroup: ctx.fecGroup ?? 0,
    fecIndex: ctx.fecIndex ?? 0,
    segmentId,
    offset,
    payload: shard.subarray(FEC_SHARD_PREFIX_BYTES, end),
  });
}

/** A coded group, as its parity datagrams describe it. */
export interface ParityGroup {
  channel: number;
  k: number;
  fecGroup: number;
  /** D: data positions coded (1..groupSize). */
  dataCount: number;
  /** Bit i: position i < D was coded as an empty shard (0 when the group has no holes). */
  emptyMask: number;
}

/**
 * The parity datagrams of a group: parity[i] is coded shard k + i (all of one length, 12..1172
 * bytes). Throws EncodeError on fields out of range (a caller bug).
 */
export function encodeParity(g: ParityGroup, parity: readonly Uint8Array[]): Buffer[] {
  const size = groupSize(g.fecGroup, g.k);
  if (!Number.isInteger(g.dataCount) || g.dataCount < 1 || g.dataCount > size)
    throw new EncodeError(`dataCount: ${g.dataCount}, group ${g.fecGroup} holds 1..${size}`);
  if (!Number.isInteger(g.emptyMask) || g.emptyMask < 0 || g.emptyMask >= 2 ** g.dataCount)
    throw new EncodeError(`emptyMask: ${g.emptyMask} names positions outside 0..${g.dataCount - 1}`);
  return parity.map((shard, i) => {
    if (shard.length < FEC_SHARD_PREFIX_BYTES || shard.length > MAX_DATA_PAYLOAD_BYTES)
      throw new EncodeError(`parity shard: ${shard.length} bytes, must be 12..${MAX_DATA_PAYLOAD_BYTES}`);
    const j = g.k + i;
    return encodeData(
      {
        channel: g.channel,
        seq: groupFirstSeq(g.fecGroup, g.k),
        substream: j,
        flags: FLAG_PARITY,
        fecGroup: g.fecGroup,
        fecIndex: j,
        segmentId: g.emptyMask,
        offset: g.dataCount,
      },
      shard,
    );
  });
}

/** A parity datagram, checked against the code (k, n). */
export interface ParityInfo extends ParityGroup {
  /** Coded index j, k <= j < k + n. */
  index: number;
  /** The parity shard: a view into the datagram. */
  shard: Uint8Array;
}

/**
 * Checks a decoded parity datagram against the code (k, n): flags exactly FLAG_PARITY, fecIndex
 * and substream the same j in k..k+n-1, seq = fecGroup · k, 1 <= offset (D) <= the group's size,
 * empty mask (segmentId) within positions 0..D-1, payload 12..1172 bytes. Never throws.
 */
export function parseParity(p: DataPacket, k: number, n: number): DecodeResult<ParityInfo> {
  if (p.flags !== FLAG_PARITY) return fail("E_BAD_FLAGS", `parity flags 0x${p.flags.toString(16)}`, "flags");
  if (p.fecIndex < k || p.fecIndex >= k + n)
    return fail("E_BAD_FIELD", `parity fecIndex ${p.fecIndex}, code has ${k}..${k + n - 1}`, "fecIndex");
  if (p.substream !== p.fecIndex)
    return fail("E_BAD_FIELD", `parity substream ${p.substream} != fecIndex ${p.fecIndex}`, "substream");
  if (p.fecGroup > lastFecGroup(k))
    return fail("E_BAD_FIELD", `fecGroup ${p.fecGroup} past the last group for k = ${k}`, "fecGroup");
  if (p.seq !== groupFirstSeq(p.fecGroup, k))
    return fail("E_BAD_FIELD", `parity seq ${p.seq} is not fecGroup ${p.fecGroup} · ${k}`, "seq");
  const size = groupSize(p.fecGroup, k);
  if (p.offset < 1 || p.offset > size)
    return fail("E_BAD_FIELD", `parity data count ${p.offset}, group holds 1..${size}`, "offset");
  if (p.segmentId >= 2 ** p.offset)
    return fail(
      "E_BAD_FIELD",
      `parity empty mask 0x${p.segmentId.toString(16)} past D = ${p.offset}`,
      "segmentId",
    );
  const len = p.payload.length;
  if (len < FEC_SHARD_PREFIX_BYTES || len > MAX_DATA_PAYLOAD_BYTES)
    return fail("E_BAD_LENGTH", `parity shard ${len} bytes, must be 12..${MAX_DATA_PAYLOAD_BYTES}`, "length");
  return ok({
    channel: p.channel,
    k,
    fecGroup: p.fecGroup,
    dataCount: p.offset,
    emptyMask: p.segmentId,
    index: p.fecIndex,
    shard: p.payload,
  });
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
