/**
 * The rollout of a full rebuild (issue 13, rolloutSlice): the nodes a rebuild changed whose
 * ASSIGN is not built yet — they hold one of an earlier plan — and how many of them one
 * reconcile builds. Owns that set; the Dcm adds a rebuild's nodes and takes a slice per
 * reconcile. Imports nothing.
 */

export class Rollout {
  readonly #waiting = new Set<number>();
  readonly #slice: number;

  /** `slice`: at most this many waiting nodes per reconcile (Infinity: no rollout, all at once). */
  constructor(slice: number) {
    if (!(slice >= 1)) throw new RangeError(`rolloutSlice must be >= 1, got ${slice}`);
    this.#slice = slice;
  }

  /** Nodes waiting for their ASSIGN. */
  get size(): number {
    return this.#waiting.size;
  }

  /** True for a node that still holds an earlier plan's ASSIGN. */
  has(id: number): boolean {
    return this.#waiting.has(id);
  }

  /**
   * A rebuild changed `changed`: with a slice, they wait their turn (and leave `changed`, which
   * is emptied); without one they are built at once. True when they were held.
   */
  hold(changed: Set<number>): boolean {
    if (this.#slice === Infinity) return false;
    for (const id of changed) this.#waiting.add(id);
    changed.clear();
    return true;
  }

  /** `now` (built at once) plus up to a slice of the waiting nodes, which leave the rollout. */
  slice(now: Set<number>): Set<number> {
    for (const id of now) this.#waiting.delete(id);
    let n = 0;
    for (const id of this.#waiting) {
      if (n++ >= this.#slice) break;
      now.add(id);
    }
    for (const id of now) this.#waiting.delete(id);
    return now;
  }

  /** A node left, or every node's ASSIGN is built afresh (clear()). */
  delete(id: number): void {
    this.#waiting.delete(id);
  }

  clear(): void {
    this.#waiting.clear();
  }
}
