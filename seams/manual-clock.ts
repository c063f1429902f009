/**
 * A simulated Clock: time moves only when `advance` is called, and due timers fire in
 * time order (ties in creation order). Used by unit tests and, later, the simulator.
 */
import type { Clock, Timer } from "./clock.js";

interface Pending {
  id: number;
  at: number;
  every: number | undefined;
  fn: () => void;
}

export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #pending = new Map<number, Pending>();

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(timer: Timer | undefined): void {
    if (timer !== undefined) this.#pending.delete(timer as unknown as number);
  }

  clearInterval(timer: Timer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Number of timers still scheduled. */
  get pendingTimers(): number {
    return this.#pending.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.#pending.values()) {
        if (p.at <= end && (next === undefined || p.at < next.at || (p.at === next.at && p.id < next.id))) {
          next = p;
        }
      }
      if (next === undefined) break;
      this.#now = Math.max(this.#now, next.at);
      if (next.every === undefined) this.#pending.delete(next.id);
      // A late interval (after stall) fires once and runs on from now, as Node's setInterval does.
      else next.at = next.at + next.every <= this.#now ? this.#now + next.every : next.at + next.every;
      next.fn();
    }
    this.#now = end;
  }

  /**
   * The event loop was blocked for `ms`: time moves on and nothing fires; the next advance()
   * runs everything that fell due, late, in time order (each interval once).
   */
  stall(ms: number): void {
    this.#now += ms;
  }

  #add(fn: () => void, ms: number, every: number | undefined): Timer {
    const id = this.#nextId++;
    this.#pending.set(id, { id, at: this.#now + Math.max(0, ms), every, fn });
    return id as unknown as Timer;
  }
}
