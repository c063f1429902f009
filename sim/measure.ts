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
 *
 * GC inside the stalls (GcLog, gcFigures): the viewers and control share one heap here, so a
 * collection that the viewers' garbage brought on may pause a control event. Each event over
 * the limit (and the longest) keeps its wall-time span; a PerformanceObserver on 'gc' entries
 * gives every pause's span, and gcFigures says how much of each long event was GC pause. Node
 * reports a pause from a setImmediate, so a synchronous run's pauses are matched at its end,
 * after GcLog.flush() lets the event loop turn (sim/main.ts does; a test's simulate() call has
 * no GC figures). Not a way to hide stalls: both the stall and its GC-free part are printed.
 */
import { type PerformanceEntry, PerformanceObserver, performance } from "node:perf_hooks";
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
  /** performance.now() at the event's start (to match GC pauses against it). */
  start: number;
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
  longest: Stall = { ms: 0, kind: "other", at: 0, start: 0 };
  windowLongest: Stall = { ms: 0, kind: "other", at: 0, start: 0 };
  /** Every event over `stallLimitMs`: its wall-clock (performance.now()) start and wall ms, in pairs. */
  readonly overLimitSpans: number[] = [];
  /**
   * The longest event in CPU time: its wall time scaled by its CPU window's ratio (at most 1).
   * A long event fills its window nearly alone (the window settles right after it), so this is
   * what it would have held the event loop for had the process kept a core: the wall figures
   * include the time a loaded machine gave other processes. GC pauses inside stay in both.
   */
  longestCpu: Stall = { ms: 0, kind: "other", at: 0, start: 0 };
  /** Events over `stallLimitMs` in CPU time (as longestCpu). */
  overLimitCpu = 0;
  /** This CPU window's events that may make the CPU-time figures (settleCpu judges them). */
  readonly #windowLong: Array<{ ms: number; kind: EventKind; at: number; start: number; fn?: () => void }> =
    [];
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
  readonly #wall: () => number;
  readonly #cpuMs: () => number;
  #windowWall: number;
  #windowCpu: number;
  /** CPU windows settled, and their CPU/wall ratios' extremes (a check on the scaling). */
  cpuWindows = 0;
  cpuRatioMin = Infinity;
  cpuRatioMax = 0;

  /**
   * `time`: the wall clock (performance.now) and the process's CPU so far in ms (process.cpuUsage,
   * every thread), injected so that a test can give both.
   */
  constructor(
    clock: Clock,
    startMs: number,
    stallLimitMs = 100,
    cpuWindowMs = 20,
    time: MeterTime = REAL_TIME,
  ) {
    this.#clock = clock;
    this.#wall = time.wall;
    this.#cpuMs = time.cpuMs;
    this.#windowWall = time.wall();
    this.#windowCpu = time.cpuMs();
    this.#start = startMs;
    this.#stallLimitMs = stallLimitMs;
    this.#cpuWindowMs = cpuWindowMs;
    this.#tallies = [...Object.values(this.byKind), this.assigning, this.plainHeartbeat, this.reconcile];
  }

  /**
   * Ends the current CPU window: the process's CPU over the window's wall time scales the wall
   * time of the control events in it into every tally's cpuMs. Call before reading CPU figures.
   */
  settleCpu(now = this.#wall()): void {
    const wall = now - this.#windowWall;
    const cpuNow = this.#cpuMs();
    const cpu = cpuNow - this.#windowCpu;
    const ratio = wall > 0 ? cpu / wall : 1;
    for (const t of this.#tallies) if (t.pendingMs > 0) t.settle(ratio);
    for (const e of this.#windowLong) {
      // The collector's helper threads can lift the ratio over 1: an event's own time is at most its wall time.
      const ms = e.ms * Math.min(1, ratio);
      if (ms > this.#stallLimitMs) this.overLimitCpu++;
      if (ms <= this.longestCpu.ms) continue;
      const what = e.fn === undefined ? undefined : whatOf(e.fn);
      this.longestCpu = {
        ms,
        kind: e.kind,
        at: e.at,
        start: e.start,
        ...(what === undefined ? {} : { what }),
      };
    }
    this.#windowLong.length = 0;
    this.#windowWall = now;
    this.#windowCpu = cpuNow;
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
    const t0 = this.#wall();
    try {
      return fn();
    } finally {
      this.reconcile.add(this.#wall() - t0);
    }
  }

  resetWindow(): void {
    this.windowLongest = { ms: 0, kind: "other", at: 0, start: 0 };
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
    const t0 = this.#wall();
    handler(data, from);
    const t1 = this.#wall();
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
    this.#record(kind, ms, t0, t1);
  }

  #timer(fn: () => void): void {
    const m = this.metrics;
    const as = m?.assignsSent ?? 0;
    const t0 = this.#wall();
    fn();
    const t1 = this.#wall();
    const ms = t1 - t0;
    if (m !== undefined && m.assignsSent !== as) this.assigning.add(ms);
    this.#record("timer", ms, t0, t1, fn);
  }

  #record(kind: EventKind, ms: number, start: number, now: number, fn?: () => void): void {
    this.byKind[kind].add(ms);
    // A candidate for the CPU-time stall figures (CPU never exceeds wall time): judged when its
    // window settles, by that window's CPU/wall ratio.
    if (ms > this.#stallLimitMs || ms > this.longestCpu.ms)
      this.#windowLong.push({ ms, kind, at: this.#clock.now() - this.#start, start, fn });
    if (now - this.#windowWall >= this.#cpuWindowMs) this.settleCpu(now);
    const at = this.#clock.now() - this.#start;
    // The callback's source is read only for the few events that make a figure.
    const long = ms > this.#stallLimitMs || ms > this.longest.ms || ms > this.windowLongest.ms;
    const what = !long || fn === undefined ? undefined : whatOf(fn);
    const stall: Stall = what === undefined ? { ms, kind, at, start } : { ms, kind, at, start, what };
    if (ms > this.longest.ms) this.longest = stall;
    if (ms > this.windowLongest.ms) this.windowLongest = stall;
    if (ms > this.#stallLimitMs) {
      this.overLimit++;
      this.overLimitSpans.push(start, ms);
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

/** The meter's two clocks (ControlMeter's constructor). */
export interface MeterTime {
  wall(): number;
  cpuMs(): number;
}

const REAL_TIME: MeterTime = {
  wall: () => performance.now(),
  cpuMs: () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  },
};

/** A timer's callback, named: its name, else its source, shortened. */
function whatOf(fn: () => void): string {
  return fn.name !== "" ? fn.name : fn.toString().replace(/\s+/g, " ").slice(0, 60);
}

/** Heap used after a full collection, bytes (a collection is forced when the runtime allows it). */
export function heapUsed(): number {
  const t0 = performance.now();
  collect();
  collect();
  forcedGc.push(t0, performance.now());
  return process.memoryUsage().heapUsed;
}

/** The spans (performance.now() start, end, in pairs) of the collections heapUsed() forced. */
const forcedGc: number[] = [];

/** The long events of one run, as plain numbers (what gcFigures needs once the run is over). */
export interface StallSpans {
  /** performance.now() at the run's start and end. */
  wall0: number;
  wall1: number;
  longestStart: number;
  longestMs: number;
  /** Events over the limit: start, wall ms, in pairs. */
  over: number[];
  limitMs: number;
}

export function stallSpans(meter: ControlMeter, wall0: number, wall1: number, limitMs: number): StallSpans {
  return {
    wall0,
    wall1,
    longestStart: meter.longest.start,
    longestMs: meter.longest.ms,
    over: [...meter.overLimitSpans],
    limitMs,
  };
}

/**
 * GC pauses as node:perf_hooks reports them ('gc' entries: the main thread's pause from the
 * collector's prologue to its epilogue; incremental marking steps and the helper threads' work
 * are not in them). Observes from construction until disconnect().
 */
export class GcLog {
  readonly #observer: PerformanceObserver;
  /** Pause starts (performance.now() timeline) and durations, ms, in the order reported. */
  readonly #start: number[] = [];
  readonly #ms: number[] = [];
  #sorted = true;

  constructor() {
    this.#observer = new PerformanceObserver((list) => this.#take(list.getEntries()));
    this.#observer.observe({ entryTypes: ["gc"] });
  }

  #take(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) {
      if (this.#start.length > 0 && e.startTime < this.#start[this.#start.length - 1]!) this.#sorted = false;
      this.#start.push(e.startTime);
      this.#ms.push(e.duration);
    }
  }

  /**
   * Lets the event loop turn so that the pauses so far are reported (Node reports each from a
   * setImmediate: none arrives while a synchronous run goes on), then takes them.
   */
  async flush(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    this.#take(this.#observer.takeRecords());
    if (!this.#sorted) {
      const order = this.#start.map((_, i) => i).sort((a, b) => this.#start[a]! - this.#start[b]!);
      const start = order.map((i) => this.#start[i]!);
      const ms = order.map((i) => this.#ms[i]!);
      this.#start.splice(0, start.length, ...start);
      this.#ms.splice(0, ms.length, ...ms);
      this.#sorted = true;
    }
  }

  /** Pauses reported so far. */
  get count(): number {
    return this.#start.length;
  }

  /** Index of the first pause that ends after `t` (pauses do not overlap one another). */
  #firstEndingAfter(t: number): number {
    let lo = 0;
    let hi = this.#start.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#start[mid]! + this.#ms[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Milliseconds of GC pause inside [t0, t1] (performance.now() timeline). */
  pauseWithin(t0: number, t1: number): number {
    let sum = 0;
    for (let i = this.#firstEndingAfter(t0); i < this.#start.length && this.#start[i]! < t1; i++) {
      const a = Math.max(t0, this.#start[i]!);
      const b = Math.min(t1, this.#start[i]! + this.#ms[i]!);
      if (b > a) sum += b - a;
    }
    return sum;
  }

  /** The pauses that began inside [t0, t1], less those inside `skip` (start, end pairs): count, longest, total ms. */
  pauses(
    t0: number,
    t1: number,
    skip: readonly number[] = [],
  ): { count: number; maxMs: number; totalMs: number } {
    let count = 0;
    let maxMs = 0;
    let totalMs = 0;
    for (let i = this.#firstEndingAfter(t0); i < this.#start.length && this.#start[i]! < t1; i++) {
      const s = this.#start[i]!;
      if (s < t0) continue;
      let skipped = false;
      for (let k = 0; k + 1 < skip.length; k += 2) if (s >= skip[k]! && s < skip[k + 1]!) skipped = true;
      if (skipped) continue;
      count++;
      totalMs += this.#ms[i]!;
      if (this.#ms[i]! > maxMs) maxMs = this.#ms[i]!;
    }
    return { count, maxMs, totalMs };
  }

  disconnect(): void {
    this.#observer.disconnect();
  }
}

/**
 * The GC split of a run's stalls (after gc.flush()): GC pause inside the longest event, the
 * longest event once every long event's GC pause is taken out of it, events over the limit even
 * without their GC, and the run's pauses (the collections heapUsed() forced left out).
 */
export function gcFigures(spans: StallSpans, gc: GcLog): Record<string, number> {
  const longestGc =
    spans.longestMs > 0 ? gc.pauseWithin(spans.longestStart, spans.longestStart + spans.longestMs) : 0;
  let longestNoGc = spans.longestMs - longestGc;
  let overNoGc = 0;
  let overGcMs = 0;
  for (let k = 0; k + 1 < spans.over.length; k += 2) {
    const start = spans.over[k]!;
    const ms = spans.over[k + 1]!;
    const g = gc.pauseWithin(start, start + ms);
    overGcMs += g;
    if (ms - g > spans.limitMs) overNoGc++;
    if (ms - g > longestNoGc) longestNoGc = ms - g;
  }
  const run = gc.pauses(spans.wall0, spans.wall1, forcedGc);
  const r = (n: number): number => Math.round(n * 100) / 100;
  return {
    longestStallGcMs: r(longestGc),
    longestStallNoGcMs: r(longestNoGc),
    eventsOverLimitNoGc: overNoGc,
    overLimitGcMs: r(overGcMs),
    gcPauses: run.count,
    gcPauseMaxMs: r(run.maxMs),
    gcPauseTotalMs: r(run.totalMs),
  };
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
