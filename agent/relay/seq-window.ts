/**
 * Duplicate suppression by sequence number (pure): a bitmap of the last `size` sequence
 * numbers below the highest one seen, like IPsec's anti-replay window (RFC 4303 §3.4.3).
 * Sequence numbers are u32 and compared in serial-number arithmetic (RFC 1982), so the
 * window survives wrap-around. A number far behind the window (more than `resetDistance`)
 * means the sender restarted its counter: the window starts over instead of dropping
 * everything from then on.
 */

export type SeqVerdict = "new" | "duplicate" | "old";

export interface SeqWindowConfig {
  /** Sequence numbers remembered below the highest (rounded up to a power of two, at least 32). */
  size: number;
  /** A number this far behind the highest restarts the window (sender restart). */
  resetDistance: number;
}

export const DEFAULT_SEQ_WINDOW: SeqWindowConfig = { size: 4096, resetDistance: 1 << 20 };

export class SeqWindow {
  readonly #size: number;
  readonly #reset: number;
  readonly #bits: Uint32Array;
  #top: number | undefined;
  /** Sequence numbers from the first one seen to the highest, minus one (capped by use). */
  #span = 0;
  #missedOut = 0;

  constructor(config: SeqWindowConfig = DEFAULT_SEQ_WINDOW) {
    // A power of two divides 2^32, so a slot stays the same across the u32 wrap.
    this.#size = Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, config.size))));
    this.#reset = Math.max(this.#size, config.resetDistance);
    this.#bits = new Uint32Array(this.#size / 32);
  }

  /** The highest sequence number accepted so far. */
  get highest(): number | undefined {
    return this.#top;
  }

  /** Checks `seq` and records it when new. */
  check(seq: number): SeqVerdict {
    const s = seq >>> 0;
    if (this.#top === undefined) return this.#restart(s);
    const diff = (s - this.#top) | 0; // serial-number distance, in [-2^31, 2^31)
    if (diff > 0) {
      if (diff >= this.#size) {
        this.#missedOut += this.#zerosIn(this.#size) + (diff - this.#size);
        this.#span += diff;
        this.#bits.fill(0);
      } else {
        for (let i = 1; i <= diff; i++) {
          const next = (this.#top + i) >>> 0;
          // The slot of `next` held `next - size`: leaving the window unseen, it was missed.
          if (this.#span >= this.#size - 1 && !this.#get(next)) this.#missedOut++;
          this.#clear(next);
          this.#span++;
        }
      }
      this.#set(s);
      this.#top = s;
      return "new";
    }
    if (-diff >= this.#size) {
      if (-diff >= this.#reset) return this.#restart(s);
      return "old";
    }
    if (this.#get(s)) return "duplicate";
    this.#set(s);
    return "new";
  }

  /**
   * Whether `seq` needs nothing more: seen, or too far behind the window to matter. False for a
   * number in the window not seen yet, or ahead of the highest. Does not record anything.
   */
  settled(seq: number): boolean {
    if (this.#top === undefined) return false;
    const diff = ((seq >>> 0) - this.#top) | 0;
    if (diff > 0) return false;
    if (-diff >= this.#size || -diff > this.#span) return true;
    return this.#get(seq >>> 0);
  }

  /**
   * Sequence numbers never seen since the window (re)started, counting only those at least
   * `horizon` below the highest (younger ones may still arrive out of order).
   */
  missed(horizon: number): number {
    if (this.#top === undefined) return 0;
    const h = Math.max(0, Math.floor(horizon));
    const inWindow = Math.min(this.#span + 1, this.#size);
    let zeros = 0;
    for (let d = h; d < inWindow; d++) if (!this.#get((this.#top - d) >>> 0)) zeros++;
    return this.#missedOut + zeros;
  }

  /** Zero bits among the `n` newest slots (top and below). */
  #zerosIn(n: number): number {
    let zeros = 0;
    const span = Math.min(n, this.#span + 1);
    for (let d = 0; d < span; d++) if (!this.#get((this.#top! - d) >>> 0)) zeros++;
    return zeros;
  }

  #restart(s: number): SeqVerdict {
    this.#span = 0;
    this.#bits.fill(0);
    this.#set(s);
    this.#top = s;
    return "new";
  }

  #slot(s: number): [number, number] {
    const i = s % this.#size;
    return [i >>> 5, 1 << (i & 31)];
  }

  #get(s: number): boolean {
    const [w, m] = this.#slot(s);
    return (this.#bits[w]! & m) !== 0;
  }

  #set(s: number): void {
    const [w, m] = this.#slot(s);
    this.#bits[w]! |= m;
  }

  #clear(s: number): void {
    const [w, m] = this.#slot(s);
    this.#bits[w]! &= ~m;
  }
}
