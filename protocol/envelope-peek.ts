/**
 * Reading a control datagram's envelope without decoding it, for what only schedules or routes
 * (control's front, a DCM worker's inbound lanes): the message type, and for a HEARTBEAT or a
 * LEAVE the channel id its body names. Every encoder of wire v1 writes the envelope the same
 * canonical way (control-codec.ts, cbor.ts):
 *
 *   map(6|7)  00 <v>  01 <type>  02 <sender>  03 <seq>  04 <ts>  05 map(n) 00 <channel> ...  [06 <auth>]
 *
 * each value the shortest unsigned integer. A datagram written any other way peeks as undefined
 * and its reader decodes it in full instead. Untrusted bytes: a peek reads within the datagram
 * only, never throws, and proves nothing — the datagram is decoded and authenticated by the
 * server that gets it (docs/security.md) whatever its peek said.
 */
import { MsgType } from "./messages.js";

/** The type a datagram's envelope says it is, if it is written the canonical way; undefined otherwise. */
export function peekType(data: Uint8Array): number | undefined {
  // map (0xA0..0xBF), key 0, version (a small uint), key 1, type (a small uint)
  if (data.length < 5 || (data[0]! & 0xe0) !== 0xa0 || data[1] !== 0x00 || data[3] !== 0x01) return undefined;
  const t = data[4]!;
  return t < 24 ? t : undefined;
}

/** Bytes of a canonical unsigned integer item whose first byte is `b` (major 0); 0 when it is not one. */
function uintBytes(b: number): number {
  if (b < 0x18) return 1;
  if (b === 0x18) return 2;
  if (b === 0x19) return 3;
  if (b === 0x1a) return 5;
  if (b === 0x1b) return 9;
  return 0;
}

/**
 * The channel id in the body of a canonically written HEARTBEAT or LEAVE (both have it as the
 * body's first key, 0, a u32); undefined for any other type or layout.
 */
export function peekChannel(data: Uint8Array): number | undefined {
  const t = peekType(data);
  if (t !== MsgType.HEARTBEAT && t !== MsgType.LEAVE) return undefined;
  const entries = data[0]! & 0x1f;
  if (entries !== 6 && entries !== 7) return undefined;
  if (data[2]! >= 0x18) return undefined;
  // keys 2 (sender), 3 (seq), 4 (ts): each its key byte, then an unsigned integer
  let at = 5;
  for (let key = 2; key <= 4; key++) {
    if (data[at] !== key) return undefined;
    const n = uintBytes(data[at + 1] ?? 0xff);
    if (n === 0) return undefined;
    at += 1 + n;
  }
  // key 5, the body: a map (of fewer than 24 entries), its first key 0, the channel
  if (data[at] !== 0x05) return undefined;
  const body = data[at + 1] ?? 0;
  if (body < 0xa1 || body > 0xb7 || data[at + 2] !== 0x00) return undefined;
  at += 3;
  const b = data[at] ?? 0xff;
  const n = uintBytes(b);
  if (n === 0 || n === 9 || at + n > data.length) return undefined;
  if (n === 1) return b;
  if (n === 2) return data[at + 1]!;
  if (n === 3) return (data[at + 1]! << 8) | data[at + 2]!;
  return ((data[at + 1]! << 24) | (data[at + 2]! << 16) | (data[at + 3]! << 8) | data[at + 4]!) >>> 0;
}
