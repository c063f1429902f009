/**
 * Cuts one segment into the datagrams of the channel (pure). Per segment, in sequence order:
 *
 *   META (FLAG_META, payload = SegmentMeta)      seq s    signed with the origin's key for `channel`
 *   data 0 .. n-1 (payload <= 1160 bytes each)   seq s+1 .. s+n   offset = byte offset, FLAG_END on the last
 *   META again (a second copy, its own seq)      seq s+n+1
 *   more META copies up to a multiple of alignTo  (the FEC group size; none by default)
 *
 * Every packet takes the next channel sequence number (u32, wrapping) and rides substream
 * seq mod k. SegmentMeta.firstSeq = s+1 and packetCount = n (META packets not counted). An empty
 * segment still gets one (empty) data packet, so FLAG_END always marks the end. Every META copy is
 * the same 124 bytes: signed once (Ed25519 is deterministic), so a receiver verifies it once.
 */
import { createHash, type KeyObject } from "node:crypto";
import { encodeData } from "../protocol/data-codec.js";
import {
  FLAG_END,
  FLAG_META,
  MAX_CODED_PAYLOAD_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_SUBSTREAMS,
} from "../protocol/limits.js";
import type { SegmentMeta } from "../protocol/messages.js";
import { encodeSegmentMeta, signSegmentMeta } from "../protocol/segment-meta.js";

export interface PacketizeInput {
  /** Compact channel id (ChannelInfo.id): in every header and in what the META signature covers. */
  channel: number;
  /** The origin's Ed25519 private key (its identity): it signs the META. */
  signingKey: KeyObject;
  segmentId: number;
  /** Sequence number of the segment's first packet (its first META). */
  firstSeq: number;
  /** Substreams (1..16). */
  k: number;
  durationMs: number;
  discontinuity: boolean;
  /** Origin wall clock, ms since the epoch. */
  publishedAt: number;
  bytes: Uint8Array;
  /**
   * Data payload per packet: default MAX_CODED_PAYLOAD_BYTES (1160), so that an erasure-coded
   * tier can code every packet (fec-shard.ts); at most MAX_DATA_PAYLOAD_BYTES.
   */
  payloadBytes?: number;
  /**
   * Pad with META copies until the next segment starts at a multiple of this (the FEC group
   * size fec.k of the erasure-coded tier); 1 (default): no padding.
   */
  alignTo?: number;
}

export interface Packet {
  seq: number;
  substream: number;
  /** The encoded datagram (<= MAX_DATAGRAM_BYTES). */
  datagram: Buffer;
}

export interface PacketizedSegment {
  meta: SegmentMeta;
  packets: Packet[];
  /** Sequence number for the next segment's first packet. */
  nextSeq: number;
}

const U32 = 0x1_0000_0000;

/** seq + n on the u32 sequence space. */
export function seqAdd(seq: number, n: number): number {
  return (seq + n) % U32;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

export function packetizeSegment(input: PacketizeInput): PacketizedSegment {
  const { channel, segmentId, k, bytes } = input;
  if (!Number.isInteger(k) || k < 1 || k > MAX_SUBSTREAMS)
    throw new RangeError(`k must be 1..${MAX_SUBSTREAMS}`);
  const payloadBytes = input.payloadBytes ?? MAX_CODED_PAYLOAD_BYTES;
  if (!Number.isInteger(payloadBytes) || payloadBytes < 1 || payloadBytes > MAX_DATA_PAYLOAD_BYTES) {
    throw new RangeError(`payloadBytes must be 1..${MAX_DATA_PAYLOAD_BYTES}`);
  }
  const dataCount = Math.max(1, Math.ceil(bytes.length / payloadBytes));
  const meta: SegmentMeta = signSegmentMeta(
    channel,
    {
      segmentId,
      durationMs: input.durationMs,
      totalBytes: bytes.length,
      firstSeq: seqAdd(input.firstSeq, 1),
      packetCount: dataCount,
      discontinuity: input.discontinuity,
      publishedAt: input.publishedAt,
      sha256: sha256(bytes),
    },
    input.signingKey,
  );
  const metaPayload = encodeSegmentMeta(meta);
  const packets: Packet[] = [];
  let seq = input.firstSeq;
  const push = (flags: number, offset: number, payload: Uint8Array): void => {
    const substream = seq % k;
    const datagram = encodeData(
      { channel, seq, substream, flags, fecGroup: 0, fecIndex: 0, segmentId, offset },
      payload,
    );
    packets.push({ seq, substream, datagram });
    seq = seqAdd(seq, 1);
  };
  push(FLAG_META, 0, metaPayload);
  for (let i = 0; i < dataCount; i++) {
    const offset = i * payloadBytes;
    const end = Math.min(bytes.length, offset + payloadBytes);
    push(i === dataCount - 1 ? FLAG_END : 0, offset, bytes.subarray(offset, end));
  }
  push(FLAG_META, 0, metaPayload);
  // More META copies up to a FEC group boundary, so that a segment's last group is complete
  // when the segment is (an erasure-coded tier codes it at once, nothing of it waits for the next).
  const align = input.alignTo ?? 1;
  if (!Number.isInteger(align) || align < 1 || align > MAX_SUBSTREAMS)
    throw new RangeError(`alignTo must be 1..${MAX_SUBSTREAMS}`);
  while (seq % align !== 0 && seq !== 0) push(FLAG_META, 0, metaPayload);
  return { meta, packets, nextSeq: seq };
}
