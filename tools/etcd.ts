/**
 * A real etcd for tests: Debian's etcd-server (3.4) started on free loopback ports (never
 * 2379/2380: a system etcd may hold them) with its data in a temporary directory (on tmpfs
 * when there is one), short raft
 * timings (heartbeat 50 ms, election 250 ms: fast start, and 1 s leases are legal), a health
 * wait with a deadline, stop (SIGTERM, then SIGKILL after a deadline), and a restart on the same
 * data directory and ports, which is how a test says "etcd was down for a while".
 *
 * `etcdBinary()` finds the executable. A test that needs etcd says so through test/helpers/needs.ts:
 * missing, it fails under CI and is skipped loudly elsewhere (`scripts/test-deps.sh` installs
 * etcd-server from firmware/deps.txt).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export interface EtcdOptions {
  /** Raft heartbeat, ms (default 50). */
  heartbeatMs?: number;
  /** Raft election timeout, ms (default 250). */
  electionMs?: number;
  /** How long to wait for /health after a start, ms (default 15000). */
  startDeadlineMs?: number;
}

/** The etcd executable: /usr/bin/etcd, else the first `etcd` on PATH; undefined when there is none. */
export function etcdBinary(): string | undefined {
  const candidates = [
    "/usr/bin/etcd",
    ...(process.env.PATH ?? "").split(delimiter).map((d) => join(d, "etcd")),
  ];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * Where etcd's data goes: /dev/shm when it is a writable directory (tmpfs: etcd's fsyncs cost
 * nothing, so a busy disk on a loaded test machine cannot stall raft and expire leases), else
 * the system's temporary directory.
 */
function scratchDir(): string {
  try {
    accessSync("/dev/shm", constants.W_OK | constants.X_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}

/** A free TCP port on 127.0.0.1 (bound and released: the caller binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export class EtcdServer {
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly #bin: string;
  readonly #options: Required<EtcdOptions>;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output: string[] = [];

  private constructor(
    bin: string,
    clientPort: number,
    peerPort: number,
    dataDir: string,
    options: EtcdOptions,
  ) {
    this.#bin = bin;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.dataDir = dataDir;
    this.#options = { heartbeatMs: 50, electionMs: 250, startDeadlineMs: 15_000, ...options };
  }

  /** Starts a fresh single-member etcd on free loopback ports in a new temporary directory. */
  static async start(options: EtcdOptions = {}): Promise<EtcdServer> {
    const bin = etcdBinary();
    if (bin === undefined)
      throw new Error("etcd not found (install Debian's etcd-server: scripts/test-deps.sh)");
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const dataDir = mkdtempSync(join(scratchDir(), "tiercast-etcd-"));
      const server = new EtcdServer(bin, await freePort(), await freePort(), join(dataDir, "data"), options);
      try {
        await server.resume();
        return server;
      } catch (e) {
        // most likely a port taken between freePort() and etcd's bind: new ports
        lastError = e;
        await server.close();
      }
    }
    throw lastError;
  }

  /** `127.0.0.1:<client port>`, as the etcd3 client wants it. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** etcd's recent output (for a failure message). */
  output(): string {
    return this.#output.join("");
  }

  /** Starts etcd (again) on this data directory and these ports; resolves once /health says true. */
  async resume(): Promise<void> {
    if (this.#child !== undefined) return;
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ETCD_")) env[k] = v;
    const child = spawn(
      this.#bin,
      [
        ...["--name", "tiercast-test", "--data-dir", this.dataDir],
        ...["--listen-client-urls", client, "--advertise-client-urls", client],
        ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
        ...["--initial-cluster", `tiercast-test=${peer}`, "--initial-cluster-state", "new"],
        ...["--heartbeat-interval", String(this.#options.heartbeatMs)],
        ...["--election-timeout", String(this.#options.electionMs)],
        ...["--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr"],
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (chunk: Buffer): void => {
      this.#output.push(chunk.toString("utf8"));
      if (this.#output.length > 200) this.#output.splice(0, this.#output.length - 200);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exitedEarly: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        if (this.#child === child) this.#child = undefined;
        exitedEarly = `etcd exited (code ${code}, signal ${signal})`;
        resolve();
      });
    });
    live.add(child);
    this.#child = child;
    const end = Date.now() + this.#options.startDeadlineMs;
    for (;;) {
      if (exitedEarly !== undefined)
        throw new Error(`${exitedEarly} before it was healthy:\n${this.output()}`);
      if (await this.#healthy()) return;
      if (Date.now() > end) {
        await this.stop();
        throw new Error(`etcd not healthy within ${this.#options.startDeadlineMs} ms:\n${this.output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #healthy(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.clientPort}/health`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { health?: unknown };
      return res.ok && body.health === "true";
    } catch {
      return false;
    }
  }

  /** Stops etcd: SIGTERM, then SIGKILL if it has not exited after `graceMs`. Data and ports are kept. */
  async stop(graceMs = 3000): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(killed);
  }

  /** Stops etcd, waits `ms`, starts it again on the same data and ports. */
  async pause(ms: number): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, ms));
    await this.resume();
  }

  /** Stops etcd and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(join(this.dataDir, ".."), { recursive: true, force: true });
  }
}
