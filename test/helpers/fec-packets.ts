/**
 * Data packets for the FecEncoder / FecDecoder tests (test/agent-fec-shard.test.ts,
 * test/agent-fec-coding.test.ts, test/agent-fec-bounds.test.ts): a packet as the origin sends it
 * and its datagram, decoding a datagram back, a packet's bytes as hex for byte-for-byte
 * comparison, and a decoder configuration with test defaults.
 */
import type { FecDecoderConfig } from "../../agent/relay/fec-decoder.js";
import { decodeData, encodeData } from "../../protocol/data-codec.js";
import type { DataPacket } from "../../protocol/messages.js";

export const CHANNEL = 7;
export const U32 = 2 ** 32;

export interface Sent {
  packet: DataPacket;
  datagram: Buffer;
}

/** A data packet as the origin sends it (fecGroup = fecIndex = 0), and its datagram. */
export function dataPacket(
  seq: number,
  o: { flags?: number; len?: number; segmentId?: number; offset?: number; fill?: number; channelK?: number },
): Sent {
  const len = o.len ?? 100;
  const fill = o.fill ?? seq;
  const payload = Uint8Array.from({ length: len }, (_, i) => (fill + i * 31) & 255);
  const datagram = encodeData(
    {
      channel: CHANNEL,
      seq,
      substream: seq % (o.channelK ?? 4),
      flags: o.flags ?? 0,
      fecGroup: 0,
      fecIndex: 0,
      segmentId: o.segmentId ?? 42,
      offset: o.offset ?? 0,
    },
    payload,
  );
  return { packet: decoded(datagram), datagram };
}

export function decoded(datagram: Uint8Array): DataPacket {
  const r = decodeData(datagram);
  if (!r.ok) throw r.error;
  return r.value;
}

export const reencode = (p: DataPacket): string => encodeData(p, p.payload).toString("hex");

export function decoderConfig(k: number, n: number, over: Partial<FecDecoderConfig> = {}): FecDecoderConfig {
  return { k, n, maxGroups: 64, groupTtlMs: 5_000, channelK: 4, ...over };
}
