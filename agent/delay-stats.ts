/**
 * Source-to-viewer delay: from the origin publishing a segment (SegmentMeta.publishedAt, the
 * origin's wall clock) to this node holding it verified in its cache (this node's wall clock).
 * The two clocks are the same machine's in the demo and the lab; across machines the figure is
 * as good as their clock sync. Keeps the newest `size` samples; percentiles on demand.
 */

export class DelayStats {
  readonly #size: number;
  readonly #samples: number[] = [];
  readonly #published = new Map<number, number>();
  #next = 0;

  constructor(size = 256) {
    this.#size = size;
  }

  /** A segment's META: when the origin published it. */
  onPublished(segmentId: number, publishedAt: number): void {
    if (this.#published.has(segmentId)) return;
    this.#published.set(segmentId, publishedAt);
    if (this.#published.size > this.#size) this.#published.delete(this.#published.keys().next().value!);
  }

  /** The segment is held (verified and cached) at `now`. */
  onHeld(segmentId: number, now: number): void {
    const at = this.#published.get(segmentId);
    if (at === undefined) return;
    this.#published.delete(segmentId);
    const d = Math.max(0, now - at);
    if (this.#samples.length < this.#size) this.#samples.push(d);
    else this.#samples[this.#next] = d;
    this.#next = (this.#next + 1) % this.#size;
  }

  report(): { p50: number | null; p95: number | null; samples: number } {
    const s = [...this.#samples].sort((a, b) => a - b);
    const q = (x: number): number | null =>
      s.length === 0 ? null : Math.round(s[Math.min(s.length - 1, Math.floor(x * s.length))]!);
    return { p50: q(0.5), p95: q(0.95), samples: s.length };
  }
}
