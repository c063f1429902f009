/**
 * `tiercast agent`: the program on home routers and set-top boxes. The only place that
 * wires real things together: system clock, UDP socket, SQLite cache, LAN HTTP server,
 * JSON log lines on stdout. SIGINT/SIGTERM: LEAVE, close everything, return.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { DEFAULT_CONTROL_ENDPOINT } from "../common/defaults.js";
import { parseOptions, UsageError, type Command, type HostPort, type Spec } from "../common/options.js";
import { MAX_CHANNELS_PER_MESSAGE } from "../protocol/limits.js";
import { NatType } from "../protocol/messages.js";
import { systemClock } from "../seams/clock.js";
import { ImpairedTransport, parseDelayRules } from "../seams/impaired-transport.js";
import { jsonLogger, type Level, type Logger } from "../seams/log.js";
import { addressKey, type Address, type Transport } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";
import { HostAliasTransport } from "../common/host-alias-transport.js";
import { HEADERS_TIMEOUT_MS } from "../common/http-server.js";
import { Agent } from "./agent.js";
import { SqliteChunkStore } from "./store/cache.js";
import { ROUTER_TUNING, type AgentConfig, type AgentRole } from "./config.js";
import { loadOrCreateIdentity } from "./identity.js";
import {
  CONTROL_TRUST_OPTIONS,
  keyText,
  resolveControlTrust,
  saveLearntControlKey,
  verificationDisabled,
} from "../common/control-key.js";
import { corsOriginError, LanHttp } from "./lan/lan-http.js";

const NATS = ["unknown", "open", "full_cone", "restricted", "port_restricted", "symmetric"] as const;
const NAT_VALUES: Record<(typeof NATS)[number], NatType> = {
  unknown: NatType.UNKNOWN,
  open: NatType.OPEN,
  full_cone: NatType.FULL_CONE,
  restricted: NatType.RESTRICTED,
  port_restricted: NatType.PORT_RESTRICTED,
  symmetric: NatType.SYMMETRIC,
};

export const agentCommand = {
  name: "agent",
  summary:
    "Run an agent: join the control center, relay the live stream to children, cache it in SQLite and serve LAN players over HLS.",
  spec: {
    control: {
      kind: "addresses",
      help: "control center UDP endpoints, host:port[,host:port...] (several servers: failover); a name is resolved once at start",
      default: [DEFAULT_CONTROL_ENDPOINT],
    },
    ...CONTROL_TRUST_OPTIONS,
    enrolmentToken: {
      kind: "string",
      help: "enrolment token from the operator (control's token policy; needed once, by a new identity)",
    },
    host: { kind: "string", help: "bind address for UDP and the LAN HTTP server", default: "127.0.0.1" },
    port: { kind: "int", help: "UDP port (0 = pick)", default: 0, min: 0, max: 65535 },
    httpPort: { kind: "int", help: "LAN HTTP port (0 = pick)", default: 8081, min: 0, max: 65535 },
    corsOrigin: {
      kind: "string",
      help: 'Access-Control-Allow-Origin of LAN HTTP answers: an origin (http://tv.example:8080) or "*"; unset = no CORS header',
    },
    httpHeadersTimeoutMs: {
      kind: "int",
      help: "LAN HTTP: time a client has to send its request headers, ms (then 408 and the connection is closed)",
      default: HEADERS_TIMEOUT_MS,
      min: 100,
      max: 600_000,
    },
    channel: { kind: "string", help: "channel to watch and relay", default: "demo" },
    peerRepairShare: {
      kind: "number",
      help: "share of the upload cap kept for serving repairs to children over HTTP (0 = none: children repair from the origin)",
      default: ROUTER_TUNING.peerRepairShare,
      min: 0,
      max: 0.5,
    },
    idle: {
      kind: "boolean",
      help: "an idle box: watch nothing, relay whatever channel control recruits it for",
      default: false,
    },
    uploadKbps: {
      kind: "int",
      help: "upload cap, kbit/s (the uplink is shared with the household)",
      default: 4000,
      min: 1,
    },
    dataDir: {
      kind: "string",
      help: "directory for identity.json and the cache",
      default: ".tiercast/agent",
    },
    cacheMb: { kind: "int", help: "chunk cache size, MB", default: 64, min: 1, max: 1024 * 1024 },
    vod: {
      kind: "string",
      help: "VoD channels to download and relay while the live channel plays (comma-separated)",
    },
    vodCacheMb: {
      kind: "int",
      help: "VoD cache budget, MB (vod.db; live segments never evict it)",
      default: 256,
      min: 1,
      max: 1024 * 1024,
    },
    regionHint: { kind: "string", help: "region to use when no policy prefix matches the address" },
    role: {
      kind: "string",
      help: "role offered to the control center",
      default: "agent",
      choices: ["agent", "preferred", "waypoint"],
    },
    nat: { kind: "string", help: "NAT type to report", default: "unknown", choices: NATS },
    playoutDelayMs: {
      kind: "int",
      help: "startup delay of the modelled player, ms (0 = 2 x segment)",
      default: 0,
      min: 0,
    },
    hostAlias: {
      kind: "string",
      help: "emulators only (QEMU user-mode net): the address the host's loopback is reached at, e.g. 10.0.2.2",
    },
    netDelay: { kind: "string", help: "lab only: delay datagrams to these prefixes, e.g. 10.77.2.0/24=50±5" },
    logLevel: {
      kind: "string",
      help: "least level logged",
      default: "info",
      choices: ["debug", "info", "warn", "error"],
    },
  },
} as const satisfies Command<Spec>;

/** The same spec under the generic name. */
export const command = agentCommand;

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(agentCommand, argv);
  if (o === undefined) return;
  const delay = o.netDelay === undefined ? undefined : parseDelayRules(o.netDelay);
  if (delay?.ok === false) throw new UsageError(`tiercast agent: netDelay: ${delay.error}`);
  const cors = o.corsOrigin === undefined ? undefined : corsOriginError(o.corsOrigin);
  if (cors !== undefined) throw new UsageError(`tiercast agent: corsOrigin: ${cors}`);
  const clock = systemClock;
  const logger = jsonLogger(clock, {
    proc: "agent",
    level: o.logLevel as Level,
    write: (s) => process.stdout.write(s),
  });
  const identity = loadOrCreateIdentity({ dataDir: o.dataDir });
  if (identity.created) logger.info("identity_created", { dataDir: o.dataDir });
  const trust = controlTrust(o, logger);
  const control = await resolveEndpoints(o.control);
  const vod = vodChannels(o.vod, o.channel);
  const store = SqliteChunkStore.open(
    { path: join(o.dataDir, "cache.db"), capacityBytes: o.cacheMb * 1024 * 1024 },
    (movedTo, why) => logger.warn("cache_reset", { movedTo, why }),
  );
  const vodStore =
    vod.length === 0
      ? undefined
      : SqliteChunkStore.open(
          { path: join(o.dataDir, "vod.db"), capacityBytes: o.vodCacheMb * 1024 * 1024 },
          (movedTo, why) => logger.warn("vod_cache_reset", { movedTo, why }),
        );
  let transport: Transport | undefined;
  let agent: Agent | undefined;
  const lan = new LanHttp(
    { logger, view: () => agent },
    {
      host: o.host,
      port: o.httpPort,
      corsOrigin: o.corsOrigin,
      headersTimeoutMs: o.httpHeadersTimeoutMs,
    },
  );
  try {
    const udp = await UdpTransport.bind({ host: o.host, port: o.port, recvBufferBytes: 4 << 20 });
    // A router's rmem_max is often the kernel default: the packets a parent sends wait in this buffer.
    if (udp.recvBufferClamped)
      logger.warn("recv_buffer_clamped", {
        requestedBytes: udp.requestedRecvBufferBytes ?? null,
        grantedBytes: udp.recvBufferBytes,
        fix: "sysctl -w net.core.rmem_max=4194304",
      });
    const delayed = delay?.ok ? new ImpairedTransport(udp, delay.rules, { clock, random: Math.random }) : udp;
    transport = o.hostAlias === undefined ? delayed : new HostAliasTransport(delayed, o.hostAlias);
    const http = await lan.listen();
    agent = new Agent(
      {
        clock,
        transport,
        store,
        logger,
        identity,
        onControlKeyLearnt: (key) => {
          saveLearntControlKey(o.dataDir, key);
          logger.info("control_key_learnt", { key: keyText(key), dataDir: o.dataDir });
        },
        startedAt: performance.timeOrigin,
        ...(vodStore === undefined ? {} : { vodStore }),
      },
      {
        control,
        ...trust,
        // The negative controls' switch turns the segment signature checks off too.
        ...(trust.verifyControl === false ? { verifySegments: false } : {}),
        channel: o.channel,
        ...(o.idle ? { idle: true } : {}),
        vod,
        role: o.role as AgentRole,
        uploadKbps: o.uploadKbps,
        httpPort: http.port,
        regionHint: o.regionHint,
        nat: NAT_VALUES[o.nat as (typeof NATS)[number]],
        playoutDelayMs: o.playoutDelayMs > 0 ? o.playoutDelayMs : undefined,
        tuning: { ...ROUTER_TUNING, peerRepairShare: o.peerRepairShare },
      },
    );
    agent.start();
    logger.info("ready", {
      udp: transport.local,
      http,
      control: control.map(addressKey),
      channel: o.channel,
      cacheMb: o.cacheMb,
      dataDir: o.dataDir,
      ...(vod.length === 0 ? {} : { vod, vodCacheMb: o.vodCacheMb }),
    });
  } catch (e) {
    await lan.close();
    await transport?.close();
    store.close();
    vodStore?.close();
    throw e;
  }
  const running = agent;
  const udp = transport;
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      logger.info("stopping", { signal });
      running.stop();
      // Let the LEAVE datagram leave before the socket closes.
      setImmediate(() => {
        void Promise.allSettled([lan.close(), udp.close()]).then(() => {
          store.close();
          vodStore?.close();
          logger.info("stopped", {});
          resolve();
        });
      });
    };
    const onInt = (): void => stop("SIGINT");
    const onTerm = (): void => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
}

/** The control endpoints as IP addresses (control datagrams are matched against them). */
async function resolveEndpoints(list: readonly HostPort[]): Promise<Address[]> {
  const out: Address[] = [];
  for (const { host, port } of list) {
    if (isIP(host) !== 0) {
      out.push({ address: host, port });
      continue;
    }
    try {
      out.push({ address: (await lookup(host)).address, port });
    } catch (e) {
      throw new UsageError(`tiercast agent: control: cannot resolve "${host}": ${(e as Error).message}`);
    }
  }
  return out;
}

/** --vod "a,b": the VoD channel names, each once and none the live channel. */
function vodChannels(list: string | undefined, live: string): string[] {
  const names = (list ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  if (new Set(names).size !== names.length)
    throw new UsageError("tiercast agent: vod: a channel is named twice");
  if (names.includes(live)) throw new UsageError(`tiercast agent: vod: "${live}" is the live channel`);
  if (names.length >= MAX_CHANNELS_PER_MESSAGE)
    throw new UsageError(`tiercast agent: vod: at most ${MAX_CHANNELS_PER_MESSAGE - 1} VoD channels`);
  return names;
}

function controlTrust(
  o: {
    controlKey?: string | undefined;
    trustOnFirstUse: boolean;
    enrolmentToken?: string | undefined;
    dataDir: string;
  },
  logger: Logger,
): Pick<AgentConfig, "controlKey" | "trustOnFirstUse" | "verifyControl" | "enrolmentToken"> {
  if (verificationDisabled()) {
    logger.warn("verification_off", {
      note: "TIERCAST_INSECURE_NO_VERIFY=1: nothing from control or peers is checked",
    });
  }
  try {
    return {
      ...resolveControlTrust(o),
      ...(o.enrolmentToken === undefined ? {} : { enrolmentToken: o.enrolmentToken }),
    };
  } catch (e) {
    throw new UsageError(`tiercast agent: ${(e as Error).message}`);
  }
}
