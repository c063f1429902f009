/**
 * One agent: the control session, the data plane, assembly, repair, the cache and the
 * player model, wired together on injected deps (clock, transport, store, logger, fetch).
 * No sockets of its own beyond the Transport, no disk beyond the ChunkStore: main.ts does
 * the real wiring, tests and the simulator use MemoryNetwork, ManualClock and MemoryChunkStore.
 *
 * The commit path is the one place a segment becomes playable: store.put (a transaction),
 * then the "segment_committed" log line, then the player model and the playlist. What reaches
 * it matches a META signed by the channel's origin (agent/store/meta-verifier.ts; the key comes with the
 * JOIN_ACK's ChannelInfo), whichever way the bytes came: packets, parity, resends or HTTP.
 */
import type { KeyObject } from "node:crypto";
import { Pacer } from "../dataplane/pacer.js";
import { classifyDatagram } from "../protocol/data-codec.js";
import { FLAG_END, FLAG_META, FLAG_PARITY } from "../protocol/limits.js";
import {
  Role,
  type AssignBody,
  type ChannelInfo,
  type DataPacket,
  type HeartbeatBody,
  type LinkState,
  TierRole,
} from "../protocol/messages.js";
import type { Clock } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { addressKey, type Transport } from "../seams/transport.js";
import { Assembler, type AssembleResult, type CompletedSegment } from "./store/assembler.js";
import { MemoryChunkStore, type ChunkStore, type SegmentRecord } from "./store/chunk-store.js";
import type { AgentConfig } from "./config.js";
import { Continuity } from "./lan/continuity.js";
import { DataPlane } from "./relay/data-plane.js";
import { assignmentOf, parentUrls, senderLabel } from "./relay/assignment.js";
import { MetaVerifier } from "./store/meta-verifier.js";
import { AgentError } from "./errors.js";
import { FallbackClient } from "./store/fallback-client.js";
import { formatPlaylist, PlaylistWindow, type PlaylistSegment } from "./lan/playlist.js";
import { SegmentRepairer, REPAIR_LIMITS, repairTiming } from "./store/segment-repair.js";
import { processProbe, ResourceMeter, type ResourceProbe } from "./resources.js";
import { DelayStats } from "./delay-stats.js";
import { TokenBucket } from "../common/token-bucket.js";
import { Session } from "./session/session.js";
import { agentMetrics, metaReport, type AgentStatus } from "./status.js";
import { declaredUploadKbps, pacedBytesPerSec, repairShare } from "./relay/upload-budget.js";
import { VodSet } from "./vod/vod-set.js";
import type { VodChannel } from "./vod/vod.js";

export interface AgentDeps {
  clock: Clock;
  transport: Transport;
  store: ChunkStore;
  logger: Logger;
  /** The node's Ed25519 key pair (agent/identity.ts): raw public key (JOIN.key) and private key. */
  identity: { publicKey: Uint8Array; privateKey: KeyObject };
  /** Control's key, trusted on first use, was confirmed: main keeps it in the data folder. */
  onControlKeyLearnt?(key: Uint8Array): void;
  /** Process start, ms since the epoch: join time is measured from it. */
  startedAt: number;
  fetch?: typeof fetch;
  probe?: ResourceProbe;
  /** The VoD cache (config.vod channels); its capacity is the VoD budget. Default: 256 MiB in memory. */
  vodStore?: ChunkStore;
}

/** Segments of this run remembered for the playlist (the cache may hold more). */
const MAX_HELD = 4096;
const FAST_PATH_RETRY_MS = 500;
const FAST_PATH_ATTEMPTS = 5;

export class Agent {
  readonly session: Session;
  readonly dataPlane: DataPlane;
  readonly assembler: Assembler;
  readonly continuity: Continuity;
  readonly delay = new DelayStats();
  readonly fallback: FallbackClient;
  /** The VoD channels carried next to the live one (forwarded at PRIORITY_BULK). */
  readonly vod: VodSet;
  readonly #deps: AgentDeps;
  readonly #config: AgentConfig;
  readonly #pacer: Pacer;
  readonly #repairBudget: TokenBucket;
  readonly #playlist: PlaylistWindow;
  readonly #meter: ResourceMeter;
  readonly #probe: ResourceProbe;
  /** Segments committed in this run, by id (playlist input). */
  readonly #held = new Map<number, PlaylistSegment>();
  #heldSorted: PlaylistSegment[] | undefined;
  #repairer: SegmentRepairer | undefined;
  #segmentMs: number;
  #joinMs: number | null = null;
  #metaMalformed = 0;
  /** The live channel's METAs: nothing verifies before the JOIN_ACK gives the origin's key. */
  /** The verifier's rejections per sender at the last heartbeat (what is new since is reported). */
  #rejectedAtHeartbeat = new Map<string, number>();
  readonly #metas: MetaVerifier;
  #keyMissingLogged = false;
  #poisoned = 0;
  #internalErrors = 0;
  #stopped = false;

  constructor(deps: AgentDeps, config: AgentConfig) {
    this.#deps = deps;
    this.#config = config;
    const t = config.tuning;
    this.#segmentMs = t.segmentMsGuess;
    this.#probe = deps.probe ?? processProbe;
    const capBytes = (config.uploadKbps * 1000) / 8;
    const share = repairShare(t.peerRepairShare);
    this.#pacer = new Pacer(
      { clock: deps.clock, transport: deps.transport },
      { rateBytesPerSec: pacedBytesPerSec(config.uploadKbps, share) },
    );
    // Repairs served to children: share of the cap, at most 2 s of it saved up.
    this.#repairBudget = new TokenBucket(capBytes * share, 2 * capBytes * share, deps.clock.now());
    this.assembler = new Assembler(t.assembler);
    const verify = config.verifySegments ?? true; // false: tests only (config.ts)
    this.#metas = new MetaVerifier({ channel: 0, originKey: undefined, verify });
    this.dataPlane = new DataPlane(
      { clock: deps.clock, logger: deps.logger, pacer: this.#pacer, sink: (p, f) => this.#onPacket(p, f) },
      { seqWindow: t.seqWindow, formerParentGraceMs: t.formerParentGraceMs },
    );
    this.continuity = new Continuity({ segmentMs: this.#segmentMs, playoutDelayMs: config.playoutDelayMs });
    this.fallback = new FallbackClient(
      { fetch: deps.fetch ?? globalThis.fetch },
      { timeoutMs: t.fallbackTimeoutMs, maxSegmentBytes: t.assembler.maxSegmentBytes },
    );
    this.#playlist = new PlaylistWindow({ size: t.playlistWindow });
    this.#meter = new ResourceMeter(this.#probe, deps.clock.now(), 0);
    this.vod = new VodSet(
      {
        clock: deps.clock,
        logger: deps.logger,
        pacer: this.#pacer,
        store: deps.vodStore ?? new MemoryChunkStore(256 * 1024 * 1024),
        fetch: deps.fetch ?? globalThis.fetch,
      },
      { seqWindow: t.seqWindow, formerParentGraceMs: t.formerParentGraceMs, verifySegments: verify },
    );
    this.session = new Session(
      {
        clock: deps.clock,
        transport: deps.transport,
        logger: deps.logger,
        hooks: {
          joined: (_ack, ch) => {
            if (ch !== undefined) this.#onJoined(ch); // an idle box only relays: nothing to play or repair
            this.vod.update(this.session.extras);
          },
          assigned: (a) => {
            if (!this.vod.onAssign(a)) this.#onAssigned(a);
          },
          heartbeat: (ts) => this.#heartbeat(ts),
          extraHeartbeat: (ts, ch) => this.vod.heartbeat(ts, ch, this.#resourcesNow()),
          controlKeyLearnt: (key) => deps.onControlKeyLearnt?.(key),
        },
      },
      {
        control: config.control,
        channel: config.channel,
        identity: deps.identity,
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verifyControl === false ? { verifyControl: false } : {}),
        enrolmentToken: config.enrolmentToken,
        role: config.role === "waypoint" ? Role.WAYPOINT : Role.AGENT,
        // What the topology may use: the cap less the share kept for HTTP repairs, in stream
        // payload (less the headers the pacer charges) and less room for packet resends.
        uploadKbps: declaredUploadKbps(config.uploadKbps, share),
        nat: config.nat,
        httpPort: config.httpPort,
        regionHint: config.regionHint,
        extraChannels: config.vod ?? [],
        ...(config.idle === true ? { idle: true } : {}),
        joinRetryMs: t.joinRetryMs,
        unknownChannelRetryMs: t.unknownChannelRetryMs,
        refusedRetryMs: t.refusedRetryMs,
      },
    );
  }

  get channel(): string {
    return this.#config.channel;
  }

  start(): void {
    this.#deps.transport.onDatagram((buf, from) => {
      if (this.#stopped) return;
      try {
        if (classifyDatagram(buf) === "control") this.session.onControl(buf, from);
        else if (!this.vod.onDatagram(buf, from)) this.dataPlane.onDatagram(buf, from);
      } catch (e) {
        // A bug, not bad input (decoders never throw): keep serving, but say so loudly.
        this.#internalErrors++;
        if (this.#internalErrors <= 10) {
          this.#deps.logger.error("datagram_handler_failed", { message: (e as Error).stack ?? String(e) });
        }
      }
    });
    this.session.start();
  }

  /** LEAVE and stop every timer. The transport and the store belong to the caller. */
  stop(): void {
    if (this.#stopped) return;
    this.session.stop();
    this.#stopped = true;
    this.#repairer?.stop();
    this.vod.stop();
    this.dataPlane.stop();
  }

  /** The LAN live playlist, or undefined while nothing is playable. */
  playlist(): string | undefined {
    const now = this.#deps.clock.now();
    const view = this.#playlist.update({
      segments: this.#sortedHeld(),
      firstId: this.continuity.anchor?.id,
      isPast: (id) => this.continuity.isPast(id, now),
    });
    return view.entries.length === 0 ? undefined : formatPlaylist(view);
  }

  /**
   * A child asks for a segment over HTTP (repair): served only within the repair share of the
   * upload cap. Returns the rate to send it at (bytes/s), or undefined: busy, try the origin.
   */
  /** Whether this node serves its children's repairs at all (`--peer-repair-share` > 0). */
  get servesPeers(): boolean {
    return this.#repairBudget.rateBytesPerSec > 0;
  }

  admitPeer(bytes: number): number | undefined {
    const b = this.#repairBudget;
    if (b.rateBytesPerSec <= 0 || !b.take(bytes, this.#deps.clock.now())) return undefined;
    return b.rateBytesPerSec;
  }

  /** A cached segment (this run or an earlier one). */
  segment(id: number): SegmentRecord | undefined {
    return this.#deps.store.get(this.#config.channel, id);
  }

  status(): AgentStatus {
    const now = this.#deps.clock.now();
    const a = this.dataPlane.assignment;
    const dp = this.dataPlane.stats;
    const s = this.session;
    const last = this.#meter.last;
    return {
      node: s.nodeId,
      region: s.region,
      channel: this.#config.channel,
      role: this.#config.role,
      parents: a === undefined ? [] : unique(a.parents.flatMap((p) => (p === null ? [] : [p.node]))),
      children: a === undefined ? [] : unique(a.children.map((c) => c.node)),
      assignVersion: a?.version ?? 0,
      tier: a?.tier ?? null,
      tierRole: a?.role === undefined ? null : TierRole[a.role].toLowerCase(),
      mesh: a?.mesh?.map((m) => m.node) ?? [],
      segmentsHeld: this.#deps.store.count(this.#config.channel),
      newestSegment: this.#newest(),
      joinMs: this.#joinMs,
      continuity: this.continuity.report(now),
      bytes: {
        peerSent: this.dataPlane.peerBytesSent,
        peerReceived: dp.peerBytesReceived,
        // The fallback client also fetched peer repairs: those bytes came from parents.
        fallbackReceived: this.fallback.stats.bytes - (this.#repairer?.stats.peerBytes ?? 0),
      },
      packets: {
        received: dp.received,
        duplicates: dp.duplicates,
        rejected: dp.rejected + s.stats.rejected,
        malformed: this.dataPlane.malformedTotal + s.malformedTotal + this.#metaMalformed,
        missed: this.dataPlane.missed(),
        recovered: dp.recovered,
      },
      ...(this.dataPlane.fecStats === undefined ? {} : { fec: { ...this.dataPlane.fecStats } }),
      nack: this.dataPlane.nackStats,
      shed: this.dataPlane.shedCount,
      delayMs: this.delay.report(),
      repaired: {
        segments: this.#repairer?.stats.repaired ?? 0,
        fromRanges: this.#repairer?.stats.fromRanges ?? 0,
        fromPeers: this.#repairer?.stats.fromPeers ?? 0,
        failed: this.#repairer?.stats.failed ?? 0,
      },
      heartbeatBytes: { max: s.stats.heartbeatBytesMax, mean: Math.round(s.heartbeatBytesMean * 10) / 10 },
      rssMB: Math.round((this.#probe.rssBytes() / (1024 * 1024)) * 10) / 10,
      cpuPct: last.cpuPct,
      uptimeMs: Math.max(0, Math.round(now - this.#deps.startedAt)),
      meta: metaReport(this.#metas.stats),
      control: {
        endpoint: addressKey(s.endpoint),
        phase: s.phase,
        epoch: s.assignEpoch,
        failovers: s.stats.failover.failovers,
      },
      ...(this.vod.size === 0 ? {} : { vod: this.vod.status() }),
    };
  }

  metrics(): string {
    return agentMetrics(this.status(), {
      poisoned: this.#poisoned,
      repaired: this.#repairer?.stats.repaired ?? 0,
      repairFailed: this.#repairer?.stats.failed ?? 0,
      fallbackRequests: this.fallback.stats.requests,
      cacheBytes: this.#deps.store.usedBytes,
      pacerDropped: this.#pacer.stats.droppedPackets,
      heartbeatsSent: this.session.stats.heartbeatsSent,
      malformedByCode: {
        ...this.dataPlane.stats.malformed,
        ...prefixed(this.session.stats.malformed, "control_"),
      },
      controlAuthFailed: this.session.stats.authFailed,
      controlFailovers: this.session.stats.failover.failovers,
      controlResumes: { ...this.session.stats.failover.resumes },
      assignFenced: this.session.stats.fenced.assign,
    });
  }

  #onJoined(ch: ChannelInfo): void {
    this.#metas.rekey(ch.id, ch.originKey);
    // An older control sends no key: nothing of the channel can be cached (fail closed).
    if (!this.#metas.canVerify && !this.#keyMissingLogged) {
      this.#keyMissingLogged = true;
      this.#deps.logger.warn("origin_key_missing", { channel: ch.name, id: ch.id });
    }
    this.#segmentMs = ch.segmentMs > 0 ? ch.segmentMs : this.#segmentMs;
    this.continuity.setSegmentMs(this.#segmentMs);
    this.#repairer?.stop();
    const t = this.#config.tuning;
    this.#repairer = new SegmentRepairer(
      {
        clock: this.#deps.clock,
        logger: this.#deps.logger,
        client: this.fallback,
        assembler: this.assembler,
        verifier: this.#metas,
        commit: (seg, source) => this.commit(seg, source),
        wanted: (id) => {
          const anchor = this.continuity.anchor;
          return anchor === undefined || id >= anchor.id;
        },
        segmentMs: this.#segmentMs,
        peers: () => parentUrls(this.dataPlane.assignment),
        askPackets: (seqs) => this.dataPlane.askFor(seqs),
      },
      {
        ...repairTiming(this.#segmentMs),
        ...REPAIR_LIMITS,
        channel: this.#config.channel,
        fallbackUrl: ch.fallbackUrl,
        maxConcurrent: t.repairConcurrency,
        maxAttempts: t.repairAttempts,
        retryMs: t.repairRetryMs,
      },
    );
    this.#repairer.start();
    if (this.continuity.anchor === undefined) void this.#fastPath(this.#repairer, 1);
  }

  /** Join fast path: the newest segment over HTTP, so a player can start at once. */
  async #fastPath(r: SegmentRepairer, attempt: number): Promise<void> {
    if (this.#stopped || r !== this.#repairer || this.continuity.anchor !== undefined) return;
    try {
      const id = await r.fetchNewest();
      if (id !== undefined) return;
    } catch (e) {
      if (this.#stopped) return;
      const code = e instanceof AgentError ? e.code : "E_UNEXPECTED";
      this.#deps.logger.warn("fast_path_failed", { attempt, code, message: (e as Error).message });
    }
    if (attempt >= FAST_PATH_ATTEMPTS) return; // UDP and the repairer take it from here
    this.#deps.clock.setTimeout(() => void this.#fastPath(r, attempt + 1), FAST_PATH_RETRY_MS);
  }

  #onAssigned(a: AssignBody): void {
    this.dataPlane.setAssignment(assignmentOf(a));
  }

  /** A VoD channel the LAN may ask for. */
  vodChannel(name: string): VodChannel | undefined {
    return this.vod.byName(name);
  }

  /** The node's resources as last measured (the VoD channels' heartbeats carry them too). */
  #resourcesNow(): HeartbeatBody["resources"] {
    const last = this.#meter.last;
    return {
      uploadKbps: last.uploadKbps,
      nat: this.#config.nat,
      cacheBytes: this.#deps.store.usedBytes,
      cpuPct: last.cpuPct,
      rssMB: last.rssMB,
    };
  }

  /**
   * The parent that sent the most METAs failing the origin's signature since the last heartbeat
   * is flagged `suspect` (one per heartbeat: the 256-byte budget); control moves us away from it.
   */
  #flagSuspect(parents: Array<LinkState | null>): Array<LinkState | null> {
    let worst: { node: number; n: number } | undefined;
    for (const p of parents) {
      if (p === null) continue;
      const label = String(p.node);
      const now = this.#metas.stats.bySource.get(label) ?? 0;
      const n = now - (this.#rejectedAtHeartbeat.get(label) ?? 0);
      if (n > 0 && (worst === undefined || n > worst.n)) worst = { node: p.node, n };
    }
    this.#rejectedAtHeartbeat = new Map(this.#metas.stats.bySource);
    if (worst === undefined) return parents;
    const w = worst.node;
    return parents.map((p) => (p !== null && p.node === w ? { ...p, suspect: true } : p));
  }

  #heartbeat(ts: number): Omit<HeartbeatBody, "assignVersion"> {
    const sample = this.#meter.sample(ts, this.dataPlane.peerBytesSent);
    const loss = this.dataPlane.lossSample();
    this.dataPlane.checkUpload();
    const shed = this.dataPlane.shedCount;
    return {
      channel: this.session.channel?.id ?? this.dataPlane.assignment?.channel ?? 0,
      parents: this.#flagSuspect(this.dataPlane.parentStates(ts)),
      children: this.dataPlane.childStates(ts),
      buffers: this.dataPlane.buffers(this.continuity.playing(ts)),
      resources: {
        uploadKbps: sample.uploadKbps,
        nat: this.#config.nat,
        cacheBytes: this.#deps.store.usedBytes,
        cpuPct: sample.cpuPct,
        rssMB: sample.rssMB,
        ...(loss === undefined ? {} : { loss }),
        ...(shed === 0 ? {} : { shed }),
      },
      newestSegment: this.#newest(),
    };
  }

  /** A packet the data plane accepted (and forwarded unchanged) from address key `from`. */
  #onPacket(p: DataPacket, from: string): void {
    if (this.#config.idle === true) return; // an idle box relays; it plays and caches nothing
    const now = this.#deps.clock.now();
    let r: AssembleResult;
    if ((p.flags & FLAG_META) !== 0) {
      const source = senderLabel(this.dataPlane.assignment, from);
      const m = this.#metas.check(p.payload, source, p.segmentId);
      if (!m.ok) {
        if (m.reason === "malformed" || m.reason === "wrong_segment") this.#metaMalformed++;
        else if (this.#metas.stats.bySource.get(source) === 1)
          this.#deps.logger.warn("meta_rejected", { from: source, why: m.reason }); // once per sender
        return;
      }
      this.continuity.noteDuration(m.meta.segmentId, m.meta.durationMs);
      this.delay.onPublished(m.meta.segmentId, m.meta.publishedAt);
      r = this.assembler.onMeta(m.meta, now);
    } else if ((p.flags & FLAG_PARITY) !== 0) {
      return; // parity stays in the data plane (agent/relay/fec-relay.ts)
    } else {
      r = this.assembler.onChunk(p.segmentId, p.offset, p.payload, now, (p.flags & FLAG_END) !== 0);
    }
    if (r.kind === "complete") this.commit(r.segment, "peer");
    else if (r.kind === "poisoned") {
      this.#poisoned++;
      this.#deps.logger.warn("segment_poisoned", { channel: this.#config.channel, id: r.id, why: r.why });
    }
  }

  /** Stores a verified segment; logs segment_committed only once the insert has committed. */
  commit(seg: CompletedSegment, source: "peer" | "parent" | "fallback"): void {
    if (this.#held.has(seg.id) || this.#stopped) return;
    const now = this.#deps.clock.now();
    const channel = this.#config.channel;
    try {
      const res = this.#deps.store.put({
        channel,
        id: seg.id,
        durationMs: seg.durationMs,
        discontinuity: seg.discontinuity,
        sha256: seg.sha256,
        bytes: seg.bytes,
        storedAt: now,
      });
      for (const e of res.evicted) if (e.channel === channel) this.#held.delete(e.id);
    } catch (e) {
      this.#deps.logger.error("commit_failed", { channel, id: seg.id, message: (e as Error).message });
      return;
    }
    this.#deps.logger.info("segment_committed", { channel, id: seg.id, source, bytes: seg.bytes.length });
    // Its packets are no longer worth asking for, whatever path completed it.
    const meta = this.assembler.meta(seg.id);
    if (meta !== undefined) this.dataPlane.segmentDone(meta.firstSeq, meta.packetCount);
    this.assembler.markDone(seg.id);
    this.#held.set(seg.id, { id: seg.id, durationMs: seg.durationMs, discontinuity: seg.discontinuity });
    this.#heldSorted = undefined;
    if (this.#held.size > MAX_HELD) this.#held.delete(Math.min(...this.#held.keys()));
    const first = this.continuity.anchor === undefined;
    this.continuity.onHeld(seg.id, seg.durationMs, now);
    this.delay.onHeld(seg.id, now); // the system clock is the wall clock
    if (first) {
      this.#joinMs = Math.max(0, Math.round(now - this.#deps.startedAt));
      this.#deps.logger.info("playable", { channel, id: seg.id, joinMs: this.#joinMs, source });
    }
  }

  #sortedHeld(): PlaylistSegment[] {
    this.#heldSorted ??= [...this.#held.values()].sort((a, b) => a.id - b.id);
    return this.#heldSorted;
  }

  #newest(): number {
    let n = 0;
    for (const id of this.#held.keys()) if (id > n) n = id;
    return n;
  }
}

function unique(xs: number[]): number[] {
  return [...new Set(xs)];
}

function prefixed(m: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [prefix + k, v]));
}
