/**
 * The origin node: the live source of one channel and the root of its tree. It joins control as
 * Role.ORIGIN (control-session.ts), takes the children control assigns it, and for every segment
 * an ingest source publishes: gives it the next segment id, keeps it for the HTTP fallback
 * (segment-window.ts), cuts it into META + data + META packets (packetizer.ts) and sends them,
 * paced at its upload budget, to the children of each packet's substream (fanout.ts). Every
 * META is signed with the origin's identity key (the key it joins with: agents learn it from
 * control as ChannelInfo.originKey and cache only what a META signed with it vouches for).
 */
import type { KeyObject } from "node:crypto";
import { Pacer } from "../dataplane/pacer.js";
import type { Clock } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { addressKey, type Address, type Transport } from "../seams/transport.js";
import { classifyDatagram, decodeData } from "../protocol/data-codec.js";
import { PAYLOAD_SHARE_OF_WIRE } from "../protocol/limits.js";
import { decodeNack } from "../protocol/nack-codec.js";
import { decodeControl } from "../protocol/control-codec.js";
import { encodeSegmentMeta, signSegmentMeta } from "../protocol/segment-meta.js";
import {
  NatType,
  Role,
  type AssignBody,
  type ChannelInfo,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  type VodInfo,
} from "../protocol/messages.js";
import { ControlSession } from "./control-session.js";
import { Fanout, type ChildStatus } from "./fanout.js";
import { AssignParts } from "../protocol/assign-parts.js";
import type { IngestSegment } from "./ingest/segment.js";
import type { OriginMetrics } from "./metrics.js";
import { packetizeSegment } from "./packetizer.js";
import { processResources } from "./resources.js";
import { DEFAULT_WINDOW_SEGMENTS, SegmentWindow, type PublishedSegment } from "./segment-window.js";

export interface OriginConfig {
  /**
   * Control's UDP endpoints (IP literals: replies are matched against them): one, or several
   * servers of one deployment (failover, docs/origin.md). The JOIN tries the first first.
   */
  control: Address | readonly Address[];
  /** The channel this origin offers. */
  channel: string;
  /** Raw Ed25519 public key (32 bytes): control maps it to a stable node id. */
  key: Uint8Array;
  /** Control's public key (raw Ed25519), pinned; or trustOnFirstUse (docs/security.md). */
  controlKey?: Uint8Array | undefined;
  trustOnFirstUse?: boolean;
  /** False only in the attack suite's negative controls: nothing from control is checked. */
  verifyControl?: boolean;
  /** Stream rate, kbit/s (measured from the clip for the sample). */
  streamKbps: number;
  /** Target segment duration, ms. */
  segmentMs: number;
  /** Base URL of the HTTP fallback, e.g. http://127.0.0.1:8080 */
  fallbackUrl: string;
  /** Port of the HTTP fallback (JOIN.httpPort). */
  httpPort: number;
  /** Children the origin's upload is sized for (default 2). */
  fanout?: number;
  /** Upload budget, kbit/s (default fanout x streamKbps x 1.25). */
  uploadKbps?: number;
  /** Segments kept for the fallback (default 60). */
  windowSegments?: number;
  /** First segment id (to continue after a restart; default 0). */
  firstSegmentId?: number;
  /** First channel sequence number (to continue after a restart; default 0). */
  firstSeq?: number;
  /** Pacer queue limit, bytes (default 8 MB: several segments for every child). */
  maxQueueBytes?: number;
  /** Optional hint for control's region mapping. */
  regionHint?: string;
  /** The channel is VoD, this file (JOIN says so); chunks go out through publishChunk. */
  vod?: VodInfo;
}

export interface OriginDeps {
  clock: Clock;
  transport: Transport;
  logger: Logger;
  /** The private half of config.key (identity.json): signs every segment's META. */
  signingKey: KeyObject;
  /** CPU (percent of one core over the last call) and memory; defaults to this process's. */
  resources?: () => { cpuPct: number; rssMB: number };
  /** Jitter of the JOIN back-off and the RESUME schedule, [0, 1) (default Math.random). */
  random?: () => number;
  /** Control's key, trusted on first use, was confirmed: main keeps it in the state folder. */
  onControlKeyLearnt?: (key: Uint8Array) => void;
  /** Called after each segment is published (main persists the ids from it). */
  onPublished?: (segment: PublishedSegment, next: { segmentId: number; seq: number }) => void;
}

export const DEFAULT_FANOUT = 2;
/** Upload budget over fan-out x stream rate: room for packet headers, META copies and bursts. */
export const UPLOAD_MARGIN = 1.25;

export function uploadBudgetKbps(streamKbps: number, fanout: number): number {
  return Math.ceil(fanout * streamKbps * UPLOAD_MARGIN);
}

export interface OriginCounters {
  udpSent: number;
  udpDataSent: number;
  udpControlSent: number;
  segmentsPublished: number;
  newestSegment: number | undefined;
  packetsQueued: number;
  packetsDropped: number;
  datagramsRejected: number;
  datagramsMalformed: number;
}

export class Origin {
  readonly window: SegmentWindow;
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #logger: Logger;
  readonly #config: OriginConfig;
  readonly #deps: OriginDeps;
  readonly #pacer: Pacer;
  readonly #fanout: Fanout;
  readonly #session: ControlSession;
  readonly uploadKbps: number;
  #channel: ChannelInfo | undefined;
  #k = 1;
  #assignVersion = 0;
  /** FEC group size of the channel's erasure-coded tier (ASSIGN fec.k): segments end on a group boundary. */
  #fecAlign = 1;
  /** After a re-join control's ASSIGN versions may start over: take the next one whatever it is. */
  #acceptAnyVersion = true;
  readonly #assignParts = new AssignParts();
  #nextSegmentId: number | undefined;
  #nextSeq: number;
  #packetsQueued = 0;
  #rejected = 0;
  #malformed = 0;
  #lastUpload = { at: 0, bytes: 0 };
  #started = false;
  #chunksPublished = 0;

  constructor(deps: OriginDeps, config: OriginConfig) {
    this.#deps = deps;
    this.#clock = deps.clock;
    this.#transport = deps.transport;
    this.#logger = deps.logger;
    this.#config = config;
    this.uploadKbps =
      config.uploadKbps ?? uploadBudgetKbps(config.streamKbps, config.fanout ?? DEFAULT_FANOUT);
    this.window = new SegmentWindow(config.windowSegments ?? DEFAULT_WINDOW_SEGMENTS);
    this.#nextSegmentId = config.firstSegmentId;
    this.#nextSeq = config.firstSeq ?? 0;
    this.#pacer = new Pacer(
      { clock: deps.clock, transport: deps.transport },
      {
        rateBytesPerSec: (this.uploadKbps * 1000) / 8,
        maxQueueBytes: config.maxQueueBytes ?? 8 * 1024 * 1024,
      },
    );
    this.#fanout = new Fanout(this.#pacer);
    this.#session = new ControlSession(
      deps,
      {
        control: config.control,
        identity: { publicKey: config.key, privateKey: deps.signingKey },
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verifyControl === false ? { verify: false } : {}),
      },
      {
        onControlKeyLearnt: (key) => deps.onControlKeyLearnt?.(key),
        joinBody: () => this.#joinBody(),
        onJoinAck: (ack, rejoined) => this.#onJoinAck(ack, rejoined),
        onAssign: (a) => this.#onAssign(a),
        heartbeatBody: () => this.#heartbeatBody(),
      },
    );
  }

  /** Starts listening and joining control. Segments can be published before or after. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#lastUpload = { at: this.#clock.now(), bytes: this.#pacer.stats.sentBytes };
    this.#transport.onDatagram((data, from) => this.#onDatagram(data, from));
    this.#session.start();
  }

  /** Sends LEAVE (if joined) and stops sending. The transport is the caller's to close. */
  stop(): void {
    this.#session.stop(this.#channel?.id);
    this.#pacer.stop();
  }

  get node(): number {
    return this.#session.node;
  }

  get joined(): boolean {
    return this.#session.joined;
  }

  get channel(): ChannelInfo | undefined {
    return this.#channel;
  }

  get assignVersion(): number {
    return this.#assignVersion;
  }

  /** Publishes one segment from the source: window, packets, children. */
  publish(segment: IngestSegment): PublishedSegment | undefined {
    if (segment.bytes.length === 0) {
      this.#logger.warn("segment_empty", { mediaSequence: segment.mediaSequence });
      return undefined;
    }
    const now = this.#clock.now();
    const resumed =
      this.#nextSegmentId !== undefined && this.window.published === 0 && this.#nextSegmentId > 0;
    const id = this.#nextSegmentId ?? segment.mediaSequence;
    // Ids are consecutive (they are the media sequence numbers of our live playlist) and u32 on the wire.
    this.#nextSegmentId = (id + 1) % 0x1_0000_0000;
    const discontinuity = segment.discontinuity || resumed;
    const channel = this.#channel?.id ?? 0;
    const p = packetizeSegment({
      channel,
      signingKey: this.#deps.signingKey,
      segmentId: id,
      firstSeq: this.#nextSeq,
      k: this.#k,
      alignTo: this.#fecAlign,
      durationMs: segment.durationMs,
      discontinuity,
      publishedAt: now,
      bytes: segment.bytes,
    });
    this.#nextSeq = p.nextSeq;
    const published = this.window.add({
      id,
      durationMs: segment.durationMs,
      discontinuity,
      sha256: p.meta.sha256,
      sha256Hex: Buffer.from(p.meta.sha256).toString("hex"),
      bytes: segment.bytes,
      publishedAt: now,
      packets: p.meta.packetCount,
      meta: p.meta,
      metaChannel: channel,
    });
    // Before control gave us a channel id there is nobody to send to: the segment is only kept.
    const queued = this.#channel === undefined ? 0 : this.#fanout.send(p.packets, now);
    this.#packetsQueued += queued;
    this.#logger.info("segment_published", {
      id,
      bytes: segment.bytes.length,
      packets: p.packets.length,
      durationMs: segment.durationMs,
      discontinuity,
      firstSeq: p.packets[0]?.seq,
      children: this.#fanout.size,
      queued,
    });
    this.#deps.onPublished?.(published, { segmentId: this.#nextSegmentId, seq: this.#nextSeq });
    return published;
  }

  /**
   * VoD: sends chunk `index` of the file as segment `index` (durationMs 0), paced like a
   * segment. Nothing is kept: the fallback reads chunks from the file. Returns datagrams queued.
   */
  publishChunk(index: number, bytes: Uint8Array): number {
    const now = this.#clock.now();
    const p = packetizeSegment({
      channel: this.#channel?.id ?? 0,
      signingKey: this.#deps.signingKey,
      segmentId: index,
      firstSeq: this.#nextSeq,
      k: this.#k,
      alignTo: this.#fecAlign,
      durationMs: 0,
      discontinuity: false,
      publishedAt: now,
      bytes,
    });
    this.#nextSeq = p.nextSeq;
    const queued = this.#channel === undefined ? 0 : this.#fanout.send(p.packets, now);
    this.#packetsQueued += queued;
    this.#chunksPublished++;
    this.#logger.debug("chunk_published", {
      index,
      bytes: bytes.length,
      children: this.#fanout.size,
      queued,
    });
    return queued;
  }

  /**
   * The signed META payload (124 bytes) of held segment `id`, for the HTTP fallback's
   * x-tiercast-meta; undefined when the segment is not held or the channel id is not known yet
   * (before the first JOIN_ACK nothing can be signed for the channel). A segment published
   * before the JOIN_ACK, or before a re-join changed the channel id, is signed again here.
   */
  signedMeta(id: number): Buffer | undefined {
    const s = this.window.get(id);
    const channel = this.#channel?.id;
    if (s === undefined || channel === undefined) return undefined;
    if (s.metaChannel !== channel) {
      s.meta = signSegmentMeta(channel, s.meta, this.#deps.signingKey);
      s.metaChannel = channel;
    }
    return encodeSegmentMeta(s.meta);
  }

  /** The channel sequence number of the next packet (persisted to continue after a restart). */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  counters(): OriginCounters {
    const data = this.#pacer.stats.sentBytes;
    const control = this.#session.stats.sentBytes;
    return {
      udpSent: data + control,
      udpDataSent: data,
      udpControlSent: control,
      segmentsPublished: this.window.published,
      newestSegment: this.window.newest?.id,
      packetsQueued: this.#packetsQueued,
      packetsDropped: this.#pacer.stats.droppedPackets,
      datagramsRejected: this.#rejected + this.#session.stats.rejected,
      datagramsMalformed: this.#malformed,
    };
  }

  /** Metrics of the origin node (the HTTP fallback adds its own). */
  metrics(): Omit<OriginMetrics, "httpServedBytes" | "httpRequests"> {
    const c = this.counters();
    return {
      channel: this.#config.channel,
      udpSentBytes: c.udpSent,
      udpDataSentBytes: c.udpDataSent,
      udpControlSentBytes: c.udpControlSent,
      segmentsPublished: c.segmentsPublished,
      newestSegment: c.newestSegment,
      children: this.#fanout.size,
      packetsQueued: c.packetsQueued,
      packetsDropped: c.packetsDropped,
      datagramsRejected: c.datagramsRejected,
      datagramsMalformed: c.datagramsMalformed,
      joined: this.joined,
      streamKbps: this.#config.streamKbps,
      uploadKbps: this.uploadKbps,
    };
  }

  children(): ChildStatus[] {
    return this.#fanout.status(this.#clock.now());
  }

  /** JSON status (the HTTP fallback adds its own byte counter). */
  status(): Record<string, unknown> {
    const c = this.counters();
    return {
      proc: "origin",
      channel: this.#config.channel,
      channelId: this.#channel?.id,
      node: this.node,
      joined: this.joined,
      k: this.#k,
      assignVersion: this.#assignVersion,
      streamKbps: this.#config.streamKbps,
      uploadKbps: this.uploadKbps,
      segmentMs: this.#config.segmentMs,
      segmentsPublished: c.segmentsPublished,
      newestSegment: c.newestSegment ?? null,
      nextSeq: this.#nextSeq,
      children: this.children(),
      bytes: { udpSent: c.udpSent, udpData: c.udpDataSent, udpControl: c.udpControlSent },
      packets: {
        queued: c.packetsQueued,
        dropped: c.packetsDropped,
        inQueueBytes: this.#pacer.stats.queuedBytes,
      },
      datagrams: { rejected: c.datagramsRejected, malformed: c.datagramsMalformed },
      nacks: { ...this.#fanout.nacks.stats },
      control: {
        ...this.#session.stats,
        authFailed: { ...this.#session.authFailed },
        endpoint: addressKey(this.#session.endpoint),
        resuming: this.#session.resuming,
        failover: { ...this.#session.failover, resumes: { ...this.#session.failover.resumes } },
      },
      ...(this.#config.vod === undefined
        ? {}
        : { vod: { ...this.#config.vod, chunksPublished: this.#chunksPublished } }),
    };
  }

  #onDatagram(data: Buffer, from: Address): void {
    const kind = classifyDatagram(data);
    if (kind === "data") {
      // The origin has no parents: the only data datagram it takes is a child's NACK.
      const d = decodeData(data);
      const nack = d.ok ? decodeNack(d.value) : undefined; // refuses anything but FLAG_NACK
      if (nack?.ok === true && nack.value.channel === this.#channel?.id)
        this.#fanout.onNack(nack.value, from);
      else this.#rejected++;
      return;
    }
    if (kind !== "control") {
      this.#rejected++;
      return;
    }
    const msg = decodeControl(data);
    if (!msg.ok) {
      this.#malformed++;
      this.#logger.debug("control_malformed", { code: msg.error.code, error: msg.error.message, from });
      return;
    }
    this.#session.onControl(data, msg.value, from);
  }

  #joinBody(): JoinBody {
    const c = this.#config;
    return {
      key: c.key,
      role: Role.ORIGIN,
      channels: [c.channel],
      // In stream payload, like the agents': the pacer charges the headers against the budget.
      uploadKbps: Math.max(1, Math.floor(this.uploadKbps * PAYLOAD_SHARE_OF_WIRE)),
      nat: NatType.OPEN,
      httpPort: c.httpPort,
      streamKbps: c.streamKbps,
      fallbackUrl: c.fallbackUrl,
      segmentMs: c.segmentMs,
      ...(c.regionHint !== undefined ? { regionHint: c.regionHint } : {}),
      ...(c.vod !== undefined ? { vod: c.vod } : {}),
    };
  }

  #onJoinAck(ack: JoinAckBody, rejoined: boolean): void {
    const info = ack.channels.find((ch) => ch.name === this.#config.channel);
    if (info === undefined) {
      this.#logger.warn("join_ack_without_channel", { channel: this.#config.channel });
    } else {
      if (this.#channel !== undefined && this.#channel.id !== info.id) {
        this.#logger.warn("channel_id_changed", { from: this.#channel.id, to: info.id });
      }
      this.#channel = info;
      if (this.#assignVersion === 0) this.#k = info.k;
    }
    if (rejoined) {
      // Keep sending on the last assignment; report version 0 so control sends its ASSIGN again.
      this.#assignVersion = 0;
      this.#acceptAnyVersion = true;
    }
  }

  #onAssign(part: AssignBody): void {
    if (this.#channel === undefined || part.channel !== this.#channel.id) {
      this.#logger.debug("assign_ignored", { channel: part.channel, version: part.version });
      return;
    }
    if (!this.#acceptAnyVersion && part.version <= this.#assignVersion) return; // old or a resend
    // The origin's children at scale span several datagrams: apply once all parts arrived.
    const a = this.#assignParts.accept(part);
    if (a === undefined) return;
    this.#acceptAnyVersion = false;
    this.#assignVersion = a.version;
    this.#k = a.k;
    this.#fecAlign = a.fec?.k ?? 1;
    this.#fanout.assign(a.children, this.#clock.now(), {
      ...(a.fec === undefined ? {} : { fec: a.fec }),
      ...(a.mesh === undefined ? {} : { mesh: a.mesh }),
    });
    this.#logger.info("assign", {
      version: a.version,
      k: a.k,
      mesh: a.mesh?.map((m) => m.node) ?? [],
      children: a.children.map((c) => ({
        node: c.node,
        address: c.address,
        port: c.port,
        substreams: c.substreams,
      })),
    });
  }

  #heartbeatBody(): HeartbeatBody | undefined {
    if (this.#channel === undefined) return undefined;
    const now = this.#clock.now();
    const sent = this.#pacer.stats.sentBytes;
    const elapsed = Math.max(1, now - this.#lastUpload.at);
    const uploadKbps = Math.round(((sent - this.#lastUpload.bytes) * 8) / elapsed);
    this.#lastUpload = { at: now, bytes: sent };
    const r = (this.#deps.resources ?? processResources)();
    return {
      channel: this.#channel.id,
      assignVersion: this.#assignVersion,
      parents: [],
      children: this.#fanout.linkStates(now),
      buffers: [],
      resources: {
        uploadKbps,
        nat: NatType.OPEN,
        cacheBytes: this.window.heldBytes,
        cpuPct: Math.round(r.cpuPct),
        rssMB: Math.round(r.rssMB),
      },
      newestSegment: this.window.newest?.id ?? 0,
    };
  }
}
