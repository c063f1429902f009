/**
 * One VoD channel offered by the origin process (`tiercast origin --vod <name>=<path>`): a node
 * of its own towards control (identity key and state in <dataDir>/vod-<name>/, its own UDP
 * socket), an Origin that joins as the channel's root announcing the file's size and chunk
 * size, the carousel that feeds it chunk after chunk at the bulk rate, and the file's chunks
 * on the process's HTTP fallback, each with a META signed by this node's key. A node per VoD
 * channel keeps Origin single-channel: control plans each channel's tree on its own anyway.
 *
 * The next chunk and channel sequence number are saved (at most once a second) so a restarted
 * origin continues its round with new sequence numbers, not ones agents would drop as old.
 */
import type { ControlTrust } from "../common/control-key.js";
import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import { MAX_CODED_PAYLOAD_BYTES } from "../protocol/limits.js";
import { encodeSignedMeta } from "../protocol/segment-meta.js";
import type { Clock } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import type { Address, Transport } from "../seams/transport.js";
import type { FallbackHttp } from "./fallback-http.js";
import { Origin, uploadBudgetKbps } from "./origin.js";
import { loadOrCreateKey, loadState, saveState } from "./state-files.js";
import { VodFile, type VodChunk } from "./vod-file.js";
import { VodCarousel } from "./vod-source.js";

export interface VodSpec {
  channel: string;
  path: string;
}

const CHANNEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SAVE_EVERY_MS = 1000;

/** "name=path[,name=path...]" (pure); a string saying what is wrong instead of a list. */
export function parseVodSpecs(s: string, liveChannel: string): VodSpec[] | string {
  const out: VodSpec[] = [];
  for (const part of s.split(",")) {
    const eq = part.indexOf("=");
    const channel = eq < 0 ? "" : part.slice(0, eq).trim();
    const path = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (channel === "" || path === "") return `expected <name>=<path>, got "${part}"`;
    if (!CHANNEL_RE.test(channel)) return `bad channel name "${channel}"`;
    if (channel === liveChannel) return `"${channel}" is the live channel`;
    if (out.some((v) => v.channel === channel)) return `channel "${channel}" given twice`;
    out.push({ channel, path });
  }
  return out;
}

export interface VodNodeDeps {
  clock: Clock;
  logger: Logger;
  /** Binds the node's UDP socket. */
  bind: () => Promise<Transport>;
  http: FallbackHttp;
}

export interface VodNodeConfig extends VodSpec {
  chunkBytes: number;
  /** Bulk rate of the carousel (the channel's streamKbps), kbit/s. */
  kbps: number;
  control: Address | readonly Address[];
  fallbackUrl: string;
  httpPort: number;
  fanout: number;
  /** The origin's data dir; this node keeps its files in <dataDir>/vod-<channel>. */
  dataDir: string;
  /** How it knows control (the origin's own: pinned key or trust on first use). */
  trust: ControlTrust;
}

export class VodNode {
  readonly origin: Origin;
  readonly file: VodFile;
  readonly carousel: VodCarousel;
  readonly transport: Transport;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #dir: string;
  readonly #signingKey: KeyObject;
  #savedAt = -Infinity;

  private constructor(deps: VodNodeDeps, config: VodNodeConfig, file: VodFile, transport: Transport) {
    this.file = file;
    this.transport = transport;
    this.#clock = deps.clock;
    this.#dir = join(config.dataDir, `vod-${config.channel}`);
    this.#logger = deps.logger.child({ channel: config.channel });
    const key = loadOrCreateKey(this.#dir);
    const saved = loadState(this.#dir, config.channel);
    this.#signingKey = key.privateKey;
    this.origin = new Origin(
      { clock: deps.clock, transport, logger: this.#logger, signingKey: key.privateKey },
      {
        control: config.control,
        channel: config.channel,
        key: key.publicKey,
        ...config.trust,
        streamKbps: config.kbps,
        // One chunk's time at the bulk rate: control sizes repair and congestion checks by it.
        segmentMs: Math.max(1, Math.round((file.info.chunkBytes * 8) / config.kbps)),
        fallbackUrl: config.fallbackUrl,
        httpPort: config.httpPort,
        fanout: config.fanout,
        uploadKbps: uploadBudgetKbps(config.kbps, config.fanout),
        windowSegments: 1,
        ...(saved === undefined ? {} : { firstSeq: saved.nextSeq }),
        vod: file.info,
      },
    );
    this.carousel = new VodCarousel(
      { clock: deps.clock },
      {
        chunks: file.chunks,
        chunkLength: (i) => Math.min(file.info.chunkBytes, file.info.fileBytes - i * file.info.chunkBytes),
        kbps: config.kbps,
        ...(saved === undefined ? {} : { firstIndex: saved.nextSegmentId }),
      },
    );
    deps.http.attachVod({
      channel: file.channel,
      chunks: file.chunks,
      chunk: (i) => file.chunk(i),
      signedMeta: (c) => this.#signedMeta(c),
    });
  }

  /**
   * A chunk's META signed now for this node's channel, for the HTTP fallback (a chunk served over
   * HTTP is not sent as packets: firstSeq 0); undefined before the channel id is known.
   */
  #signedMeta(c: VodChunk): Buffer | undefined {
    const channel = this.origin.channel?.id;
    if (channel === undefined) return undefined;
    return encodeSignedMeta(
      channel,
      {
        segmentId: c.index,
        durationMs: 0,
        totalBytes: c.bytes.length,
        firstSeq: 0,
        packetCount: Math.max(1, Math.ceil(c.bytes.length / MAX_CODED_PAYLOAD_BYTES)),
        discontinuity: false,
        publishedAt: this.#clock.now(),
        sha256: c.sha256,
      },
      this.#signingKey,
    );
  }

  /** Opens the file (VodFileError when it cannot), binds the socket, joins and starts the carousel. */
  static async start(deps: VodNodeDeps, config: VodNodeConfig): Promise<VodNode> {
    const file = VodFile.open(config.channel, config.path, config.chunkBytes);
    let transport: Transport;
    try {
      transport = await deps.bind();
    } catch (e) {
      file.close();
      throw e;
    }
    const node = new VodNode(deps, config, file, transport);
    node.origin.start();
    node.carousel.start((i) => node.#send(i));
    return node;
  }

  /** LEAVE and no more chunks; `close` then releases the socket and the file. */
  stop(): void {
    this.carousel.stop();
    this.origin.stop();
    this.#save();
  }

  async close(): Promise<void> {
    await this.transport.close();
    this.file.close();
  }

  #send(index: number): void {
    try {
      this.origin.publishChunk(index, this.file.chunk(index).bytes);
    } catch (e) {
      this.#logger.error("chunk_not_sent", { index, error: (e as Error).message });
    }
    if (this.#clock.now() - this.#savedAt >= SAVE_EVERY_MS) this.#save();
  }

  #save(): void {
    this.#savedAt = this.#clock.now();
    try {
      saveState(this.#dir, {
        channel: this.file.channel,
        nextSegmentId: this.carousel.stats.next,
        nextSeq: this.origin.nextSeq,
      });
    } catch (e) {
      this.#logger.warn("state_not_saved", { error: (e as Error).message });
    }
  }
}
