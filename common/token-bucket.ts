/**
 * Token bucket (pure): `rate` bytes per second, at most `burst` bytes saved up. Time comes in
 * as an argument so the maths is testable without a clock.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly rateBytesPerSec: number,
    readonly burstBytes: number,
    nowMs: number,
  ) {
    this.#tokens = burstBytes;
    this.#last = nowMs;
  }

  /** Tokens available at `nowMs`. */
  available(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /** Takes `bytes` if available now; returns whether it did. */
  take(bytes: number, nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#tokens < bytes) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** ms until `bytes` tokens will be available (0 if now). */
  waitMs(bytes: number, nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= bytes) return 0;
    return Math.ceil(((bytes - this.#tokens) * 1000) / this.rateBytesPerSec);
  }

  #refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.#last);
    this.#last = nowMs;
    this.#tokens = Math.min(this.burstBytes, this.#tokens + (elapsed * this.rateBytesPerSec) / 1000);
  }
}
