/**
 * The simulator (issue 13, docs/sim.md): the real control code (ControlCenter, its client manager,
 * DCMs, topology, congestion, authentication, failover) on the injected Clock and the simulated
 * Transport, with N simulated viewers (sim/viewer.ts), seeded and repeatable.
 *
 *   npm run sim -- --nodes 10000[,100000,...] --scenario flash-crowd|churn|region-outage|control-kill|congestion-wave
 *                  [--seed 1] [--regions 4] [--heartbeat-ms 5000] [--join-limits control|open]
 *                  [--minutes 3] [--wave-s 30] [--restart-ms 1000] [--quiet]
 *
 * Prints progress on stderr, then a table and, as its last line, one JSON object with every
 * figure (per node count, and the slopes between node counts when several are given).
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  enableGc,
  GcLog,
  gcFigures,
  heapUsed,
  slope,
  stallSpans,
  type EventKind,
  type StallSpans,
} from "./measure.js";
import { churn } from "./scenarios/churn.js";
import type { Scenario, ScenarioOutcome } from "./scenarios/common.js";
import { congestionWave } from "./scenarios/congestion-wave.js";
import { controlKill } from "./scenarios/control-kill.js";
import { flashCrowd } from "./scenarios/flash-crowd.js";
import { regionOutage } from "./scenarios/region-outage.js";
import { World, type WorldOptions } from "./world.js";

export const SCENARIOS = [
  "flash-crowd",
  "churn",
  "region-outage",
  "control-kill",
  "congestion-wave",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface SimOptions extends Partial<WorldOptions> {
  nodes: number;
  scenario: ScenarioName;
  minutes?: number;
  waveMs?: number;
  restartMs?: number;
  /** Measure heap (forced collections: slower). Default true. */
  heap?: boolean;
  log?: (line: string) => void;
}

export function scenarioOf(o: SimOptions): Scenario {
  switch (o.scenario) {
    case "flash-crowd":
      return flashCrowd;
    case "churn":
      return churn(o.minutes ?? 3);
    case "region-outage":
      return regionOutage;
    case "control-kill":
      return controlKill(o.restartMs ?? 1000);
    case "congestion-wave":
      return congestionWave(o.waveMs ?? 30_000);
  }
}

export interface SimResult extends ScenarioOutcome {
  scenario: ScenarioName;
  nodes: number;
  seed: number;
  ok: boolean;
  /** Control's per-node figures, wall times (ms, µs), bytes. */
  measured: Record<string, number | string | null>;
  /** Per viewer: its node id and where it sits (for the repeatability test). */
  placements: string[];
  /** The long events' wall-time spans: gcFigures() matches GC pauses against them after the run. */
  stalls: StallSpans;
}

const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;

/** One run of one scenario at one node count. */
export function simulate(o: SimOptions): SimResult {
  const log = o.log ?? (() => {});
  const world = new World(o);
  const scenario = scenarioOf(o);
  const heap: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let joinPhase: Record<EventKind, { count: number; totalMs: number; cpuMs: number }> | undefined;
  let joinPhaseMs = 0;
  let sessionsAtJoined = 0;
  const measureHeap = o.heap ?? true;
  let rssJoined = 0;
  // Progress lines carry the CPU so far: what each phase of a scenario costs.
  const progress = (line: string): void => {
    const c = process.cpuUsage(cpu0);
    const cpuS = (c.user + c.system) / 1e6;
    log(`${line} [CPU ${cpuS.toFixed(1)} s, control ${(world.meter.cpuMs / 1000).toFixed(1)} s]`);
  };
  let outcome: ScenarioOutcome;
  try {
    outcome = scenario.run({
      world,
      nodes: o.nodes,
      log: progress,
      mark(label) {
        progress(`  ${label} at ${(world.elapsed / 1000).toFixed(1)} s`);
        if (label === "joined") {
          world.meter.settleCpu();
          joinPhase = Object.fromEntries(
            Object.entries(world.meter.byKind).map(([k, t]) => [k, t.snapshot()]),
          ) as Record<EventKind, { count: number; totalMs: number; cpuMs: number }>;
          joinPhaseMs = world.elapsed;
          sessionsAtJoined = world.control.metrics.sessionsOpened;
        }
        if (measureHeap) heap[label] = heapUsed();
        if (label === "joined") rssJoined = process.memoryUsage().rss;
      },
    });
  } catch (e) {
    world.close();
    throw e;
  }
  const wall1 = performance.now();
  const wallMs = wall1 - wall0;
  const cpu = process.cpuUsage(cpu0);
  world.meter.settleCpu();
  progress(`  done at ${(world.elapsed / 1000).toFixed(1)} s`);
  const m = world.control.metrics;
  const meter = world.meter;
  const k = meter.byKind;
  const jp = joinPhase ?? {
    heartbeat: k.heartbeat.snapshot(),
    join: k.join.snapshot(),
    resume: k.resume.snapshot(),
    leave: k.leave.snapshot(),
    other: k.other.snapshot(),
    timer: k.timer.snapshot(),
  };
  const sessions = Math.max(1, sessionsAtJoined || m.sessionsOpened);
  const hbCount = k.heartbeat.count;
  const intervals = world.elapsed / world.options.heartbeatMs;
  const viewerBytes =
    heap.viewers !== undefined && heap.empty !== undefined ? (heap.viewers - heap.empty) / o.nodes : null;
  // Control's heap per node: what the joined world holds beyond the idle viewers, less what the
  // viewers' own sessions hold (measured by dropping control at the end).
  let controlBytes: number | null = null;
  let sessionsBytes: number | null = null;
  if (measureHeap && heap.joined !== undefined && heap.viewers !== undefined) {
    const withControl = heapUsed();
    world.detachControl();
    const without = heapUsed();
    controlBytes = (withControl - without) / o.nodes;
    sessionsBytes = (without - heap.viewers) / o.nodes;
  }
  const mem = process.memoryUsage();
  const busiest = meter.busyMs.reduce((a, b) => Math.max(a, b ?? 0), 0);
  const hbSent = world.viewers.reduce((a, v) => a + v.stats.heartbeatsSent, 0);
  const hbBytes = world.viewers.reduce((a, v) => a + v.stats.heartbeatBytes, 0);
  const measured: Record<string, number | string | null> = {
    simulatedS: round(world.elapsed / 1000, 1),
    wallS: round(wallMs / 1000, 1),
    processCpuS: round((cpu.user + cpu.system) / 1e6, 1),
    controlBusyS: round(meter.totalMs / 1000, 2),
    controlCpuS: round(meter.cpuMs / 1000, 2),
    // The CPU figures scale control's wall time by each window's process CPU / wall (measure.ts).
    cpuWindows: meter.cpuWindows,
    cpuRatioMin: meter.cpuWindows === 0 ? null : round(meter.cpuRatioMin, 3),
    cpuRatioMax: meter.cpuWindows === 0 ? null : round(meter.cpuRatioMax, 3),
    // Join phase: every control event until the warm-up placed everyone, per session opened (CPU).
    cpuPerJoinUs: round(((jp.join.cpuMs + jp.other.cpuMs + jp.timer.cpuMs) * 1000) / sessions, 1),
    joinDatagramUsPerJoin: round(((jp.join.cpuMs + jp.other.cpuMs) * 1000) / sessions, 1),
    timerUsPerJoin: round((jp.timer.cpuMs * 1000) / sessions, 1),
    wallPerJoinUs: round(((jp.join.totalMs + jp.other.totalMs + jp.timer.totalMs) * 1000) / sessions, 1),
    joinPhaseS: round(joinPhaseMs / 1000, 1),
    // Heartbeats that sent no ASSIGN; those that did (probation over: the node placed; a stale
    // version; a repair) carry the placement's cost and are counted apart.
    cpuPerHeartbeatUs: round(meter.plainHeartbeat.meanCpuUs, 2),
    wallPerHeartbeatUs: round(meter.plainHeartbeat.meanUs, 2),
    cpuPerHeartbeatAllUs: round(k.heartbeat.meanCpuUs, 2),
    heartbeats: hbCount,
    heartbeatsAssigning: hbCount - meter.plainHeartbeat.count,
    timerMsPerInterval: round(k.timer.cpuMs / Math.max(1, intervals), 2),
    resumeUs: round(k.resume.meanCpuUs, 1),
    longestStallMs: round(meter.longest.ms, 2),
    longestStallKind: meter.longest.kind,
    longestStallAtS: round(meter.longest.at / 1000, 1),
    longestStallWhat: meter.longest.what ?? meter.longest.kind,
    eventsOverLimit: meter.overLimit,
    longestStallCpuMs: round(meter.longestCpu.ms, 2),
    longestStallCpuWhat: meter.longestCpu.what ?? meter.longestCpu.kind,
    eventsOverLimitCpu: meter.overLimitCpu,
    // The five commonest events over the limit: what, how many, the longest (ms).
    overLimitBy: [...meter.overLimitBy]
      .sort((a, b) => b[1].n - a[1].n)
      .slice(0, 5)
      .map(([what, v]) => `${what} x${v.n} max ${Math.round(v.maxMs)}`)
      .join(" | "),
    busiestSecondMs: round(busiest, 1),
    reconciles: meter.reconcile.count,
    reconcileMaxMs: round(meter.reconcile.maxMs, 2),
    reconcileMeanUs: round(meter.reconcile.meanUs, 1),
    assigningEvents: meter.assigning.count,
    assigningMaxMs: round(meter.assigning.maxMs, 2),
    heapEmptyMB: heap.empty === undefined ? null : round(heap.empty / 2 ** 20, 1),
    viewerBytes: viewerBytes === null ? null : Math.round(viewerBytes),
    viewerSessionBytes: sessionsBytes === null ? null : Math.round(sessionsBytes),
    controlBytesPerNode: controlBytes === null ? null : Math.round(controlBytes),
    rssMB: round(mem.rss / 2 ** 20, 0),
    rssJoinedMB: round(rssJoined / 2 ** 20, 0),
    heapTotalMB: round(mem.heapTotal / 2 ** 20, 0),
    externalMB: round(mem.external / 2 ** 20, 0),
    controlPlaneBytesPerNodePerS: round(world.net.deliveredBytes / (o.nodes + 1) / (world.elapsed / 1000), 1),
    heartbeatBytesMean: hbSent === 0 ? 0 : round(hbBytes / hbSent, 1),
    sessionsOpened: m.sessionsOpened,
    joinsReceived: m.joins,
    assignsSent: m.assignsSent,
    nodesLost: m.lost,
    handlerErrors: m.handlerErrors,
    controlStalls: m.stalls,
    loadAverage: round(loadavg()[0]!, 2),
  };
  const placements = world.viewers.map((v) => `${v.nodeId}:${v.tier}:${v.parents.join("/")}`);
  const errors = world.logger.errors;
  if (errors.length > 0) log(`control logged errors: ${errors.join(" | ")}`);
  world.close();
  const stallOk = meter.longest.ms <= (o.stallLimitMs ?? 100);
  return {
    scenario: o.scenario,
    nodes: o.nodes,
    seed: o.seed ?? 1,
    ok: Object.values(outcome.checks).every(Boolean),
    checks: { ...outcome.checks, noHandlerErrors: m.handlerErrors === 0 },
    figures: { ...outcome.figures, stallOk: stallOk ? 1 : 0 },
    measured,
    placements,
    stalls: stallSpans(meter, wall0, wall1, o.stallLimitMs ?? 100),
  };
}

function table(results: SimResult[]): string {
  const rows: Array<[string, ...string[]]> = [
    ["", ...results.map((r) => `N=${r.nodes.toLocaleString("en-US")}`)],
  ];
  const keys = new Set<string>();
  for (const r of results) for (const key of Object.keys(r.figures)) keys.add(`f:${key}`);
  for (const r of results) for (const key of Object.keys(r.measured)) keys.add(`m:${key}`);
  for (const r of results) for (const key of Object.keys(r.checks)) keys.add(`c:${key}`);
  for (const key of keys) {
    const [kind, name] = [key.slice(0, 1), key.slice(2)];
    rows.push([
      kind === "c" ? `check ${name}` : name,
      ...results.map((r) => {
        const v = kind === "f" ? r.figures[name] : kind === "m" ? r.measured[name] : r.checks[name];
        return v === undefined
          ? ""
          : v === null
            ? "-"
            : typeof v === "boolean"
              ? v
                ? "ok"
                : "FAIL"
              : String(v);
      }),
    ]);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  return rows
    .map(
      (r) =>
        r[0].padEnd(w0 + 2) +
        r
          .slice(1)
          .map((c) => c.padStart(14))
          .join(""),
    )
    .join("\n");
}

function slopes(results: SimResult[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  if (results.length < 2) return out;
  const a = results[0]!;
  const b = results[results.length - 1]!;
  for (const key of [
    "cpuPerJoinUs",
    "cpuPerHeartbeatUs",
    "cpuPerHeartbeatAllUs",
    "controlBytesPerNode",
    "viewerBytes",
    "longestStallMs",
    "longestStallNoGcMs",
    "longestStallCpuMs",
    "reconcileMaxMs",
    "timerMsPerInterval",
  ]) {
    const y1 = a.measured[key];
    const y2 = b.measured[key];
    out[key] =
      typeof y1 === "number" && typeof y2 === "number"
        ? round(slope(a.nodes, y1, b.nodes, y2) ?? NaN, 3)
        : null;
    if (Number.isNaN(out[key])) out[key] = null;
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: "string", default: "10000" },
      scenario: { type: "string", default: "flash-crowd" },
      seed: { type: "string", default: "1" },
      regions: { type: "string" },
      "heartbeat-ms": { type: "string", default: "5000" },
      "join-limits": { type: "string", default: "control" },
      minutes: { type: "string", default: "3" },
      "wave-s": { type: "string", default: "30" },
      "restart-ms": { type: "string", default: "1000" },
      "no-heap": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
    },
    strict: true,
  });
  const int = (name: string, s: string, min: number): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer >= ${min}, not "${s}"`);
    return n;
  };
  const nodes = values.nodes.split(",").map((s) => int("nodes", s.trim(), 1));
  if (!(SCENARIOS as readonly string[]).includes(values.scenario))
    throw new Error(`--scenario: one of ${SCENARIOS.join(", ")}, not "${values.scenario}"`);
  const joinLimits = values["join-limits"];
  if (joinLimits !== "control" && joinLimits !== "open") throw new Error(`--join-limits: control or open`);
  if (!values["no-heap"] && !(await enableGc())) console.error("no gc(): heap figures include garbage");
  const results: SimResult[] = [];
  // GC pauses over the runs: matched against each run's long events once it is over (measure.ts).
  const gc = new GcLog();
  for (const n of nodes) {
    const regions =
      values.regions === undefined ? Math.max(4, Math.ceil(n / 60_000)) : int("regions", values.regions, 1);
    const log = values.quiet ? () => {} : (line: string) => console.error(line);
    log(`${values.scenario} at N=${n}, ${regions} regions, seed ${values.seed}`);
    results.push(
      simulate({
        nodes: n,
        scenario: values.scenario as ScenarioName,
        seed: int("seed", values.seed, 0),
        regions,
        heartbeatMs: int("heartbeat-ms", values["heartbeat-ms"], 100),
        joinLimits,
        minutes: int("minutes", values.minutes, 1),
        waveMs: int("wave-s", values["wave-s"], 1) * 1000,
        restartMs: int("restart-ms", values["restart-ms"], 0),
        heap: !values["no-heap"],
        log,
      }),
    );
    const r = results[results.length - 1]!;
    await gc.flush();
    Object.assign(r.measured, gcFigures(r.stalls, gc));
  }
  gc.disconnect();
  console.log(
    `sim ${values.scenario} on node ${process.version}: the real control, simulated viewers; ` +
      `wall times on this machine (load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")})`,
  );
  console.log(table(results));
  const s = slopes(results);
  if (Object.keys(s).length > 0)
    console.log(
      `slopes (log-log, N=${results[0]!.nodes} to ${results.at(-1)!.nodes}; 0 = flat per node, 1 = grows with N): ` +
        Object.entries(s)
          .map(([k2, v]) => `${k2} ${v ?? "-"}`)
          .join(", "),
    );
  console.log(
    JSON.stringify({
      scenario: values.scenario,
      seed: Number(values.seed),
      ok: results.every((r) => r.ok),
      runs: results.map((r) => ({ nodes: r.nodes, ok: r.ok, checks: r.checks, ...r.figures, ...r.measured })),
      slopes: s,
    }),
  );
  if (!results.every((r) => r.ok)) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 2;
  });
}
