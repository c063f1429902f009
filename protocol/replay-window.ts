/**
 * Replay protection for the counters of authenticated control messages (the envelope's `seq`),
 * after WireGuard's sliding window (RFC 6479's bitmap): a counter is accepted once, if it is
 * newer than anything seen or inside the last REPLAY_WINDOW counters and not seen before.
 * Pure: the caller checks the tag first and only then calls `accept`, so a forged message
 * cannot move the window.
 *
 * Counters are u32 and start again from 1 with every handshake (new keys, new window), so
 * they never wrap inside a session in practice (2^32 messages at 10/s is 13 years); a counter
 * at or below `highest - REPLAY_WINDOW` is simply too old.
 */

/** Counters behind the highest one that are still accepted once (a multiple of 32). */
export const REPLAY_WINDOW = 1024;
const WORDS = REPLAY_WINDOW / 32;

export class ReplayWindow {
  /** Bit (c mod REPLAY_WINDOW) is set when counter c (within the window) was accepted. */
  readonly #bits = new Uint32Array(WORDS);
  #highest = -1;

  /** True when `counter` was never accepted and is not too old; it is then recorded. */
  accept(counter: number): boolean {
    if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) return false;
    if (counter > this.#highest) {
      const advance = this.#highest < 0 ? REPLAY_WINDOW : counter - this.#highest;
      if (advance >= REPLAY_WINDOW) this.#bits.fill(0);
      else for (let c = this.#highest + 1; c < counter; c++) this.#clear(c);
      this.#highest = counter;
      this.#set(counter);
      return true;
    }
    if (counter <= this.#highest - REPLAY_WINDOW) return false;
    if (this.#has(counter)) return false;
    this.#set(counter);
    return true;
  }

  /** Whether `counter` would be accepted now (nothing is recorded). */
  wouldAccept(counter: number): boolean {
    if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) return false;
    if (counter > this.#highest) return true;
    return counter > this.#highest - REPLAY_WINDOW && !this.#has(counter);
  }

  #has(c: number): boolean {
    const i = c % REPLAY_WINDOW;
    return ((this.#bits[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  #set(c: number): void {
    const i = c % REPLAY_WINDOW;
    this.#bits[i >>> 5] = this.#bits[i >>> 5]! | (1 << (i & 31));
  }

  #clear(c: number): void {
    const i = c % REPLAY_WINDOW;
    this.#bits[i >>> 5] = this.#bits[i >>> 5]! & ~(1 << (i & 31));
  }
}
