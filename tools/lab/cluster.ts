/**
 * A whole tiercast deployment inside the network lab (lab.ts): control and origin as real
 * processes on two hosts of the core region (region 0), N agents on hosts spread over regions
 * 1..R-1, each agent host with the tbf upload cap its agent is told (`--upload-kbps`), every
 * process with the lab's `--net-delay` to the other regions, and nftables loss on every host
 * link when asked. It runs the compiled CLI (`npm run build` first: bin/tiercast.js -> dist/),
 * like test/integration.test.ts does through cli/demo/cluster.ts.
 *
 * Everything each process prints goes to a log file under `dir` (`<name>.log`); failure
 * messages should name `cluster.dir`. `stop()` (call it from t.teardown) destroys the lab, which
 * kills every process in it; the lab's own exit/signal hooks do the same if the test process
 * dies first. Statuses are read through the lab's management relay (`lab.getJson`).
 *
 * Fixed ports (each host is its own namespace): control UDP 7700 / admin 7701, origin UDP 7000 /
 * HTTP 8080, agents UDP 7000 / LAN HTTP 8081.
 */
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
  type WriteStream,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentStatus } from "../../agent/status.js";
import { ADMIN_TOKEN_FILE, readAdminToken } from "../../control/admin-token.js";
import type { TopologyPolicySpec } from "../../control/regions.js";
import {
  DEFAULT_UP_QUEUE_MS,
  Lab,
  regionPrefix,
  REPO_ROOT,
  tool,
  type LabHostSpec,
  type LabProcess,
} from "./lab.js";

export const CHANNEL = "demo";
export const CONTROL_PORT = 7700;
export const ADMIN_PORT = 7701;
export const ORIGIN_PORT = 7000;
export const ORIGIN_HTTP_PORT = 8080;
export const AGENT_PORT = 7000;
export const AGENT_HTTP_PORT = 8081;
/** The program run in every host; TIERCAST_LAB_BIN runs another build (to compare two builds). */
const BIN = process.env.TIERCAST_LAB_BIN ?? join(REPO_ROOT, "bin", "tiercast.js");
/** See LabClusterConfig.upQueueMs. */
export const DEFAULT_AGENT_UP_QUEUE_MS = DEFAULT_UP_QUEUE_MS;
/** Agents started at once (each is a node process starting up on a 2-core machine). */
const START_BATCH = 4;

export interface LabAgentSpec {
  /** 1 .. regions-1 (region 0 is the core: control and origin). */
  region: number;
  /** --upload-kbps and the host's tbf cap. */
  uploadKbps: number;
  role?: "agent" | "waypoint";
}

export interface LabClusterConfig {
  /** Lab name: 1..12 lowercase letters or digits, unique per run (e.g. `tc${process.pid}a`). */
  name: string;
  /** Regions including the core (region 0): agents live in 1..regions-1. */
  regions: number;
  /** Agents in start order (high-upload boxes first: see start()). */
  agents: LabAgentSpec[];
  lossPercent?: number;
  interRegionDelayMs?: number;
  interRegionJitterMs?: number;
  /**
   * The agents' uplink buffer, ms at their cap (tbf latency; default the lab's 50), beside a
   * 50 ms tbf burst (rules.ts). A deep one delays the TCP ACKs of a node whose relaying
   * keeps its uplink busy.
   */
  upQueueMs?: number;
  /** Control's heartbeat interval (default 500 ms: a node is lost after 1.5 s of silence). */
  heartbeatMs?: number;
  /** Origin --fanout: its upload is fanout x stream x 1.25 (default 2). */
  originFanout?: number;
  /** Origin --source (default the bundled sample, ~700 kbit/s). */
  originSource?: string;
  /** Control --topology (default: control's, tiered). */
  topology?: "tree" | "tiered";
  /** Per region r >= 1: extra policy fields (fecN, access). */
  region?: (r: number) => { fecN?: number; access?: string };
  /** The policy file's topology section. */
  policy?: TopologyPolicySpec;
  /** Folder for logs and data (default a fresh temp folder). */
  dir?: string;
}

export interface LabAgent {
  index: number;
  /** Lab host name: `a<index>`. */
  host: string;
  region: number;
  address: string;
  uploadKbps: number;
  role: "agent" | "waypoint";
  proc: LabProcess;
  logFile: string;
  /** False once killed. */
  alive: boolean;
}

export interface ControlNodeView {
  id: number;
  role: string;
  region: string;
  address: string;
  depth: number | null;
  tier: number | null;
  tierRole: string | null;
  mesh: number[];
  fec: { k: number; n: number } | null;
  /** The ASSIGN's parents: one entry per (coded) substream, null where none. */
  parents: Array<{ node: number } | null>;
}

export interface TopologyView {
  channel: string;
  nodes: number;
  depth: number;
  unplaced: number[];
  tier1Algorithm: "mesh" | "tree" | null;
  clusters: Array<{ id: number; tier: number; region: string; members: number; fec: unknown }>;
  tiers: Array<{ id: number; tier: number; role: string | null; depth: number | null; mesh: number[] }>;
}

export interface OriginStatusView {
  node: number;
  streamKbps: number;
  uploadKbps: number;
  segmentsPublished: number;
  bytes: { udpSent: number; udpData: number; httpServed?: number };
  packets: { dropped: number };
  /** NACKs answered (origin/fanout.ts). */
  nacks?: { resent: number; asked: number; busy: number };
}

/** What a host's own kernel counted (see LabCluster.netStats). */
export interface NetStats {
  /** Datagrams its upload cap (tbf) dropped. */
  tbfDropped: number;
  /** Bytes that left through the cap (frames). */
  txBytes: number;
  rcvbufErrors: number;
  /** Includes the lab's random egress loss (see netStats). */
  sndbufErrors: number;
  udpOut: number;
  tcpOutSegs: number;
}

export class LabCluster {
  readonly agents: LabAgent[] = [];
  control!: LabProcess;
  origin!: LabProcess;
  readonly #logs: WriteStream[] = [];

  private constructor(
    readonly lab: Lab,
    readonly config: LabClusterConfig,
    readonly dir: string,
  ) {}

  /**
   * Builds the lab, starts control and the origin, waits for the origin's first segment (the
   * channel is live before viewers arrive), then starts the agents in the order given, a few at a
   * time, each waited for until it logs "ready". Control only promotes agents to tier 1 in a full
   * plan, and the first agent of a region triggers one: list each region's strongest boxes first
   * (as in a deployment, where the stable high-upload boxes are up before an event's viewers).
   */
  static async start(config: LabClusterConfig): Promise<LabCluster> {
    const dir = config.dir ?? mkdtempSync(join(tmpdir(), `tiercast-lab-${config.name}-`));
    mkdirSync(dir, { recursive: true });
    for (const a of config.agents) {
      if (!(Number.isInteger(a.region) && a.region >= 1 && a.region < config.regions))
        throw new Error(`lab cluster: agent region ${a.region} must be 1..${config.regions - 1}`);
    }
    const hosts: LabHostSpec[] = [
      { name: "control", region: 0 },
      { name: "origin", region: 0 },
      ...config.agents.map((a, i) => ({ name: `a${i}`, region: a.region, upKbps: a.uploadKbps })),
    ];
    const lab = await Lab.create({
      name: config.name,
      regions: config.regions,
      hosts,
      ...(config.lossPercent === undefined ? {} : { lossPercent: config.lossPercent }),
      ...(config.interRegionDelayMs === undefined ? {} : { interRegionDelayMs: config.interRegionDelayMs }),
      ...(config.interRegionJitterMs === undefined
        ? {}
        : { interRegionJitterMs: config.interRegionJitterMs }),
      upQueueMs: config.upQueueMs ?? DEFAULT_AGENT_UP_QUEUE_MS,
    });
    const c = new LabCluster(lab, config, dir);
    try {
      await c.#startAll();
    } catch (e) {
      await c.stop();
      throw new Error(`${(e as Error).message}\n(logs in ${dir})`);
    }
    return c;
  }

  /** Control's public key (hex) from its ready line; the origin and agents pin it. */
  controlKey = "";

  get controlAddress(): string {
    return `${this.lab.addressOf("control")}:${CONTROL_PORT}`;
  }

  agentUrl(i: number, path: string): string {
    return `http://${this.agents[i]!.address}:${AGENT_HTTP_PORT}${path}`;
  }

  /** An agent's /status; undefined when it is dead or does not answer. */
  async status(i: number): Promise<AgentStatus | undefined> {
    const a = this.agents[i];
    if (a === undefined || !a.alive) return undefined;
    return this.lab.getJson<AgentStatus>(this.agentUrl(i, "/status"));
  }

  /** Every agent's /status (undefined for dead or silent ones), fetched at once. */
  statuses(): Promise<Array<AgentStatus | undefined>> {
    return Promise.all(this.agents.map((_, i) => this.status(i)));
  }

  originStatus(): Promise<OriginStatusView | undefined> {
    return this.lab.getJson<OriginStatusView>(
      `http://${this.lab.addressOf("origin")}:${ORIGIN_HTTP_PORT}/status`,
    );
  }

  async topology(): Promise<TopologyView | undefined> {
    const all = await this.lab.getJson<TopologyView[]>(this.#adminUrl("/api/topology"), 5000, this.#bearer());
    return all?.find((t) => t.channel === CHANNEL);
  }

  nodes(): Promise<ControlNodeView[] | undefined> {
    return this.lab.getJson<ControlNodeView[]>(this.#adminUrl("/api/nodes"), 5000, this.#bearer());
  }

  /** kill -9 agent i (no LEAVE: control finds out from the missing heartbeats). */
  async kill(i: number): Promise<void> {
    const a = this.agents[i]!;
    a.alive = false;
    a.proc.signal("SIGKILL");
    await a.proc.exited;
  }

  /** Pids of control, origin and the live agents (ip netns exec runs each program in place). */
  pids(): Array<{ name: string; pid: number }> {
    const out: Array<{ name: string; pid: number }> = [];
    const add = (name: string, p: LabProcess): void => {
      if (p.running && p.child.pid !== undefined) out.push({ name, pid: p.child.pid });
    };
    add("control", this.control);
    add("origin", this.origin);
    for (const a of this.agents) if (a.alive) add(a.host, a.proc);
    return out;
  }

  /**
   * What a host's own kernel counted: datagrams its upload cap (tbf) dropped and the bytes it let
   * through, the UDP counters (RcvbufErrors: a full socket buffer; SndbufErrors: sends the kernel
   * dropped — the tbf's drops and also the lab's own random loss on the host's egress, which a
   * netdev hook reports as a drop to the kernel though not to the sender) and TCP segments sent.
   */
  async netStats(host: string): Promise<NetStats> {
    const q = await this.lab.exec(host, [tool("tc"), "-s", "qdisc", "show", "dev", "eth0"]);
    const snmp = (await this.lab.exec(host, ["cat", "/proc/net/snmp"])).stdout.split("\n");
    const field = (proto: string, name: string): number => {
      const [names, values] = snmp.filter((l) => l.startsWith(`${proto}: `));
      return Number(values?.split(" ")[names?.split(" ").indexOf(name) ?? -1] ?? 0) || 0;
    };
    return {
      tbfDropped: Number(/dropped (\d+)/.exec(q.stdout)?.[1] ?? 0),
      txBytes: Number(/Sent (\d+) bytes/.exec(q.stdout)?.[1] ?? 0),
      rcvbufErrors: field("Udp", "RcvbufErrors"),
      sndbufErrors: field("Udp", "SndbufErrors"),
      udpOut: field("Udp", "OutDatagrams"),
      tcpOutSegs: field("Tcp", "OutSegs"),
    };
  }

  /** Destroys the lab (every process in it) and closes the log files. Idempotent. */
  async stop(): Promise<void> {
    try {
      await this.lab.destroy();
    } finally {
      for (const l of this.#logs) l.end();
    }
  }

  /** `Bearer <token>` for control's admin API: the token control made next to its database. */
  #bearer(): string {
    return `Bearer ${readAdminToken(join(this.dir, ADMIN_TOKEN_FILE))}`;
  }

  #adminUrl(path: string): string {
    return `http://${this.lab.addressOf("control")}:${ADMIN_PORT}${path}`;
  }

  #policyFile(): string {
    const { config } = this;
    const policy = {
      default: "core",
      regions: Array.from({ length: config.regions }, (_, r) => ({
        name: r === 0 ? "core" : `r${r}`,
        prefixes: [regionPrefix(r)],
        ...(r === 0 ? {} : config.region?.(r)),
      })),
      ...(config.policy === undefined ? {} : { topology: config.policy }),
    };
    const file = join(this.dir, "regions.json");
    writeFileSync(file, JSON.stringify(policy, null, 2));
    return file;
  }

  #spawn(host: string, args: string[]): { proc: LabProcess; logFile: string } {
    const logFile = join(this.dir, `${host}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    this.#logs.push(log);
    const argv = [process.execPath, BIN, ...args, ...this.lab.netDelayArgs(host)];
    log.write(`# ${argv.join(" ")}\n`);
    const proc = this.lab.spawn(host, argv);
    proc.child.stdout?.on("data", (d: Buffer) => log.write(d));
    proc.child.stderr?.on("data", (d: Buffer) => log.write(d));
    return { proc, logFile };
  }

  async #startAll(): Promise<void> {
    const { config, lab, dir } = this;
    const ready = (p: LabProcess, what: string): Promise<unknown> =>
      p.waitForJson((o) => o.event === "ready", 30_000, `${what}'s "ready" line`);
    this.control = this.#spawn("control", [
      "control",
      `--host=${lab.addressOf("control")}`,
      `--port=${CONTROL_PORT}`,
      `--admin-host=${lab.addressOf("control")}`,
      `--admin-port=${ADMIN_PORT}`,
      `--db=${join(dir, "control.db")}`,
      `--regions=${this.#policyFile()}`,
      `--heartbeat-ms=${config.heartbeatMs ?? 500}`,
      ...(config.topology === undefined ? [] : [`--topology=${config.topology}`]),
    ]).proc;
    const controlReady = (await ready(this.control, "control")) as { publicKey?: unknown };
    if (typeof controlReady.publicKey !== "string") throw new Error("control's ready line has no publicKey");
    this.controlKey = controlReady.publicKey;
    this.origin = this.#spawn("origin", [
      "origin",
      `--control=${this.controlAddress}`,
      `--control-key=${this.controlKey}`,
      `--host=${lab.addressOf("origin")}`,
      `--port=${ORIGIN_PORT}`,
      `--http-port=${ORIGIN_HTTP_PORT}`,
      `--channel=${CHANNEL}`,
      `--fanout=${config.originFanout ?? 2}`,
      `--data-dir=${join(dir, "origin")}`,
      ...(config.originSource === undefined ? [] : [`--source=${config.originSource}`]),
    ]).proc;
    await ready(this.origin, "origin");
    await this.origin.waitForJson(
      (o) => o.event === "segment_published",
      20_000,
      "the origin's first segment_published",
    );
    const specs = config.agents;
    for (let from = 0; from < specs.length; from += START_BATCH) {
      const batch = specs.slice(from, from + START_BATCH).map((spec, j) => this.#startAgent(from + j, spec));
      await Promise.all(batch.map((a) => ready(a.proc, a.host)));
    }
  }

  #startAgent(index: number, spec: LabAgentSpec): LabAgent {
    const host = `a${index}`;
    const address = this.lab.addressOf(host);
    const role = spec.role ?? "agent";
    const { proc, logFile } = this.#spawn(host, [
      "agent",
      `--control=${this.controlAddress}`,
      `--control-key=${this.controlKey}`,
      `--host=${address}`,
      `--port=${AGENT_PORT}`,
      `--http-port=${AGENT_HTTP_PORT}`,
      `--channel=${CHANNEL}`,
      `--upload-kbps=${spec.uploadKbps}`,
      `--role=${role}`,
      `--data-dir=${join(this.dir, host)}`,
    ]);
    const a: LabAgent = {
      index,
      host,
      region: spec.region,
      address,
      uploadKbps: spec.uploadKbps,
      role,
      proc,
      logFile,
      alive: true,
    };
    this.agents[index] = a;
    return a;
  }
}

/** CPU time (user + system) of a process so far, seconds; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    return ticks / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine so far, seconds (from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle, iowait
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK) is not exposed to Node). */
const CLOCK_TICKS = 100;
