/**
 * The network lab: real tiercast processes on a real (virtual) network, built from Linux
 * network namespaces, for the tests and `npm run bench:lab`. Needs root.
 *
 * Layout for a lab named N (docs/operations.md, "The network lab"):
 *   - router namespace `tcl-N-r`: one bridge `br<r>` per region r holding 10.77.r.1/24, and
 *     ip_forward=1, so it switches inside a region and routes between regions;
 *   - one namespace per host, `tcl-N-<i>` (i = the host's index in the spec): its `eth0` is a
 *     veth whose peer `h<i>` sits on its region's bridge; address 10.77.r.(10+k) for the k-th
 *     host of region r; default route via 10.77.r.1. Region 0 is the core (origin, control).
 * Every interface is created directly inside its namespace, so names never meet in the root
 * namespace (two labs can run at once) and deleting the namespaces deletes every link.
 *
 * Impairments, per host link (the kernel has no netem):
 *   - loss: nftables `netdev` chains on eth0 egress and ingress drop UDP at random, so a
 *     datagram crosses two lossy links (sender's, receiver's) whichever regions they are in.
 *     Netdev hooks drop silently like a wire; an `inet output` drop would fail sendmsg with EPERM;
 *   - upload cap: a tbf qdisc on eth0 (egress);
 *   - delay/jitter: in the processes themselves, `--net-delay` (seams/impaired-transport.ts):
 *     `netDelayFor(host)` gives the prefixes of the other regions.
 *
 * Management path: `lab.fetch(url)` / `lab.getJson(url)` reach any host's HTTP server from the
 * test process (in the root namespace, which has no route into the lab) through a relay
 * (lab-relay.ts) started on first use in the router namespace and listening on a Unix socket:
 * nothing is added to the lab's network, and labs running at once do not clash. A player such
 * as ffmpeg runs inside a host instead (`lab.exec`), as a LAN player would.
 *
 * Clean-up: `destroy()` (also on process exit and SIGINT/SIGTERM/SIGHUP, synchronously) kills
 * what the lab spawned and everything else inside its namespaces, then deletes them. The owner
 * (pid and start time) is written on the router's loopback alias, so `Lab.sweep()` can remove
 * labs whose owner died without cleaning up (SIGKILL) and leave live ones alone.
 *
 * Commands run with execFile/spawn argument vectors, never through a shell. Run as a program
 * (scripts/lab) it is the operators' CLI: up / down / hold / sweep / list.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatDelayRules, type DelayRule } from "../../seams/impaired-transport.js";

export const LAB_PREFIX = "tcl-";
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RELAY = fileURLToPath(new URL("./lab-relay.ts", import.meta.url));
/** Most hosts in one region (10.77.r.10 .. 10.77.r.249). */
export const MAX_HOSTS_PER_REGION = 240;
const MAX_REGIONS = 250;
const OWNER_TAG = "tiercast-lab owner=";
/** tbf queue (default): how long a datagram may wait behind the cap before it is dropped. */
export const DEFAULT_UP_QUEUE_MS = 50;

export interface LabHostSpec {
  name: string;
  /** 0 = the core region (origin, control). */
  region: number;
  /** Upload cap in kbit/s (tbf on the host's egress); none when absent. */
  upKbps?: number;
}

export interface LabSpec {
  /** Short unique prefix for this run: 1..12 lowercase letters or digits, e.g. `tc${process.pid}`. */
  name: string;
  /** Number of regions including the core: regions 0 .. regions-1. */
  regions: number;
  hosts: LabHostSpec[];
  /** UDP loss on every host link, percent (each datagram crosses two such links). */
  lossPercent?: number;
  /** One-way delay added between regions (via --net-delay), ms. */
  interRegionDelayMs?: number;
  /** ± jitter on that delay, ms. */
  interRegionJitterMs?: number;
  /**
   * The upload cap's queue, ms at the cap's rate (tbf latency; default 50): what the uplink
   * buffers before it drops. Home modems often buffer a few hundred ms.
   */
  upQueueMs?: number;
}

export interface LabHost {
  name: string;
  region: number;
  /** Index in spec.hosts; the namespace is `tcl-<lab>-<index>`. */
  index: number;
  namespace: string;
  address: string;
  upKbps: number | undefined;
}

export interface LabPlan {
  name: string;
  regions: number;
  router: string;
  hosts: LabHost[];
  lossPercent: number;
  interRegionDelayMs: number;
  interRegionJitterMs: number;
  upQueueMs: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** An HTTP answer fetched through the lab's management path. */
export interface LabHttpResponse {
  status: number;
  body: Buffer;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Killed (SIGKILL) and rejected past this; default 30 s. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface SpawnOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** "pipe" to write to the process; default "ignore". */
  stdin?: "pipe" | "ignore";
}

export const regionPrefix = (region: number): string => `10.77.${region}.0/24`;
export const routerAddress = (region: number): string => `10.77.${region}.1`;

/** Checks a spec and works out names and addresses (pure). Throws naming the bad field. */
export function planLab(spec: LabSpec): LabPlan {
  const bad = (why: string): never => {
    throw new Error(`lab spec: ${why}`);
  };
  if (typeof spec.name !== "string" || !/^[a-z0-9]{1,12}$/.test(spec.name)) {
    bad(`name ${JSON.stringify(spec.name)} must be 1..12 lowercase letters or digits`);
  }
  if (!Number.isInteger(spec.regions) || spec.regions < 1 || spec.regions > MAX_REGIONS) {
    bad(`regions ${JSON.stringify(spec.regions)} must be an integer in 1..${MAX_REGIONS}`);
  }
  if (!Array.isArray(spec.hosts) || spec.hosts.length === 0) bad("hosts must be a non-empty array");
  const percent = (field: string, v: number | undefined): number => {
    if (v === undefined) return 0;
    return typeof v === "number" && v >= 0 && v <= 100
      ? v
      : bad(`${field} ${JSON.stringify(v)} must be 0..100`);
  };
  const ms = (field: string, v: number | undefined): number => {
    if (v === undefined) return 0;
    return typeof v === "number" && v >= 0 && v <= 60_000
      ? v
      : bad(`${field} ${JSON.stringify(v)} must be 0..60000`);
  };
  const router = `${LAB_PREFIX}${spec.name}-r`;
  const seen = new Set<string>();
  const perRegion = new Map<number, number>();
  const hosts = spec.hosts.map((h, index): LabHost => {
    const where = `hosts[${index}]`;
    if (typeof h.name !== "string" || !/^[A-Za-z0-9_.-]{1,32}$/.test(h.name)) {
      bad(`${where}.name ${JSON.stringify(h.name)} must be 1..32 letters, digits, _ . or -`);
    }
    if (seen.has(h.name)) bad(`${where}.name "${h.name}" is used twice`);
    seen.add(h.name);
    if (!Number.isInteger(h.region) || h.region < 0 || h.region >= spec.regions) {
      bad(`${where}.region ${JSON.stringify(h.region)} must be an integer in 0..${spec.regions - 1}`);
    }
    if (h.upKbps !== undefined && !(Number.isInteger(h.upKbps) && h.upKbps >= 8 && h.upKbps <= 10_000_000)) {
      bad(`${where}.upKbps ${JSON.stringify(h.upKbps)} must be an integer in 8..10000000`);
    }
    const k = perRegion.get(h.region) ?? 0;
    if (k >= MAX_HOSTS_PER_REGION) bad(`region ${h.region} has more than ${MAX_HOSTS_PER_REGION} hosts`);
    perRegion.set(h.region, k + 1);
    return {
      name: h.name,
      region: h.region,
      index,
      namespace: `${LAB_PREFIX}${spec.name}-${index}`,
      address: `10.77.${h.region}.${10 + k}`,
      upKbps: h.upKbps,
    };
  });
  return {
    name: spec.name,
    regions: spec.regions,
    router,
    hosts,
    lossPercent: percent("lossPercent", spec.lossPercent),
    interRegionDelayMs: ms("interRegionDelayMs", spec.interRegionDelayMs),
    interRegionJitterMs: ms("interRegionJitterMs", spec.interRegionJitterMs),
    upQueueMs:
      spec.upQueueMs === undefined
        ? DEFAULT_UP_QUEUE_MS
        : Number.isInteger(spec.upQueueMs) && spec.upQueueMs >= 1 && spec.upQueueMs <= 10_000
          ? spec.upQueueMs
          : bad(`upQueueMs ${JSON.stringify(spec.upQueueMs)} must be an integer in 1..10000`),
  };
}

/** The nftables ruleset for a host: drop `lossPercent` of UDP leaving and entering eth0. */
export function lossRuleset(lossPercent: number): string {
  // numgen over 10000 gives 0.01 % steps.
  const cut = Math.round(lossPercent * 100);
  const drop = `meta l4proto udp numgen random mod 10000 < ${cut} drop`;
  return [
    "table netdev lab {",
    `  chain up { type filter hook egress device "eth0" priority 0; ${drop}; }`,
    `  chain down { type filter hook ingress device "eth0" priority 0; ${drop}; }`,
    "}",
    "",
  ].join("\n");
}

/** tbf arguments for an upload cap: 10 ms of burst (at least 4 full frames), a queue of `queueMs` (default 50). */
export function tbfArgs(upKbps: number, queueMs = DEFAULT_UP_QUEUE_MS): string[] {
  const burst = Math.max(4 * 1514, Math.ceil((upKbps * 1000) / 8 / 100));
  return ["rate", `${upKbps}kbit`, "burst", String(burst), "latency", `${queueMs}ms`];
}

const SYSTEM_DIRS = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
const PACKAGE_OF: Record<string, string> = {
  ip: "iproute2",
  tc: "iproute2",
  nft: "nftables",
  sysctl: "procps",
};
const toolPaths = new Map<string, string>();

/**
 * Absolute path of a system tool. Never looked up on PATH: under npm/npx, node_modules/.bin
 * comes first and holds an unrelated `nft` (@vercel/nft, pulled in by ava) that exits 0.
 */
export function tool(name: "ip" | "tc" | "nft" | "sysctl"): string {
  let path = toolPaths.get(name);
  if (path === undefined) {
    path = SYSTEM_DIRS.map((d) => `${d}/${name}`).find((p) => existsSync(p));
    if (path === undefined) {
      throw new Error(
        `lab: ${name} not found in ${SYSTEM_DIRS.join(":")} (Debian package ${PACKAGE_OF[name]}; see scripts/test-deps.sh)`,
      );
    }
    toolPaths.set(name, path);
  }
  return path;
}

/** Runs a command (no shell); rejects with its stderr on a non-zero exit or past the timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(" ")}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise({ stdout, stderr });
      else {
        const why = signal === null ? `exit ${code}` : `killed by ${signal} (timeout ${timeoutMs} ms?)`;
        reject(new Error(`${cmd} ${args.join(" ")}: ${why}: ${stderr.trim()}`));
      }
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** argv for running a TypeScript file with node + tsx (cwd must be the repo, as spawn's default is). */
export function nodeArgv(script: string, ...args: string[]): string[] {
  return [process.execPath, "--import", "tsx", script, ...args];
}

const MAX_LINES = 10_000;
const MAX_STDERR = 64 * 1024;

/** A process running inside a lab host, with its stdout kept as lines. */
export class LabProcess {
  /** The last MAX_LINES lines of stdout. */
  readonly lines: string[] = [];
  /** The tail of stderr. */
  stderr = "";
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  #partial = "";
  #done = false;
  readonly #waiters = new Set<{
    match: (line: string) => boolean;
    ok: (l: string) => void;
    fail: () => void;
  }>();

  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    child.stdout?.on("data", (d: Buffer) => this.#onData(d.toString()));
    child.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-MAX_STDERR);
    });
    this.exited = new Promise((resolveExit) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#done) return;
        this.#done = true;
        this.exitCode = code;
        this.exitSignal = signal;
        if (this.#partial !== "") this.#line(this.#partial);
        for (const w of this.#waiters) w.fail();
        this.#waiters.clear();
        resolveExit();
      };
      child.on("close", finish);
      child.on("error", (e) => {
        this.stderr += `\nspawn failed: ${e.message}`;
        finish(null, null);
      });
    });
  }

  get running(): boolean {
    return !this.#done;
  }

  /** Resolves with the first stdout line (already seen or to come) that matches. */
  waitForLine(
    match: (line: string) => boolean,
    timeoutMs: number,
    what = "a matching line",
  ): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    const label = `${this.host}: ${this.argv.join(" ")}`;
    if (this.#done) return Promise.reject(this.#error(`${label} exited before printing ${what}`));
    return new Promise((ok, fail) => {
      const w = {
        match,
        ok: (l: string) => {
          clearTimeout(timer);
          ok(l);
        },
        fail: () => {
          clearTimeout(timer);
          fail(this.#error(`${label} exited before printing ${what}`));
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        fail(this.#error(`${label}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Like waitForLine for JSON lines: the first object for which `match` holds. */
  async waitForJson<T = Record<string, unknown>>(
    match: (o: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what = "a matching JSON line",
  ): Promise<T> {
    const line = await this.waitForLine((l) => matchJson(l, match), timeoutMs, what);
    return JSON.parse(line) as T;
  }

  signal(sig: NodeJS.Signals = "SIGTERM"): void {
    if (!this.#done) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#done) return;
    this.signal("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (!this.#done) {
      this.signal("SIGKILL");
      await this.exited;
    }
  }

  #onData(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const l of parts) this.#line(l);
  }

  #line(l: string): void {
    this.lines.push(l);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    for (const w of this.#waiters) {
      if (w.match(l)) {
        this.#waiters.delete(w);
        w.ok(l);
      }
    }
  }

  #error(message: string): Error {
    const tail = this.stderr.trim().split("\n").slice(-15).join("\n");
    return new Error(tail === "" ? message : `${message}\nstderr:\n${tail}`);
  }
}

function matchJson(line: string, match: (o: Record<string, unknown>) => boolean): boolean {
  if (!line.startsWith("{")) return false;
  try {
    const o: unknown = JSON.parse(line);
    return typeof o === "object" && o !== null && match(o as Record<string, unknown>);
  } catch {
    return false;
  }
}

/** Labs of this process still standing, for the exit and signal hooks. */
const live = new Set<Lab>();
let hooked = false;

function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const lab of live) lab.destroySync();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      for (const lab of live) lab.destroySync();
      process.off(sig, onSignal);
      // Nobody else handles it: die of the signal as we would have without this hook.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** "<pid>@<start time in clock ticks>": a pid alone could be reused by the time of a sweep. */
function ownerId(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) counted after the ")" that ends the command name.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${pid}@${fields[19]}`;
  } catch {
    return undefined;
  }
}

export class Lab {
  readonly plan: LabPlan;
  /** Namespaces this lab made (and so will delete), in creation order. */
  readonly #made: string[] = [];
  readonly #procs: LabProcess[] = [];
  readonly #byName: Map<string, LabHost>;
  #destroyed: Promise<void> | undefined;
  #gone = false;
  /** The management relay's socket, once started (lab-relay.ts); its folder, to remove. */
  #relay: Promise<string> | undefined;
  #relayDir: string | undefined;

  private constructor(
    plan: LabPlan,
    readonly persistent: boolean,
  ) {
    this.plan = plan;
    this.#byName = new Map(plan.hosts.map((h) => [h.name, h]));
  }

  /**
   * Builds the lab. Unless `persistent` (the CLI's `up`), it is torn down when this process
   * exits or gets SIGINT/SIGTERM/SIGHUP; tests should still call destroy (t.teardown).
   */
  static async create(spec: LabSpec, options: { persistent?: boolean } = {}): Promise<Lab> {
    const lab = new Lab(planLab(spec), options.persistent ?? false);
    if (!lab.persistent) {
      hookProcessExit();
      live.add(lab);
    }
    try {
      await lab.#build();
    } catch (e) {
      await lab.destroy().catch(() => {});
      throw e;
    }
    return lab;
  }

  /** Creates a lab, runs `body`, and destroys the lab whatever the body did. */
  static async use<T>(spec: LabSpec, body: (lab: Lab) => Promise<T>): Promise<T> {
    const lab = await Lab.create(spec);
    try {
      return await body(lab);
    } finally {
      await lab.destroy();
    }
  }

  /** Every lab namespace (name starting with `prefix`, default "tcl-"). */
  static async namespaces(prefix = LAB_PREFIX): Promise<string[]> {
    const { stdout } = await run(tool("ip"), ["netns", "list"]);
    return stdout
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => n.startsWith(LAB_PREFIX) && n.startsWith(prefix));
  }

  /**
   * Removes lab namespaces whose name starts with `prefix` and whose owner process is gone
   * (killed before it could clean up), or whose owner is unknown. `force` removes them all,
   * including live and persistent (CLI `up`) labs. Returns the namespaces removed. A lab that
   * another process is building at this very moment has no owner tag for a few milliseconds: an
   * untagged lab whose router namespace is younger than a minute is left alone (test files that
   * sweep run at the same time as others that build labs).
   */
  static async sweep(prefix = LAB_PREFIX, options: { force?: boolean } = {}): Promise<string[]> {
    const byLab = new Map<string, string[]>();
    for (const ns of await Lab.namespaces(prefix)) {
      const m = /^tcl-([a-z0-9]+)-(r|\d+)$/.exec(ns);
      if (m === null) continue;
      const list = byLab.get(m[1]!) ?? [];
      list.push(ns);
      byLab.set(m[1]!, list);
    }
    const removed: string[] = [];
    for (const [name, list] of byLab) {
      if (!options.force) {
        if ([...live].some((l) => l.plan.name === name)) continue;
        const owner = await Lab.owner(name);
        if (owner === "manual") continue;
        if (owner !== undefined && ownerId(Number(owner.split("@")[0])) === owner) continue;
        if (owner === undefined && createdWithinMs(`${LAB_PREFIX}${name}-r`, UNTAGGED_GRACE_MS)) continue;
      }
      // Hosts first, router last: a sweep cut short still leaves the owner tag to find.
      list.sort((a, b) => Number(a.endsWith("-r")) - Number(b.endsWith("-r")));
      for (const ns of list) {
        await killAllIn(ns);
        await deleteNamespace(ns);
        removed.push(ns);
      }
    }
    return removed;
  }

  /** Owner of lab `name`: "<pid>@<start>", "manual" (CLI up) or undefined (no router/tag). */
  static async owner(name: string): Promise<string | undefined> {
    try {
      const { stdout } = await run(tool("ip"), [
        "-j",
        "-n",
        `${LAB_PREFIX}${name}-r`,
        "link",
        "show",
        "dev",
        "lo",
      ]);
      const [lo] = JSON.parse(stdout) as Array<{ ifalias?: string }>;
      const alias = lo?.ifalias ?? "";
      return alias.startsWith(OWNER_TAG) ? alias.slice(OWNER_TAG.length) : undefined;
    } catch {
      return undefined;
    }
  }

  get name(): string {
    return this.plan.name;
  }

  get hosts(): readonly LabHost[] {
    return this.plan.hosts;
  }

  host(name: string): LabHost {
    const h = this.#byName.get(name);
    if (h === undefined) throw new Error(`lab ${this.name}: no host "${name}"`);
    return h;
  }

  addressOf(host: string): string {
    return this.host(host).address;
  }

  namespaceOf(host: string): string {
    return this.host(host).namespace;
  }

  /** The delay rules for a host's processes: every other region's prefix; [] when no delay. */
  delayRulesFor(host: string): DelayRule[] {
    const { region } = this.host(host);
    const { interRegionDelayMs: delayMs, interRegionJitterMs: jitterMs, regions } = this.plan;
    if (delayMs === 0 && jitterMs === 0) return [];
    const rules: DelayRule[] = [];
    for (let r = 0; r < regions; r++)
      if (r !== region) rules.push({ prefix: regionPrefix(r), delayMs, jitterMs });
    return rules;
  }

  /** The `--net-delay` value for a host's processes, or undefined when the lab adds no delay. */
  netDelayFor(host: string): string | undefined {
    const rules = this.delayRulesFor(host);
    return rules.length === 0 ? undefined : formatDelayRules(rules);
  }

  /** `["--net-delay", value]` or [] — to splice into a tiercast command line. */
  netDelayArgs(host: string): string[] {
    const v = this.netDelayFor(host);
    return v === undefined ? [] : ["--net-delay", v];
  }

  /** Runs a command inside a host's namespace to completion. */
  exec(host: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.#alive();
    return run(tool("ip"), ["netns", "exec", this.namespaceOf(host), ...argv], {
      ...opts,
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
    });
  }

  /** Starts a process inside a host's namespace; destroy() and kill() stop it. */
  spawn(host: string, argv: readonly string[], opts: SpawnOptions = {}): LabProcess {
    this.#alive();
    return this.#spawnIn(this.namespaceOf(host), host, argv, opts);
  }

  /**
   * GETs a URL on a lab host (http://10.77.r.x:port/...) from this process, through the
   * management relay in the router namespace (started on first use). Rejects when the relay
   * cannot be reached or the request takes longer than `timeoutMs`; an HTTP error status is
   * returned, not thrown (the relay answers 502/504 when the host does not).
   */
  async fetch(url: string, timeoutMs = 5000): Promise<LabHttpResponse> {
    this.#alive();
    const socketPath = await (this.#relay ??= this.#startRelay());
    return new Promise((resolveFetch, reject) => {
      const req = http.request(
        {
          socketPath,
          path: url,
          method: "GET",
          headers: { host: new URL(url).host, "x-timeout-ms": String(timeoutMs) },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => resolveFetch({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      // The relay answers 504 at timeoutMs; this is the backstop if the relay itself hangs.
      req.setTimeout(timeoutMs + 2000, () => req.destroy(new Error(`lab.fetch ${url}: timed out`)));
      req.on("error", (e) => reject(new Error(`lab.fetch ${url}: ${e.message}`)));
      req.end();
    });
  }

  /** `fetch` for a JSON document: undefined when the host does not answer 200 with JSON in time. */
  async getJson<T>(url: string, timeoutMs = 5000): Promise<T | undefined> {
    try {
      const res = await this.fetch(url, timeoutMs);
      return res.status === 200 ? (JSON.parse(res.body.toString("utf8")) as T) : undefined;
    } catch {
      return undefined;
    }
  }

  async #startRelay(): Promise<string> {
    this.#relayDir = mkdtempSync(join(tmpdir(), `tiercast-lab-${this.name}-`));
    const socket = join(this.#relayDir, "relay.sock");
    const p = this.#spawnIn(this.plan.router, "(router)", nodeArgv(RELAY, "--socket", socket), {});
    await p.waitForJson((o) => o.event === "ready", 20_000, "the management relay's ready line");
    return socket;
  }

  #spawnIn(ns: string, label: string, argv: readonly string[], opts: SpawnOptions): LabProcess {
    // `ip netns exec` enters the namespace and execs argv in place: the child's pid is argv's.
    const child = spawn(tool("ip"), ["netns", "exec", ns, ...argv], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
    });
    const p = new LabProcess(label, argv, child);
    this.#procs.push(p);
    return p;
  }

  /** Processes this lab spawned (running or not). */
  processes(host?: string): LabProcess[] {
    return this.#procs.filter((p) => host === undefined || p.host === host);
  }

  /** Stops everything running on a host: its spawned processes (SIGTERM, then SIGKILL), then any other. */
  async kill(host: string, graceMs = 2000): Promise<void> {
    await Promise.all(this.processes(host).map((p) => p.stop(graceMs)));
    await killAllIn(this.namespaceOf(host));
  }

  /** Kills every process in the lab and deletes every namespace (and so every link) it made. Idempotent. */
  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      this.#gone = true;
      await Promise.all(this.#procs.map((p) => p.stop(1000)));
      const errors: string[] = [];
      for (const ns of this.#made.slice().reverse()) {
        try {
          await killAllIn(ns);
          await deleteNamespace(ns);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      this.#removeRelayDir();
      live.delete(this);
      if (errors.length > 0) throw new Error(`lab ${this.name}: clean-up failed: ${errors.join("; ")}`);
    })();
    return this.#destroyed;
  }

  /** destroy() for exit handlers, where nothing asynchronous runs: SIGKILL and delete, synchronously. */
  destroySync(): void {
    this.#gone = true;
    for (const p of this.#procs) if (p.running) p.signal("SIGKILL");
    for (const ns of this.#made.slice().reverse()) {
      try {
        const pids = execFileSync(tool("ip"), ["netns", "pids", ns], { encoding: "utf8", stdio: "pipe" });
        for (const pid of pids.split("\n").filter((s) => /^\d+$/.test(s))) killPid(Number(pid));
        execFileSync(tool("ip"), ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // Already gone, or a later sweep will find it.
      }
    }
    this.#removeRelayDir();
    live.delete(this);
  }

  #removeRelayDir(): void {
    if (this.#relayDir !== undefined) rmSync(this.#relayDir, { recursive: true, force: true });
    this.#relayDir = undefined;
  }

  /** What an operator needs to use the lab by hand. */
  describe(): Record<string, unknown> {
    return {
      name: this.name,
      router: this.plan.router,
      regions: Array.from({ length: this.plan.regions }, (_, r) => ({
        region: r,
        prefix: regionPrefix(r),
        router: routerAddress(r),
      })),
      lossPercent: this.plan.lossPercent,
      upQueueMs: this.plan.upQueueMs,
      hosts: this.hosts.map((h) => ({
        name: h.name,
        region: h.region,
        namespace: h.namespace,
        address: h.address,
        upKbps: h.upKbps ?? null,
        netDelay: this.netDelayFor(h.name) ?? null,
      })),
    };
  }

  #alive(): void {
    if (this.#gone) throw new Error(`lab ${this.name} has been destroyed`);
  }

  async #addNamespace(ns: string): Promise<void> {
    await run(tool("ip"), ["netns", "add", ns]);
    this.#made.push(ns);
  }

  async #build(): Promise<void> {
    const { plan } = this;
    const r = plan.router;
    await this.#addNamespace(r);
    const owner = this.persistent ? "manual" : (ownerId(process.pid) ?? `${process.pid}@0`);
    await run(tool("ip"), ["-n", r, "link", "set", "dev", "lo", "alias", OWNER_TAG + owner]);
    await run(tool("ip"), ["-n", r, "link", "set", "dev", "lo", "up"]);
    await run(tool("ip"), ["netns", "exec", r, tool("sysctl"), "-q", "-w", "net.ipv4.ip_forward=1"]);
    for (let region = 0; region < plan.regions; region++) {
      const br = `br${region}`;
      await run(tool("ip"), ["-n", r, "link", "add", "name", br, "type", "bridge"]);
      await run(tool("ip"), ["-n", r, "addr", "add", `${routerAddress(region)}/24`, "dev", br]);
      await run(tool("ip"), ["-n", r, "link", "set", "dev", br, "up"]);
    }
    // Hosts are independent of each other: build a few at a time.
    const queue = [...plan.hosts];
    const worker = async (): Promise<void> => {
      for (let h = queue.shift(); h !== undefined; h = queue.shift()) await this.#buildHost(h);
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async #buildHost(h: LabHost): Promise<void> {
    const { router } = this.plan;
    const ns = h.namespace;
    const port = `h${h.index}`;
    await this.#addNamespace(ns);
    await run(tool("ip"), [
      "-n",
      ns,
      "link",
      "add",
      "name",
      "eth0",
      "type",
      "veth",
      "peer",
      "name",
      port,
      "netns",
      router,
    ]);
    await run(tool("ip"), ["-n", router, "link", "set", "dev", port, "master", `br${h.region}`]);
    await run(tool("ip"), ["-n", router, "link", "set", "dev", port, "up"]);
    await run(tool("ip"), ["-n", ns, "link", "set", "dev", "lo", "up"]);
    await run(tool("ip"), ["-n", ns, "addr", "add", `${h.address}/24`, "dev", "eth0"]);
    await run(tool("ip"), ["-n", ns, "link", "set", "dev", "eth0", "up"]);
    await run(tool("ip"), ["-n", ns, "route", "add", "default", "via", routerAddress(h.region)]);
    if (h.upKbps !== undefined) {
      await run(tool("tc"), [
        "-n",
        ns,
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "tbf",
        ...tbfArgs(h.upKbps, this.plan.upQueueMs),
      ]);
    }
    if (this.plan.lossPercent > 0) {
      await run(tool("ip"), ["netns", "exec", ns, tool("nft"), "-f", "-"], {
        input: lossRuleset(this.plan.lossPercent),
      });
    }
  }
}

/** How long an untagged lab (being built) is safe from sweep. */
const UNTAGGED_GRACE_MS = 60_000;

/** True when namespace `ns` exists and was made less than `ms` ago (its /run/netns file's time). */
function createdWithinMs(ns: string, ms: number): boolean {
  try {
    return statSync(`/run/netns/${ns}`).mtimeMs > Date.now() - ms;
  } catch {
    return false;
  }
}

async function killAllIn(ns: string): Promise<void> {
  let out: string;
  try {
    out = (await run(tool("ip"), ["netns", "pids", ns])).stdout;
  } catch {
    return; // no such namespace
  }
  for (const pid of out.split("\n").filter((s) => /^\d+$/.test(s))) killPid(Number(pid));
}

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  try {
    await run(tool("ip"), ["netns", "del", ns]);
  } catch (e) {
    if (!/No such file/.test((e as Error).message)) throw e;
  }
}

/** scripts/lab: the lab by hand. */
async function cli(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  const usage =
    "usage: scripts/lab up <spec.json> | hold <spec.json> | down <name> | sweep [--force] | list\n" +
    "  up     build the lab and leave it (remove it with down)\n" +
    "  hold   build the lab and keep it while this command runs (Ctrl-C removes it)\n" +
    "  down   remove lab <name>: its processes and namespaces\n" +
    "  sweep  remove labs whose owner process died (--force: every lab)\n" +
    "  list   lab namespaces and their owners";
  const readSpec = (path: string | undefined): LabSpec => {
    if (path === undefined) throw new Error(usage);
    return JSON.parse(readFileSync(resolve(path), "utf8")) as LabSpec;
  };
  switch (cmd) {
    case "up":
    case "hold": {
      const lab = await Lab.create(readSpec(arg), { persistent: cmd === "up" });
      console.log(JSON.stringify(lab.describe(), null, 2));
      for (const h of lab.hosts) {
        console.error(`${h.name.padEnd(12)} ${h.address.padEnd(14)} ip netns exec ${h.namespace} <command>`);
      }
      if (cmd === "up") {
        console.error(`remove with: scripts/lab down ${lab.name}`);
        return 0;
      }
      console.error("holding the lab; Ctrl-C removes it");
      // The exit/signal hook tears it down; this only keeps the process alive.
      setInterval(() => {}, 1 << 30);
      return await new Promise<number>(() => {});
    }
    case "down": {
      if (arg === undefined || !/^[a-z0-9]{1,12}$/.test(arg)) throw new Error(usage);
      const removed = await Lab.sweep(`${LAB_PREFIX}${arg}-`, { force: true });
      console.log(removed.length === 0 ? `no lab named ${arg}` : `removed ${removed.join(" ")}`);
      return 0;
    }
    case "sweep": {
      const removed = await Lab.sweep(LAB_PREFIX, { force: arg === "--force" });
      console.log(removed.length === 0 ? "nothing to sweep" : `removed ${removed.join(" ")}`);
      return 0;
    }
    case "list": {
      for (const ns of await Lab.namespaces()) {
        const name = /^tcl-([a-z0-9]+)-r$/.exec(ns)?.[1];
        console.log(name === undefined ? ns : `${ns}  owner=${(await Lab.owner(name)) ?? "?"}`);
      }
      return 0;
    }
    default:
      console.error(usage);
      return 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error((e as Error).message);
      process.exit(1);
    },
  );
}
