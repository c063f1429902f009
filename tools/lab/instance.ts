/**
 * A built network lab (Lab): creating it (build.ts) and tearing it down (destroy, and
 * destroySync for exit hooks: kill what it spawned and everything else in its namespaces, then
 * delete them), its hosts' names, addresses and `--net-delay` rules, running and spawning
 * processes inside a host (`ip netns exec`), and the management path: `fetch` / `getJson` reach
 * a host's HTTP server from this process through the relay (relay.ts) started on first use
 * in the router namespace, listening on a Unix socket. The static `sweep` removes stale labs
 * (sweep.ts). See lab.ts for the layout.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatDelayRules, type DelayRule } from "../../seams/impaired-transport.js";
import { buildLab } from "./build.js";
import { hookProcessExit, live } from "./live.js";
import { deleteNamespace, killAllIn, killPid, labNamespaces } from "./netns.js";
import { labOwner } from "./owner.js";
import {
  LAB_PREFIX,
  planLab,
  regionPrefix,
  routerAddress,
  type LabHost,
  type LabPlan,
  type LabSpec,
} from "./plan.js";
import { LabProcess, type SpawnOptions } from "./process.js";
import { nodeArgv, REPO_ROOT, run, tool, type RunOptions, type RunResult } from "./run.js";
import { sweepLabs } from "./sweep.js";

const RELAY = fileURLToPath(new URL("./relay.ts", import.meta.url));

/** An HTTP answer fetched through the lab's management path. */
export interface LabHttpResponse {
  status: number;
  body: Buffer;
}

export class Lab {
  readonly plan: LabPlan;
  /** Namespaces this lab made (and so will delete), in creation order. */
  readonly #made: string[] = [];
  readonly #procs: LabProcess[] = [];
  readonly #byName: Map<string, LabHost>;
  #destroyed: Promise<void> | undefined;
  #gone = false;
  /** The management relay's socket, once started (relay.ts); its folder, to remove. */
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
  static namespaces(prefix = LAB_PREFIX): Promise<string[]> {
    return labNamespaces(prefix);
  }

  /**
   * Removes stale labs whose namespaces start with `prefix`: owner dead or unknown, or every
   * one with `force` (sweep.ts). Returns the namespaces removed.
   */
  static sweep(prefix = LAB_PREFIX, options: { force?: boolean } = {}): Promise<string[]> {
    return sweepLabs(prefix, options);
  }

  /** Owner of lab `name`: "<pid>@<start>", "manual" (CLI up) or undefined (no router/tag). */
  static owner(name: string): Promise<string | undefined> {
    return labOwner(name);
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
   * returned, not thrown (the relay answers 502/504 when the host does not). `authorization`
   * is passed on to the host (control's admin API wants its bearer token).
   */
  async fetch(url: string, timeoutMs = 5000, authorization?: string): Promise<LabHttpResponse> {
    this.#alive();
    const socketPath = await (this.#relay ??= this.#startRelay());
    return new Promise((resolveFetch, reject) => {
      const req = http.request(
        {
          socketPath,
          path: url,
          method: "GET",
          headers: {
            host: new URL(url).host,
            "x-timeout-ms": String(timeoutMs),
            ...(authorization === undefined ? {} : { authorization }),
          },
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
  async getJson<T>(url: string, timeoutMs = 5000, authorization?: string): Promise<T | undefined> {
    try {
      const res = await this.fetch(url, timeoutMs, authorization);
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

  #build(): Promise<void> {
    return buildLab(this.plan, {
      persistent: this.persistent,
      addNamespace: (ns) => this.#addNamespace(ns),
    });
  }
}
