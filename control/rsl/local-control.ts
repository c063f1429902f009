/**
 * One machine, the embedded default (docs/resilience.md): the main process holds the UDP front,
 * the RSL (a LocalCoordinator: memory is the authority), the service manager and the admin API;
 * every channel's DCM runs in a DCM worker (worker-server.ts), a ControlCenter of its own on a
 * connection to the machine's SQLite store. When a worker dies, its logical ids lose their owner,
 * a fresh worker takes its place, and the service manager maps the ids again (least loaded
 * first) with a new epoch; the nodes' next heartbeats find no session there, they RESUME, and the
 * new DCM adopts what they report.
 */
import type { Clock, Timer } from "../../seams/clock.js";
import type { Level, Logger } from "../../seams/log.js";
import type { Transport } from "../../seams/transport.js";
import type { AdminSource } from "../admin-http.js";
import { dcmLogicalId } from "../content-directory.js";
import type { NodeStore } from "../store.js";
import { ControlFront } from "./front.js";
import { LocalCoordinator } from "./local-coordinator.js";
import { mergedAdminSource } from "./merge-admin.js";
import { ServiceManager } from "./service-manager.js";
import type { ServerSpec } from "./server-spec.js";
import { WorkerServer } from "./worker-server.js";

export interface LocalControlDeps {
  clock: Clock;
  logger: Logger;
  /** The main process's connection to the machine's store (channel ids, tokens, revocations). */
  store: NodeStore;
  /** The UDP socket nodes send to. */
  transport: Transport;
}

export interface LocalControlConfig {
  /** Everything a server is made from but its id and the front's address. */
  server: Omit<ServerSpec, "id" | "front">;
  /** DCM workers (>= 1). */
  workers: number;
  logLevel: Level;
  /** How often the service manager checks the map even without a change, ms (default heartbeatMs). */
  reconcileMs?: number;
}

/** Channel ids a datagram named that the store does not know are not looked up again for this long. */
const UNKNOWN_CHANNEL_RETRY_MS = 1000;

export class LocalControl {
  readonly front: ControlFront;
  readonly coordinator: LocalCoordinator;
  readonly services: ServiceManager;
  readonly admin: AdminSource;
  readonly #deps: LocalControlDeps;
  readonly #config: LocalControlConfig;
  readonly #workers = new Map<string, WorkerServer>();
  readonly #names = new Map<number, string>();
  readonly #ids = new Map<string, number>();
  #namesReadAt = -Infinity;
  #serial = 0;
  #replaced = 0;
  #stopping = false;
  #timer: Timer | undefined;

  private constructor(deps: LocalControlDeps, config: LocalControlConfig) {
    this.#deps = deps;
    this.#config = config;
    const { clock, store, logger } = deps;
    // Epochs above any this machine gave before a restart: agents remember the highest they saw.
    this.coordinator = new LocalCoordinator(
      { clock, channelIdForName: (name) => store.channelIdForName(name) },
      { epochBase: clock.now() },
    );
    this.services = new ServiceManager({
      coordinator: this.coordinator,
      logger,
      channels: () => store.channels().map((c) => c.name),
    });
    this.front = new ControlFront({
      clock,
      transport: deps.transport,
      logger,
      routing: {
        ownerOf: (channel) => this.coordinator.ownership(dcmLogicalId(channel))?.server,
        channelName: (id) => this.#channelName(id),
        channelId: (name) => this.#ids.get(name),
        want: (channel) => this.services.want(channel),
        local: (id) => this.#workers.get(id),
        anyLocal: () => this.#leastLoaded(),
        endpointOf: () => undefined,
      },
    });
    this.admin = mergedAdminSource({
      servers: () => [...this.#workers.values()],
      store,
      now: () => clock.now(),
      front: this.front.metrics,
      rsl: () => ({
        servers: this.#workers.size,
        dcms: this.coordinator.allOwnership().length,
        assigned: this.services.assigned,
        replaced: this.#replaced,
      }),
      serverList: () => this.servers(),
      kill: (id) => this.kill(id),
    });
    this.coordinator.onChange(() => this.#onRslChange());
  }

  static async start(deps: LocalControlDeps, config: LocalControlConfig): Promise<LocalControl> {
    if (!Number.isInteger(config.workers) || config.workers < 1)
      throw new RangeError(`workers: expected an integer >= 1, got ${config.workers}`);
    const c = new LocalControl(deps, config);
    for (let i = 0; i < config.workers; i++) await c.#startWorker();
    c.coordinator.campaign(() => void c.services.reconcile());
    c.front.start();
    c.#timer = deps.clock.setInterval(
      () => void c.services.reconcile(),
      config.reconcileMs ?? config.server.heartbeatMs,
    );
    return c;
  }

  /** The DCM workers, and the logical ids each serves with their epochs. */
  servers(): Array<{ id: string; dcms: Array<{ logicalId: string; epoch: number }> }> {
    const owned = this.coordinator.allOwnership();
    return [...this.#workers.keys()].map((id) => ({
      id,
      dcms: owned.filter((o) => o.server === id).map((o) => ({ logicalId: o.logicalId, epoch: o.epoch })),
    }));
  }

  /** Ends a worker as a crash would (admin API, tests, bench:failover): its channels move. */
  async kill(id: string): Promise<boolean> {
    const w = this.#workers.get(id);
    if (w === undefined) return false;
    await w.kill();
    return true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) this.#deps.clock.clearInterval(this.#timer);
    this.front.stop();
    await Promise.all([...this.#workers.values()].map((w) => w.stop()));
    this.#workers.clear();
    await this.coordinator.close();
  }

  async #startWorker(): Promise<WorkerServer> {
    const id = `worker-${++this.#serial}`;
    const spec: ServerSpec = { ...this.#config.server, id, front: this.front.local };
    const w = await WorkerServer.start(spec, this.#config.logLevel, {
      send: (data, to) => this.front.send(data, to),
      exited: (wid, code, error) => this.#onExit(wid, code, error),
    });
    this.#workers.set(id, w);
    await this.coordinator.register({ id, endpoint: `${this.front.local.address}:${this.front.local.port}` });
    this.#deps.logger.info("dcm_worker_started", { server: id });
    return w;
  }

  #onExit(id: string, code: number, error: string | undefined): void {
    this.#workers.delete(id);
    this.coordinator.unregister(id);
    if (this.#stopping) return;
    this.#deps.logger.error("dcm_worker_died", { server: id, code, error: error ?? null });
    this.#replaced++;
    this.#startWorker().catch((e: unknown) =>
      this.#deps.logger.error("dcm_worker_start_failed", {
        error: e instanceof Error ? e.message : String(e),
      }),
    );
  }

  /** Each worker learns the epochs of the channels it serves now; the service manager looks again. */
  #onRslChange(): void {
    const by = new Map<string, Record<string, number>>();
    for (const o of this.coordinator.allOwnership()) {
      const channel = o.logicalId.replace(/^dcm:(.*):all$/, "$1");
      (by.get(o.server) ?? by.set(o.server, {}).get(o.server)!)[channel] = o.epoch;
    }
    for (const [id, w] of this.#workers) w.setEpochs(by.get(id) ?? {});
    void this.services.reconcile();
  }

  #leastLoaded(): WorkerServer | undefined {
    const owned = this.coordinator.allOwnership();
    let best: WorkerServer | undefined;
    let bestLoad = Infinity;
    for (const [id, w] of this.#workers) {
      const load = owned.filter((o) => o.server === id).length;
      if (load < bestLoad) [best, bestLoad] = [w, load];
    }
    return best;
  }

  #channelName(id: number): string | undefined {
    const known = this.#names.get(id);
    if (known !== undefined) return known;
    const now = this.#deps.clock.now();
    if (now - this.#namesReadAt < UNKNOWN_CHANNEL_RETRY_MS) return undefined;
    this.#namesReadAt = now;
    for (const c of this.#deps.store.channels()) {
      this.#names.set(c.id, c.name);
      this.#ids.set(c.name, c.id);
    }
    return this.#names.get(id);
  }
}
