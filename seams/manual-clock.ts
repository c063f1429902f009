/**
 * A simulated Clock: time moves only when `advance` is called, and due timers fire in
 * time order (ties in creation order). Used by unit tests and by the simulator (sim/), where a
 * million viewers and their datagrams keep hundreds of thousands of timers pending: the timers
 * sit in a binary heap ordered by (due time, creation id), so each one costs O(log n), and a
 * cleared timer is only forgotten (its heap entry is skipped when it comes up).
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
  /** The live timers by id; the heap may still hold entries of cleared ones. */
  #pending = new Map<number, Pending>();
  #heap: Pending[] = [];

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
    if (timer === undefined) return;
    const id = timer as unknown as number;
    const p = this.#pending.get(id);
    if (p === undefined) return;
    // Its heap entry stays until it comes up: let go of what the callback holds now.
    p.fn = noop;
    this.#pending.delete(id);
  }

  clearInterval(timer: Timer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Number of timers still scheduled. */
  get pendingTimers(): number {
    return this.#pending.size;
  }

  /** When the next live timer falls due (undefined: none). */
  get nextDue(): number | undefined {
    this.#dropCleared();
    return this.#heap[0]?.at;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#dropCleared();
      const next = this.#heap[0];
      if (next === undefined || next.at > end) break;
      this.#pop();
      this.#now = Math.max(this.#now, next.at);
      if (next.every === undefined) this.#pending.delete(next.id);
      else {
        // A late interval (after stall) fires once and runs on from now, as Node's setInterval does.
        next.at = next.at + next.every <= this.#now ? this.#now + next.every : next.at + next.every;
        this.#push(next);
      }
      next.fn();
    }
    // A callback may have stalled the clock past `end`: time never goes back.
    this.#now = Math.max(this.#now, end);
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
    const p: Pending = { id, at: this.#now + Math.max(0, ms), every, fn };
    this.#pending.set(id, p);
    this.#push(p);
    return id as unknown as Timer;
  }

  /** Pops heap tops that were cleared. */
  #dropCleared(): void {
    const h = this.#heap;
    while (h.length > 0 && this.#pending.get(h[0]!.id) !== h[0]) this.#pop();
  }

  #push(p: Pending): void {
    const h = this.#heap;
    let i = h.length;
    h.push(p);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!before(p, h[up]!)) break;
      h[i] = h[up]!;
      i = up;
    }
    h[i] = p;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function noop(): void {}

function before(a: Pending, b: Pending): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}
