/**
 * What the simulator measures of control (docs/sim.md): every control event timed in wall time
 * with performance.now, and nothing else. A control event is one datagram handed to control's
 * handler (through ControlMeter.transport, the Transport control is given) or one callback of a
 * timer control set (through ControlMeter.clock, the Clock control is given); the viewers'
 * work, the network's and the simulator's own are outside every measurement. The longest event
 * is the longest event-loop stall control would cause; the sum over an interval is control's CPU
 * (one thread: wall time is CPU time there, plus whatever GC pause falls inside an event, and
 * plus the time other processes held the core: process.cpuUsage around each event gives the CPU
 * figures, which a loaded machine does not inflate; the stall figures stay wall time).
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
  /** The process's CPU time (user + system) inside the events, ms: unlike wall time, not inflated when other processes take the cores. */
  cpuMs = 0;

  add(ms: number, cpuMs = 0): void {
    this.count++;
    this.totalMs += ms;
    this.cpuMs += cpuMs;
    if (ms > this.maxMs) this.maxMs = ms;
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
    t.maxMs = this.maxMs;
    return t;
  }

  snapshot(): { count: number; totalMs: number; cpuMs: number } {
    return { count: this.count, totalMs: this.totalMs, cpuMs: this.cpuMs };
  }
}

/** The longest control event: how long, what, and when (simulated ms since the run's start). */
export interface Stall {
  ms: number;
  kind: EventKind | "reconcile";
  at: number;
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
  /** Events over `stallLimitMs`. */
  overLimit = 0;
  /** Control's busy time per simulated second (index: seconds since start). */
  readonly busyMs: number[] = [];
  metrics: ControlMetrics | undefined;
  readonly #clock: Clock;
  readonly #start: number;
  readonly #stallLimitMs: number;

  constructor(clock: Clock, startMs: number, stallLimitMs = 100) {
    this.#clock = clock;
    this.#start = startMs;
    this.#stallLimitMs = stallLimitMs;
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

  /** Control's total CPU time, ms. */
  get cpuMs(): number {
    return Object.values(this.byKind).reduce((a, t) => a + t.cpuMs, 0);
  }

  #datagram(handler: DatagramHandler, data: Buffer, from: Address): void {
    const m = this.metrics;
    const hb = m?.heartbeats ?? 0;
    const rs = m?.resumes ?? 0;
    const lv = m?.leaves ?? 0;
    const jn = m?.joins ?? 0;
    const as = m?.assignsSent ?? 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    handler(data, from);
    const ms = performance.now() - t0;
    const cpu = cpuMsSince(c0);
    let kind: EventKind = "other";
    if (m !== undefined) {
      if (m.heartbeats !== hb) kind = "heartbeat";
      else if (m.resumes !== rs) kind = "resume";
      else if (m.leaves !== lv) kind = "leave";
      else if (m.joins !== jn) kind = "join";
      if (m.assignsSent !== as) this.assigning.add(ms, cpu);
      else if (kind === "heartbeat") this.plainHeartbeat.add(ms, cpu);
    }
    this.#record(kind, ms, cpu);
  }

  #timer(fn: () => void): void {
    const m = this.metrics;
    const as = m?.assignsSent ?? 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const ms = performance.now() - t0;
    const cpu = cpuMsSince(c0);
    if (m !== undefined && m.assignsSent !== as) this.assigning.add(ms, cpu);
    this.#record("timer", ms, cpu);
  }

  #record(kind: EventKind, ms: number, cpu: number): void {
    this.byKind[kind].add(ms, cpu);
    const at = this.#clock.now() - this.#start;
    if (ms > this.longest.ms) this.longest = { ms, kind, at };
    if (ms > this.windowLongest.ms) this.windowLongest = { ms, kind, at };
    if (ms > this.#stallLimitMs) this.overLimit++;
    const s = Math.max(0, Math.floor(at / 1000));
    this.busyMs[s] = (this.busyMs[s] ?? 0) + ms;
  }
}

function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
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
