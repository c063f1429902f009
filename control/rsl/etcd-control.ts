/**
 * Several machines (`tiercast control --etcd <endpoints>`, docs/resilience.md): each control
 * process is one control server — a ControlCenter behind its own UDP front — registered in a
 * real etcd (EtcdCoordinator: a lease per process, the RSL map as keys under the owners' leases,
 * the election of the primary service manager, the content directory). The front serves the
 * channels the RSL maps to this server and answers nodes of channels served elsewhere with a
 * REDIRECT to that server's advertised endpoint. A process whose lease it cannot confirm (etcd
 * unreachable for longer than the lease) fences itself: its ownerships may be given away, so it
 * drops what arrives and sends nothing until etcd answers again — and the epoch in every ASSIGN
 * keeps a deposed server from undoing its successor's plan even if it has not noticed yet.
 *
 * Channel ids come from etcd's content directory and node ids from a block etcd gives this
 * process, so the machines' separate SQLite stores agree on every id a ticket carries.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address, Transport } from "../../seams/transport.js";
import { exposition, metricFamily, samplesByKey } from "../../common/prometheus.js";
import { localAdminSource, type AdminSource } from "../admin-http.js";
import { dcmLogicalId } from "../content-directory.js";
import type { ControlCenter } from "../control-center.js";
import type { NodeStore } from "../store.js";
import type { Coordinator } from "./coordinator.js";
import { ControlFront, type LocalServer } from "./front.js";
import { ServiceManager } from "./service-manager.js";
import { buildServer, type ServerSpec } from "./server-spec.js";
import type { RelayTransport } from "./relay-transport.js";

export interface EtcdControlDeps {
  clock: Clock;
  logger: Logger;
  store: NodeStore;
  transport: Transport;
  /** An EtcdCoordinator (tests may pass another Coordinator). */
  coordinator: Coordinator;
}

export interface EtcdControlConfig {
  server: Omit<ServerSpec, "id" | "front">;
  /** The UDP endpoint other servers name in a REDIRECT (default: the socket's address). */
  advertise?: Address;
  /** The coordinator's lease, s: past it without contact this server fences itself. */
  leaseTtlSeconds: number;
}

export class EtcdControl {
  readonly id: string;
  readonly front: ControlFront;
  readonly services: ServiceManager;
  readonly control: ControlCenter;
  readonly admin: AdminSource;
  readonly #deps: EtcdControlDeps;
  readonly #config: EtcdControlConfig;
  readonly #relay: RelayTransport;
  readonly #self: LocalServer;
  #epochs = new Map<string, number>();
  #timer: Timer | undefined;

  private constructor(deps: EtcdControlDeps, config: EtcdControlConfig) {
    this.#deps = deps;
    this.#config = config;
    const { clock, logger, store, coordinator } = deps;
    this.id = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
    const built = buildServer(
      { ...config.server, id: this.id, front: deps.transport.local },
      {
        clock,
        store,
        logger: logger.child({ server: this.id }),
        routing: { epochOf: (channel) => this.#epochs.get(channel) },
        send: (data, to) => deps.transport.send(data, to),
      },
    );
    this.control = built.control;
    this.#relay = built.transport;
    this.#self = { id: this.id, deliver: (data, from) => this.#relay.deliver(data, from) };
    this.services = new ServiceManager({
      coordinator,
      logger,
      channels: () => [...coordinator.channels().keys()],
    });
    this.front = new ControlFront({
      clock,
      transport: deps.transport,
      logger,
      routing: {
        ownerOf: (channel) => coordinator.ownership(dcmLogicalId(channel))?.server,
        channelName: (id) => this.#channelName(id),
        channelId: (name) => coordinator.channels().get(name),
        want: (channel) => this.#want(channel),
        local: (id) => (id === this.id ? this.#prepared() : undefined),
        anyLocal: () => this.#prepared(),
        endpointOf: (id) => endpointOf(coordinator.servers().find((s) => s.id === id)?.endpoint),
      },
    });
    const local = localAdminSource(this.control);
    this.admin = {
      ...local,
      servers: () => this.servers(),
      // /metrics also says what this server asked of etcd (bench:failover: none per heartbeat).
      view: async (path) => {
        const out = await local.view(path);
        if (path !== "/metrics" || out?.type !== "text") return out;
        return {
          type: "text",
          body:
            out.body +
            exposition([
              metricFamily(
                "tiercast_control_rsl_store_ops_total",
                "counter",
                "Requests this server made of etcd, by method (lease keep-alives, watches, the RSL map).",
                samplesByKey(coordinator.storeOpsByMethod, "method"),
              ),
            ]),
        };
      },
    };
    coordinator.onChange(() => this.#onRslChange());
  }

  static async start(deps: EtcdControlDeps, config: EtcdControlConfig): Promise<EtcdControl> {
    const c = new EtcdControl(deps, config);
    const { coordinator, store, transport } = deps;
    store.useIdBlock(await coordinator.idBlock());
    const a = config.advertise ?? transport.local;
    await coordinator.register({ id: c.id, endpoint: `${a.address}:${a.port}` });
    c.control.start();
    coordinator.campaign((leader) => {
      deps.logger.info(leader ? "service_manager_primary" : "service_manager_backup", { server: c.id });
      if (leader) void c.services.reconcile();
    });
    c.front.start();
    c.#timer = deps.clock.setInterval(() => c.#tick(), Math.max(100, config.server.heartbeatMs / 2));
    return c;
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) this.#deps.clock.clearInterval(this.#timer);
    this.front.stop();
    this.control.stop();
    await this.#deps.coordinator.close();
  }

  /** The RSL as this server sees it (GET /api/servers). */
  servers(): unknown {
    const c = this.#deps.coordinator;
    const owned = c.allOwnership();
    return c.servers().map((s) => ({
      id: s.id,
      endpoint: s.endpoint,
      self: s.id === this.id,
      ...(s.id === this.id ? { primary: c.leader } : {}),
      dcms: owned.filter((o) => o.server === s.id).map((o) => ({ logicalId: o.logicalId, epoch: o.epoch })),
    }));
  }

  /**
   * The server the front hands datagrams to: first the channel ids of etcd's content directory
   * go into this machine's store, so the ContentDirectory offers every channel under its
   * deployment-wide id.
   */
  #prepared(): LocalServer {
    for (const [name, id] of this.#deps.coordinator.channels()) {
      if (this.#known.get(name) === id) continue;
      if (this.#deps.store.adoptChannelId(name, id)) this.#known.set(name, id);
      else this.#deps.logger.error("channel_id_conflict", { channel: name, id });
    }
    return this.#self;
  }

  readonly #known = new Map<string, number>();

  async #want(channel: string): Promise<unknown> {
    await this.#deps.coordinator.channelId(channel);
    return this.services.want(channel);
  }

  #channelName(id: number): string | undefined {
    for (const [name, cid] of this.#deps.coordinator.channels()) if (cid === id) return name;
    return undefined;
  }

  /**
   * The DCMs this server owns and their epochs, from the RSL map; `dcm_owned` and `dcm_released`
   * say when (with `fenced` / `unfenced`, what the no-two-owners check reads from the logs).
   */
  #onRslChange(): void {
    const epochs = new Map<string, number>();
    for (const o of this.#deps.coordinator.allOwnership())
      if (o.server === this.id) epochs.set(o.logicalId.replace(/^dcm:(.*):all$/, "$1"), o.epoch);
    for (const [channel, epoch] of epochs)
      if (this.#epochs.get(channel) !== epoch)
        this.#deps.logger.info("dcm_owned", { server: this.id, dcm: dcmLogicalId(channel), epoch });
    for (const [channel, epoch] of this.#epochs)
      if (epochs.get(channel) !== epoch)
        this.#deps.logger.info("dcm_released", { server: this.id, dcm: dcmLogicalId(channel), epoch });
    this.#epochs = epochs;
    void this.services.reconcile();
  }

  /** Fences this server while its lease cannot be confirmed; the service manager looks again. */
  #tick(): void {
    const since = this.#deps.clock.now() - this.#deps.coordinator.lastContact();
    this.control.setFenced(since > this.#config.leaseTtlSeconds * 1000);
    void this.services.reconcile();
  }
}

function endpointOf(text: string | undefined): Address | undefined {
  if (text === undefined) return undefined;
  const at = text.lastIndexOf(":");
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { address: text.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port };
}
