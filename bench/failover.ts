/**
 * Control failover, measured (issue 12, "Figures for the closing note"): real processes over real
 * UDP on loopback, a real etcd (tools/etcd.ts), the demo's Cluster (cli/demo/cluster.ts).
 *
 * Two modes, each a cluster of one origin and N agents (default 12, in 3 regions) streaming the
 * sample clip, and K kills (default 20), one at a time:
 *
 *   etcd    three `tiercast control --etcd` processes (lease --lease-s, default 1 s). Each kill is
 *           a SIGKILL of the process holding the channel's DCM (the only kill that moves nodes;
 *           which process holds it is read from /api/servers). Once every agent is back, the
 *           killed process is started again with the same database folder, identity and ports
 *           (Cluster.restartControl), so three servers run before every kill.
 *   local   one `tiercast control` (DCM workers behind the UDP front); each kill ends the worker
 *           holding the channel (POST /api/servers/kill, as a crash would); control replaces it.
 *
 * Before measuring, the cluster must be steady: every agent playing, listed by control, and no
 * segment lost for 5 s (60 s at most). Per kill:
 * - failover time, control side ("listed"): from the kill until every agent id is listed again
 *   in a live server's /api/nodes (every live server asked, every 50 ms); 30 s at most (then
 *   counted as "not back", not as a time). A server lists a node once its RESUME passed control's
 *   checks, which says nothing of whether the node took the answer;
 * - failover time, node side ("joined"): from the kill until every agent's own /status says its
 *   control session is `joined` again after a failover it started since the kill (its failover
 *   count grew), polled every 100 ms until the end of the kill's window (else "not back");
 * - viewer segments lost: the growth, summed over agents, of continuity.expected − onTime (the
 *   agent's /status: segments whose playback deadline passed without the segment) from just
 *   before the kill to the end of the kill's window. A window ends --settle-s (default 8) after
 *   every agent was back, once every agent is listed and (etcd) every live process lists three
 *   servers; the next window starts there, so the windows are contiguous and their sum is the
 *   whole kill phase's loss (a segment due late in one window may count in the next);
 * - over the kill phase, from the processes' logs (JSON lines in the cluster folder): the nodes'
 *   control_failover, resumed, resume_ack_fenced, ... and the control processes' dcm_assigned,
 *   rsl_lease_lost, fenced, node_lost, ... (a live server losing its lease moves DCMs too).
 *
 * With etcd, before the kills, a quiet window of --quiet-s (default 30) with no kill:
 * - heartbeats applied per second per control process: the delta of each process's
 *   tiercast_control_heartbeats_total (/metrics; counted after authentication) over the window.
 *   This is the OFFERED rate (N agents and an origin at --heartbeat-ms, all to the process
 *   holding the channel's DCM), not a capacity. Also over the whole kill phase (counters of a
 *   restarted process counted from 0; a killed process's last increments after its last scrape,
 *   just before the kill, are lost);
 * - etcd operations per heartbeat: etcd's own request counters (its Prometheus endpoint on the
 *   client port: grpc_server_handled_total of unary calls by method, the Watch requests in
 *   grpc_server_msg_received_total) over the window, divided by the heartbeats applied in it.
 *   Keep-alives (LeaseKeepAlive messages: per process every TTL/3, not per heartbeat) are reported
 *   apart, per second and per process. Nobody else uses this etcd.
 * - segments lost in the quiet window (the baseline: what the machine loses with no kill).
 *
 * Capacity (after both modes, the clusters stopped): one etcd-mode control server built in this
 * process exactly as `tiercast control --etcd` builds it (EtcdControl on its own EtcdCoordinator,
 * registered in the same etcd under another key prefix, lease --lease-s), its socket an in-memory
 * transport as in bench/auth.ts, --burst-nodes (default 500) nodes and an origin joined through
 * the real handshake (the default JOIN rate limits apply: joining takes a few seconds). Then,
 * for --burst-s (default 5) seconds of control time: every node's next authenticated HEARTBEAT
 * (sealed by its session, from its ASSIGN, untimed) is handed to the front's datagram handler one
 * after another, timed (front routing, session tag and counter, apply); between two rounds the
 * event loop runs (keep-alives, the ASSIGNs and acks, untimed). Capacity = heartbeats applied /
 * control time: one core, no UDP receive cost, the etcd lease kept alive meanwhile (heartbeats
 * dropped while fenced and the server's warnings, e.g. a lost lease, are reported). The same
 * run reads that coordinator's own count of etcd RPCs (EtcdCoordinator.storeOps) and etcd's
 * counters over the burst: the etcd operations per heartbeat at capacity. Why in process and
 * not a load generator against a control process over UDP: on a 2-core machine the generator,
 * the control process and etcd would share the cores, and the figure would measure the
 * generator and the kernel's socket buffers as much as control.
 *
 * Goals (issue 12): failover within 2 heartbeat intervals (+ the lease with etcd: the RSL cannot
 * move a DCM before etcd expires the dead server's lease); no segment lost; no etcd operation on
 * the heartbeat path. Progress goes to stderr; a table, then as its last line one JSON object,
 * to stdout. Every loop is bounded in count and in time; everything runs on loopback.
 *
 *   npm run bench:failover [-- --kills 20 --agents 12 --heartbeat-ms 1000 --lease-s 1
 *                               --mode etcd|local|both --keep --settle-s 8 --quiet-s 30
 *                               --burst-s 5 --burst-nodes 500]
 *
 * --keep keeps the cluster folders (every process's log) and prints where they are.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { demoUploadKbps } from "../cli/demo.js";
import { Cluster, delay, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { ControlLink } from "../common/control-link.js";
import { parseSamples } from "../common/prometheus.js";
import { readAdminToken } from "../control/admin-token.js";
import { parseRegionPolicy } from "../control/regions.js";
import { EtcdControl } from "../control/rsl/etcd-control.js";
import { EtcdCoordinator } from "../control/rsl/etcd-coordinator.js";
import { exportIdentity } from "../control/rsl/server-spec.js";
import { SqliteNodeStore } from "../control/store.js";
import { OPEN_POLICY } from "../control/trust/enrolment.js";
import { rawPublicKey } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type HeartbeatBody,
  JoinError,
  type JoinBody,
  type LinkState,
  MsgType,
  NatType,
  Role,
} from "../protocol/messages.js";
import { systemClock } from "../seams/clock.js";
import { jsonLogger } from "../seams/log.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";
import { EtcdServer, etcdBinary } from "../tools/etcd.js";

// --- options ---

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intOption(name: string, fallback: number, min: number, max: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: an integer ${min}..${max}`);
  return n;
}

const KILLS = intOption("kills", 20, 1, 200);
const AGENTS = intOption("agents", 12, 1, 64);
const HEARTBEAT_MS = intOption("heartbeat-ms", 1000, 200, 10_000);
const LEASE_S = intOption("lease-s", 1, 1, 60);
const SETTLE_S = intOption("settle-s", 8, 2, 120);
const QUIET_S = intOption("quiet-s", 30, 5, 600);
const BURST_S = intOption("burst-s", 5, 1, 60);
const BURST_NODES = intOption("burst-nodes", 500, 10, 5000);
const MODE = option("mode") ?? "both";
if (MODE !== "etcd" && MODE !== "local" && MODE !== "both") throw new Error("--mode: etcd, local or both");
const KEEP = process.argv.includes("--keep");
const REGIONS = 3;
/** A failover still incomplete after this long is a timeout (and the bench moves on). */
const FAILOVER_DEADLINE_MS = 30_000;
const POLL_MS = 50;
/** Before measuring: this long without a segment lost, waited for at most STEADY_DEADLINE_S. */
const STEADY_S = 5;
const STEADY_DEADLINE_S = 60;

const started = performance.now();
const LOAD = loadavg();
const progress = (text: string): void => {
  process.stderr.write(
    `[failover ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}\n`,
  );
};

// --- small helpers ---

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** The q-quantile (0..1) of xs, nearest rank; null for no sample. */
function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

async function getText(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 2000,
): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** etcd's request counters: unary calls by method, stream messages received by method. */
interface EtcdCounts {
  unary: Record<string, number>;
  streamMessages: Record<string, number>;
}

async function etcdCounts(etcd: EtcdServer): Promise<EtcdCounts> {
  const text = await getText(`http://127.0.0.1:${etcd.clientPort}/metrics`, {}, 5000);
  if (text === undefined) throw new Error("etcd /metrics did not answer");
  const c: EtcdCounts = { unary: {}, streamMessages: {} };
  for (const s of parseSamples(text)) {
    const method = s.labels.grpc_method;
    if (method === undefined) continue;
    if (s.name === "grpc_server_handled_total" && s.labels.grpc_type === "unary")
      c.unary[method] = (c.unary[method] ?? 0) + s.value;
    else if (s.name === "grpc_server_msg_received_total" && s.labels.grpc_type === "bidi_stream")
      c.streamMessages[method] = (c.streamMessages[method] ?? 0) + s.value;
  }
  return c;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b).sort()) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** etcd operations that are not keep-alives (every unary call, every Watch request), and keep-alives. */
function etcdOps(
  before: EtcdCounts,
  after: EtcdCounts,
): { ops: number; keepalives: number; byMethod: Record<string, number> } {
  const unary = diff(before.unary, after.unary);
  const streams = diff(before.streamMessages, after.streamMessages);
  const byMethod: Record<string, number> = { ...unary };
  for (const [k, v] of Object.entries(streams)) byMethod[`${k} (stream messages)`] = v;
  return {
    ops: sum(Object.values(unary)) + (streams.Watch ?? 0),
    keepalives: streams.LeaseKeepAlive ?? 0,
    byMethod,
  };
}

// --- one cluster, K kills ---

interface KillRecord {
  victim: string;
  failoverMs: number | null;
  /** Until every agent's own /status said its session was joined again (null: not by the window's end). */
  resumedMs: number | null;
  lost: number;
  epochBefore: number | null;
  epochAfter: number | null;
}

interface ModeResult {
  mode: "etcd" | "local";
  kills: KillRecord[];
  killPhaseS: number;
  /** Heartbeats applied per second by each control process over the kill phase (etcd only). */
  heartbeatsPerSec: number[];
  /** Log events over the kill phase: the nodes' (agents and origin) and the control processes'. */
  nodeEvents: Record<string, number>;
  controlEvents: Record<string, number>;
  quiet?: {
    seconds: number;
    heartbeatsPerSec: number[];
    heartbeatsApplied: number;
    etcdOps: number;
    etcdOpsByMethod: Record<string, number>;
    keepalives: number;
    segmentsLost: number;
  };
}

interface ServerRow {
  id: string;
  endpoint?: string;
  dcms: Array<{ logicalId: string; epoch: number }>;
}

const DCM = "dcm:demo:all";

/** Every agent's /status; retried while one does not answer. */
async function statuses(cluster: Cluster): Promise<AgentStatus[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const all = await Promise.all(
      cluster.agents.map((a) => getJson<AgentStatus>(urlOf(a.http, "/status"), 2000)),
    );
    if (all.every((s) => s !== undefined)) return all as AgentStatus[];
    await delay(300);
  }
  throw new Error("an agent's /status did not answer 10 times in a row");
}

/** The continuity counters of every agent. */
async function continuity(cluster: Cluster): Promise<Array<{ expected: number; onTime: number }>> {
  return (await statuses(cluster)).map((s) => ({ ...s.continuity }));
}

/**
 * The node side of a failover: every agent's own /status says its control session is `joined`
 * again after a failover it started since `before` (its failover count grew).
 */
async function everyAgentResumed(cluster: Cluster, before: AgentStatus[]): Promise<boolean> {
  const now = await Promise.all(
    cluster.agents.map((a) => getJson<AgentStatus>(urlOf(a.http, "/status"), 1000)),
  );
  return now.every((s, i) => {
    const c = s?.control;
    return c !== undefined && c.phase === "joined" && c.failovers > (before[i]?.control?.failovers ?? 0);
  });
}

/** Log events of a cluster's processes (JSON lines in <dir>/<name>.log) between two wall-clock times, by event. */
function logEvents(dir: string, prefix: string, from: number, to: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(prefix) || !f.endsWith(".log")) continue;
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (!line.startsWith("{")) continue;
      let e: { t?: unknown; event?: unknown };
      try {
        e = JSON.parse(line) as { t?: unknown; event?: unknown };
      } catch {
        continue;
      }
      if (typeof e.t !== "number" || typeof e.event !== "string" || e.t < from || e.t > to) continue;
      out[e.event] = (out[e.event] ?? 0) + 1;
    }
  }
  return out;
}

const lostOf = (c: Array<{ expected: number; onTime: number }>): number =>
  sum(c.map((x) => x.expected - x.onTime));

/** What one mode needs to kill, find and count. */
interface ModeOps {
  /** Control processes that are running (indices into cluster.controls). */
  live(): number[];
  /** The server holding the channel's DCM, its epoch, and (etcd) its process index. */
  holder(): Promise<{ id: string; epoch: number; proc: number } | undefined>;
  kill(h: { id: string; proc: number }): Promise<void>;
  /** After every agent is back: bring the deployment back to full strength (etcd: restart). */
  restore(h: { proc: number }): Promise<void>;
  /** Whether the deployment is whole again (etcd: every live process lists 3 servers). */
  whole(): Promise<boolean>;
}

async function listedIds(cluster: Cluster, procs: number[]): Promise<Set<number>> {
  const lists = await Promise.all(procs.map((n) => cluster.adminJson<ControlNode[]>("/api/nodes", 500, n)));
  const seen = new Set<number>();
  for (const l of lists) for (const node of l ?? []) seen.add(node.id);
  return seen;
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 250,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (await check()) return true;
    if (Date.now() > end) {
      progress(`  gave up waiting for ${what} after ${timeoutMs} ms`);
      return false;
    }
    await delay(everyMs);
  }
  return false;
}

/** Heartbeats applied by each control process, accumulated across restarts. */
class HeartbeatCounter {
  readonly total: number[];
  readonly #last: number[];

  constructor(
    readonly cluster: Cluster,
    count: number,
  ) {
    this.total = new Array<number>(count).fill(0);
    this.#last = new Array<number>(count).fill(0);
  }

  async #read(n: number): Promise<number | undefined> {
    const p = this.cluster.controls[n]!;
    const token = readAdminToken(this.cluster.adminTokenFileOf(n));
    const text = await getText(urlOf(p.http, "/metrics"), { authorization: `Bearer ${token}` }, 2000);
    if (text === undefined) return undefined;
    const s = parseSamples(text).find((x) => x.name === "tiercast_control_heartbeats_total");
    return s?.value;
  }

  /** Reads the live processes' counters and adds what each grew since its last read. */
  async scrape(procs: number[]): Promise<void> {
    await Promise.all(
      procs.map(async (n) => {
        const v = await this.#read(n);
        if (v === undefined) return;
        const last = this.#last[n]!;
        this.total[n]! += v >= last ? v - last : v;
        this.#last[n] = v;
      }),
    );
  }

  /** Process n was started again: its counter starts from 0. */
  restarted(n: number): void {
    this.#last[n] = 0;
  }
}

async function runMode(mode: "etcd" | "local", etcd: EtcdServer | undefined): Promise<ModeResult> {
  const dir = mkdtempSync(join(tmpdir(), `tiercast-bench-failover-${mode}-`));
  const cluster = new Cluster({
    dir,
    agents: AGENTS,
    regions: REGIONS,
    uploadKbps: demoUploadKbps,
    staggerMs: 50,
    originFanout: 2,
    heartbeatMs: HEARTBEAT_MS,
    ...(mode === "etcd" ? { controls: { count: 3, etcd: etcd!.endpoint, leaseTtlS: LEASE_S } } : {}),
  });
  try {
    progress(
      `${mode}: starting ${mode === "etcd" ? "3 control processes" : "control"}, an origin, ${AGENTS} agents in ${dir}`,
    );
    await cluster.start();
    const dead = new Set<number>();
    const live = (): number[] => cluster.controls.map((_, n) => n).filter((n) => !dead.has(n));
    const ops = mode === "etcd" ? etcdOps3(cluster, live, dead) : localOps(cluster);
    const ok = await waitUntil(
      "every agent to play",
      async () => (await continuity(cluster)).every((c) => c.expected >= 3),
      120_000,
      500,
    );
    if (!ok) throw new Error(`${mode}: the agents did not start playing; see ${dir}`);
    const ids = new Set(
      (await Promise.all(cluster.agents.map((a) => getJson<AgentStatus>(urlOf(a.http, "/status")))))
        .map((s) => s?.node)
        .filter((id): id is number => id !== undefined),
    );
    if (ids.size !== AGENTS) throw new Error(`${mode}: ${ids.size} agent ids of ${AGENTS}`);
    const everyAgentListed = async (): Promise<boolean> => {
      const seen = await listedIds(cluster, live());
      return [...ids].every((id) => seen.has(id));
    };
    await waitUntil("every agent listed by control", everyAgentListed, 30_000);
    // Steady state first: no segment late or lost for STEADY_S (the tree settles after the joins).
    let steadyFrom = lostOf(await continuity(cluster));
    let steadySince = performance.now();
    await waitUntil(
      `${STEADY_S} s without a segment lost`,
      async () => {
        const lost = lostOf(await continuity(cluster));
        if (lost !== steadyFrom) {
          steadyFrom = lost;
          steadySince = performance.now();
        }
        return performance.now() - steadySince >= STEADY_S * 1000;
      },
      STEADY_DEADLINE_S * 1000,
      500,
    );
    const counter = new HeartbeatCounter(cluster, cluster.controls.length);

    let quiet: ModeResult["quiet"];
    if (mode === "etcd") {
      progress(`${mode}: quiet window, ${QUIET_S} s without a kill`);
      await counter.scrape(live());
      const hb0 = [...counter.total];
      const e0 = await etcdCounts(etcd!);
      const c0 = await continuity(cluster);
      const t0 = performance.now();
      await delay(QUIET_S * 1000);
      const e1 = await etcdCounts(etcd!);
      await counter.scrape(live());
      const seconds = (performance.now() - t0) / 1000;
      const c1 = await continuity(cluster);
      const perProc = counter.total.map((t, n) => t - hb0[n]!);
      const applied = sum(perProc);
      const e = etcdOps(e0, e1);
      quiet = {
        seconds: round(seconds, 1),
        heartbeatsPerSec: perProc.map((h) => round(h / seconds, 1)),
        heartbeatsApplied: applied,
        etcdOps: e.ops,
        etcdOpsByMethod: e.byMethod,
        keepalives: e.keepalives,
        segmentsLost: lostOf(c1) - lostOf(c0),
      };
      progress(
        `${mode}: quiet window: ${applied} heartbeats applied, ${e.ops} etcd operations, ${e.keepalives} keep-alives, ` +
          `${quiet.segmentsLost} segments lost`,
      );
    }

    await counter.scrape(live());
    const phaseStart = performance.now();
    const kills: KillRecord[] = [];
    const phaseStartWall = Date.now();
    let before = await continuity(cluster);
    for (let k = 1; k <= KILLS; k++) {
      const h = await ops.holder();
      if (h === undefined) throw new Error(`${mode}: kill ${k}: no server holds ${DCM}; see ${dir}`);
      await counter.scrape(live());
      const sessions = await statuses(cluster);
      const killedAt = performance.now();
      // The node side, polled apart until every agent says it is joined again or the window ends.
      let windowEnd = killedAt + FAILOVER_DEADLINE_MS + SETTLE_S * 1000;
      const resumed = (async (): Promise<number | null> => {
        for (let i = 0; i < 10_000 && performance.now() < windowEnd; i++) {
          if (await everyAgentResumed(cluster, sessions)) return Math.round(performance.now() - killedAt);
          await delay(100);
        }
        return null;
      })();
      await ops.kill(h);
      if (mode === "etcd") dead.add(h.proc);
      let backAt: number | undefined;
      for (let i = 0; i < FAILOVER_DEADLINE_MS / POLL_MS + 1; i++) {
        if (await everyAgentListed()) {
          backAt = performance.now();
          break;
        }
        if (performance.now() - killedAt > FAILOVER_DEADLINE_MS) break;
        await delay(POLL_MS);
      }
      const failoverMs = backAt === undefined ? null : Math.round(backAt - killedAt);
      await ops.restore(h);
      if (mode === "etcd") {
        dead.delete(h.proc);
        counter.restarted(h.proc);
      }
      // The window: settle time after every agent was back, then the deployment whole, every agent listed.
      const settleEnd = (backAt ?? performance.now()) + SETTLE_S * 1000;
      windowEnd = settleEnd;
      await delay(Math.max(0, settleEnd - performance.now()));
      const resumedMs = await resumed;
      await waitUntil("the deployment whole again", () => ops.whole(), 30_000);
      await waitUntil("every agent listed", everyAgentListed, 30_000);
      const after = await continuity(cluster);
      const lost = lostOf(after) - lostOf(before);
      before = after;
      const now = await ops.holder();
      kills.push({
        victim: h.id,
        failoverMs,
        resumedMs,
        lost,
        epochBefore: h.epoch,
        epochAfter: now?.epoch ?? null,
      });
      progress(
        `${mode}: kill ${k}/${KILLS}: ${h.id} -> every agent listed again ${failoverMs === null ? "NEVER (timeout)" : `${failoverMs} ms`}, ` +
          `every agent's session joined again ${resumedMs === null ? "not within the window" : `${resumedMs} ms`}, ` +
          `segments lost ${lost}, epoch ${h.epoch} -> ${now?.epoch ?? "?"}`,
      );
    }
    await counter.scrape(live());
    const killPhaseS = (performance.now() - phaseStart) / 1000;
    const phaseEndWall = Date.now();
    const result: ModeResult = {
      mode,
      kills,
      killPhaseS: round(killPhaseS, 1),
      heartbeatsPerSec: mode === "etcd" ? counter.total.map((t) => round(t / killPhaseS, 1)) : [],
      nodeEvents: pick(
        {
          ...sumEvents(
            logEvents(dir, "agent-", phaseStartWall, phaseEndWall),
            logEvents(dir, "origin", phaseStartWall, phaseEndWall),
          ),
        },
        ["control_failover", "resumed", "resume_ack_fenced", "resume_refused", "joined", "assign_fenced"],
      ),
      controlEvents: pick(logEvents(dir, "control", phaseStartWall, phaseEndWall), [
        "dcm_assigned",
        "dcm_adopted",
        "rsl_lease_lost",
        "fenced",
        "node_lost",
        "control_stalled",
      ]),
      ...(quiet === undefined ? {} : { quiet }),
    };
    return result;
  } finally {
    progress(`${mode}: stopping the cluster`);
    await cluster.stop();
    if (KEEP) progress(`${mode}: logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function etcdOps3(cluster: Cluster, live: () => number[], dead: Set<number>): ModeOps {
  const rsl = async (): Promise<ServerRow[] | undefined> => {
    for (const n of live()) {
      const rows = await cluster.adminJson<ServerRow[]>("/api/servers", 1000, n);
      if (rows !== undefined) return rows;
    }
    return undefined;
  };
  return {
    live,
    async holder() {
      const rows = await rsl();
      const row = rows?.find((r) => r.dcms.some((d) => d.logicalId === DCM));
      if (row === undefined) return undefined;
      const proc = cluster.controls.findIndex((p) => row.endpoint === `${p.udp.address}:${p.udp.port}`);
      if (proc < 0) return undefined;
      return { id: row.id, epoch: row.dcms.find((d) => d.logicalId === DCM)!.epoch, proc };
    },
    kill(h) {
      cluster.controls[h.proc]!.child.kill("SIGKILL");
      return Promise.resolve();
    },
    async restore(h) {
      await cluster.restartControl(h.proc);
    },
    async whole() {
      if (dead.size > 0) return false;
      const views = await Promise.all(
        live().map((n) => cluster.adminJson<ServerRow[]>("/api/servers", 1000, n)),
      );
      return views.every((v) => v !== undefined && v.length === cluster.controls.length);
    },
  };
}

function localOps(cluster: Cluster): ModeOps {
  return {
    live: () => [0],
    async holder() {
      const rows = await cluster.adminJson<ServerRow[]>("/api/servers", 1000);
      const row = rows?.find((r) => r.dcms.some((d) => d.logicalId === DCM));
      if (row === undefined) return undefined;
      return { id: row.id, epoch: row.dcms.find((d) => d.logicalId === DCM)!.epoch, proc: 0 };
    },
    async kill(h) {
      const token = readAdminToken(cluster.adminTokenFile);
      const r = await fetch(urlOf(cluster.control.http, "/api/servers/kill"), {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ server: h.id }),
        signal: AbortSignal.timeout(5000),
      });
      if (r.status !== 200) throw new Error(`POST /api/servers/kill ${h.id}: ${r.status}`);
    },
    restore: () => Promise.resolve(),
    async whole() {
      const rows = await cluster.adminJson<ServerRow[]>("/api/servers", 1000);
      return rows?.some((r) => r.dcms.some((d) => d.logicalId === DCM)) ?? false;
    },
  };
}

function sumEvents(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The named counts (0 when absent), in that order. */
function pick(counts: Record<string, number>, names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, counts[n] ?? 0]));
}

// --- capacity: one etcd-mode control server in this process ---

const BURST_CONTROL: Address = { address: "10.0.0.1", port: 7700 };
const BURST_CHANNEL = "burst";
const STREAM_KBPS = 2000;
const UPLOADS = [8000, 4000, 2000, 2000, 1000, 1000, 400, 0];

/** A node as the agent's session runs it: the real handshake, ASSIGNs checked, heartbeats sealed. */
class SimNode {
  readonly transport: MemoryTransport;
  readonly link: ControlLink;
  id = 0;
  channel = 0;
  assign: AssignBody | undefined;
  joinSentAt = -Infinity;

  constructor(
    net: MemoryNetwork,
    address: string,
    readonly join: JoinBody,
    controlKey: Uint8Array,
  ) {
    const { privateKey } = generateKeyPairSync("ed25519");
    join.key = rawPublicKey(privateKey);
    this.transport = net.bind(address);
    this.link = new ControlLink({ identity: { privateKey, publicKey: join.key }, controlKey });
    this.transport.onDatagram((buf) => this.#onDatagram(buf));
  }

  get joined(): boolean {
    return this.id !== 0 && this.link.established;
  }

  sendJoin(now: number): void {
    this.joinSentAt = now;
    this.link.restart();
    this.transport.send(this.link.join(this.join, now), BURST_CONTROL);
  }

  #onDatagram(buf: Buffer): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    if (msg.type === MsgType.COOKIE) {
      if (this.link.onCookie(msg.body))
        this.transport.send(this.link.join(this.join, Date.now()), BURST_CONTROL);
    } else if (msg.type === MsgType.JOIN_ACK) {
      const verdict = this.link.onJoinAck(buf, msg.body, msg.auth !== undefined);
      if (verdict === "accepted" && msg.body.error === JoinError.NONE) {
        this.id = msg.body.node;
        this.channel = msg.body.channels[0]?.id ?? 0;
      }
    } else if (msg.type === MsgType.ASSIGN && this.link.open(buf, msg.seq)) {
      const a = msg.body;
      const now = this.assign;
      if (now === undefined || a.version > now.version) this.assign = { ...a, children: [...a.children] };
      else if (a.version === now.version && (a.part ?? 0) > 0) now.children.push(...a.children);
    }
  }

  /** Its next HEARTBEAT, sealed by its session: links from its ASSIGN. */
  heartbeat(n: number): Buffer {
    const a = this.assign;
    const lastSeq = n & 0xffff;
    const link = (node: number, i: number): LinkState => ({ node, ageMs: 5 + ((n + i) % 40), lastSeq });
    const parents = a?.parents.map((p, i) => (p === null ? null : link(p.node, i))) ?? [null];
    const body: HeartbeatBody = {
      channel: a?.channel ?? this.channel,
      assignVersion: a?.version ?? 0,
      parents,
      children: (a?.children ?? []).slice(0, 64).map((c, i) => link(c.node, i)),
      buffers: parents.map((_, i) => 300 + ((n * 7 + i) % 200)),
      resources: {
        uploadKbps: (this.join.uploadKbps * (n % 10)) / 10,
        nat: NatType.PORT_RESTRICTED,
        cacheBytes: 40_000_000,
        cpuPct: 3 + (n % 20),
        rssMB: 60 + (n % 30),
        loss: 0,
      },
      newestSegment: 1_000 + Math.floor(n / 2),
    };
    return this.link.seal({
      v: WIRE_VERSION,
      type: MsgType.HEARTBEAT,
      sender: this.id,
      seq: 0,
      ts: Date.now(),
      body,
    });
  }
}

interface BurstResult {
  nodes: number;
  joinS: number;
  controlS: number;
  wallS: number;
  heartbeatsSent: number;
  heartbeatsApplied: number;
  heartbeatsPerSec: number;
  usPerHeartbeat: number;
  fencedDrops: number;
  /** The server's warnings during the burst, by event (rsl_lease_lost, fenced, control_stalled, ...). */
  warnings: Record<string, number>;
  storeOps: number;
  storeOpsByMethod: Record<string, number>;
  storeOpsNotKeepalive: number;
  etcdOps: number;
  etcdKeepalives: number;
  etcdOpsByMethod: Record<string, number>;
}

async function runBurst(etcd: EtcdServer): Promise<BurstResult> {
  progress(
    `capacity: an etcd-mode control server in this process, ${BURST_NODES} nodes and an origin joining`,
  );
  const logLines: string[] = [];
  /** Warnings and errors of the in-process server, by event. */
  const warnings: Record<string, number> = {};
  const logger = jsonLogger(systemClock, {
    proc: "control",
    level: "warn",
    write: (line) => {
      if (logLines.length < 200) logLines.push(line);
      const event = (JSON.parse(line) as { event?: unknown }).event;
      if (typeof event === "string") warnings[event] = (warnings[event] ?? 0) + 1;
    },
  });
  const net = new MemoryNetwork(systemClock, { latencyMs: 0 });
  const transport = net.bind(BURST_CONTROL.address, BURST_CONTROL.port);
  const { privateKey } = generateKeyPairSync("ed25519");
  const coordinator = new EtcdCoordinator(
    { clock: systemClock, logger },
    { endpoints: [etcd.endpoint], prefix: `/tiercast-bench-${process.pid}/`, leaseTtlSeconds: LEASE_S },
  );
  const store = new SqliteNodeStore(":memory:");
  const control = await EtcdControl.start(
    { clock: systemClock, logger, store, transport, coordinator },
    {
      server: {
        db: ":memory:",
        identityPkcs8: exportIdentity(privateKey),
        heartbeatMs: HEARTBEAT_MS,
        topology: "tiered",
        regions: parseRegionPolicy({
          default: "default",
          regions: [1, 2, 3, 4].map((r) => ({ name: `region-${r}`, prefixes: [`10.${r}.0.0/16`] })),
        }),
        trust: { policy: OPEN_POLICY, verify: true },
      },
      leaseTtlSeconds: LEASE_S,
    },
  );
  const controlKey = rawPublicKey(privateKey);
  const origin = new SimNode(
    net,
    "10.0.0.2",
    {
      key: new Uint8Array(0),
      role: Role.ORIGIN,
      channels: [BURST_CHANNEL],
      uploadKbps: 40 * STREAM_KBPS,
      nat: NatType.OPEN,
      httpPort: 8080,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://10.0.0.2:8080",
    },
    controlKey,
  );
  const nodes: SimNode[] = [];
  for (let i = 0; i < BURST_NODES; i++) {
    // each in its own /24 (the per-prefix JOIN limit), 4 regions
    nodes.push(
      new SimNode(
        net,
        `10.${1 + (i % 4)}.${Math.floor(i / 4) % 250}.${1 + Math.floor(i / 1000)}`,
        {
          key: new Uint8Array(0),
          role: Role.AGENT,
          channels: [BURST_CHANNEL],
          uploadKbps: UPLOADS[i % UPLOADS.length]!,
          nat: NatType.PORT_RESTRICTED,
          httpPort: 8081,
        },
        controlKey,
      ),
    );
  }
  const all = [origin, ...nodes];
  let n = 0;
  // Joined nodes heartbeat every interval while the others join (or control would lose them).
  const ticker = setInterval(() => {
    for (const node of all) if (node.joined) node.transport.send(node.heartbeat(n++), BURST_CONTROL);
  }, HEARTBEAT_MS);
  const joinStart = performance.now();
  try {
    const joinEnd = Date.now() + 60_000;
    for (let i = 0; i < 1200 && Date.now() < joinEnd; i++) {
      const now = Date.now();
      if (!origin.joined) {
        if (now - origin.joinSentAt > 1000) origin.sendJoin(now);
      } else {
        for (const node of nodes) if (!node.joined && now - node.joinSentAt > 1500) node.sendJoin(now);
      }
      if (all.every((x) => x.joined && x.assign !== undefined)) break;
      await delay(50);
    }
    const unjoined = all.filter((x) => !x.joined).length;
    const unassigned = all.filter((x) => x.assign === undefined).length;
    if (unjoined > 0 || unassigned > 0)
      throw new Error(
        `capacity: ${unjoined} nodes not joined, ${unassigned} without an ASSIGN after 60 s; log: ${logLines.slice(0, 5).join("")}`,
      );
  } finally {
    clearInterval(ticker);
  }
  const joinS = (performance.now() - joinStart) / 1000;
  progress(
    `capacity: every node joined and placed in ${joinS.toFixed(1)} s; ${BURST_S} s of heartbeats as fast as control takes them`,
  );

  const m = control.control.metrics;
  const appliedBefore = m.heartbeats;
  const fencedBefore = m.fencedDrops;
  const ops0 = coordinator.storeOpsByMethod;
  const warnings0 = { ...warnings };
  const e0 = await etcdCounts(etcd);
  const from = all.map((x) => x.transport.local);
  let controlMs = 0;
  let sent = 0;
  const wallStart = performance.now();
  // Rounds of one heartbeat per node; bounded by control time, wall time and count.
  for (let r = 0; r < 100_000 && controlMs < BURST_S * 1000; r++) {
    if (performance.now() - wallStart > BURST_S * 1000 * 20) break;
    const batch = all.map((x) => x.heartbeat(n++));
    const t0 = performance.now();
    for (let i = 0; i < batch.length; i++) transport.receive(batch[i]!, from[i]!);
    controlMs += performance.now() - t0;
    sent += batch.length;
    // let the keep-alives, the acks and the ASSIGNs through (untimed)
    await new Promise((r) => setImmediate(r));
  }
  const wallS = (performance.now() - wallStart) / 1000;
  await delay(200);
  const e1 = await etcdCounts(etcd);
  const ops1 = coordinator.storeOpsByMethod;
  const applied = m.heartbeats - appliedBefore;
  const storeOpsByMethod = diff(ops0, ops1);
  const e = etcdOps(e0, e1);
  const warningsDuring = diff(warnings0, warnings);
  await control.stop();
  store.close();
  await transport.close();
  return {
    nodes: all.length,
    joinS: round(joinS, 1),
    controlS: round(controlMs / 1000, 2),
    wallS: round(wallS, 1),
    heartbeatsSent: sent,
    heartbeatsApplied: applied,
    heartbeatsPerSec: Math.round(applied / (controlMs / 1000)),
    usPerHeartbeat: round((controlMs * 1000) / Math.max(1, applied)),
    fencedDrops: m.fencedDrops - fencedBefore,
    warnings: warningsDuring,
    storeOps: sum(Object.values(storeOpsByMethod)),
    storeOpsByMethod,
    storeOpsNotKeepalive: sum(
      Object.entries(storeOpsByMethod)
        .filter(([k]) => k !== "Lease.keepAlive")
        .map(([, v]) => v),
    ),
    etcdOps: e.ops,
    etcdKeepalives: e.keepalives,
    etcdOpsByMethod: e.byMethod,
  };
}

// --- run ---

if (etcdBinary() === undefined && MODE !== "local")
  throw new Error("etcd is not installed (Debian package etcd-server; scripts/test-deps.sh installs it)");

const modes: Array<"etcd" | "local"> = MODE === "both" ? ["etcd", "local"] : [MODE];
const results: ModeResult[] = [];
let burst: BurstResult | undefined;
const etcd = MODE === "local" ? undefined : await EtcdServer.start();
try {
  for (const mode of modes) results.push(await runMode(mode, etcd));
  if (etcd !== undefined) burst = await runBurst(etcd);
} finally {
  await etcd?.close();
}

// --- report ---

const goalMs = (mode: "etcd" | "local"): number => 2 * HEARTBEAT_MS + (mode === "etcd" ? LEASE_S * 1000 : 0);
const summaries = results.map((r) => {
  const times = r.kills.map((k) => k.failoverMs).filter((t): t is number => t !== null);
  const resumedTimes = r.kills.map((k) => k.resumedMs).filter((t): t is number => t !== null);
  return {
    mode: r.mode,
    kills: r.kills.length,
    timeouts: r.kills.length - times.length,
    failoverMs: {
      p50: quantile(times, 0.5),
      p95: quantile(times, 0.95),
      max: times.length === 0 ? null : Math.max(...times),
      min: times.length === 0 ? null : Math.min(...times),
    },
    failoverSamplesMs: r.kills.map((k) => k.failoverMs),
    /** Node side: until every agent's own /status said joined again; null when not within the window. */
    resumedMs: {
      p50: quantile(resumedTimes, 0.5),
      p95: quantile(resumedTimes, 0.95),
      max: resumedTimes.length === 0 ? null : Math.max(...resumedTimes),
    },
    resumedNotInWindow: r.kills.length - resumedTimes.length,
    resumedSamplesMs: r.kills.map((k) => k.resumedMs),
    goalMs: goalMs(r.mode),
    overGoal: times.filter((t) => t > goalMs(r.mode)).length,
    segmentsLost: sum(r.kills.map((k) => k.lost)),
    segmentsLostPerKill: r.kills.map((k) => k.lost),
    epochsRose: r.kills.every(
      (k) => k.epochAfter !== null && k.epochBefore !== null && k.epochAfter > k.epochBefore,
    ),
    killPhaseS: r.killPhaseS,
    nodeLogEvents: r.nodeEvents,
    controlLogEvents: r.controlEvents,
    ...(r.mode === "etcd" ? { heartbeatsPerSecPerProcessKillPhase: r.heartbeatsPerSec } : {}),
    ...(r.quiet === undefined
      ? {}
      : {
          quiet: {
            seconds: r.quiet.seconds,
            heartbeatsPerSecPerProcess: r.quiet.heartbeatsPerSec,
            heartbeatsApplied: r.quiet.heartbeatsApplied,
            heartbeatsPerSecOffered: round(((AGENTS + 1) * 1000) / HEARTBEAT_MS, 1),
            etcdOps: r.quiet.etcdOps,
            etcdOpsPerHeartbeat: round(r.quiet.etcdOps / Math.max(1, r.quiet.heartbeatsApplied), 4),
            etcdOpsByMethod: r.quiet.etcdOpsByMethod,
            keepalivesPerSec: round(r.quiet.keepalives / r.quiet.seconds, 2),
            keepalivesPerSecPerProcess: round(r.quiet.keepalives / r.quiet.seconds / 3, 2),
            segmentsLost: r.quiet.segmentsLost,
          },
        }),
  };
});

const fmt = (x: number | null): string => (x === null ? "-" : String(x));
console.log(
  `control failover on node ${process.version}, loopback: ${AGENTS} agents in ${REGIONS} regions and an origin, ` +
    `heartbeat ${HEARTBEAT_MS} ms, etcd lease ${LEASE_S} s, ${KILLS} kills per mode, settle ${SETTLE_S} s; ` +
    `load average at start ${LOAD.map((l) => l.toFixed(1)).join(" ")}`,
);
console.log(
  "failover: 'listed' = kill -> every agent listed again in a live server's /api/nodes (control side); " +
    "'joined' = kill -> every agent's own /status says its session is joined again (node side)",
);
console.log(
  `${"mode".padEnd(16)}${["kills", "p50 ms", "p95 ms", "max ms", "goal ms", "over goal", "not back", "lost segs"].map((h) => h.padStart(10)).join("")}`,
);
for (const s of summaries) {
  const row = (name: string, cells: Array<number | null>): void =>
    console.log(`${name.padEnd(16)}${cells.map((v) => fmt(v).padStart(10)).join("")}`);
  row(`${s.mode} listed`, [
    s.kills,
    s.failoverMs.p50,
    s.failoverMs.p95,
    s.failoverMs.max,
    s.goalMs,
    s.overGoal,
    s.timeouts,
    s.segmentsLost,
  ]);
  row(`${s.mode} joined`, [
    s.kills,
    s.resumedMs.p50,
    s.resumedMs.p95,
    s.resumedMs.max,
    s.goalMs,
    s.resumedSamplesMs.filter((x) => x !== null && x > s.goalMs).length,
    s.resumedNotInWindow,
    null,
  ]);
}
for (const s of summaries) {
  console.log(`${`${s.mode}: failover per kill, ms`.padEnd(50)}${s.failoverSamplesMs.map(fmt).join(" ")}`);
  console.log(
    `${`${s.mode}: every agent joined again (its /status), ms`.padEnd(50)}${s.resumedSamplesMs.map((x) => (x === null ? "never" : String(x))).join(" ")}`,
  );
  console.log(`${`${s.mode}: node log events, kill phase`.padEnd(50)}${JSON.stringify(s.nodeLogEvents)}`);
  console.log(
    `${`${s.mode}: control log events, kill phase`.padEnd(50)}${JSON.stringify(s.controlLogEvents)}`,
  );
  console.log(`${`${s.mode}: segments lost per kill window`.padEnd(50)}${s.segmentsLostPerKill.join(" ")}`);
  console.log(`${`${s.mode}: every new owner's epoch higher`.padEnd(50)}${s.epochsRose ? "yes" : "NO"}`);
}
const etcdSummary = summaries.find((s) => s.mode === "etcd");
if (etcdSummary?.quiet !== undefined) {
  const q = etcdSummary.quiet;
  const rows: Array<[string, string]> = [
    [
      `quiet window (${q.seconds} s, no kill): heartbeats/s per process`,
      `${q.heartbeatsPerSecPerProcess.join(", ")} (offered ${q.heartbeatsPerSecOffered})`,
    ],
    [
      "kill phase: heartbeats/s per process",
      (etcdSummary.heartbeatsPerSecPerProcessKillPhase ?? []).join(", "),
    ],
    [
      "etcd operations in the quiet window",
      `${q.etcdOps} for ${q.heartbeatsApplied} heartbeats: ${q.etcdOpsPerHeartbeat} per heartbeat`,
    ],
    ["  by method", JSON.stringify(q.etcdOpsByMethod)],
    [
      "keep-alives (not per heartbeat)",
      `${q.keepalivesPerSec}/s in all, ${q.keepalivesPerSecPerProcess}/s per process`,
    ],
    ["segments lost in the quiet window", String(q.segmentsLost)],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(60)} ${v}`);
}
if (burst !== undefined) {
  const rows: Array<[string, string]> = [
    [
      `capacity, one etcd-mode server (${burst.nodes} nodes)`,
      `${burst.heartbeatsPerSec.toLocaleString("en-US")} heartbeats/s (${burst.usPerHeartbeat} µs each; ` +
        `${burst.heartbeatsApplied} of ${burst.heartbeatsSent} applied in ${burst.controlS} s of control time, ${burst.wallS} s wall)`,
    ],
    [
      "  coordinator's etcd RPCs during it (storeOps)",
      `${burst.storeOps}: ${JSON.stringify(burst.storeOpsByMethod)}`,
    ],
    ["  etcd's counters during it", `${burst.etcdOps} operations, ${burst.etcdKeepalives} keep-alives`],
    ["  dropped while fenced", String(burst.fencedDrops)],
    ["  the server's warnings during it", JSON.stringify(burst.warnings)],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(60)} ${v}`);
}
console.log(
  JSON.stringify({
    agents: AGENTS,
    heartbeatMs: HEARTBEAT_MS,
    leaseS: LEASE_S,
    killsPerMode: KILLS,
    settleS: SETTLE_S,
    modes: summaries,
    ...(burst === undefined ? {} : { capacity: burst }),
    loadAverage: round(LOAD[0]!),
    durationS: Math.round((performance.now() - started) / 1000),
  }),
);
