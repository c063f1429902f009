/**
 * `tiercast origin`: wires the origin's parts together (the only place that does). Reads the
 * options, loads or makes the identity key, opens the source, binds the UDP socket and the HTTP
 * fallback, joins control and publishes every segment the source produces. Logs "ready" once up
 * and stops cleanly (LEAVE) on SIGINT/SIGTERM; the returned promise settles after the stop.
 */
import {
  CONTROL_TRUST_OPTIONS,
  keyText,
  resolveControlTrust,
  saveLearntControlKey,
  type ControlTrust,
} from "../common/control-key.js";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { DEFAULT_CONTROL_ENDPOINT } from "../common/defaults.js";
import { parseOptions, UsageError, type Command, type Options, type Spec } from "../common/options.js";
import { systemClock } from "../seams/clock.js";
import { ImpairedTransport, parseDelayRules } from "../seams/impaired-transport.js";
import { jsonLogger, type Level } from "../seams/log.js";
import { addressKey, type Address } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";
import { FallbackHttp } from "./fallback-http.js";
import { openSource, resolveSourceSpec } from "./ingest/open-source.js";
import { DEFAULT_FANOUT, Origin } from "./origin.js";
import { samplePlaylistPath } from "./package-root.js";
import { loadOrCreateKey, loadState, saveState } from "./state-files.js";
import { parseVodSpecs, VodNode } from "./vod-node.js";
import { DEFAULT_VOD_CHUNK_BYTES, VodFileError } from "./vod-file.js";
import { MAX_VOD_CHUNK_BYTES } from "../protocol/limits.js";

export const originCommand = {
  name: "origin",
  summary:
    "Ingest a live HLS source (or loop the bundled sample), feed it to the top of the tree, serve the HTTP fallback.",
  spec: {
    control: {
      kind: "addresses",
      help: "control center's UDP endpoints, host:port[,host:port...] (several servers: failover); a name is resolved once at start",
      default: [DEFAULT_CONTROL_ENDPOINT],
    },
    ...CONTROL_TRUST_OPTIONS,
    host: { kind: "string", help: "address to bind UDP and HTTP to", default: "127.0.0.1" },
    port: { kind: "int", help: "UDP port (0 = pick a free one)", default: 0, min: 0, max: 65535 },
    httpPort: {
      kind: "int",
      help: "HTTP fallback port (0 = pick a free one)",
      default: 8080,
      min: 0,
      max: 65535,
    },
    channel: { kind: "string", help: "channel name this origin offers", default: "demo" },
    source: {
      kind: "string",
      help: 'what to stream: "sample" (bundled clip, looped), an http:// HLS playlist, a folder ffmpeg writes live, or a .m3u8 file',
      default: "sample",
    },
    streamKbps: {
      kind: "int",
      help: "stream rate in kbit/s (required for folder and URL sources; measured for a looped clip)",
      min: 1,
      max: 1_000_000,
    },
    segmentMs: {
      kind: "int",
      help: "target segment duration in ms for folder and URL sources",
      default: 1000,
      min: 100,
      max: 60_000,
    },
    fanout: {
      kind: "int",
      help: "children the upload budget is sized for (upload = fanout x stream x 1.25)",
      default: DEFAULT_FANOUT,
      min: 1,
      max: 64,
    },
    fallbackUrl: {
      kind: "string",
      help: "base URL agents use for the HTTP fallback (default: http://<http address>:<http port>)",
    },
    vod: {
      kind: "string",
      help: "VoD files to offer as well, each a channel of its own: <name>=<path>[,<name>=<path>...]",
    },
    vodKbps: {
      kind: "int",
      help: "bulk rate of each VoD channel's carousel, kbit/s",
      default: 2000,
      min: 1,
      max: 1_000_000,
    },
    vodChunkKb: {
      kind: "int",
      help: "VoD chunk size, KiB (each chunk travels as one segment)",
      default: DEFAULT_VOD_CHUNK_BYTES / 1024,
      min: 1,
      max: MAX_VOD_CHUNK_BYTES / 1024,
    },
    dataDir: { kind: "string", help: "folder for the identity key and state", default: ".tiercast/origin" },
    netDelay: { kind: "string", help: "lab only: delay datagrams to these prefixes, e.g. 10.77.2.0/24=50±5" },
    logLevel: {
      kind: "string",
      help: "least important log level written",
      default: "info",
      choices: ["debug", "info", "warn", "error"],
    },
  },
} as const satisfies Command<Spec>;

export type OriginOptions = Options<(typeof originCommand)["spec"]>;

export async function main(argv: string[]): Promise<void> {
  const opts = parseOptions(originCommand, argv);
  if (opts === undefined) return;
  const delay = opts.netDelay === undefined ? undefined : parseDelayRules(opts.netDelay);
  if (delay?.ok === false) throw new UsageError(`tiercast origin: netDelay: ${delay.error}`);
  const clock = systemClock;
  const logger = jsonLogger(clock, {
    proc: "origin",
    level: opts.logLevel as Level,
    write: (line) => process.stdout.write(line),
  });

  const control: Address[] = [];
  for (const c of opts.control) control.push(await resolveAddress(c.host, c.port));
  const identity = loadOrCreateKey(opts.dataDir);
  if (identity.created) logger.info("identity_created", { dataDir: opts.dataDir });
  let trust: ControlTrust;
  try {
    trust = resolveControlTrust(opts);
  } catch (e) {
    throw new UsageError(`tiercast origin: ${(e as Error).message}`);
  }
  if (trust.verifyControl === false)
    logger.warn("verification_off", { note: "TIERCAST_INSECURE_NO_VERIFY=1" });
  const onControlKeyLearnt = (key: Uint8Array): void => {
    saveLearntControlKey(opts.dataDir, key);
    logger.info("control_key_learnt", { key: keyText(key), dataDir: opts.dataDir });
  };

  const sourceSpec = await resolveSourceSpec(opts.source, samplePlaylistPath());
  const opened = await openSource({ clock, logger }, sourceSpec);
  const streamKbps = opened.streamKbps ?? opts.streamKbps;
  if (streamKbps === undefined) {
    throw new UsageError(
      `tiercast origin: streamKbps is required with --source ${opts.source} (e.g. --stream-kbps 800)`,
    );
  }
  const segmentMs = opened.segmentMs ?? opts.segmentMs;

  const udp = await UdpTransport.bind({
    host: opts.host,
    port: opts.port,
    sendBufferBytes: 4 * 1024 * 1024,
  });
  const transport = delay?.ok ? new ImpairedTransport(udp, delay.rules, { clock, random: Math.random }) : udp;
  const http = new FallbackHttp({ logger }, { channel: opts.channel, host: opts.host, port: opts.httpPort });
  let httpAddr: Address;
  try {
    httpAddr = await http.listen();
  } catch (e) {
    await transport.close();
    throw new UsageError(
      `tiercast origin: httpPort: cannot listen on ${opts.host}:${opts.httpPort}: ${(e as Error).message}`,
    );
  }
  const fallbackUrl = opts.fallbackUrl ?? `http://${urlHost(httpAddr.address)}:${httpAddr.port}`;

  const saved = loadState(opts.dataDir, opts.channel);
  const origin = new Origin(
    {
      clock,
      transport,
      logger,
      signingKey: identity.privateKey,
      onControlKeyLearnt,
      onPublished: (_s, next) => {
        try {
          saveState(opts.dataDir, {
            channel: opts.channel,
            nextSegmentId: next.segmentId,
            nextSeq: next.seq,
          });
        } catch (e) {
          logger.warn("state_not_saved", { error: (e as Error).message });
        }
      },
    },
    {
      control,
      channel: opts.channel,
      key: identity.publicKey,
      ...trust,
      streamKbps,
      segmentMs,
      fallbackUrl,
      httpPort: httpAddr.port,
      fanout: opts.fanout,
      ...(saved ? { firstSegmentId: saved.nextSegmentId, firstSeq: saved.nextSeq } : {}),
    },
  );
  http.attach(origin);
  let vodNodes: VodNode[];
  try {
    vodNodes = await startVodNodes(opts, { clock, logger, http }, control, fallbackUrl, httpAddr.port, trust);
  } catch (e) {
    opened.source.stop();
    await Promise.all([http.close(), transport.close()]);
    throw e;
  }
  origin.start();
  opened.source.start((segment) => origin.publish(segment));

  logger.info("ready", {
    udp: transport.local,
    http: httpAddr,
    channel: opts.channel,
    // The key an operator configures with control's --origin-keys (docs/security.md).
    publicKey: keyText(identity.publicKey),
    source: opened.source.description,
    control: control.map(addressKey),
    fallbackUrl,
    streamKbps,
    segmentMs,
    uploadKbps: origin.uploadKbps,
    resumedAt: saved?.nextSegmentId,
    vod: vodNodes.map((v) => ({ channel: v.file.channel, udp: v.transport.local, ...v.file.info })),
  });

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      logger.info("stopping", { signal });
      opened.source.stop();
      origin.stop();
      for (const v of vodNodes) v.stop();
      // Give the LEAVE datagram a moment to leave the socket before it closes.
      setTimeout(() => {
        void Promise.all([http.close(), transport.close(), ...vodNodes.map((v) => v.close())]).then(() => {
          logger.info("stopped", {});
          resolve();
        });
      }, 50);
    };
    const onInt = (): void => stop("SIGINT");
    const onTerm = (): void => stop("SIGTERM");
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onTerm);
  });
}

/** One VoD node per --vod entry (origin/vod-node.ts); a file that cannot be offered is a usage error. */
async function startVodNodes(
  opts: OriginOptions,
  deps: { clock: typeof systemClock; logger: ReturnType<typeof jsonLogger>; http: FallbackHttp },
  control: readonly Address[],
  fallbackUrl: string,
  httpPort: number,
  trust: ControlTrust,
): Promise<VodNode[]> {
  if (opts.vod === undefined) return [];
  const specs = parseVodSpecs(opts.vod, opts.channel);
  if (typeof specs === "string") throw new UsageError(`tiercast origin: vod: ${specs}`);
  const nodes: VodNode[] = [];
  for (const spec of specs) {
    try {
      nodes.push(
        await VodNode.start(
          {
            ...deps,
            bind: () => UdpTransport.bind({ host: opts.host, port: 0, sendBufferBytes: 4 * 1024 * 1024 }),
          },
          {
            ...spec,
            chunkBytes: opts.vodChunkKb * 1024,
            kbps: opts.vodKbps,
            control,
            fallbackUrl,
            httpPort,
            fanout: opts.fanout,
            dataDir: opts.dataDir,
            trust,
          },
        ),
      );
    } catch (e) {
      for (const n of nodes) n.stop();
      await Promise.all(nodes.map((n) => n.close()));
      if (e instanceof VodFileError) throw new UsageError(`tiercast origin: vod: ${e.message}`);
      throw e;
    }
  }
  return nodes;
}

/** host:port to an IP address (control's replies are matched against it). */
async function resolveAddress(host: string, port: number): Promise<Address> {
  if (isIP(host) !== 0) return { address: host, port };
  try {
    const r = await lookup(host);
    return { address: r.address, port };
  } catch (e) {
    throw new UsageError(`tiercast origin: control: cannot resolve "${host}": ${(e as Error).message}`);
  }
}

function urlHost(address: string): string {
  if (address === "0.0.0.0" || address === "::") return "127.0.0.1";
  return address.includes(":") ? `[${address}]` : address;
}
