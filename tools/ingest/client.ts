/**
 * The parent's side of bench:ingest's child processes: the load generator (tools/ingest/load.ts,
 * simulated viewers on real UDP) and the bare receiver (tools/ingest/bare.ts). Used by
 * bench/ingest.ts and by the flash-crowd test (test/control-flash-crowd.test.ts). The children
 * run TypeScript through tsx, as the parent does, and end when their parent goes.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Address } from "../../seams/transport.js";

export interface LoadInit {
  control: Address;
  /** Control's public key, hex (its ready line's publicKey). */
  controlKey: string;
  channel: string;
  uploadKbps: number;
  /** Viewers per /24 source prefix (at most 240). */
  perPrefix: number;
}

export interface GroupProgress {
  viewers: number;
  started: number;
  /** A JOIN_ACK accepted the JOIN (the viewer's joinedAt). */
  accepted: number;
  /**
   * Accepted and an ASSIGN applied. Control places a new key only after its second heartbeat
   * (probation, control/client-manager.ts): one heartbeat interval after its JOIN_ACK.
   */
  admitted: number;
  joinsSent: number;
  /** JOIN_ACKs received, by JoinError name (NONE: accepted; BUSY: come back later; REJOIN: hint). */
  acks: Record<string, number>;
  /** Date.now() of the group's first JOIN, its last acceptance and its last admission (0: none yet). */
  firstJoinAt: number;
  lastAcceptedAt: number;
  lastAdmittedAt: number;
  /** Viewers not in phase joined now (joining, resuming, ...). */
  notJoined: number;
  /** Viewers by phase (sim/viewer.ts ViewerPhase). */
  phases: Record<string, number>;
  resumes: number;
  rejoins: number;
  /** Node id of each viewer (0: never joined); only when asked for. */
  ids?: number[];
}

export interface LoadCounters {
  /** Datagrams sent to control, by message type name. */
  sentToControl: Record<string, number>;
  /** Datagrams sent elsewhere (the bare receiver). */
  sentElsewhere: number;
  /** Datagrams received, by message type name. */
  received: Record<string, number>;
  sendErrors: number;
  /** HEARTBEAT_ACKs dropped unopened during blasts (past one per viewer per 250 ms). */
  acksSkipped: number;
  rssMb: number;
}

export interface LoadRequest {
  id: number;
  cmd: string;
  args: unknown;
}

interface LoadReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

const LOAD_MAIN = fileURLToPath(new URL("./load.ts", import.meta.url));
const BARE_MAIN = fileURLToPath(new URL("./bare.ts", import.meta.url));
const TSX = ["--import", "tsx"];
/** The package root: tsx is resolved from there. */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The load generator child. */
export class LoadGenerator {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  readonly exited: Promise<number | string>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (m) => {
      const r = m as LoadReply;
      const p = this.#pending.get(r.id);
      if (p === undefined) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`load generator: ${r.error ?? "failed"}`));
    });
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        for (const p of this.#pending.values())
          p.reject(new Error(`load generator exited (${code ?? signal})`));
        this.#pending.clear();
        resolve(code ?? signal ?? "unknown");
      }),
    );
  }

  static async start(init: LoadInit): Promise<LoadGenerator> {
    const child = fork(LOAD_MAIN, [], {
      cwd: ROOT,
      execArgv: TSX,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const g = new LoadGenerator(child);
    await g.call("init", init);
    return g;
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  call<T>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`load generator: ${cmd} not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.send({ id, cmd, args } satisfies LoadRequest);
    });
  }

  /** Viewers from..from+count-1 start joining, at most `window` awaiting their JOIN_ACK at a time (0: all at once). */
  join(group: string, from: number, count: number, window: number): Promise<number> {
    return this.call("join", { group, from, count, window });
  }

  progress(group: string, ids = false): Promise<GroupProgress> {
    return this.call("progress", { group, ids });
  }

  counters(): Promise<LoadCounters> {
    return this.call("counters");
  }

  prepare(group: string, count: number): Promise<{ prepared: number; viewers: number; sealMs: number }> {
    return this.call("prepare", { group, count }, 600_000);
  }

  blast(to: Address, rate: number, maxMs: number): Promise<{ sent: number; elapsedMs: number }> {
    return this.call("blast", { to, rate, maxMs }, maxMs + 30_000);
  }

  /** Closes every socket; kills the child if it does not end within 10 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    try {
      await this.call("stop", {}, 10_000);
    } catch {
      this.#child.kill("SIGKILL");
    }
    await this.exited;
    clearTimeout(timer);
  }
}

/** The bare receiver child. */
export class BareReceiver {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly pid: number,
    readonly recvBufferBytes: number,
  ) {}

  static start(recvBufferBytes: number): Promise<BareReceiver> {
    const child = fork(BARE_MAIN, [String(recvBufferBytes)], {
      cwd: ROOT,
      execArgv: TSX,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`bare receiver exited (${code}) before it was ready`)));
      child.once("message", (m) => {
        const r = m as { port: number; pid: number; recvBufferBytes: number };
        resolve(new BareReceiver(child, r.port, r.pid, r.recvBufferBytes));
      });
    });
  }

  get address(): Address {
    return { address: "127.0.0.1", port: this.port };
  }

  count(): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("bare receiver: no count within 10 s")), 10_000);
      this.child.once("message", (m) => {
        clearTimeout(timer);
        resolve((m as { count: number }).count);
      });
      this.child.send("count");
    });
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
  }
}
