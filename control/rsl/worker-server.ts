/**
 * The main process's handle on one DCM worker (worker-main.ts is the other side): starts the
 * worker thread, hands it the datagrams the front routes to it, sends what it sends out of the
 * front's socket, asks it for admin views, and tells the RSL when it died (a crash, an
 * uncaught error, or `kill()`, which ends it as abruptly as a crash).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { packageRoot } from "../../common/package-root.js";
import { Worker } from "node:worker_threads";
import type { Level } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import type { RouteResult } from "../admin-http.js";
import type { LocalServer } from "./front.js";
import type { ServerSpec } from "./server-spec.js";
import { BatchQueue, forEachDatagram } from "./datagram-batch.js";
import type { FromWorker, ToWorker, WorkerData } from "./worker-main.js";

/** How long an admin question to a worker may take before it is answered without it, ms. */
const QUERY_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;

export interface WorkerServerDeps {
  /** Out through the front's socket. */
  send(data: Uint8Array, to: Address): void;
  /** The worker is gone (code: its exit code; 1 after an uncaught error). Not called after stop(). */
  exited(id: string, code: number, error: string | undefined): void;
}

/**
 * The worker's entry: the compiled .js next to this file; when this process runs the TypeScript
 * sources through tsx (tests, benches: tsx's loader does not reach worker threads), the compiled
 * one in dist/, which `npm test` builds first.
 */
function entry(): URL {
  const js = new URL("./worker-main.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  const built = join(packageRoot(fileURLToPath(import.meta.url)), "dist", "control", "rsl", "worker-main.js");
  if (!existsSync(built)) throw new Error(`the DCM worker's code is not built: run npm run build (${built})`);
  return pathToFileURL(built);
}

export class WorkerServer implements LocalServer {
  readonly id: string;
  readonly #worker: Worker;
  readonly #inbox: BatchQueue;
  readonly #pending = new Map<number, (result: unknown) => void>();
  #next = 0;
  #stopping = false;
  #exited: Promise<void>;

  private constructor(spec: ServerSpec, logLevel: Level, deps: WorkerServerDeps, ready: () => void) {
    this.id = spec.id;
    const data: WorkerData = { spec, logLevel };
    this.#worker = new Worker(entry(), { workerData: data });
    this.#inbox = new BatchQueue((batch, transfer) =>
      this.#worker.postMessage({ t: "dgrams", batch }, transfer),
    );
    let error: string | undefined;
    this.#worker.on("message", (m: FromWorker) => {
      if (m.t === "sends") forEachDatagram(m.batch, (data, to) => deps.send(data, to));
      else if (m.t === "reply") {
        this.#pending.get(m.id)?.(m.result);
        this.#pending.delete(m.id);
      } else ready();
    });
    this.#worker.on("error", (e) => (error = e.stack ?? e.message));
    this.#exited = new Promise((resolve) =>
      this.#worker.on("exit", (code) => {
        this.#inbox.clear();
        for (const answer of this.#pending.values()) answer(undefined);
        this.#pending.clear();
        if (!this.#stopping) deps.exited(this.id, code, error);
        resolve();
      }),
    );
  }

  /** A started worker (its server listens once this resolves); rejects when it dies first. */
  static start(spec: ServerSpec, logLevel: Level, deps: WorkerServerDeps): Promise<WorkerServer> {
    return new Promise((resolve, reject) => {
      let w: WorkerServer | undefined = undefined;
      let started = false;
      w = new WorkerServer(
        spec,
        logLevel,
        {
          send: deps.send,
          exited: (id, code, error) => {
            if (started) return deps.exited(id, code, error);
            reject(
              new Error(`DCM worker ${id} exited (${code}) before it started${error ? `: ${error}` : ""}`),
            );
          },
        },
        () => {
          started = true;
          resolve(w!);
        },
      );
    });
  }

  deliver(data: Buffer, from: Address): void {
    this.#inbox.push(data, from);
  }

  setEpochs(epochs: Record<string, number>): void {
    this.#post({ t: "epochs", epochs });
  }

  view(path: string): Promise<RouteResult | undefined> {
    return this.#ask((id) => ({ t: "view", id, path })) as Promise<RouteResult | undefined>;
  }

  /** Ends the sessions of a revoked key on this worker; true when one was live. */
  async revoke(key: Uint8Array, reason: string): Promise<boolean> {
    return (await this.#ask((id) => ({ t: "revoke", id, key, reason }))) === true;
  }

  /** Ends the worker at once, as a crash would (the RSL moves its channels). */
  async kill(): Promise<void> {
    await this.#worker.terminate();
    await this.#exited;
  }

  /** A clean stop: the server closes its sessions and its store, then the thread exits. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#inbox.flush();
    this.#post({ t: "stop" });
    const timer = setTimeout(() => void this.#worker.terminate(), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  #post(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  #ask(make: (id: number) => ToWorker): Promise<unknown> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(undefined);
      }, QUERY_TIMEOUT_MS);
      this.#pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.#post(make(id));
    });
  }
}
