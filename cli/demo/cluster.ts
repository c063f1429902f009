/**
 * Starts a whole tiercast deployment on loopback as separate OS processes — one control,
 * one origin, N agents spread over R regions (agents of region r bind 127.0.r.x, and the
 * generated policy file maps 127.0.r.0/24 to region r) — and stops it again. Used by the
 * demo and by the integration tests. Every process's stdout (JSON log lines) is kept in a
 * log file under the run directory.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ADMIN_TOKEN_FILE, readAdminToken } from "../../control/admin-token.js";
import { CONTROL_IDENTITY_FILE } from "../../control/main.js";
import type { TopologyName } from "../../control/defaults.js";
import { selfCommand } from "../self.js";

export interface Endpoint {
  address: string;
  port: number;
}

export interface ProcInfo {
  name: string;
  child: ChildProcess;
  udp: Endpoint;
  http: Endpoint;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Control only: its public key, as its ready line prints it (the nodes pin it). */
  publicKey?: string;
}

export interface AgentInfo extends ProcInfo {
  index: number;
  region: string;
  uploadKbps: number;
  dataDir: string;
}

export interface ClusterConfig {
  dir: string;
  agents: number;
  regions: number;
  /** Upload capacity of agent i, kbit/s. */
  uploadKbps: (index: number) => number;
  /** ms between agent starts (a real deployment does not boot every box in the same ms). */
  staggerMs: number;
  originFanout: number;
  heartbeatMs: number;
  /** Control's topology engine (control's default when absent). */
  topology?: TopologyName;
  /** Extra environment for every process. */
  env?: NodeJS.ProcessEnv;
  /** A VoD file the origin offers as well (channel `channel`), which every agent downloads. */
  vod?: { channel: string; path: string; kbps?: number; chunkKb?: number };
  /** Called for every log line of every process (after JSON.parse); for live event displays. */
  onEvent?: (proc: string, event: Record<string, unknown>) => void;
  /**
   * Several control processes coordinated through etcd (docs/resilience.md): how many, and the
   * etcd endpoints. They share one identity (the first one's, copied beside the others' databases)
   * and the origin and agents get every one of their endpoints.
   */
  controls?: { count: number; etcd: string; leaseTtlS?: number };
}

export const CHANNEL = "demo";

export function regionName(r: number): string {
  return `region-${String.fromCharCode(97 + r)}`; // region-a, region-b, ...
}

/** Loopback address of agent i: region r = i mod regions, host 10 + i div regions. */
export function agentAddress(i: number, regions: number): { region: number; address: string } {
  const region = i % regions;
  return { region, address: `127.0.${region + 1}.${10 + Math.floor(i / regions)}` };
}

export class Cluster {
  control!: ProcInfo;
  /** Every control process (one unless `controls`); `control` is the first. */
  controls: ProcInfo[] = [];

  /** Control's public key (hex), which the origin and agents are started with. */
  get controlKey(): string {
    const key = this.control.publicKey;
    if (key === undefined) throw new Error("control's ready line has no publicKey");
    return key;
  }
  origin!: ProcInfo;
  readonly agents: AgentInfo[] = [];
  readonly #procs: ProcInfo[] = [];
  /** Each control process's command line as first started (restartControl reuses it). */
  readonly #controlArgs: string[][] = [];
  #sawSegment: () => void = () => {};
  readonly #firstSegment = new Promise<void>((resolve) => (this.#sawSegment = resolve));

  constructor(readonly config: ClusterConfig) {}

  async start(): Promise<void> {
    const c = this.config;
    mkdirSync(c.dir, { recursive: true });
    const policy = {
      default: "default",
      regions: Array.from({ length: c.regions }, (_, r) => ({
        name: regionName(r),
        prefixes: [`127.0.${r + 1}.0/24`],
      })),
    };
    const policyFile = join(c.dir, "regions.json");
    writeFileSync(policyFile, JSON.stringify(policy, null, 2));

    const multi = c.controls;
    const count = multi?.count ?? 1;
    for (let n = 0; n < count; n++) {
      const dbDir = multi === undefined ? c.dir : join(c.dir, `control-${n + 1}`);
      mkdirSync(dbDir, { recursive: true });
      // The servers of one deployment hold one identity: the nodes pin its key.
      if (n > 0)
        copyFileSync(join(c.dir, "control-1", CONTROL_IDENTITY_FILE), join(dbDir, CONTROL_IDENTITY_FILE));
      const args = [
        "control",
        "--host=127.0.0.1",
        "--port=0",
        "--admin-port=0",
        `--db=${join(dbDir, "control.db")}`,
        `--regions=${policyFile}`,
        `--heartbeat-ms=${c.heartbeatMs}`,
        ...(c.topology === undefined ? [] : [`--topology=${c.topology}`]),
        ...(multi === undefined
          ? []
          : [
              `--etcd=${multi.etcd}`,
              ...(multi.leaseTtlS === undefined ? [] : [`--lease-ttl-s=${multi.leaseTtlS}`]),
            ]),
      ];
      this.#controlArgs[n] = args;
      const p = await this.#spawn(multi === undefined ? "control" : `control-${n + 1}`, args);
      this.controls.push(p);
    }
    this.control = this.controls[0]!;
    const controlAddr = this.controlEndpoints;
    this.origin = await this.#spawn("origin", [
      "origin",
      `--control=${controlAddr}`,
      `--control-key=${this.controlKey}`,
      "--host=127.0.0.1",
      "--port=0",
      "--http-port=0",
      `--channel=${CHANNEL}`,
      `--fanout=${c.originFanout}`,
      `--data-dir=${join(c.dir, "origin")}`,
      ...(c.vod === undefined
        ? []
        : [
            `--vod=${c.vod.channel}=${c.vod.path}`,
            ...(c.vod.kbps === undefined ? [] : [`--vod-kbps=${c.vod.kbps}`]),
            ...(c.vod.chunkKb === undefined ? [] : [`--vod-chunk-kb=${c.vod.chunkKb}`]),
          ]),
    ]);
    // The channel is live before viewers arrive, as in a real deployment: wait for the first segment.
    await deadline(
      this.#firstSegment,
      15_000,
      `the origin published no segment within 15 s; see ${this.origin.logFile}`,
    );
    for (let i = 0; i < c.agents; i++) {
      if (i > 0 && c.staggerMs > 0) await delay(c.staggerMs);
      await this.startAgent(i, controlAddr);
    }
  }

  /** Another origin, offering `channel` (the sample clip again), with its own data folder. */
  startOrigin(channel: string): Promise<ProcInfo> {
    return this.#spawn(`origin-${channel}`, [
      "origin",
      `--control=${this.controlEndpoints}`,
      `--control-key=${this.controlKey}`,
      "--host=127.0.0.1",
      "--port=0",
      "--http-port=0",
      `--channel=${channel}`,
      `--fanout=${this.config.originFanout}`,
      `--data-dir=${join(this.config.dir, `origin-${channel}`)}`,
    ]);
  }

  /** Every control process's UDP endpoint, as --control takes them. */
  get controlEndpoints(): string {
    return this.controls.map((p) => `${p.udp.address}:${p.udp.port}`).join(",");
  }

  /** Starts (or restarts) agent i; its data directory is kept across restarts. */
  async startAgent(i: number, controlAddr = this.controlEndpoints, channel = CHANNEL): Promise<AgentInfo> {
    const { region, address } = agentAddress(i, this.config.regions);
    const dataDir = join(this.config.dir, `agent-${i}`);
    const uploadKbps = this.config.uploadKbps(i);
    const p = await this.#spawn(`agent-${i}`, [
      "agent",
      `--control=${controlAddr}`,
      `--control-key=${this.controlKey}`,
      `--host=${address}`,
      "--port=0",
      "--http-port=0",
      `--channel=${channel}`,
      `--upload-kbps=${uploadKbps}`,
      `--data-dir=${dataDir}`,
      ...(this.config.vod === undefined ? [] : [`--vod=${this.config.vod.channel}`]),
    ]);
    const info: AgentInfo = { ...p, index: i, region: regionName(region), uploadKbps, dataDir };
    this.agents[i] = info;
    return info;
  }

  /**
   * Starts control process n (0-based) again after it ended (killed, crashed): the same database
   * folder and identity, and the same UDP and admin ports, since the nodes were given its endpoint.
   * Resolves once it is ready; throws if it is running and nobody sent it a signal.
   */
  async restartControl(n: number): Promise<ProcInfo> {
    const old = this.controls[n];
    const args = this.#controlArgs[n];
    if (old === undefined || args === undefined) throw new Error(`no control process ${n}`);
    if (!old.child.killed && old.child.exitCode === null && old.child.signalCode === null)
      throw new Error(`control process ${n} is still running`);
    await old.exited;
    const again = args.map((a) =>
      a === "--port=0"
        ? `--port=${old.udp.port}`
        : a === "--admin-port=0"
          ? `--admin-port=${old.http.port}`
          : a,
    );
    const p = await this.#spawn(old.name, again);
    this.controls[n] = p;
    if (n === 0) this.control = p;
    return p;
  }

  /** Control's admin token file (control makes it next to its database at first start). */
  get adminTokenFile(): string {
    return this.adminTokenFileOf(0);
  }

  /** The admin token file of control process n (0-based). */
  adminTokenFileOf(n: number): string {
    const dir =
      this.config.controls === undefined ? this.config.dir : join(this.config.dir, `control-${n + 1}`);
    return join(dir, ADMIN_TOKEN_FILE);
  }

  /** A document of control's admin API (`/api/nodes`, ...), with the bearer token; undefined on failure. */
  adminJson<T>(path: string, timeoutMs = 2000, n = 0): Promise<T | undefined> {
    const token = readAdminToken(this.adminTokenFileOf(n));
    return getJson<T>(urlOf(this.controls[n]!.http, path), timeoutMs, { authorization: `Bearer ${token}` });
  }

  /** Stops every process: SIGTERM, then SIGKILL for any still running after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    const running = this.#procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    for (const p of running) p.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const p of running) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }, graceMs);
    await Promise.all(running.map((p) => p.exited));
    clearTimeout(timer);
  }

  #spawn(name: string, args: string[]): Promise<ProcInfo> {
    const self = selfCommand();
    const logFile = join(this.config.dir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    const child = spawn(self.command, [...self.args, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.config.env },
    });
    const exited = new Promise<number | string>((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    child.stderr!.pipe(log, { end: false });
    return new Promise((resolve, reject) => {
      let ready = false;
      const lines = createInterface({ input: child.stdout! });
      lines.on("line", (line) => {
        log.write(line + "\n");
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        this.config.onEvent?.(name, ev);
        if (ev.event === "segment_published") this.#sawSegment();
        if (!ready && ev.event === "ready") {
          ready = true;
          const info: ProcInfo = {
            name,
            child,
            udp: ev.udp as Endpoint,
            http: ev.http as Endpoint,
            ...(typeof ev.publicKey === "string" ? { publicKey: ev.publicKey } : {}),
            logFile,
            exited,
          };
          this.#procs.push(info);
          resolve(info);
        }
      });
      lines.on("close", () => log.end());
      void exited.then((code) => {
        if (!ready) reject(new Error(`${name} exited (${code}) before it was ready; see ${logFile}`));
      });
    });
  }
}

function deadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** GETs a JSON document with a timeout; undefined when the process does not answer (or not 2xx). */
export async function getJson<T>(
  url: string,
  timeoutMs = 2000,
  headers: Record<string, string> = {},
): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
    if (!res.ok) return undefined;
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

export function urlOf(e: Endpoint, path: string): string {
  const host = e.address.includes(":") ? `[${e.address}]` : e.address;
  return `http://${host}:${e.port}${path}`;
}
