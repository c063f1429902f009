/**
 * What every ingest source produces: the source's segments in order, each complete. The three
 * sources (a looped VOD playlist, a live ffmpeg output folder, an HLS URL) all emit this.
 */

export interface IngestSegment {
  /** The source's sequence number: keeps counting across loops; EXT-X-MEDIA-SEQUENCE based when live. */
  mediaSequence: number;
  durationMs: number;
  /** Timestamps or encoder state break before this segment (a loop restart, a gap, #EXT-X-DISCONTINUITY). */
  discontinuity: boolean;
  /** The whole MPEG-TS segment. */
  bytes: Uint8Array;
}

export type SegmentHandler = (segment: IngestSegment) => void;

export interface SegmentSource {
  /** Human-readable origin of the segments, for logs and /status. */
  readonly description: string;
  /** Starts emitting; `onSegment` is called in order, never concurrently. */
  start(onSegment: SegmentHandler): void;
  stop(): void;
}

/** Largest segment any source accepts (a 1-10 s segment at a few Mbit/s is a few MB). */
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
