/**
 * A local VOD playlist (the bundled sample, or any finished ffmpeg output) played as a live
 * channel: the playlist and every segment are read once, then segment i is published when it
 * would have finished recording (start + the durations up to and including it, on the Clock),
 * round and round. Sequence numbers keep counting across loops. Each later loop's MPEG-TS
 * timestamps are moved forward by the clip's span, so the channel's clocks keep rising as a live
 * encoder's would (no decoder sees time go backwards); the first segment of every loop after
 * the first is still marked as a discontinuity, as the clip's content jumps there.
 */
import { readFile } from "node:fs/promises";
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { IngestError } from "../errors.js";
import { parseMediaPlaylist } from "../m3u8.js";
import { resolveLocalUri } from "./local-path.js";
import { clipSpan, shiftTimestamps, type ClipSpan } from "./ts-timestamps.js";
import { MAX_SEGMENT_BYTES, type IngestSegment, type SegmentHandler, type SegmentSource } from "./segment.js";

export interface LoopClip {
  /** Sequence number of the clip's first segment in the first loop. */
  firstSequence: number;
  segments: Array<{ durationMs: number; discontinuity: boolean; bytes: Uint8Array }>;
  /** The clip's MPEG-TS timestamp span; undefined when its segments carry none (then bytes go out as they are). */
  span?: ClipSpan;
}

export interface LoopSourceConfig {
  /** Path of the VOD playlist (segment URIs relative to it). */
  playlistPath: string;
  /** Refuse clips larger than this in total (default 256 MB: the clip stays in memory). */
  maxTotalBytes?: number;
}

export const DEFAULT_LOOP_MAX_TOTAL_BYTES = 256 * 1024 * 1024;

/** Reads a VOD playlist and all its segments into memory. Throws IngestError. */
export async function loadLoopClip(config: LoopSourceConfig): Promise<LoopClip> {
  const maxTotal = config.maxTotalBytes ?? DEFAULT_LOOP_MAX_TOTAL_BYTES;
  const text = await readLocal(config.playlistPath);
  const parsed = parseMediaPlaylist(text.toString("utf8"));
  if (!parsed.ok) {
    throw new IngestError("E_SOURCE_BAD_PLAYLIST", `${config.playlistPath}: ${parsed.error.message}`);
  }
  const playlist = parsed.value;
  if (playlist.segments.length === 0)
    throw new IngestError("E_SOURCE_EMPTY", `${config.playlistPath}: no segments`);
  let total = 0;
  const segments: LoopClip["segments"] = [];
  for (const s of playlist.segments) {
    const bytes = await readLocal(resolveLocalUri(config.playlistPath, s.uri));
    if (bytes.length === 0) throw new IngestError("E_SOURCE_EMPTY", `${s.uri}: empty segment`);
    if (bytes.length > MAX_SEGMENT_BYTES) {
      throw new IngestError("E_SOURCE_TOO_LARGE", `${s.uri}: segment larger than ${MAX_SEGMENT_BYTES} bytes`);
    }
    total += bytes.length;
    if (total > maxTotal) {
      throw new IngestError(
        "E_SOURCE_TOO_LARGE",
        `${config.playlistPath}: clip larger than ${maxTotal} bytes`,
      );
    }
    segments.push({ durationMs: s.durationMs, discontinuity: s.discontinuity, bytes });
  }
  if (segments.every((s) => s.durationMs === 0)) {
    throw new IngestError("E_SOURCE_EMPTY", `${config.playlistPath}: segment durations add up to zero`);
  }
  const span = clipSpan(segments.map((x) => x.bytes));
  return { firstSequence: playlist.mediaSequence, segments, ...(span ? { span } : {}) };
}

/** The clip's stream rate in kbit/s: sum(bytes) * 8 / sum(duration), rounded up. */
export function clipStreamKbps(clip: LoopClip): number {
  let bytes = 0;
  let ms = 0;
  for (const s of clip.segments) {
    bytes += s.bytes.length;
    ms += s.durationMs;
  }
  return ms > 0 ? Math.ceil((bytes * 8) / ms) : 0;
}

/** The clip's longest segment, ms (its target duration). */
export function clipSegmentMs(clip: LoopClip): number {
  return clip.segments.reduce((m, s) => Math.max(m, s.durationMs), 0);
}

export class LoopSource implements SegmentSource {
  readonly description: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #clip: LoopClip;
  #timer: Timer | undefined;
  #onSegment: SegmentHandler | undefined;
  /** Index into the clip of the next segment, and how many full loops are done. */
  #index = 0;
  #loops = 0;
  #nextDue = 0;

  constructor(deps: { clock: Clock; logger: Logger }, clip: LoopClip, description = "loop") {
    if (clip.segments.length === 0) throw new IngestError("E_SOURCE_EMPTY", "clip without segments");
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#clip = clip;
    this.description = description;
  }

  start(onSegment: SegmentHandler): void {
    if (this.#onSegment !== undefined) return;
    this.#onSegment = onSegment;
    this.#nextDue = this.#clock.now() + this.#clip.segments[0]!.durationMs;
    this.#schedule();
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onSegment = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => this.#due(), Math.max(0, this.#nextDue - this.#clock.now()));
  }

  /** Publishes every segment that is due (more than one if the process was stalled), then re-arms. */
  #due(): void {
    this.#timer = undefined;
    const segments = this.#clip.segments;
    while (this.#onSegment !== undefined && this.#nextDue <= this.#clock.now()) {
      const s = segments[this.#index]!;
      const segment: IngestSegment = {
        mediaSequence: this.#clip.firstSequence + this.#loops * segments.length + this.#index,
        durationMs: s.durationMs,
        discontinuity: s.discontinuity || (this.#index === 0 && this.#loops > 0),
        bytes: this.#loopBytes(s.bytes),
      };
      this.#index++;
      if (this.#index === segments.length) {
        this.#index = 0;
        this.#loops++;
        this.#logger.debug("source_loop", { loops: this.#loops });
      }
      this.#nextDue += segments[this.#index]!.durationMs;
      this.#onSegment(segment);
    }
    if (this.#onSegment !== undefined) this.#schedule();
  }

  /** The segment as this loop plays it: timestamps moved on by one clip span per loop done. */
  #loopBytes(bytes: Uint8Array): Uint8Array {
    const span = this.#clip.span;
    if (span === undefined || this.#loops === 0) return bytes;
    return shiftTimestamps(bytes, this.#loops * (span.endTicks - span.startTicks));
  }
}

async function readLocal(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new IngestError("E_SOURCE_UNREADABLE", `cannot read ${path}: ${(e as Error).message}`);
  }
}
