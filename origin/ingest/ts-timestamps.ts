/**
 * MPEG-TS timestamps (ISO/IEC 13818-1), pure: read the PTS/DTS span of a clip and shift every
 * PTS, DTS and PCR of a segment by an offset. The loop source uses it so a clip played round
 * and round is one live stream whose clocks keep rising: players (and ffmpeg's muxers) see no
 * timestamp going backwards at the loop point. Written here because no maintained npm package
 * rewrites TS timestamps in place; the format is small and fixed.
 *
 * Layout used (all big-endian):
 *   TS packet, 188 bytes: 0 sync 0x47 | 1-2 TEI, PUSI (0x40 of byte 1), PID (13 bits)
 *                         | 3 scrambling(2) adaptation_field_control(2) continuity(4)
 *   adaptation field (afc 2 or 3): 4 length | 5 flags (PCR 0x10) | 6-11 PCR: base 33 bits,
 *                         6 reserved bits, extension 9 bits
 *   PES start (PUSI, payload begins 00 00 01): +3 stream_id | +4-5 length | +6 flags
 *                         | +7 PTS_DTS_flags (top 2 bits: 2 = PTS, 3 = PTS + DTS) | +8 header length
 *                         | +9 PTS (5 bytes) | +14 DTS (5 bytes)
 *   a 5-byte timestamp: prefix(4) ts[32..30] 1 | ts[29..22] | ts[21..15] 1 | ts[14..7] | ts[6..0] 1
 */

export const TS_PACKET_BYTES = 188;
const SYNC = 0x47;
/** Timestamps are 33-bit counters of a 90 kHz clock. */
export const TS_CLOCK_WRAP = 2 ** 33;
export const TS_TICKS_PER_SECOND = 90_000;

export interface ClipSpan {
  /** Smallest decode timestamp of any stream, 90 kHz ticks. */
  startTicks: number;
  /**
   * Largest (decode timestamp + one frame) of any stream: the clip's next loop starts here,
   * so every stream's timestamps keep rising across the loop point.
   */
  endTicks: number;
}

/** Span of a clip's decode timestamps; undefined if no PES timestamp was found. */
export function clipSpan(segments: readonly Uint8Array[]): ClipSpan | undefined {
  const perPid = new Map<number, { first: number; last: number; step: number }>();
  for (const seg of segments) {
    forEachPes(seg, (pid, pes) => {
      const dts = pes.dts ?? pes.pts;
      const s = perPid.get(pid);
      if (s === undefined) {
        perPid.set(pid, { first: dts, last: dts, step: Infinity });
        return;
      }
      const delta = dts - s.last;
      if (delta > 0 && delta < s.step) s.step = delta;
      s.last = Math.max(s.last, dts);
    });
  }
  if (perPid.size === 0) return undefined;
  let start = Infinity;
  let end = -Infinity;
  for (const s of perPid.values()) {
    start = Math.min(start, s.first);
    end = Math.max(end, s.last + (Number.isFinite(s.step) ? s.step : 0));
  }
  return { startTicks: start, endTicks: end };
}

/** A copy of `segment` with every PTS, DTS and PCR moved by `offsetTicks` (mod 2^33). */
export function shiftTimestamps(segment: Uint8Array, offsetTicks: number): Uint8Array {
  const out = Uint8Array.from(segment);
  if (offsetTicks % TS_CLOCK_WRAP === 0) return out;
  for (let p = 0; p + TS_PACKET_BYTES <= out.length; p += TS_PACKET_BYTES) {
    if (out[p] !== SYNC) continue;
    const afc = (out[p + 3]! >> 4) & 3;
    let payload = p + 4;
    if (afc === 2 || afc === 3) {
      const afLen = out[p + 4]!;
      if (afLen > 0 && afLen >= 7 && (out[p + 5]! & 0x10) !== 0) shiftPcr(out, p + 6, offsetTicks);
      payload = p + 5 + afLen;
    }
    if ((out[p + 1]! & 0x40) === 0 || afc === 2) continue;
    const pes = pesTimestampOffsets(out, payload, p + TS_PACKET_BYTES);
    for (const at of pes) writeTimestamp(out, at, mod33(readTimestamp(out, at) + offsetTicks));
  }
  return out;
}

interface PesTimes {
  pts: number;
  dts: number | undefined;
}

function forEachPes(seg: Uint8Array, fn: (pid: number, pes: PesTimes) => void): void {
  for (let p = 0; p + TS_PACKET_BYTES <= seg.length; p += TS_PACKET_BYTES) {
    if (seg[p] !== SYNC || (seg[p + 1]! & 0x40) === 0) continue;
    const afc = (seg[p + 3]! >> 4) & 3;
    if (afc === 0 || afc === 2) continue;
    const payload = afc === 3 ? p + 5 + seg[p + 4]! : p + 4;
    const at = pesTimestampOffsets(seg, payload, p + TS_PACKET_BYTES);
    if (at.length === 0) continue;
    const pid = ((seg[p + 1]! & 0x1f) << 8) | seg[p + 2]!;
    fn(pid, {
      pts: readTimestamp(seg, at[0]!),
      dts: at[1] === undefined ? undefined : readTimestamp(seg, at[1]),
    });
  }
}

/** Offsets of the PTS (and DTS) of a PES header starting at `at`, if it has them within `end`. */
function pesTimestampOffsets(b: Uint8Array, at: number, end: number): number[] {
  if (at + 19 > end || b[at] !== 0 || b[at + 1] !== 0 || b[at + 2] !== 1) return [];
  const streamId = b[at + 3]!;
  // Streams without the optional PES header: program stream map, padding, private 2, ECM, EMM,
  // directory, DSM-CC, H.222.1 type E.
  if ([0xbc, 0xbe, 0xbf, 0xf0, 0xf1, 0xff, 0xf2, 0xf8].includes(streamId)) return [];
  if ((b[at + 6]! & 0xc0) !== 0x80) return [];
  const flags = b[at + 7]! >> 6;
  if (flags === 2) return [at + 9];
  if (flags === 3) return [at + 9, at + 14];
  return [];
}

function readTimestamp(b: Uint8Array, at: number): number {
  return (
    ((b[at]! >> 1) & 7) * 2 ** 30 +
    b[at + 1]! * 2 ** 22 +
    (b[at + 2]! >> 1) * 2 ** 15 +
    b[at + 3]! * 2 ** 7 +
    (b[at + 4]! >> 1)
  );
}

function writeTimestamp(b: Uint8Array, at: number, v: number): void {
  b[at] = (b[at]! & 0xf0) | ((Math.floor(v / 2 ** 30) & 7) << 1) | 1;
  b[at + 1] = Math.floor(v / 2 ** 22) & 0xff;
  b[at + 2] = ((Math.floor(v / 2 ** 15) & 0x7f) << 1) | 1;
  b[at + 3] = Math.floor(v / 2 ** 7) & 0xff;
  b[at + 4] = ((v & 0x7f) << 1) | 1;
}

/** PCR base (33 bits) in bytes at..at+4 (top bit of at+4); the 6 reserved bits and extension stay. */
function shiftPcr(b: Uint8Array, at: number, offsetTicks: number): void {
  const base =
    b[at]! * 2 ** 25 + b[at + 1]! * 2 ** 17 + b[at + 2]! * 2 ** 9 + b[at + 3]! * 2 + (b[at + 4]! >> 7);
  const v = mod33(base + offsetTicks);
  b[at] = Math.floor(v / 2 ** 25) & 0xff;
  b[at + 1] = Math.floor(v / 2 ** 17) & 0xff;
  b[at + 2] = Math.floor(v / 2 ** 9) & 0xff;
  b[at + 3] = Math.floor(v / 2) & 0xff;
  b[at + 4] = ((v & 1) << 7) | (b[at + 4]! & 0x7f);
}

function mod33(v: number): number {
  return ((v % TS_CLOCK_WRAP) + TS_CLOCK_WRAP) % TS_CLOCK_WRAP;
}
