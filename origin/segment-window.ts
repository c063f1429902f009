/**
 * The origin's memory of what it published: the newest `capacity` segments (default 60, a minute
 * of 1-second segments) for the HTTP fallback, oldest evicted first. Pure data structure.
 */
import type { SegmentMeta } from "../protocol/messages.js";

export interface PublishedSegment {
  id: number;
  durationMs: number;
  discontinuity: boolean;
  sha256: Uint8Array;
  sha256Hex: string;
  bytes: Uint8Array;
  /** Origin wall clock at publication, ms since the epoch. */
  publishedAt: number;
  /** Data packets the segment was cut into (META packets not counted). */
  packets: number;
  /**
   * The segment's META as sent (fields and signature), signed for channel `metaChannel`; the
   * fallback serves it with the segment (x-tiercast-meta), signed again if the channel id changed.
   */
  meta: SegmentMeta;
  metaChannel: number;
  /** Discontinuities among all segments published before this one (EXT-X-DISCONTINUITY-SEQUENCE). */
  discontinuitiesBefore: number;
}

export const DEFAULT_WINDOW_SEGMENTS = 60;

export class SegmentWindow {
  readonly #capacity: number;
  readonly #segments: PublishedSegment[] = [];
  readonly #byId = new Map<number, PublishedSegment>();
  #published = 0;
  #discontinuities = 0;
  #heldBytes = 0;

  constructor(capacity = DEFAULT_WINDOW_SEGMENTS) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("window capacity must be >= 1");
    this.#capacity = capacity;
  }

  /** Adds the newest segment; `discontinuitiesBefore` is filled in here. */
  add(segment: Omit<PublishedSegment, "discontinuitiesBefore">): PublishedSegment {
    const s: PublishedSegment = { ...segment, discontinuitiesBefore: this.#discontinuities };
    if (s.discontinuity) this.#discontinuities++;
    const old = this.#byId.get(s.id);
    if (old !== undefined) this.#remove(old);
    this.#segments.push(s);
    this.#byId.set(s.id, s);
    this.#heldBytes += s.bytes.length;
    this.#published++;
    while (this.#segments.length > this.#capacity) this.#remove(this.#segments[0]!);
    return s;
  }

  get(id: number): PublishedSegment | undefined {
    return this.#byId.get(id);
  }

  /** The newest `n` segments, oldest first. */
  latest(n: number): PublishedSegment[] {
    return this.#segments.slice(Math.max(0, this.#segments.length - n));
  }

  get newest(): PublishedSegment | undefined {
    return this.#segments[this.#segments.length - 1];
  }

  /** Segments published since start (including evicted ones). */
  get published(): number {
    return this.#published;
  }

  get size(): number {
    return this.#segments.length;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  #remove(s: PublishedSegment): void {
    const i = this.#segments.indexOf(s);
    if (i >= 0) this.#segments.splice(i, 1);
    this.#byId.delete(s.id);
    this.#heldBytes -= s.bytes.length;
  }
}
