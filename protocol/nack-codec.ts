/**
 * NACK datagrams: a child asks a parent to resend data packets it is missing (packet-level
 * repair, before any whole segment is fetched over HTTP).
 *
 * A NACK is a data-plane datagram (byte 0 = DATA_VERSION) with the 28-byte data header:
 * `flags` = FLAG_NACK and nothing else, `channel`, `seq` = the first sequence number asked for
 * (the base), every other header field 0, and a payload that is a bitmap: bit i (byte i >> 3,
 * bit i & 7, least significant first) asks for seq base + i (mod 2^32). Bit 0 is always set;
 * the payload is 1..MAX_NACK_SPAN / 8 bytes and its last byte is not 0 (one encoding per set).
 * The header layout is data-codec.ts's, so one decoder checks lengths and flags for both.
 *
 * The answer is the data packets themselves, resent unchanged by the parent (no new message).
 * decodeNack never throws: it returns an error result for anything else.
 */
import { encodeData } from "./data-codec.js";
import { type DecodeResult, EncodeError, fail, ok } from "./errors.js";
import { FLAG_NACK, MAX_NACK_SPAN } from "./limits.js";
import type { DataPacket } from "./messages.js";

export interface Nack {
  channel: number;
  /** Sequence numbers asked for, ascending from the base (serial order). */
  seqs: number[];
}

/**
 * One NACK datagram for `seqs` (any order, duplicates allowed), which must lie within
 * MAX_NACK_SPAN of the lowest in serial order. Throws EncodeError otherwise (a caller bug:
 * use nackSpans to split a longer list).
 */
export function encodeNack(channel: number, seqs: readonly number[]): Buffer {
  if (seqs.length === 0) throw new EncodeError("nack: no sequence numbers");
  const base = serialMin(seqs);
  let top = 0;
  for (const s of seqs) {
    const d = (s - base) >>> 0;
    if (d >= MAX_NACK_SPAN)
      throw new EncodeError(`nack: seq ${s} is ${d} past ${base}, limit ${MAX_NACK_SPAN}`);
    top = Math.max(top, d);
  }
  const bitmap = new Uint8Array((top >> 3) + 1);
  for (const s of seqs) {
    const d = (s - base) >>> 0;
    bitmap[d >> 3]! |= 1 << (d & 7);
  }
  return encodeData(
    { channel, seq: base, substream: 0, flags: FLAG_NACK, fecGroup: 0, fecIndex: 0, segmentId: 0, offset: 0 },
    bitmap,
  );
}

/**
 * Splits ascending `seqs` (serial order, no duplicates) into runs that each fit one NACK
 * (pure). Each run is at most `maxSeqs` long.
 */
export function nackSpans(seqs: readonly number[], maxSeqs = MAX_NACK_SPAN): number[][] {
  const out: number[][] = [];
  let run: number[] = [];
  for (const s of seqs) {
    const base = run[0];
    if (base !== undefined && ((s - base) >>> 0 >= MAX_NACK_SPAN || run.length >= maxSeqs)) {
      out.push(run);
      run = [];
    }
    run.push(s >>> 0);
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** The NACK in a decoded data packet whose flags have FLAG_NACK. Never throws. */
export function decodeNack(p: DataPacket): DecodeResult<Nack> {
  if (p.flags !== FLAG_NACK)
    return fail("E_BAD_FLAGS", `a NACK has flags 0x08 only, not 0x${p.flags.toString(16)}`, "flags");
  if (p.substream !== 0 || p.fecIndex !== 0 || p.fecGroup !== 0 || p.segmentId !== 0 || p.offset !== 0)
    return fail(
      "E_BAD_FIELD",
      "a NACK's substream, fecIndex, fecGroup, segmentId and offset are 0",
      "header",
    );
  const bitmap = p.payload;
  if (bitmap.length === 0) return fail("E_BAD_LENGTH", "a NACK names at least one sequence number", "length");
  if (bitmap.length > MAX_NACK_SPAN / 8)
    return fail("E_LIMIT", `NACK bitmap of ${bitmap.length} bytes, limit ${MAX_NACK_SPAN / 8}`, "length");
  if ((bitmap[0]! & 1) === 0) return fail("E_BAD_FIELD", "bit 0 (the base seq) must be set", "payload");
  if (bitmap[bitmap.length - 1] === 0) return fail("E_BAD_FIELD", "the bitmap's last byte is 0", "payload");
  const seqs: number[] = [];
  for (let i = 0; i < bitmap.length; i++) {
    const byte = bitmap[i]!;
    if (byte === 0) continue;
    for (let b = 0; b < 8; b++) if ((byte & (1 << b)) !== 0) seqs.push((p.seq + i * 8 + b) >>> 0);
  }
  return ok({ channel: p.channel, seqs });
}

/** The lowest of `seqs` in serial-number order (RFC 1982): the one no other is behind. */
function serialMin(seqs: readonly number[]): number {
  let min = seqs[0]! >>> 0;
  for (const s of seqs) if (((s - min) | 0) < 0) min = s >>> 0;
  return min;
}
