/**
 * Admission discipline (issue 13): established sessions first, expensive requests in slices.
 *
 * Control handles a HEARTBEAT or LEAVE of an established session as soon as it reads it (tens of
 * µs). A JOIN or a RESUME costs milliseconds (signature, key agreement, store row, placement), so
 * it waits in the AdmissionQueue and is handled in slices by a Slicer; between two slices the
 * event loop reads the socket again, so heartbeats never wait behind a burst of joins. What does
 * not fit is answered at once and cheaply (JoinError.BUSY with a retry-after, control-center.ts).
 *
 * Decisions, written down once:
 *
 * - Two lanes: RESUMEs (established sessions moving after a failover) go before JOINs, and a
 *   RESUME that finds the queue full takes the place of the newest JOIN.
 * - One entry per requester (a JOIN's identity key, a RESUME's node id): a resend replaces the
 *   queued datagram in place (its turn is kept; the newest datagram is the one handled, whose
 *   signature or nonce the node still accepts). A flood of resends never grows the queue.
 * - Bounded in entries and in time: at most `maxQueue` entries, and no new one when the queue
 *   already holds more than `maxWaitMs` of work at its recent rate (it would wait longer than a
 *   node waits for its answer: better a BUSY with a retry-after now than silence); a request
 *   that still waited `maxWaitMs` is dropped unanswered when its turn comes (its node has resent).
 * - A slice ends after `perSlice` units of work, or once `budgetMs` of CPU time is spent (measured
 *   with an injected `cpuNow`; without one the count alone bounds a slice, which is what keeps the
 *   simulator on a ManualClock deterministic), whichever comes first; at least one unit runs.
 * - The next slice comes `gapMs` later on the injected Clock. When the socket was busy meanwhile
 *   (`inbound()` counted at least `busyInbound` datagrams since the last slice: a full read batch
 *   of libuv, more may be waiting), the slice is put off by another gap, at most `maxDefers` times
 *   in a row: heartbeats first, yet joins still get a bounded share.
 * - retry-after = the time the queue needs to drain at the rate it drained over the last second
 *   (its backlog / admissions per second), between a floor and a cap: retries come back when
 *   there is room rather than all at once.
 *
 * The same Slicer paces ASSIGNs (control-center.ts): units are bytes there.
 */
import type { Clock, Timer } from "../seams/clock.js";

export type Lane = "resume" | "join";

export interface AdmissionConfig {
  /** Requests waiting at most, both lanes together. */
  maxQueue: number;
  /** A request that waited longer is dropped unanswered when its turn comes, ms. */
  maxWaitMs: number;
  /** retry-after bounds, ms. */
  retryAfterFloorMs: number;
  retryAfterCapMs: number;
  /** Admissions per second assumed until a second of history exists. */
  initialRatePerSec: number;
}

export const DEFAULT_ADMISSION: AdmissionConfig = {
  // About a second of work at the rate issue 13 asks for (2,000 joins/s).
  maxQueue: 2048,
  maxWaitMs: 10_000,
  retryAfterFloorMs: 250,
  // Well under MAX_RETRY_AFTER_MS, the most a node waits.
  retryAfterCapMs: 15_000,
  // What one control admitted before issue 13 (6-7 ms per JOIN): a safe first guess.
  initialRatePerSec: 150,
};

interface Entry<T> {
  key: string;
  item: T;
  at: number;
}

export type Offer = "queued" | "replaced" | "full";

/** The bounded two-lane queue (pure: time comes in as an argument). */
export class AdmissionQueue<T> {
  readonly #config: AdmissionConfig;
  readonly #lanes: Record<Lane, Map<string, Entry<T>>> = { resume: new Map(), join: new Map() };
  /** Taken in the current one-second window, and the rate of the last full one. */
  #windowStart: number;
  #windowTaken = 0;
  #rate: number;
  /** Requests dropped after waiting over maxWaitMs, and JOINs dropped to make room for a RESUME. */
  expired = 0;
  evicted = 0;

  constructor(config: AdmissionConfig, nowMs: number) {
    this.#config = config;
    this.#windowStart = nowMs;
    this.#rate = config.initialRatePerSec;
  }

  get depth(): number {
    return this.#lanes.resume.size + this.#lanes.join.size;
  }

  laneDepth(lane: Lane): number {
    return this.#lanes[lane].size;
  }

  /** The item waiting for `key`, if any. */
  waiting(lane: Lane, key: string): T | undefined {
    return this.#lanes[lane].get(key)?.item;
  }

  /** Queues `item` for `key` (a resend replaces the waiting one and keeps its turn); "full" when there is no room. */
  offer(lane: Lane, key: string, item: T, nowMs: number): Offer {
    const q = this.#lanes[lane];
    const waiting = q.get(key);
    if (waiting !== undefined) {
      waiting.item = item;
      waiting.at = nowMs;
      return "replaced";
    }
    // A JOIN is turned away when more work waits than maxWaitMs at the recent rate. A RESUME is
    // not: it comes from a node whose heartbeats went unanswered, whose session may be live here
    // (control slow, not dead), and a BUSY would keep it silent for the retry-after — long enough
    // to be declared lost. RESUMEs go first, resends replace (one per node), and only a queue
    // full of them turns one away.
    if (
      lane === "join" &&
      (this.depth + 1) * 1000 > this.#config.maxWaitMs * Math.max(1, this.ratePerSec(nowMs))
    )
      return "full";
    if (this.depth >= this.#config.maxQueue) {
      // An established session moving (RESUME) is never turned away for JOINs: the newest JOIN
      // makes room (dropped unanswered: its node resends on its back-off).
      if (lane === "join" || !this.#evictNewestJoin()) return "full";
    }
    q.set(key, { key, item, at: nowMs });
    return "queued";
  }

  #evictNewestJoin(): boolean {
    const joins = this.#lanes.join;
    let last: string | undefined;
    for (const key of joins.keys()) last = key;
    if (last === undefined) return false;
    joins.delete(last);
    this.evicted++;
    return true;
  }

  /** The next request to handle (RESUMEs first); expired ones are dropped on the way (counted in `expired`). */
  take(nowMs: number): T | undefined {
    for (const lane of ["resume", "join"] as const) {
      const q = this.#lanes[lane];
      for (const [key, e] of q) {
        q.delete(key);
        if (nowMs - e.at > this.#config.maxWaitMs) {
          this.expired++;
          continue;
        }
        this.#count(nowMs);
        return e.item;
      }
    }
    return undefined;
  }

  /** Admissions per second over the last full second (the initial guess before one). */
  ratePerSec(nowMs: number): number {
    this.#roll(nowMs);
    return this.#rate;
  }

  /**
   * How long a requester turned away now should wait, ms: the backlog (`extra` more ahead of it,
   * e.g. a rate limiter's deficit in requests) at the recent rate, within the floor and cap.
   */
  retryAfterMs(nowMs: number, extra = 0): number {
    const { retryAfterFloorMs: floor, retryAfterCapMs: cap } = this.#config;
    const rate = Math.max(1, this.ratePerSec(nowMs));
    const ms = Math.ceil(((this.depth + 1 + extra) * 1000) / rate);
    return Math.min(cap, Math.max(floor, ms));
  }

  #count(nowMs: number): void {
    this.#roll(nowMs);
    this.#windowTaken++;
  }

  #roll(nowMs: number): void {
    const elapsed = nowMs - this.#windowStart;
    if (elapsed < 1000) return;
    // A second (or more) went by: its rate when the queue was backlogged all along (still not
    // empty: that is how fast control admits); a second with idle time only says it admits at
    // least that fast.
    const measured = (this.#windowTaken * 1000) / elapsed;
    if (this.depth > 0 && this.#windowTaken > 0) this.#rate = measured;
    else this.#rate = Math.max(this.#rate, measured);
    this.#windowStart = nowMs;
    this.#windowTaken = 0;
  }
}

export interface SlicerConfig {
  /** Units of work per slice at most (requests; bytes for the ASSIGN pacer). */
  perSlice: number;
  /** CPU time per slice at most, ms (only with a cpuNow). */
  budgetMs: number;
  /** Pause between slices, ms. */
  gapMs: number;
  /** Datagrams read since the last slice that make the next one wait another gap. */
  busyInbound: number;
  /** Times in a row a slice may be put off so. */
  maxDefers: number;
}

export const DEFAULT_SLICER: SlicerConfig = {
  perSlice: 64,
  budgetMs: 4,
  gapMs: 1,
  // libuv reads at most 32 datagrams per readable event: a full batch means more may be waiting.
  busyInbound: 32,
  maxDefers: 3,
};

export interface SlicerDeps {
  clock: Clock;
  /** A monotonic CPU-time clock, ms (performance.now in a real process); absent: count-only slices. */
  cpuNow?: (() => number) | undefined;
}

/**
 * Runs `step` in slices on the injected clock. `step` does one unit of work and returns its cost
 * in units (>= 1), or 0 when there is nothing left.
 */
export class Slicer {
  readonly #deps: SlicerDeps;
  readonly #config: SlicerConfig;
  readonly #step: () => number;
  #timer: Timer | undefined;
  #inbound = 0;
  #defers = 0;
  #stopped = false;
  slices = 0;
  deferred = 0;

  constructor(deps: SlicerDeps, config: SlicerConfig, step: () => number) {
    this.#deps = deps;
    this.#config = config;
    this.#step = step;
  }

  /** Work arrived: a slice runs `afterMs` from now (at once on the clock by default) unless one is pending. */
  kick(afterMs = 0): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = this.#deps.clock.setTimeout(() => this.#slice(), afterMs);
  }

  /** A datagram was read (heartbeats first: see the module header). */
  inbound(): void {
    this.#inbound++;
  }

  stop(): void {
    this.#stopped = true;
    this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #slice(): void {
    this.#timer = undefined;
    const c = this.#config;
    if (this.#inbound >= c.busyInbound && this.#defers < c.maxDefers) {
      this.#inbound = 0;
      this.#defers++;
      this.deferred++;
      this.#timer = this.#deps.clock.setTimeout(() => this.#slice(), c.gapMs);
      return;
    }
    this.#inbound = 0;
    this.#defers = 0;
    this.slices++;
    const cpu = this.#deps.cpuNow;
    const start = cpu?.();
    let units = 0;
    let more = true;
    try {
      while (units < c.perSlice) {
        const cost = this.#step();
        if (cost <= 0) {
          more = false;
          break;
        }
        units += cost;
        if (cpu !== undefined && cpu() - start! >= c.budgetMs) break;
      }
    } finally {
      // A step that throws (a bug: the owner logs it) does not stop the queue.
      if (more && !this.#stopped) this.#timer = this.#deps.clock.setTimeout(() => this.#slice(), c.gapMs);
    }
  }
}
