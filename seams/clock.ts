/**
 * The injected clock. Control and agent logic never call Date.now or the global timers
 * directly: they take a Clock, so a simulator (or a test) can run the same code on
 * simulated time. `systemClock` is the real one; `ManualClock` (manual-clock.ts) is the simulated one.
 */

/** An opaque timer handle, only good for passing back to the clock that made it. */
export type Timer = { readonly __timer: unique symbol };

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(timer: Timer | undefined): void;
}

export const MILLISECOND = 1;
export const SECOND = 1000 * MILLISECOND;
export const MINUTE = 60 * SECOND;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as Timer,
  clearTimeout: (t) => clearTimeout(t as unknown as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms) as unknown as Timer,
  clearInterval: (t) => clearInterval(t as unknown as NodeJS.Timeout | undefined),
};
