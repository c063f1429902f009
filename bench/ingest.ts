/**
 * Control at scale on real UDP (issue 13): how many heartbeats a second one `tiercast control`
 * keeps, beside a bare node:dgram receiver fed by the same sender, and how many JOINs a second it
 * admits while the nodes it already has keep their liveness. Everything on 127.0.0.1.
 *
 * Set-up: the demo's Cluster (cli/demo/cluster.ts) starts the real control process (tiered
 * engine, --heartbeat-ms 5000, a temporary folder; DCM workers as `tiercast control` defaults)
 * and the origin on the bundled sample (its default fanout), and waits for its first segment.
 * A load generator child (tools/ingest/load.ts) runs the simulated viewers (sim/viewer.ts on
 * UdpTransport: one socket each, the real handshake, JOIN retries on the agent's policy,
 * heartbeats every interval from their last ASSIGN); --nodes of them join, at most --window
 * joining at a time. A bare receiver child (tools/ingest/bare.ts) binds with the receive buffer
 * control asks for (--recv-buffer-bytes; also given to control as TIERCAST_RECV_BUFFER_BYTES,
 * which a control without that option ignores).
 *
 * Heartbeat ingest, for each offered rate (--rates, per second) for --step-s seconds:
 *   control  rate x step-s HEARTBEATs are sealed first, untimed, round robin over the joined
 *            viewers (each the next counter and tag of its session, its body from its ASSIGN);
 *            then sent at the rate, each from its viewer's socket. Processed = the growth of
 *            control's tiercast_control_heartbeats_total (counted after authentication) from
 *            before the step until it has not grown for 1 s with nothing left unread in the
 *            socket (at most 10 s after the last send); offered =
 *            every HEARTBEAT the generator sent control over the same span (the viewers' own,
 *            one per 5 s each, included). Control's CPU (/proc/<pid>/stat, every thread) over
 *            the span gives µs per processed heartbeat; kernel drops are its socket's `drops`
 *            (/proc/net/udp).
 *   bare     the same datagrams at the same rate from the same sockets to the bare receiver;
 *            received = its count, over the same kind of span.
 *   A rate is kept when >= 99 % arrived. ingestRatio = control's highest kept rate (achieved: the
 *   step's datagrams / send time) / the bare receiver's highest kept rate. The sender is one Node
 *   process: the highest rate it reaches bounds both (see "achieved" in the table).
 *
 * Joins: with the --nodes established viewers heartbeating at their normal rate and the origin
 * live, --join-nodes more viewers all start joining at once (each retries on its own policy).
 * A viewer is admitted once its JOIN is accepted (a JOIN_ACK NONE that verifies) and an ASSIGN
 * applied; control places a new key only after its second heartbeat (probation), one interval
 * after its JOIN_ACK, so placement trails acceptance by an interval whatever control's speed.
 * joinsPerSec = accepted / seconds from the first JOIN to the last acceptance; it counts only
 * when every viewer was also placed before --join-deadline-s (`joinsComplete`) and
 * establishedLost is 0; placedPerSec (to the last placement) is printed beside it. When not all
 * made it, the spans run to the deadline. msPerJoin = control CPU from the first JOIN to the
 * last placement, less its CPU rate with only the established nodes (measured for 5 s just
 * before), / admitted (msPerJoinRaw: without the subtraction); joinsSent = JOIN datagrams the
 * crowd sent (cookie round trips and retries included); busy = JOIN_ACK BUSY answers the crowd
 * received. establishedLost = established viewers and the origin that control declared lost
 * (node_lost in its log) from the first JOIN until 3 heartbeat intervals after the last
 * placement.
 *
 * Prints a table, whether issue 13's goals are met (ingestRatio >= 0.6, joinsPerSec >= 2000 with
 * every node admitted and none lost), then as its last line one JSON object. The machine is
 * shared: loadavg is printed at the start and the end; compare ratios measured in one run.
 *
 *   npm run build && npm run bench:ingest [-- --nodes 5000 --join-nodes 5000 --rates 5000,10000,20000
 *     --step-s 3 --window 64 --per-prefix 50 --recv-buffer-bytes 8388608 --join-deadline-s 120]
 *   --cpu-prof-dir DIR: control and the origin are profiled (bench/ingest-prof.ts, a preload: Node 20
 *   refuses --cpu-prof in NODE_OPTIONS), one CPU.<pid>.<thread>.cpuprofile per thread written to DIR
 *   when it exits (the log prints control's pid); the JSON's `profile.windowUs` is the join burst
 *   and `profileSteps.stepsUs` each control heartbeat step, on the profiles' clock (CLOCK_MONOTONIC, µs).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { CHANNEL, Cluster } from "../cli/demo/cluster.js";
import type { ControlNode } from "../cli/demo/status.js";
import { packageRoot } from "../common/package-root.js";
import { readAdminToken } from "../control/admin-token.js";
import { DEFAULT_FANOUT } from "../origin/origin.js";
import {
  BareReceiver,
  LoadGenerator,
  type GroupProgress,
  type LoadCounters,
} from "../tools/ingest/client.js";
import {
  cpuMicros,
  fileSize,
  getText,
  logEventsFrom,
  parseProm,
  promBy,
  promGrowth,
  promSum,
  rcvbufErrors,
  rssMb,
  threadCpuMicros,
  udpRxQueue,
  udpSocketDrops,
} from "../tools/ingest/proc.js";

const { values: opt } = parseArgs({
  options: {
    nodes: { type: "string", default: "5000" },
    "join-nodes": { type: "string", default: "5000" },
    rates: { type: "string", default: "5000,10000,20000,40000,60000,80000,100000" },
    "step-s": { type: "string", default: "3" },
    window: { type: "string", default: "64" },
    "per-prefix": { type: "string", default: "50" },
    "heartbeat-ms": { type: "string", default: "5000" },
    "recv-buffer-bytes": { type: "string", default: String(8 << 20) },
    "setup-deadline-s": { type: "string", default: "600" },
    "join-deadline-s": { type: "string", default: "120" },
    "upload-kbps": { type: "string", default: "4000" },
    keep: { type: "boolean", default: false },
    "cpu-prof-dir": { type: "string" },
  },
});

function int(name: keyof typeof opt, min: number, max: number): number {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    process.stderr.write(
      `bench:ingest: --${name}: expected an integer in ${min}..${max}, got ${String(opt[name])}\n`,
    );
    process.exit(2);
  }
  return v;
}

const NODES = int("nodes", 1, 15_000);
const JOIN_NODES = int("join-nodes", 0, 15_000);
const STEP_S = int("step-s", 1, 30);
const WINDOW = int("window", 0, 100_000);
const PER_PREFIX = int("per-prefix", 1, 240);
const HEARTBEAT_MS = int("heartbeat-ms", 50, 60_000);
const RECV_BUFFER = int("recv-buffer-bytes", 0, 1 << 30);
const SETUP_DEADLINE_S = int("setup-deadline-s", 10, 3600);
const JOIN_DEADLINE_S = int("join-deadline-s", 5, 3600);
const UPLOAD_KBPS = int("upload-kbps", 0, 10_000_000);
/** Opt-in: control and the origin run under node's --cpu-prof, their profiles written here on exit. */
const CPU_PROF_DIR = opt["cpu-prof-dir"] === undefined ? undefined : resolve(opt["cpu-prof-dir"]);
/** The preload that writes the profiles (bench/ingest-prof.ts, compiled: control runs from dist/). */
const PROF_PRELOAD = pathToFileURL(join(packageRoot(), "dist", "bench", "ingest-prof.js")).href;
const RATES = String(opt.rates)
  .split(",")
  .map((s) => Number(s.trim()));
if (RATES.length === 0 || RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 1_000_000)) {
  process.stderr.write("bench:ingest: --rates: a comma-separated list of integers in 1..1000000\n");
  process.exit(2);
}
if (NODES + JOIN_NODES > 15_000) {
  process.stderr.write("bench:ingest: --nodes + --join-nodes: at most 15000 (one socket each)\n");
  process.exit(2);
}

const GOAL_INGEST_RATIO = 0.6;
const GOAL_JOINS_PER_SEC = 2000;
const KEPT = 0.99;
/** Control's CPU with only the established nodes is measured this long before the burst, ms. */
const BASELINE_MS = 5000;

const log = (s: string): void =>
  void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;
const load1 = (): number => round(loadavg()[0]!, 2);
/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps (startTime, timeDeltas). */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface StepRow {
  rate: number;
  target: "control" | "bare";
  offered: number;
  /** offered / seconds of sending. */
  achieved: number;
  processed: number;
  fraction: number;
  cpuUsPerDatagram: number | null;
  kernelDrops: number | null;
  /** Control only: heartbeats it dropped for failing authentication (tiercast_control_auth_failed_total). */
  authFailed: number | null;
  /** Control only: every counter of its /metrics that grew over the step. */
  controlCounters?: Record<string, number>;
  sendMs: number;
}

async function main(): Promise<void> {
  const loadStart = load1();
  log(
    `loadavg ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}; ${NODES} nodes, then ${JOIN_NODES} joining`,
  );
  const dir = mkdtempSync(join(tmpdir(), "tiercast-ingest-"));
  let ready: Record<string, unknown> = {};
  const controlEvents: Array<Record<string, unknown>> = [];
  const cluster = new Cluster({
    dir,
    agents: 0,
    regions: 1,
    uploadKbps: () => UPLOAD_KBPS,
    staggerMs: 0,
    originFanout: DEFAULT_FANOUT,
    heartbeatMs: HEARTBEAT_MS,
    topology: "tiered",
    env: {
      TIERCAST_RECV_BUFFER_BYTES: String(RECV_BUFFER),
      // Opt-in: control and the origin write V8 CPU profiles (each thread its own file) at exit.
      ...(CPU_PROF_DIR === undefined
        ? {}
        : {
            // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload profiles each thread instead.
            NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${PROF_PRELOAD}`]
              .filter((x) => x !== undefined && x !== "")
              .join(" "),
            TIERCAST_CPU_PROF_DIR: CPU_PROF_DIR,
          }),
    },
    onEvent: (proc, ev) => {
      if (proc !== "control") return;
      if (ev.event === "ready") ready = ev;
      else if (typeof ev.event === "string" && /recv|buffer/i.test(ev.event)) controlEvents.push(ev);
    },
  });
  let load: LoadGenerator | undefined;
  let bare: BareReceiver | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      await load?.stop().catch(() => {});
      bare?.stop();
      await cluster.stop();
      if (opt.keep) log(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    })());
  // Ctrl-C: control, the origin and the children stop too.
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void stopAll().finally(() => process.exit(130));
    });
  try {
    await cluster.start();
    const controlPid = cluster.control.child.pid!;
    if (CPU_PROF_DIR !== undefined) log(`control pid ${controlPid}: profiles in ${CPU_PROF_DIR}`);
    const token = readAdminToken(cluster.adminTokenFile);
    const metricsUrl = `http://${cluster.control.http.address}:${cluster.control.http.port}/metrics`;
    // With DCM workers, /metrics merges each worker's answer, and leaves out a worker that has
    // not answered within 5 s (a stalled one): its counters would seem to go back. Such a scrape
    // (no heartbeat counter in it) is taken again, for 60 s at most.
    const scrape = async (): Promise<ReturnType<typeof parseProm>> => {
      const until = Date.now() + 60_000;
      for (;;) {
        const text = await getText(metricsUrl, token, 10_000);
        const samples = text === undefined ? [] : parseProm(text);
        if (samples.some((x) => x.name === "tiercast_control_heartbeats_total")) return samples;
        if (Date.now() > until)
          throw new Error("control's /metrics gave no tiercast_control_heartbeats_total for 60 s");
        await delay(250);
      }
    };
    const heartbeatsNow = async (): Promise<number> =>
      promSum(await scrape(), "tiercast_control_heartbeats_total");

    bare = await BareReceiver.start(RECV_BUFFER);
    load = await LoadGenerator.start({
      control: cluster.control.udp,
      controlKey: cluster.controlKey,
      channel: CHANNEL,
      uploadKbps: UPLOAD_KBPS,
      perPrefix: PER_PREFIX,
    });
    const gen = load;

    // Set-up: the established nodes join, at most WINDOW at a time.
    log(`set-up: ${NODES} viewers joining, at most ${WINDOW || "all"} at a time`);
    await gen.join("established", 0, NODES, WINDOW);
    const setupStart = Date.now();
    let est = await gen.progress("established");
    for (
      let lastLog = Date.now();
      est.admitted < NODES && Date.now() - setupStart < SETUP_DEADLINE_S * 1000;
    ) {
      await delay(500);
      est = await gen.progress("established");
      if (Date.now() - lastLog >= 10_000) {
        lastLog = Date.now();
        log(
          `set-up: ${est.admitted}/${NODES} admitted, ${est.joinsSent} JOINs sent, acks ${JSON.stringify(est.acks)}`,
        );
      }
    }
    const setupS = (Date.now() - setupStart) / 1000;
    log(`set-up: ${est.admitted}/${NODES} admitted in ${setupS.toFixed(1)} s`);
    if (est.admitted === 0) throw new Error("no viewer was admitted: nothing to measure");
    // Let the ASSIGNs of the last joins settle for an interval.
    await delay(Math.min(HEARTBEAT_MS, 5000));
    const rssAfterSetup = rssMb(controlPid);

    // Heartbeat ingest: control, then the bare receiver, rate by rate.
    const rows: StepRow[] = [];
    const hbSent = (c: LoadCounters): number => c.sentToControl.HEARTBEAT ?? 0;
    // The count is final once it has not moved for a second and the socket holds nothing unread
    // (a DCM rebuild can hold control's loop for hundreds of ms); at most 10 s.
    const settle = async (read: () => Promise<number>, port: number): Promise<number> => {
      let last = await read();
      let still = 0;
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        await delay(250);
        const now = await read();
        still = now === last && (udpRxQueue(port) ?? 0) === 0 ? still + 1 : 0;
        last = now;
        if (still >= 4) break;
      }
      return last;
    };
    /** Each control step's span on the profiles' clock (--cpu-prof-dir). */
    const stepsUs: Array<[number, number]> = [];
    for (const rate of RATES) {
      const count = rate * STEP_S;
      const prep = await gen.prepare("established", count);
      const maxMs = STEP_S * 3000 + 5000;
      // control
      const c0 = await gen.counters();
      const s0 = await scrape();
      const h0 = promSum(s0, "tiercast_control_heartbeats_total");
      const cpu0 = cpuMicros(controlPid);
      const d0 = udpSocketDrops(cluster.control.udp.port);
      const stepStartUs = monotonicUs();
      const sent = await gen.blast(cluster.control.udp, rate, maxMs);
      await settle(heartbeatsNow, cluster.control.udp.port);
      stepsUs.push([stepStartUs, monotonicUs()]);
      const s1 = await scrape();
      const h1 = promSum(s1, "tiercast_control_heartbeats_total");
      const cpu1 = cpuMicros(controlPid);
      const d1 = udpSocketDrops(cluster.control.udp.port);
      const c1 = await gen.counters();
      const offered = hbSent(c1) - hbSent(c0);
      const processed = h1 - h0;
      rows.push({
        rate,
        target: "control",
        offered,
        achieved: sent.sent / (sent.elapsedMs / 1000),
        processed,
        fraction: offered > 0 ? processed / offered : 0,
        cpuUsPerDatagram:
          cpu0 === undefined || cpu1 === undefined || processed === 0 ? null : (cpu1 - cpu0) / processed,
        kernelDrops: d0 === undefined || d1 === undefined ? null : d1 - d0,
        authFailed:
          promSum(s1, "tiercast_control_auth_failed_total") -
          promSum(s0, "tiercast_control_auth_failed_total"),
        controlCounters: promGrowth(s0, s1),
        sendMs: sent.elapsedMs,
      });
      // bare receiver: the same datagrams, the same rate, the same sockets
      const b0 = await bare.count();
      const bcpu0 = cpuMicros(bare.pid);
      const bd0 = udpSocketDrops(bare.port);
      const bsent = await gen.blast(bare.address, rate, maxMs);
      const b1 = await settle(() => bare!.count(), bare.port);
      const bcpu1 = cpuMicros(bare.pid);
      const bd1 = udpSocketDrops(bare.port);
      const got = b1 - b0;
      rows.push({
        rate,
        target: "bare",
        offered: bsent.sent,
        achieved: bsent.sent / (bsent.elapsedMs / 1000),
        processed: got,
        fraction: bsent.sent > 0 ? got / bsent.sent : 0,
        cpuUsPerDatagram:
          bcpu0 === undefined || bcpu1 === undefined || got === 0 ? null : (bcpu1 - bcpu0) / got,
        kernelDrops: bd0 === undefined || bd1 === undefined ? null : bd1 - bd0,
        authFailed: null,
        sendMs: bsent.elapsedMs,
      });
      const [c, b] = rows.slice(-2) as [StepRow, StepRow];
      log(
        `rate ${rate}/s (sealed ${prep.prepared} over ${prep.viewers} viewers in ${(prep.sealMs / 1000).toFixed(1)} s): ` +
          `control ${(c.fraction * 100).toFixed(1)} % at ${Math.round(c.achieved)}/s, bare ${(b.fraction * 100).toFixed(1)} % at ${Math.round(b.achieved)}/s`,
      );
    }
    const kept = (target: "control" | "bare"): StepRow[] =>
      rows.filter((r) => r.target === target && r.fraction >= KEPT);
    const maxRate = (target: "control" | "bare"): number =>
      Math.max(0, ...kept(target).map((r) => r.achieved));
    const controlMaxRate = maxRate("control");
    const bareMaxRate = maxRate("bare");
    const ingestRatio = bareMaxRate > 0 ? controlMaxRate / bareMaxRate : 0;
    // CPU per heartbeat where control kept up (its highest kept step), else at the lowest step.
    const cpuRow =
      kept("control").sort((a, b) => b.achieved - a.achieved)[0] ?? rows.find((r) => r.target === "control");
    const cpuUsPerHeartbeat = cpuRow?.cpuUsPerDatagram ?? null;

    // Joins: a crowd joins at once while the established nodes heartbeat.
    const nodes = (await cluster.adminJson<ControlNode[]>("/api/nodes", 10_000)) ?? [];
    const originId = nodes.find((n) => n.role === "origin")?.id;
    const estIds = new Set((await gen.progress("established", true)).ids!.filter((id) => id !== 0));
    let joins: Record<string, unknown> = { joinNodes: 0 };
    if (JOIN_NODES > 0) {
      // Control's CPU with only the established nodes heartbeating: subtracted from the burst's.
      const base0 = cpuMicros(controlPid);
      const threadsBase0 = threadCpuMicros(controlPid);
      await delay(BASELINE_MS);
      const base1 = cpuMicros(controlPid);
      const threadsBase1 = threadCpuMicros(controlPid);
      const baselineUsPerS =
        base0 === undefined || base1 === undefined ? 0 : ((base1 - base0) * 1000) / BASELINE_MS;
      const m0 = await scrape();
      const cpu0 = cpuMicros(controlPid);
      const d0 = udpSocketDrops(cluster.control.udp.port);
      const snmp0 = rcvbufErrors();
      const logOffset = fileSize(cluster.control.logFile);
      log(`joins: ${JOIN_NODES} viewers join at once beside ${estIds.size} established`);
      const burstStartUs = monotonicUs();
      const threads0 = threadCpuMicros(controlPid);
      await gen.join("crowd", NODES, JOIN_NODES, 0);
      const start = Date.now();
      let crowd: GroupProgress = await gen.progress("crowd");
      // Each thread's CPU once every crowd viewer is accepted (within a poll of 200 ms).
      let threadsAccepted: { at: number; cpu: Map<number, number> | undefined } | undefined;
      for (
        let lastLog = Date.now();
        crowd.admitted < JOIN_NODES && Date.now() - start < JOIN_DEADLINE_S * 1000;
      ) {
        await delay(200);
        crowd = await gen.progress("crowd");
        if (threadsAccepted === undefined && crowd.accepted === JOIN_NODES)
          threadsAccepted = { at: Date.now(), cpu: threadCpuMicros(controlPid) };
        if (Date.now() - lastLog >= 5000) {
          lastLog = Date.now();
          log(
            `joins: ${crowd.accepted} accepted, ${crowd.admitted}/${JOIN_NODES} placed, ${crowd.joinsSent} JOINs, acks ${JSON.stringify(crowd.acks)}`,
          );
        }
      }
      const cpu1 = cpuMicros(controlPid);
      const end = Date.now();
      const burstEndUs = monotonicUs();
      const complete = crowd.admitted === JOIN_NODES;
      // Accepted per second: first JOIN to last JOIN_ACK NONE. Placement follows one interval later
      // for every new key (probation: placed after its second heartbeat), so the placement span is
      // reported beside it but is not the admission rate.
      const acceptSpanMs = Math.max(
        1,
        (crowd.accepted === JOIN_NODES ? crowd.lastAcceptedAt : end) - crowd.firstJoinAt,
      );
      const placedSpanMs = Math.max(1, (complete ? crowd.lastAdmittedAt : end) - crowd.firstJoinAt);
      const joinsPerSec = crowd.accepted / (acceptSpanMs / 1000);
      const burstCpuUs = cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0;
      const burstMs = end - start;
      const msPerJoinRaw =
        burstCpuUs === undefined || crowd.admitted === 0 ? null : burstCpuUs / 1000 / crowd.admitted;
      const msPerJoin =
        burstCpuUs === undefined || crowd.admitted === 0
          ? null
          : Math.max(0, burstCpuUs - (baselineUsPerS * burstMs) / 1000) / 1000 / crowd.admitted;
      const acceptCpu = acceptanceCpu(
        controlPid,
        { t0: threadsBase0, t1: threadsBase1, ms: BASELINE_MS },
        threads0,
        threadsAccepted === undefined ? undefined : { ...threadsAccepted, ms: threadsAccepted.at - start },
        crowd.accepted,
      );
      // A node whose heartbeats the burst dropped is declared lost up to 3 intervals later.
      log(
        `joins: ${crowd.accepted} accepted in ${(acceptSpanMs / 1000).toFixed(1)} s, ${crowd.admitted}/${JOIN_NODES} placed in ${(placedSpanMs / 1000).toFixed(1)} s; watching liveness ${(3 * HEARTBEAT_MS + 1000) / 1000} s more`,
      );
      await delay(3 * HEARTBEAT_MS + 1000);
      const m1 = await scrape();
      const d1 = udpSocketDrops(cluster.control.udp.port);
      const snmp1 = rcvbufErrors();
      const lostEvents = logEventsFrom(cluster.control.logFile, logOffset).filter(
        (e) => e.event === "node_lost",
      );
      const lostIds = lostEvents.map((e) => Number(e.node));
      const establishedLost = lostIds.filter((id) => estIds.has(id) || id === originId).length;
      const acksSent = (m: ReturnType<typeof parseProm>): Record<string, number> =>
        promBy(m, "tiercast_control_join_acks_total", "error");
      const a0 = acksSent(m0);
      const a1 = acksSent(m1);
      const estAfter = await gen.progress("established");
      joins = {
        joinNodes: JOIN_NODES,
        accepted: crowd.accepted,
        admitted: crowd.admitted,
        joinsComplete: complete,
        joinsPerSec: round(joinsPerSec, 1),
        acceptSpanS: round(acceptSpanMs / 1000, 2),
        placedSpanS: round(placedSpanMs / 1000, 2),
        placedPerSec: round(crowd.admitted / (placedSpanMs / 1000), 1),
        msPerJoin: msPerJoin === null ? null : round(msPerJoin, 3),
        msPerJoinRaw: msPerJoinRaw === null ? null : round(msPerJoinRaw, 3),
        baselineCpuPct: round(baselineUsPerS / 10_000, 1),
        acceptCpu,
        joinsSent: crowd.joinsSent,
        busy: crowd.acks.BUSY ?? 0,
        crowdAcks: crowd.acks,
        controlJoinAcks: Object.fromEntries(Object.entries(a1).map(([k, v]) => [k, v - (a0[k] ?? 0)])),
        establishedLost,
        originLost: originId !== undefined && lostIds.includes(originId),
        nodesLost:
          promSum(m1, "tiercast_control_nodes_lost_total") - promSum(m0, "tiercast_control_nodes_lost_total"),
        establishedResumes: estAfter.resumes - est.resumes,
        establishedRejoins: estAfter.rejoins - est.rejoins,
        kernelDrops: d0 === undefined || d1 === undefined ? null : d1 - d0,
        rcvbufErrorsAll: snmp0 === undefined || snmp1 === undefined ? null : snmp1 - snmp0,
        // The burst (first JOIN to last placement) on the clock of a .cpuprofile's timestamps.
        ...(CPU_PROF_DIR === undefined
          ? {}
          : { profile: { dir: CPU_PROF_DIR, controlPid, windowUs: [burstStartUs, burstEndUs] } }),
      };
    }

    const counters = await gen.counters();
    const rss = rssMb(controlPid);
    const loadEnd = load1();

    // Table.
    const pad = (s: string | number, n: number): string => String(s).padStart(n);
    const out: string[] = [];
    out.push(
      `bench:ingest — ${est.admitted} nodes joined (set-up ${setupS.toFixed(1)} s), heartbeat ${HEARTBEAT_MS} ms, ${STEP_S} s per step`,
    );
    out.push(
      `${pad("rate/s", 8)} ${pad("target", 8)} ${pad("offered", 9)} ${pad("achieved/s", 11)} ${pad("processed", 10)} ${pad("kept %", 7)} ${pad("CPU µs/dg", 10)} ${pad("kernel drops", 13)} ${pad("auth failed", 12)}`,
    );
    for (const r of rows)
      out.push(
        `${pad(r.rate, 8)} ${pad(r.target, 8)} ${pad(r.offered, 9)} ${pad(Math.round(r.achieved), 11)} ${pad(r.processed, 10)} ${pad((r.fraction * 100).toFixed(1), 7)} ${pad(r.cpuUsPerDatagram === null ? "-" : r.cpuUsPerDatagram.toFixed(1), 10)} ${pad(r.kernelDrops ?? "-", 13)} ${pad(r.authFailed ?? "-", 12)}${r.achieved < 0.9 * r.rate ? "  *" : ""}`,
      );
    if (rows.some((r) => r.achieved < 0.9 * r.rate))
      out.push(
        "* the sender reached less than 90 % of the rate asked for (the load generator's core was busy)",
      );
    out.push(
      `control keeps >= 99 % up to ${Math.round(controlMaxRate)}/s, the bare receiver up to ${Math.round(bareMaxRate)}/s: ingestRatio ${ingestRatio.toFixed(3)} (goal >= ${GOAL_INGEST_RATIO}: ${ingestRatio >= GOAL_INGEST_RATIO ? "met" : "NOT met"})`,
    );
    if (JOIN_NODES > 0) {
      const j = joins as {
        joinsPerSec: number;
        placedPerSec: number;
        admitted: number;
        joinsComplete: boolean;
        establishedLost: number;
        msPerJoin: number | null;
        joinsSent: number;
        busy: number;
      };
      const met = j.joinsPerSec >= GOAL_JOINS_PER_SEC && j.joinsComplete && j.establishedLost === 0;
      out.push(
        `joins: ${j.admitted}/${JOIN_NODES} admitted, accepted at ${j.joinsPerSec}/s (placed at ${j.placedPerSec}/s), ${j.msPerJoin ?? "-"} ms control CPU each, ${j.joinsSent} JOINs sent, ${j.busy} BUSY, ${j.establishedLost} established nodes lost (goal >= ${GOAL_JOINS_PER_SEC}/s, all admitted, none lost: ${met ? "met" : "NOT met"})`,
      );
    }
    out.push(
      `control RSS ${rss?.toFixed(0) ?? "-"} MB (after set-up ${rssAfterSetup?.toFixed(0) ?? "-"} MB); loadavg ${loadStart} at start, ${loadEnd} at end`,
    );
    process.stdout.write(out.join("\n") + "\n");
    const j = joins as { joinsPerSec?: number; joinsComplete?: boolean; establishedLost?: number };
    const summary = {
      ingestRatio: round(ingestRatio, 3),
      controlMaxRate: Math.round(controlMaxRate),
      bareMaxRate: Math.round(bareMaxRate),
      cpuUsPerHeartbeat: cpuUsPerHeartbeat === null ? null : round(cpuUsPerHeartbeat, 1),
      ...joins,
      rssMb: rss === undefined ? null : round(rss),
      rssMbAfterSetup: rssAfterSetup === undefined ? null : round(rssAfterSetup),
      goals: {
        ingestRatio: { goal: GOAL_INGEST_RATIO, met: ingestRatio >= GOAL_INGEST_RATIO },
        joinsPerSec: {
          goal: GOAL_JOINS_PER_SEC,
          met:
            JOIN_NODES > 0 &&
            (j.joinsPerSec ?? 0) >= GOAL_JOINS_PER_SEC &&
            j.joinsComplete === true &&
            j.establishedLost === 0,
        },
      },
      nodes: est.admitted,
      setupS: round(setupS, 1),
      heartbeatMs: HEARTBEAT_MS,
      stepS: STEP_S,
      recvBufferBytes: { asked: RECV_BUFFER, bare: bare.recvBufferBytes, controlEvents },
      controlWorkers: ready.workers ?? null,
      ...(CPU_PROF_DIR === undefined ? {} : { profileSteps: { dir: CPU_PROF_DIR, controlPid, stepsUs } }),
      steps: rows.map((r) => ({
        ...r,
        achieved: Math.round(r.achieved),
        fraction: round(r.fraction, 4),
        cpuUsPerDatagram: r.cpuUsPerDatagram === null ? null : round(r.cpuUsPerDatagram, 1),
        sendMs: Math.round(r.sendMs),
      })),
      generator: { ...counters, rssMb: round(counters.rssMb) },
      loadavg: { start: loadStart, end: loadEnd },
    };
    process.stdout.write(JSON.stringify(summary) + "\n");
  } finally {
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:ingest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);

/**
 * Control's CPU per accepted JOIN from the first JOIN until every crowd viewer was accepted, by
 * thread, each less its own rate with only the established nodes (the baseline): `worker` the DCM
 * worker (the thread other than the main one with the most CPU before the burst), `main` the
 * front, `other` the rest (libuv's pool, V8's helpers), `all` their sum; `workerBusyPct` the
 * worker's CPU over the span's wall time. Undefined when a thread table could not be read or
 * the crowd was not all accepted.
 */
function acceptanceCpu(
  pid: number,
  base: { t0: Map<number, number> | undefined; t1: Map<number, number> | undefined; ms: number },
  t0: Map<number, number> | undefined,
  accepted: { cpu: Map<number, number> | undefined; ms: number } | undefined,
  count: number,
):
  | {
      spanS: number;
      msPerJoin: { all: number; worker: number; main: number; other: number };
      workerBusyPct: number;
    }
  | undefined {
  const t1 = accepted?.cpu;
  if (base.t0 === undefined || base.t1 === undefined || t0 === undefined || t1 === undefined)
    return undefined;
  if (accepted === undefined || count === 0) return undefined;
  let worker: number | undefined;
  for (const [tid, us] of t0) if (tid !== pid && (worker === undefined || us > t0.get(worker)!)) worker = tid;
  const spent = (tid: number): number => {
    const during = (t1.get(tid) ?? 0) - (t0.get(tid) ?? t1.get(tid) ?? 0);
    const rate = ((base.t1!.get(tid) ?? 0) - (base.t0!.get(tid) ?? base.t1!.get(tid) ?? 0)) / base.ms;
    return Math.max(0, during - rate * accepted.ms);
  };
  const by = { worker: 0, main: 0, other: 0 };
  for (const tid of t1.keys()) {
    if (tid === worker) by.worker += spent(tid);
    else if (tid === pid) by.main += spent(tid);
    else by.other += spent(tid);
  }
  const perJoin = (us: number): number => round(us / 1000 / count, 3);
  const workerRaw = worker === undefined ? 0 : (t1.get(worker) ?? 0) - (t0.get(worker) ?? 0);
  return {
    spanS: round(accepted.ms / 1000, 2),
    msPerJoin: {
      all: perJoin(by.worker + by.main + by.other),
      worker: perJoin(by.worker),
      main: perJoin(by.main),
      other: perJoin(by.other),
    },
    workerBusyPct: round((100 * workerRaw) / 1000 / accepted.ms, 1),
  };
}
