/**
 * The heartbeat's S_1..S_k (FIG. 9), pure: how many packets of each substream a node holds for
 * the segments not played yet. Counted per segment as packets arrive, for a bounded number of
 * the newest segments.
 */

/** Segments whose per-substream packet counts are kept. */
const COUNTED_SEGMENTS = 64;

export class SubstreamBuffers {
  /** Segment id -> packets per substream. */
  readonly #perSegment = new Map<number, number[]>();

  /** One new packet of `substream` in `segmentId`, on a channel of `k` substreams. */
  count(segmentId: number, substream: number, k: number): void {
    let counts = this.#perSegment.get(segmentId);
    if (counts === undefined) {
      if (this.#perSegment.size >= COUNTED_SEGMENTS) {
        const oldest = Math.min(...this.#perSegment.keys());
        if (segmentId < oldest) return;
        this.#perSegment.delete(oldest);
      }
      counts = new Array<number>(k).fill(0);
      this.#perSegment.set(segmentId, counts);
    }
    if (substream < counts.length) counts[substream]!++;
  }

  /**
   * Packets held per substream (k of them) for segments after `playing` (all counted segments
   * when undefined: the player has not started).
   */
  buffers(playing: number | undefined, k: number): number[] {
    const out = new Array<number>(k).fill(0);
    for (const [id, counts] of this.#perSegment) {
      if (playing !== undefined && id <= playing) continue;
      for (let i = 0; i < k; i++) out[i]! += counts[i] ?? 0;
    }
    return out;
  }

  clear(): void {
    this.#perSegment.clear();
  }
}
