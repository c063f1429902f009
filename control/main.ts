/**
 * `tiercast control`: the control center as one process. Wiring only: options, then the
 * real clock, a UDP socket, the SQLite store and a JSON-lines logger on stdout go into the
 * ControlCenter and the admin HTTP server (bound to --admin-host, loopback by default, and
 * closed to anyone without the bearer token in <folder of --db>/admin-token, made at first
 * start). Logs "ready" with both addresses and the token file's path; SIGINT or
 * SIGTERM closes everything (nodes keep streaming on their last assignment and REJOIN when
 * control is back).
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseOptions, UsageError, type Command, type Options, type Spec } from "../common/options.js";
import { systemClock, type Clock } from "../seams/clock.js";
import { ImpairedTransport, parseDelayRules } from "../seams/impaired-transport.js";
import { jsonLogger, type Level, type Logger } from "../seams/log.js";
import type { Address, Transport } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";
import { AdminHttp, localAdminSource, type AdminSource } from "./admin-http.js";
import { LocalControl } from "./rsl/local-control.js";
import { EtcdControl, type EtcdControlConfig } from "./rsl/etcd-control.js";
import { exportIdentity } from "./rsl/server-spec.js";
import {
  AdminTokenError,
  adminTokenPath,
  loadOrCreateAdminTokenFile,
  newAdminToken,
  type AdminToken,
} from "./admin-token.js";
import { ControlCenter } from "./control-center.js";
import { CONTROL_DEFAULTS, TOPOLOGIES, type TopologyName } from "./defaults.js";
import { loadRegionPolicyFile } from "./regions-file.js";
import type { RegionPolicy } from "./regions.js";
import { SqliteNodeStore, type NodeStore } from "./store.js";
import { ENROLMENT_MODES, type EnrolmentMode, type TrustPolicy } from "./trust/enrolment.js";
import { keyText, parseKeyText, verificationDisabled } from "../common/control-key.js";
import { IdentityFileError, loadOrCreateKeyPair } from "../common/identity.js";
import { rawPublicKey } from "../protocol/auth.js";
import { embeddedRuntime } from "../common/embedded.js";
import type { EtcdCoordinator as EtcdCoordinatorClass } from "./rsl/etcd-coordinator.js";

/** Control's UDP receive buffer, bytes (the reason: control/defaults.ts). */
export const DEFAULT_RECV_BUFFER_BYTES = CONTROL_DEFAULTS.recvBufferBytes;

/** Control's key pair, beside the database. */
export const CONTROL_IDENTITY_FILE = "control-identity.json";

const LEVELS = ["debug", "info", "warn", "error"] as const;

export const controlCommand = {
  name: "control",
  summary:
    "Run the control center: nodes join and heartbeat over UDP, it assigns their parents and children.",
  spec: {
    host: { kind: "string", help: "address to bind the UDP socket to", default: CONTROL_DEFAULTS.host },
    port: {
      kind: "int",
      help: "UDP port nodes send JOIN/HEARTBEAT to (0 = pick)",
      default: CONTROL_DEFAULTS.port,
      min: 0,
      max: 65535,
    },
    adminPort: {
      kind: "int",
      help: "admin HTTP port: /api/*, /metrics (0 = pick)",
      default: CONTROL_DEFAULTS.adminPort,
      min: 0,
      max: 65535,
    },
    adminHost: {
      kind: "string",
      help: "address to bind the admin HTTP server to (keep it off the internet)",
      default: CONTROL_DEFAULTS.adminHost,
    },
    adminTokenFile: {
      kind: "string",
      help: "file holding the admin API's bearer token (made, mode 0600, if missing); default: admin-token next to --db",
    },
    db: {
      kind: "string",
      help: "SQLite file (node ids, channels, history); its folder is created",
      default: CONTROL_DEFAULTS.db,
    },
    regions: {
      kind: "string",
      help: 'region policy file (JSON); without it every node is in region "default"',
      // Explicitly undefined so the option is typed string | undefined.
      default: undefined,
    },
    heartbeatMs: {
      kind: "int",
      help: `heartbeat interval given to nodes; ${CONTROL_DEFAULTS.missedHeartbeats} missed = lost`,
      default: CONTROL_DEFAULTS.heartbeatMs,
      min: 50,
      max: 60000,
    },
    topology: {
      kind: "string",
      help: "topology engine: tiered (the three-tier engine, docs/topology.md) or tree (the foundation's capacity-aware tree)",
      default: CONTROL_DEFAULTS.topology,
      choices: TOPOLOGIES,
    },
    netDelay: { kind: "string", help: "lab only: delay datagrams to these prefixes, e.g. 10.77.2.0/24=50±5" },
    enrolment: {
      kind: "string",
      help: "who may join: open (any key; demo, lab), token (new keys need an enrolment token from the admin API), allowlist (only --allow-keys-file)",
      default: CONTROL_DEFAULTS.enrolment,
      choices: ENROLMENT_MODES,
    },
    originKeys: {
      kind: "string",
      help: "the keys that may offer each channel: channel=key[,channel=key...] (hex or base64); a channel without one is bound to its first origin under open enrolment, refused otherwise",
    },
    allowKeysFile: {
      kind: "string",
      help: "allowlist enrolment: a file of node public keys, one per line (hex or base64; # comments)",
    },
    etcd: {
      kind: "string",
      help: "several machines: etcd endpoints, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379 (docs/resilience.md); this process is then one control server of the deployment",
    },
    advertise: {
      kind: "string",
      help: "with --etcd: the host:port other control servers send nodes to in a REDIRECT (default: --host and the bound port)",
    },
    leaseTtlS: {
      kind: "int",
      help: "with --etcd: this server's lease, s; a server silent this long loses its DCMs to the others",
      default: CONTROL_DEFAULTS.leaseTtlS,
      min: 1,
      max: 60,
    },
    workers: {
      kind: "int",
      help: "DCM workers behind the UDP front (one machine: a crashed worker's channels move to a fresh one; docs/resilience.md); 0 = one server in this process",
      default: CONTROL_DEFAULTS.workers,
      min: 0,
      max: 64,
    },
    recvBufferBytes: {
      kind: "int",
      help: "UDP receive buffer to ask the kernel for, bytes: heartbeats wait there while control is busy (Linux clamps to net.core.rmem_max; 0 = the kernel's default)",
      default: DEFAULT_RECV_BUFFER_BYTES,
      min: 0,
      max: 1 << 30,
    },
    logLevel: {
      kind: "string",
      help: "least severe log level written",
      default: CONTROL_DEFAULTS.logLevel,
      choices: LEVELS,
    },
  },
} as const satisfies Command<Spec>;

export type ControlOptions = Options<(typeof controlCommand)["spec"]>;

export interface RunningControl {
  udp: Address;
  http: Address;
  /** The control server, when it runs in this process (`--workers 0`, or a `:memory:` database). */
  control: ControlCenter | undefined;
  /** The front, RSL and DCM workers (`--workers` >= 1). */
  rsl: LocalControl | undefined;
  /** This process's connection to the store. */
  store: NodeStore;
  /** The admin API's bearer token (in-process callers; others read adminTokenFile). */
  adminToken: string;
  /** Where the token is kept; undefined with `--db :memory:` and no --admin-token-file (memory only). */
  adminTokenFile: string | undefined;
  /** Control's public key (raw Ed25519), which nodes pin (`--control-key`). */
  publicKey: Uint8Array;
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
  opts: Omit<
    ControlOptions,
    | "netDelay"
    | "adminHost"
    | "adminTokenFile"
    | "enrolment"
    | "originKeys"
    | "allowKeysFile"
    | "workers"
    | "etcd"
    | "advertise"
    | "leaseTtlS"
    | "recvBufferBytes"
  > & {
    /** Default DEFAULT_RECV_BUFFER_BYTES; 0: the kernel's default. */
    recvBufferBytes?: number | undefined;
    /** Several machines: etcd endpoints (comma-separated). */
    etcd?: string | undefined;
    advertise?: string | undefined;
    leaseTtlS?: number | undefined;
    /** Default CONTROL_DEFAULTS.workers; `:memory:` databases always run one server in process (workers cannot share one). */
    workers?: number | undefined;
    netDelay?: string | undefined;
    /** Default CONTROL_DEFAULTS.enrolment. */
    enrolment?: string | undefined;
    originKeys?: string | undefined;
    allowKeysFile?: string | undefined;
    /** Default CONTROL_DEFAULTS.adminHost. */
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
  const policy = trustPolicy(opts);
  const identity = controlIdentity(opts.db, logger);
  const store = new SqliteNodeStore(opts.db);
  let transport: Transport | undefined;
  try {
    // A large receive buffer: heartbeats wait there while control is busy instead of being dropped.
    const recvBufferBytes = opts.recvBufferBytes ?? DEFAULT_RECV_BUFFER_BYTES;
    const socket = await UdpTransport.bind({ host: opts.host, port: opts.port, recvBufferBytes });
    logRecvBuffer(socket, logger);
    transport = delay?.ok
      ? new ImpairedTransport(socket, delay.rules, { clock, random: Math.random })
      : socket;
    // DCM workers share the store (a file) and load their code from a file (dist/): neither a
    // :memory: database nor the single executable (firmware/) can give them that.
    const inProcess =
      opts.db === ":memory:"
        ? "--db :memory: cannot be shared with DCM workers"
        : embeddedRuntime() !== undefined
          ? "the single executable runs control's server in process"
          : undefined;
    const workers = inProcess === undefined ? (opts.workers ?? CONTROL_DEFAULTS.workers) : 0;
    if (inProcess !== undefined && (opts.workers ?? CONTROL_DEFAULTS.workers) > 0)
      logger.info("workers_in_process", { why: inProcess });
    const verify = !verificationDisabled();
    let control: ControlCenter | undefined;
    let rsl: LocalControl | undefined;
    let cluster: EtcdControl | undefined;
    let source: AdminSource;
    const server = {
      db: opts.db,
      identityPkcs8: exportIdentity(identity.privateKey),
      heartbeatMs: opts.heartbeatMs,
      topology: opts.topology as TopologyName,
      ...(deps.regions ? { regions: deps.regions } : {}),
      trust: { policy, verify },
    };
    if (opts.etcd !== undefined) {
      cluster = await startEtcdControl(opts, { clock, logger, store, transport }, server);
      control = cluster.control;
      source = cluster.admin;
    } else if (workers === 0) {
      // Fencing epoch of this run (docs/resilience.md): above any an earlier run gave, as agents
      // remember the highest epoch they saw and drop an ASSIGN below it.
      const epoch = clock.now();
      control = new ControlCenter(
        { clock, transport, store, logger, identity, routing: { epochOf: () => epoch } },
        {
          heartbeatMs: opts.heartbeatMs,
          topology: opts.topology as TopologyName,
          ...(deps.regions ? { regions: deps.regions } : {}),
          trust: { policy, ...(verify ? {} : { verify: false }) },
        },
      );
      control.start();
      source = localAdminSource(control);
    } else {
      rsl = await LocalControl.start(
        { clock, logger, store, transport },
        {
          workers,
          logLevel: (opts.logLevel ?? CONTROL_DEFAULTS.logLevel) as Level,
          server,
        },
      );
      source = rsl.admin;
    }
    let http: AdminHttp;
    try {
      http = await AdminHttp.listen(
        { control: source, logger },
        { host: opts.adminHost ?? CONTROL_DEFAULTS.adminHost, port: opts.adminPort, token: admin.token },
      );
    } catch (e) {
      if (cluster === undefined) control?.stop();
      await rsl?.stop();
      await cluster?.stop();
      throw e;
    }
    const udp = transport.local;
    logger.info("ready", {
      udp,
      http: http.local,
      publicKey: keyText(identity.publicKey),
      enrolment: policy.enrolment,
      adminTokenFile: admin.path ?? null,
      db: opts.db,
      regions: opts.regions ?? null,
      heartbeatMs: opts.heartbeatMs,
      topology: opts.topology,
      workers: opts.etcd === undefined ? workers : 0,
      etcd: opts.etcd ?? null,
      server: cluster?.id ?? null,
    });
    let stopping: Promise<void> | undefined;
    const t = transport;
    return {
      udp,
      http: http.local,
      control,
      rsl,
      store,
      adminToken: admin.token,
      adminTokenFile: admin.path,
      publicKey: identity.publicKey,
      stop: () =>
        (stopping ??= (async () => {
          if (cluster === undefined) control?.stop();
          await rsl?.stop();
          await cluster?.stop();
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
 * Logs the receive buffer the kernel granted (`recv_buffer`), and warns when it clamped the
 * request (`recv_buffer_clamped`, with the sysctl that raises the limit: docs/operations.md).
 */
export function logRecvBuffer(socket: UdpTransport, logger: Logger): void {
  const asked = socket.requestedRecvBufferBytes;
  const reported = socket.recvBufferBytes;
  logger.info("recv_buffer", { requestedBytes: asked ?? null, grantedBytes: reported });
  if (asked === undefined || !socket.recvBufferClamped) return;
  logger.warn("recv_buffer_clamped", {
    requestedBytes: asked,
    grantedBytes: reported,
    fix: `sysctl -w net.core.rmem_max=${asked} (and net.core.rmem_max=${asked} in /etc/sysctl.d/)`,
  });
}

/**
 * This process as one control server of a deployment on etcd (control/rsl/etcd-control.ts). The
 * etcd client is loaded only here: the single executable (firmware/) does not carry it.
 */
async function startEtcdControl(
  opts: { etcd?: string | undefined; advertise?: string | undefined; leaseTtlS?: number | undefined },
  deps: { clock: Clock; logger: Logger; store: NodeStore; transport: Transport },
  server: EtcdControlConfig["server"],
): Promise<EtcdControl> {
  const endpoints = (opts.etcd ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (endpoints.length === 0 || endpoints.some((e) => !/^(https?:\/\/)?[^/\s]+:\d+$/.test(e)))
    throw new UsageError(
      `tiercast control: etcd: expected [http://]host:port[,[http://]host:port...], got "${opts.etcd}"`,
    );
  let advertise: Address | undefined;
  if (opts.advertise !== undefined) {
    const m = /^(.+):(\d+)$/.exec(opts.advertise);
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || !(port >= 1 && port <= 65535))
      throw new UsageError(`tiercast control: advertise: expected host:port, got "${opts.advertise}"`);
    advertise = { address: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
  }
  const leaseTtlSeconds = opts.leaseTtlS ?? CONTROL_DEFAULTS.leaseTtlS;
  // Loaded only here: the single executable (firmware/) does not carry the etcd client.
  let EtcdCoordinator: typeof EtcdCoordinatorClass;
  try {
    ({ EtcdCoordinator } = await import("./rsl/etcd-coordinator.js"));
  } catch (e) {
    throw new UsageError(
      `tiercast control: etcd: the etcd client cannot be loaded (${(e as Error).message}); run control from the npm package`,
    );
  }
  const coordinator = new EtcdCoordinator(
    { clock: deps.clock, logger: deps.logger },
    { endpoints, leaseTtlSeconds },
  );
  try {
    return await EtcdControl.start(
      { ...deps, coordinator },
      { server, leaseTtlSeconds, ...(advertise === undefined ? {} : { advertise }) },
    );
  } catch (e) {
    await coordinator.close();
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

/** Control's long-term key pair: <folder of --db>/control-identity.json, made at first start (in memory for :memory:). */
function controlIdentity(db: string, logger: Logger): { publicKey: Uint8Array; privateKey: KeyObject } {
  if (db === ":memory:") {
    const { privateKey } = generateKeyPairSync("ed25519");
    return { privateKey, publicKey: rawPublicKey(privateKey) };
  }
  try {
    const pair = loadOrCreateKeyPair({
      dataDir: dirname(db),
      fileName: CONTROL_IDENTITY_FILE,
      holder: "control",
    });
    if (pair.created) logger.info("identity_created", { file: join(dirname(db), CONTROL_IDENTITY_FILE) });
    return pair;
  } catch (e) {
    if (e instanceof IdentityFileError) throw new UsageError(`tiercast control: db: ${e.message}`);
    throw e;
  }
}

/** The enrolment policy and origin keys from the options; a bad value names its field. */
function trustPolicy(opts: {
  enrolment?: string | undefined;
  originKeys?: string | undefined;
  allowKeysFile?: string | undefined;
}): TrustPolicy {
  const enrolment = (opts.enrolment ?? CONTROL_DEFAULTS.enrolment) as EnrolmentMode;
  if (!ENROLMENT_MODES.includes(enrolment)) {
    throw new UsageError(`tiercast control: enrolment: expected one of ${ENROLMENT_MODES.join(", ")}`);
  }
  const originKeys = new Map<string, Set<string>>();
  for (const item of (opts.originKeys ?? "").split(",").filter((s) => s.trim() !== "")) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? "" : parseKeyText(item.slice(eq + 1));
    const channel = item.slice(0, Math.max(0, eq)).trim();
    if (channel === "" || typeof key === "string") {
      throw new UsageError(
        `tiercast control: originKeys: "${item}": expected channel=key (${typeof key === "string" && key !== "" ? key : "a channel name and a key"})`,
      );
    }
    let set = originKeys.get(channel);
    if (set === undefined) originKeys.set(channel, (set = new Set()));
    set.add(keyText(key));
  }
  const allowKeys = new Set<string>();
  if (opts.allowKeysFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.allowKeysFile, "utf8");
    } catch (e) {
      throw new UsageError(`tiercast control: allowKeysFile: ${(e as Error).message}`);
    }
    text.split("\n").forEach((line, i) => {
      const t = line.replace(/#.*/, "").trim();
      if (t === "") return;
      const key = parseKeyText(t);
      if (typeof key === "string")
        throw new UsageError(`tiercast control: allowKeysFile: line ${i + 1}: ${key}`);
      allowKeys.add(keyText(key));
    });
  }
  if (enrolment === "allowlist" && allowKeys.size === 0 && originKeys.size === 0) {
    throw new UsageError("tiercast control: allowKeysFile: the allowlist policy needs at least one key");
  }
  return { enrolment, allowKeys, originKeys };
}
