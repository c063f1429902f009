/**
 * What the simulator measures of control (docs/sim.md): every control event timed in wall time
 * with performance.now, and nothing else. A control event is one datagram handed to control's
 * handler (through ControlMeter.transport, the Transport control is given) or one callback of a
 * timer control set (through ControlMeter.clock, the Clock control is given); the viewers'
 * work, the network's and the simulator's own are outside every measurement. The longest event
 * is the longest event-loop stall control would cause; the sum over an interval is control's CPU
 * (one thread: wall time is CPU time there, plus whatever GC pause falls inside an event, and
 * plus the time other processes held the core; the stall figures stay wall time).
 *
 * CPU figures, which a loaded machine does not inflate: process.cpuUsage is read once per window
 * of `cpuWindowMs` of wall time (default 20 ms), not around every event (a read costs about 3.5 µs,
 * as much as a tenth of a heartbeat's handling: read twice per event it was 12 % of a run's CPU).
 * Each event's wall time is scaled by its window's ratio of process CPU to wall time: the share
 * of the window the process was on a core (1 on a quiet machine; below 1 when other processes
 * took the cores; a little above 1 when the collector's helper threads ran beside it). A window
 * ends at the first control event after `cpuWindowMs`, or at settleCpu() (read the CPU figures
 * after it: ControlMeter.cpuMs settles on its own).
 *
 * A datagram event is classified by what it did to control's counters (metrics.heartbeats,
 * resumes, leaves, joins), so the measurement does not depend on the wire format nor on how
 * control dispatches: a JOIN queued for admission is a "join" event when it arrives, and its
 * admission slice a "timer" event. Events that sent ASSIGNs (metrics.assignsSent grew) are also
 * counted as "assigning" (plans and repairs); ControlCenter.reconcile, when control has it, is
 * timed on its own ("reconcile").
 */
import { performance } from "node:perf_hooks";
import type { ControlMetrics } from "../control/metrics.js";
import type { Clock, Timer } from "../seams/clock.js";
import type { Address, DatagramHandler, Transport } from "../seams/transport.js";

export type EventKind = "heartbeat" | "join" | "resume" | "leave" | "other" | "timer";

export class Tally {
  count = 0;
  totalMs = 0;
  maxMs = 0;
  /**
   * The process's CPU time (user + system) inside the events, ms: unlike wall time, not inflated
   * when other processes take the cores. Events of the current CPU window are not in it until the
   * window is settled (ControlMeter.settleCpu).
   */
  cpuMs = 0;
  /** Wall ms of events in the current CPU window, not yet scaled into cpuMs. */
  pendingMs = 0;

  add(ms: number): void {
    this.count++;
    this.totalMs += ms;
    this.pendingMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Scales the window's wall time by its CPU share into cpuMs. */
  settle(ratio: number): void {
    this.cpuMs += this.pendingMs * ratio;
    this.pendingMs = 0;
  }

  get meanUs(): number {
    return this.count === 0 ? 0 : (this.totalMs * 1000) / this.count;
  }

  get meanCpuUs(): number {
    return this.count === 0 ? 0 : (this.cpuMs * 1000) / this.count;
  }

  /** The difference since `before` (a snapshot); maxMs is this one's. */
  since(before: { count: number; totalMs: number; cpuMs: number }): Tally {
    const t = new Tally();
    t.count = this.count - before.count;
    t.totalMs = this.totalMs - before.totalMs;
    t.cpuMs = this.cpuMs - before.cpuMs;
    t.pendingMs = this.pendingMs;
    t.maxMs = this.maxMs;
    return t;
  }

  /** Counts and times so far (settle the meter's CPU window first for cpuMs). */
  snapshot(): { count: number; totalMs: number; cpuMs: number } {
    return { count: this.count, totalMs: this.totalMs, cpuMs: this.cpuMs };
  }
}

/** The longest control event: how long, what, and when (simulated ms since the run's start). */
export interface Stall {
  ms: number;
  kind: EventKind | "reconcile";
  at: number;
  /** A timer's callback (its source, shortened): which of control's timers it was. */
  what?: string;
}

export class ControlMeter {
  readonly byKind: Record<EventKind, Tally> = {
    heartbeat: new Tally(),
    join: new Tally(),
    resume: new Tally(),
    leave: new Tally(),
    other: new Tally(),
    timer: new Tally(),
  };
  readonly assigning = new Tally();
  /** HEARTBEATs that sent no ASSIGN (the steady-state path; the others place or repair). */
  readonly plainHeartbeat = new Tally();
  readonly reconcile = new Tally();
  /** Every event (the stall figure); the window's longest is kept apart (resetWindow). */
  longest: Stall = { ms: 0, kind: "other", at: 0 };
  windowLongest: Stall = { ms: 0, kind: "other", at: 0 };
  /** Events over `stallLimitMs`, and by what they were (a timer's callback, else the kind). */
  overLimit = 0;
  readonly overLimitBy = new Map<string, { n: number; maxMs: number }>();
  /** Control's busy time per simulated second (index: seconds since start). */
  readonly busyMs: number[] = [];
  metrics: ControlMetrics | undefined;
  readonly #clock: Clock;
  readonly #start: number;
  readonly #stallLimitMs: number;
  readonly #cpuWindowMs: number;
  /** Every tally that takes event times (settled together at the end of a CPU window). */
  readonly #tallies: Tally[];
  #windowWall = performance.now();
  #windowCpu = process.cpuUsage();
  /** CPU windows settled, and their CPU/wall ratios' extremes (a check on the scaling). */
  cpuWindows = 0;
  cpuRatioMin = Infinity;
  cpuRatioMax = 0;

  constructor(clock: Clock, startMs: number, stallLimitMs = 100, cpuWindowMs = 20) {
    this.#clock = clock;
    this.#start = startMs;
    this.#stallLimitMs = stallLimitMs;
    this.#cpuWindowMs = cpuWindowMs;
    this.#tallies = [...Object.values(this.byKind), this.assigning, this.plainHeartbeat, this.reconcile];
  }

  /**
   * Ends the current CPU window: the process's CPU over the window's wall time scales the wall
   * time of the control events in it into every tally's cpuMs. Call before reading CPU figures.
   */
  settleCpu(now = performance.now()): void {
    const wall = now - this.#windowWall;
    const c = process.cpuUsage(this.#windowCpu);
    const cpu = (c.user + c.system) / 1000;
    const ratio = wall > 0 ? cpu / wall : 1;
    for (const t of this.#tallies) if (t.pendingMs > 0) t.settle(ratio);
    this.#windowWall = now;
    this.#windowCpu = process.cpuUsage();
    if (wall > 0) {
      this.cpuWindows++;
      if (ratio < this.cpuRatioMin) this.cpuRatioMin = ratio;
      if (ratio > this.cpuRatioMax) this.cpuRatioMax = ratio;
    }
  }

  /** Control's transport: the handler it sets is timed per datagram. */
  transport(inner: Transport): Transport {
    return {
      local: inner.local,
      send: (data: Uint8Array, to: Address) => inner.send(data, to),
      onDatagram: (handler: DatagramHandler) =>
        inner.onDatagram((data, from) => this.#datagram(handler, data, from)),
      close: () => inner.close(),
    };
  }

  /** Control's clock: each callback of a timer it sets is timed. */
  clock(): Clock {
    const c = this.#clock;
    return {
      now: () => c.now(),
      setTimeout: (fn: () => void, ms: number): Timer => c.setTimeout(() => this.#timer(fn), ms),
      setInterval: (fn: () => void, ms: number): Timer => c.setInterval(() => this.#timer(fn), ms),
      clearTimeout: (t: Timer | undefined) => c.clearTimeout(t),
      clearInterval: (t: Timer | undefined) => c.clearInterval(t),
    };
  }

  /** Times fn as a reconcile (a plan or repair and its ASSIGNs); nested inside an event. */
  timeReconcile<T>(fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.reconcile.add(performance.now() - t0);
    }
  }

  resetWindow(): void {
    this.windowLongest = { ms: 0, kind: "other", at: 0 };
  }

  /** Control's total busy time, ms. */
  get totalMs(): number {
    return Object.values(this.byKind).reduce((a, t) => a + t.totalMs, 0);
  }

  /** Control's total CPU time, ms (settles the CPU window). */
  get cpuMs(): number {
    this.settleCpu();
    return Object.values(this.byKind).reduce((a, t) => a + t.cpuMs, 0);
  }

  #datagram(handler: DatagramHandler, data: Buffer, from: Address): void {
    const m = this.metrics;
    const hb = m?.heartbeats ?? 0;
    const rs = m?.resumes ?? 0;
    const lv = m?.leaves ?? 0;
    const jn = m?.joins ?? 0;
    const as = m?.assignsSent ?? 0;
    const t0 = performance.now();
    handler(data, from);
    const t1 = performance.now();
    const ms = t1 - t0;
    let kind: EventKind = "other";
    if (m !== undefined) {
      if (m.heartbeats !== hb) kind = "heartbeat";
      else if (m.resumes !== rs) kind = "resume";
      else if (m.leaves !== lv) kind = "leave";
      else if (m.joins !== jn) kind = "join";
      if (m.assignsSent !== as) this.assigning.add(ms);
      else if (kind === "heartbeat") this.plainHeartbeat.add(ms);
    }
    this.#record(kind, ms, t1);
  }

  #timer(fn: () => void): void {
    const m = this.metrics;
    const as = m?.assignsSent ?? 0;
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    const ms = t1 - t0;
    if (m !== undefined && m.assignsSent !== as) this.assigning.add(ms);
    this.#record("timer", ms, t1, fn);
  }

  #record(kind: EventKind, ms: number, now: number, fn?: () => void): void {
    this.byKind[kind].add(ms);
    if (now - this.#windowWall >= this.#cpuWindowMs) this.settleCpu(now);
    const at = this.#clock.now() - this.#start;
    // The callback's source is read only for the few events that make a figure.
    const long = ms > this.#stallLimitMs || ms > this.longest.ms || ms > this.windowLongest.ms;
    const what =
      !long || fn === undefined
        ? undefined
        : fn.name !== ""
          ? fn.name
          : fn.toString().replace(/\s+/g, " ").slice(0, 60);
    const stall: Stall = what === undefined ? { ms, kind, at } : { ms, kind, at, what };
    if (ms > this.longest.ms) this.longest = stall;
    if (ms > this.windowLongest.ms) this.windowLongest = stall;
    if (ms > this.#stallLimitMs) {
      this.overLimit++;
      const key = what ?? kind;
      const by = this.overLimitBy.get(key) ?? { n: 0, maxMs: 0 };
      by.n++;
      by.maxMs = Math.max(by.maxMs, ms);
      this.overLimitBy.set(key, by);
    }
    const s = Math.max(0, Math.floor(at / 1000));
    this.busyMs[s] = (this.busyMs[s] ?? 0) + ms;
  }
}

/** Heap used after a full collection, bytes (a collection is forced when the runtime allows it). */
export function heapUsed(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

let gcFn: (() => void) | undefined;

function collect(): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === "function") gcFn = g;
  }
  gcFn?.();
}

/** Installs a collector (node:v8 + node:vm) so heapUsed() measures live bytes without --expose-gc. */
export async function enableGc(): Promise<boolean> {
  if (gcFn !== undefined) return true;
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") {
    gcFn = g;
    return true;
  }
  const v8 = await import("node:v8");
  const vm = await import("node:vm");
  v8.setFlagsFromString("--expose-gc");
  const fn = vm.runInNewContext("gc") as unknown;
  if (typeof fn === "function") gcFn = fn as () => void;
  return gcFn !== undefined;
}

/** The slope of log(y) over log(x) between two points: 1 = linear, 0 = flat. */
export function slope(x1: number, y1: number, x2: number, y2: number): number | null {
  if (x1 <= 0 || x2 <= 0 || y1 <= 0 || y2 <= 0 || x1 === x2) return null;
  return Math.log(y2 / y1) / Math.log(x2 / x1);
}
