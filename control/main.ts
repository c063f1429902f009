/**
 * `tiercast control`: the control center as one process. Wiring only: options, then the
 * real clock, a UDP socket, the SQLite store and a JSON-lines logger on stdout go into the
 * ControlCenter and the admin HTTP server (bound to --admin-host, loopback by default, and
 * closed to anyone without the bearer token in <folder of --db>/admin-token, made at first
 * start). Logs "ready" with both addresses and the token file's path; SIGINT or
 * SIGTERM closes everything (nodes keep streaming on their last assignment and REJOIN when
 * control is back).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseOptions, UsageError, type Command, type Options, type Spec } from "../cli/options.js";
import { systemClock, type Clock } from "../seams/clock.js";
import { ImpairedTransport, parseDelayRules } from "../seams/impaired-transport.js";
import { jsonLogger, type Level, type Logger } from "../seams/log.js";
import type { Address, Transport } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";
import { AdminHttp } from "./admin-http.js";
import {
  AdminTokenError,
  adminTokenPath,
  loadOrCreateAdminTokenFile,
  newAdminToken,
  type AdminToken,
} from "./admin-token.js";
import { ControlCenter } from "./control-center.js";
import { loadRegionPolicyFile } from "./regions-file.js";
import type { RegionPolicy } from "./regions.js";
import { SqliteNodeStore } from "./store.js";

const LEVELS = ["debug", "info", "warn", "error"] as const;
const TOPOLOGIES = ["tree", "tiered"] as const;

export const controlCommand = {
  name: "control",
  summary:
    "Run the control center: nodes join and heartbeat over UDP, it assigns their parents and children.",
  spec: {
    host: { kind: "string", help: "address to bind the UDP socket to", default: "127.0.0.1" },
    port: {
      kind: "int",
      help: "UDP port nodes send JOIN/HEARTBEAT to (0 = pick)",
      default: 7700,
      min: 0,
      max: 65535,
    },
    adminPort: {
      kind: "int",
      help: "admin HTTP port: /api/*, /metrics (0 = pick)",
      default: 7701,
      min: 0,
      max: 65535,
    },
    adminHost: {
      kind: "string",
      help: "address to bind the admin HTTP server to (keep it off the internet)",
      default: "127.0.0.1",
    },
    adminTokenFile: {
      kind: "string",
      help: "file holding the admin API's bearer token (made, mode 0600, if missing); default: admin-token next to --db",
    },
    db: {
      kind: "string",
      help: "SQLite file (node ids, channels, history); its folder is created",
      default: ".tiercast/control.db",
    },
    regions: {
      kind: "string",
      help: 'region policy file (JSON); without it every node is in region "default"',
      // Explicitly undefined so the option is typed string | undefined.
      default: undefined,
    },
    heartbeatMs: {
      kind: "int",
      help: "heartbeat interval given to nodes; 3 missed = lost",
      default: 1000,
      min: 50,
      max: 60000,
    },
    topology: {
      kind: "string",
      help: "topology engine: tiered (the three-tier engine, docs/topology.md) or tree (the foundation's capacity-aware tree)",
      default: "tiered",
      choices: TOPOLOGIES,
    },
    netDelay: { kind: "string", help: "lab only: delay datagrams to these prefixes, e.g. 10.77.2.0/24=50±5" },
    logLevel: { kind: "string", help: "least severe log level written", default: "info", choices: LEVELS },
  },
} as const satisfies Command<Spec>;

export type ControlOptions = Options<(typeof controlCommand)["spec"]>;

export interface RunningControl {
  udp: Address;
  http: Address;
  control: ControlCenter;
  /** The admin API's bearer token (in-process callers; others read adminTokenFile). */
  adminToken: string;
  /** Where the token is kept; undefined with `--db :memory:` and no --admin-token-file (memory only). */
  adminTokenFile: string | undefined;
  /** Stops the control center and closes the socket, the HTTP server and the store. */
  stop(): Promise<void>;
}

export interface StartDeps {
  logger: Logger;
  clock?: Clock;
  /** Already loaded policy (main loads opts.regions). */
  regions?: RegionPolicy;
}

/** Everything main does except options and signals: the tests run this. */
export async function startControl(
  opts: Omit<ControlOptions, "netDelay" | "adminHost" | "adminTokenFile"> & {
    netDelay?: string | undefined;
    /** Default 127.0.0.1. */
    adminHost?: string | undefined;
    adminTokenFile?: string | undefined;
  },
  deps: StartDeps,
): Promise<RunningControl> {
  const delay = opts.netDelay === undefined ? undefined : parseDelayRules(opts.netDelay);
  if (delay?.ok === false) throw new UsageError(`tiercast control: netDelay: ${delay.error}`);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger;
  if (opts.db !== ":memory:") mkdirSync(dirname(opts.db), { recursive: true });
  const admin = adminToken(opts.db, opts.adminTokenFile, logger);
  const store = new SqliteNodeStore(opts.db);
  let transport: Transport | undefined;
  try {
    const socket = await UdpTransport.bind({ host: opts.host, port: opts.port });
    transport = delay?.ok
      ? new ImpairedTransport(socket, delay.rules, { clock, random: Math.random })
      : socket;
    const control = new ControlCenter(
      { clock, transport, store, logger },
      {
        heartbeatMs: opts.heartbeatMs,
        topology: opts.topology as "tree" | "tiered",
        ...(deps.regions ? { regions: deps.regions } : {}),
      },
    );
    control.start();
    let http: AdminHttp;
    try {
      http = await AdminHttp.listen(
        { control, logger },
        { host: opts.adminHost ?? "127.0.0.1", port: opts.adminPort, token: admin.token },
      );
    } catch (e) {
      control.stop();
      throw e;
    }
    const udp = transport.local;
    logger.info("ready", {
      udp,
      http: http.local,
      adminTokenFile: admin.path ?? null,
      db: opts.db,
      regions: opts.regions ?? null,
      heartbeatMs: opts.heartbeatMs,
      topology: opts.topology,
    });
    let stopping: Promise<void> | undefined;
    const t = transport;
    return {
      udp,
      http: http.local,
      control,
      adminToken: admin.token,
      adminTokenFile: admin.path,
      stop: () =>
        (stopping ??= (async () => {
          control.stop();
          await Promise.all([http.close(), t.close()]);
          store.close();
          logger.info("stopped", {});
        })()),
    };
  } catch (e) {
    await transport?.close();
    store.close();
    throw e;
  }
}

/**
 * The admin token: from its file (made on first start), or, with an in-memory database and no
 * token file, a new one kept in memory only. Logs the file's path, never the token.
 */
function adminToken(
  db: string,
  tokenFile: string | undefined,
  logger: Logger,
): { token: string; path: string | undefined } {
  const path = adminTokenPath(db, tokenFile);
  if (path === undefined) {
    logger.warn("admin_token_in_memory", { why: "--db :memory: and no --admin-token-file" });
    return { token: newAdminToken(), path: undefined };
  }
  let t: AdminToken;
  try {
    t = loadOrCreateAdminTokenFile(path);
  } catch (e) {
    if (e instanceof AdminTokenError) throw new UsageError(`tiercast control: adminTokenFile: ${e.message}`);
    throw e;
  }
  if (t.created) logger.info("admin_token_created", { file: t.path });
  if (t.looseMode !== undefined)
    logger.warn("admin_token_insecure", { file: t.path, mode: "0" + t.looseMode.toString(8) });
  return { token: t.token, path: t.path };
}

export async function main(argv: string[]): Promise<void> {
  const opts = parseOptions(controlCommand, argv);
  if (opts === undefined) return;
  const regions = opts.regions === undefined ? undefined : loadRegionPolicyFile(opts.regions);
  const logger = jsonLogger(systemClock, {
    proc: "control",
    level: opts.logLevel as Level,
    write: (line) => process.stdout.write(line),
  });
  const running = await startControl(opts, { logger, ...(regions ? { regions } : {}) });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      logger.info("stopping", { signal });
      running.stop().then(resolve, resolve);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
