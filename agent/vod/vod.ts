/**
 * One VoD channel an agent carries next to its live channel (the patent's movie download while
 * the match plays). The file's chunks travel exactly like live segments (segment id = chunk
 * index, one META with the chunk's SHA-256 before and after its data packets), so the pieces
 * are the live ones: a DataPlane of its own (parents, children, duplicates) that forwards
 * through the agent's shared Pacer at PRIORITY_BULK — the live channel, at PRIORITY_LIVE,
 * always goes first and VoD gets what upload is left — and an Assembler of its own, set up
 * for a carousel (ids come round again: no horizon).
 *
 * Every chunk is verified before it is stored or returned: against a META signed by the VoD
 * channel's origin (agent/store/meta-verifier.ts; from the packets, or x-tiercast-meta from the fallback),
 * and again against the stored hash when read back.
 * Chunks live in their own ChunkStore (vod.db), so the live window never evicts them; when
 * the VoD budget (its capacity) is full, new chunks are served but not kept.
 *
 * A chunk the carousel missed (a gap) or that stalled is fetched from the origin's HTTP
 * fallback when due, at most `maxConcurrent` at once; `chunk(i)` fetches one at once for a LAN
 * player (one fetch per chunk however many ask).
 */
import type { Pacer } from "../../dataplane/pacer.js";
import { PRIORITY_BULK } from "../../dataplane/pacer.js";
import { FLAG_END, FLAG_META, FLAG_PARITY, MAX_VOD_CHUNK_BYTES } from "../../protocol/limits.js";
import type {
  AssignBody,
  ChannelInfo,
  DataPacket,
  HeartbeatBody,
  Resources,
  VodInfo,
} from "../../protocol/messages.js";
import { chunkCount, chunkSpan } from "../../protocol/vod-chunks.js";
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import { createHash } from "node:crypto";
import { Assembler } from "../store/assembler.js";
import type { ChunkStore } from "../store/chunk-store.js";
import { DataPlane } from "../relay/data-plane.js";
import { AgentError, FallbackError } from "../errors.js";
import { FallbackClient } from "../store/fallback-client.js";
import { assignmentOf, senderLabel } from "../relay/assignment.js";
import { MetaVerifier, type MetaCheck } from "../store/meta-verifier.js";
import { repairDue, type RepairTiming } from "../store/segment-repair.js";

export interface VodChannelDeps {
  clock: Clock;
  logger: Logger;
  /** The agent's pacer, shared with the live channel. */
  pacer: Pacer;
  /** The VoD cache (its capacity is the VoD budget). */
  store: ChunkStore;
  fetch: typeof fetch;
}

export interface VodChannelConfig {
  /** The channel as JOIN_ACK announced it (vod present). */
  info: ChannelInfo & { vod: VodInfo };
  seqWindow: number;
  formerParentGraceMs: number;
  /** Tests only: false takes unsigned METAs (AgentConfig.verifySegments; default true). */
  verifySegments?: boolean;
  /** Fallback fetches started by the repair timer at once (default 2). */
  maxConcurrent?: number;
  /** Attempts per chunk before the repair timer gives up on it (default 3). */
  maxAttempts?: number;
  /** Wait after a failed repair, ms (default 1000). */
  retryMs?: number;
  /** Timeout of one chunk fetch, ms (default 30 s: a chunk is up to 16 MiB). */
  fetchTimeoutMs?: number;
  /** How often due chunks are looked for (and the data plane's FEC groups flushed), ms (default 100). */
  tickMs?: number;
}

export interface VodStats {
  /** Chunks stored, by where they came from (this run). */
  fromPeers: number;
  fromFallback: number;
  /** Chunks whose bytes did not match their META (never stored or served). */
  poisoned: number;
  /** Packets naming a chunk beyond the file, METAs that do not decode, chunks of the wrong size. */
  rejected: number;
  /** METAs refused because their origin signature does not verify (or the channel has no key). */
  metaRejected: number;
  /** Chunks not kept because the VoD budget was full. */
  budgetFull: number;
  /** Stored chunks that failed their hash when read back (fetched again). */
  corrupt: number;
  fallbackFailed: number;
}

export interface VodStatus extends VodStats {
  channel: string;
  fileName: string | null;
  fileBytes: number;
  chunkBytes: number;
  chunks: number;
  /** Chunks in the cache. */
  held: number;
  parents: number[];
  children: number[];
}

interface Attempts {
  count: number;
  nextAt: number;
}

/** Repair timing for chunks that take `chunkMs` each at the bulk rate. */
export function vodRepairTiming(chunkMs: number): RepairTiming {
  const t = Math.max(100, chunkMs);
  return {
    repairAfterMs: 2 * t,
    stallMs: Math.max(500, t),
    tailMs: Math.max(150, t / 4),
    maxWaitMs: 4 * t,
    gapGraceMs: 2 * t,
  };
}

export class VodChannel {
  readonly info: ChannelInfo & { vod: VodInfo };
  readonly chunks: number;
  readonly dataPlane: DataPlane;
  readonly assembler: Assembler;
  readonly client: FallbackClient;
  /** The channel's METAs: signed by its origin (ChannelInfo.originKey) or refused. */
  readonly metas: MetaVerifier;
  readonly stats: VodStats = {
    fromPeers: 0,
    fromFallback: 0,
    poisoned: 0,
    rejected: 0,
    metaRejected: 0,
    budgetFull: 0,
    corrupt: 0,
    fallbackFailed: 0,
  };
  readonly #deps: VodChannelDeps;
  readonly #config: VodChannelConfig;
  readonly #timing: RepairTiming;
  readonly #fetching = new Map<number, Promise<Buffer>>();
  readonly #attempts = new Map<number, Attempts>();
  readonly #abort = new AbortController();
  #repairing = 0;
  #timer: Timer | undefined;

  constructor(deps: VodChannelDeps, config: VodChannelConfig) {
    this.#deps = deps;
    this.#config = config;
    this.info = config.info;
    this.chunks = chunkCount(config.info.vod);
    this.#timing = vodRepairTiming(config.info.segmentMs);
    const chunkBytes = config.info.vod.chunkBytes;
    this.assembler = new Assembler({
      maxInFlight: 8,
      maxSegmentBytes: chunkBytes,
      maxBufferedBytes: Math.min(8 * chunkBytes, 4 * MAX_VOD_CHUNK_BYTES),
      maxGapFill: 8,
      // Carousel ids come round again: nothing is ever too old.
      horizon: Number.MAX_SAFE_INTEGER,
    });
    this.metas = new MetaVerifier({
      channel: config.info.id,
      originKey: config.info.originKey,
      verify: config.verifySegments ?? true,
    });
    this.dataPlane = new DataPlane(
      { clock: deps.clock, logger: deps.logger, pacer: deps.pacer, sink: (p, f) => this.#onPacket(p, f) },
      {
        seqWindow: config.seqWindow,
        formerParentGraceMs: config.formerParentGraceMs,
        priority: PRIORITY_BULK,
      },
    );
    this.client = new FallbackClient(
      { fetch: deps.fetch },
      { timeoutMs: config.fetchTimeoutMs ?? 30_000, maxSegmentBytes: chunkBytes },
    );
  }

  get name(): string {
    return this.info.name;
  }

  /** Chunks already cached (an earlier run) are done; the repair timer starts. */
  start(): void {
    for (const s of this.#deps.store.list(this.name)) if (s.id < this.chunks) this.assembler.markDone(s.id);
    this.#timer ??= this.#deps.clock.setInterval(() => this.tick(), this.#config.tickMs ?? 100);
  }

  /** Stops the timer and every fetch. The shared pacer is the agent's to stop. */
  stop(): void {
    this.#deps.clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }

  onDatagram(buf: Uint8Array, from: Address): void {
    this.dataPlane.onDatagram(buf, from);
  }

  setAssignment(a: AssignBody): void {
    this.dataPlane.setAssignment(assignmentOf(a));
  }

  /** This channel's HEARTBEAT at `ts` (resources are the node's, measured by the agent). */
  heartbeat(ts: number, resources: Resources): Omit<HeartbeatBody, "assignVersion"> {
    return {
      channel: this.info.id,
      parents: this.dataPlane.parentStates(ts),
      children: this.dataPlane.childStates(ts),
      buffers: this.dataPlane.buffers(undefined),
      resources,
      newestSegment: this.#deps.store.newest(this.name) ?? 0,
    };
  }

  /** Chunks in the cache. */
  held(): number {
    return this.#deps.store.count(this.name);
  }

  has(index: number): boolean {
    return this.#deps.store.has(this.name, index);
  }

  /**
   * Chunk `index`, verified: from the cache, else from the origin's fallback (stored on the
   * way when the budget allows). Rejects with an AgentError when it cannot be had.
   */
  chunk(index: number): Promise<Buffer> {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunks)
      return Promise.reject(new RangeError(`chunk ${index} is not in 0..${this.chunks - 1}`));
    const held = this.#cached(index);
    if (held !== undefined) return Promise.resolve(held);
    let p = this.#fetching.get(index);
    if (p === undefined) {
      p = this.#fetch(index).finally(() => this.#fetching.delete(index));
      this.#fetching.set(index, p);
    }
    return p;
  }

  status(): VodStatus {
    const a = this.dataPlane.assignment;
    const v = this.info.vod;
    return {
      channel: this.name,
      fileName: v.fileName ?? null,
      fileBytes: v.fileBytes,
      chunkBytes: v.chunkBytes,
      chunks: this.chunks,
      held: this.held(),
      parents: a === undefined ? [] : [...new Set(a.parents.flatMap((p) => (p === null ? [] : [p.node])))],
      children: a === undefined ? [] : [...new Set(a.children.map((c) => c.node))],
      ...this.stats,
    };
  }

  /** Starts the fallback fetches that are due, flushes FEC groups (called by the timer; public for tests). */
  tick(): void {
    this.dataPlane.tick();
    const now = this.#deps.clock.now();
    const max = this.#config.maxConcurrent ?? 2;
    for (const p of this.assembler.pending()) {
      if (this.#repairing >= max) return;
      if (this.#fetching.has(p.id)) continue;
      const a = this.#attempts.get(p.id);
      if (a !== undefined && now < a.nextAt) continue;
      if (!repairDue(p, now, this.#timing)) continue;
      this.#repairing++;
      this.chunk(p.id)
        .then(
          () => this.#attempts.delete(p.id),
          (e: unknown) => this.#repairFailed(p.id, e),
        )
        .finally(() => this.#repairing--);
    }
  }

  #repairFailed(id: number, e: unknown): void {
    if (this.#abort.signal.aborted) return;
    const a = this.#attempts.get(id) ?? { count: 0, nextAt: 0 };
    a.count++;
    a.nextAt = this.#deps.clock.now() + (this.#config.retryMs ?? 1000);
    this.#attempts.set(id, a);
    const code = e instanceof AgentError ? e.code : "E_UNEXPECTED";
    this.#deps.logger.warn("vod_repair_failed", {
      channel: this.name,
      id,
      attempt: a.count,
      code,
      message: (e as Error).message,
    });
    if (a.count >= (this.#config.maxAttempts ?? 3)) {
      // The carousel brings it round again; a player asking for it fetches it then.
      this.assembler.abandon(id);
      this.#attempts.delete(id);
    }
  }

  #onPacket(p: DataPacket, from: string): void {
    if (p.segmentId >= this.chunks) {
      this.stats.rejected++;
      return;
    }
    const now = this.#deps.clock.now();
    let r;
    if ((p.flags & FLAG_META) !== 0) {
      const m = this.metas.check(p.payload, senderLabel(this.dataPlane.assignment, from), p.segmentId);
      if (!m.ok) {
        if (m.reason === "malformed" || m.reason === "wrong_segment") this.stats.rejected++;
        else this.stats.metaRejected++;
        return;
      }
      r = this.assembler.onMeta(m.meta, now);
    } else if ((p.flags & FLAG_PARITY) !== 0) {
      return; // FEC parity: not used for VoD chunks yet
    } else {
      r = this.assembler.onChunk(p.segmentId, p.offset, p.payload, now, (p.flags & FLAG_END) !== 0);
    }
    if (r.kind === "complete") this.#commit(r.segment.id, r.segment.bytes, r.segment.sha256, "peer");
    else if (r.kind === "poisoned") {
      this.stats.poisoned++;
      this.#deps.logger.warn("vod_chunk_poisoned", { channel: this.name, id: r.id, why: r.why });
    }
  }

  /** Stores a verified chunk (unless the budget is full); false when it is not a chunk of this file. */
  #commit(id: number, bytes: Buffer, sha256: Uint8Array, source: "peer" | "fallback"): boolean {
    const want = chunkSpan(this.info.vod, id).length;
    if (bytes.length !== want) {
      this.stats.rejected++;
      this.assembler.abandon(id);
      this.#deps.logger.warn("vod_chunk_wrong_size", { channel: this.name, id, bytes: bytes.length, want });
      return false;
    }
    this.assembler.markDone(id);
    const store = this.#deps.store;
    if (store.has(this.name, id)) return true;
    if (store.usedBytes + bytes.length > store.capacityBytes) {
      if (this.stats.budgetFull++ === 0)
        this.#deps.logger.warn("vod_budget_full", { channel: this.name, usedBytes: store.usedBytes });
      return true;
    }
    try {
      store.put({
        channel: this.name,
        id,
        durationMs: 0,
        discontinuity: false,
        sha256,
        bytes,
        storedAt: this.#deps.clock.now(),
      });
    } catch (e) {
      this.#deps.logger.error("vod_commit_failed", { channel: this.name, id, message: (e as Error).message });
      return true;
    }
    if (source === "peer") this.stats.fromPeers++;
    else this.stats.fromFallback++;
    this.#deps.logger.info("chunk_committed", { channel: this.name, id, source, bytes: bytes.length });
    return true;
  }

  /** The cached chunk if its bytes still match the stored hash and size. */
  #cached(index: number): Buffer | undefined {
    const rec = this.#deps.store.get(this.name, index);
    if (rec === undefined) return undefined;
    const bytes = Buffer.from(rec.bytes.buffer, rec.bytes.byteOffset, rec.bytes.byteLength);
    const digest = createHash("sha256").update(bytes).digest();
    if (bytes.length === chunkSpan(this.info.vod, index).length && digest.equals(rec.sha256)) return bytes;
    if (this.stats.corrupt++ < 10)
      this.#deps.logger.warn("vod_chunk_corrupt", { channel: this.name, id: index });
    return undefined;
  }

  /** The fallback's META for chunk `index` must verify like a packet's (counted when it does not). */
  #fallbackMeta(payload: Uint8Array, index: number): MetaCheck {
    const m = this.metas.check(payload, "fallback", index);
    if (!m.ok) this.stats.metaRejected++;
    return m;
  }

  async #fetch(index: number): Promise<Buffer> {
    try {
      const got = await this.client.vodChunk(
        this.info.fallbackUrl,
        this.name,
        index,
        (payload) => this.#fallbackMeta(payload, index),
        this.#abort.signal,
      );
      if (!this.#commit(index, got.bytes, got.meta.sha256, "fallback")) {
        throw new FallbackError("E_FALLBACK_BAD_RESPONSE", `chunk ${index}: ${got.bytes.length} bytes`);
      }
      return got.bytes;
    } catch (e) {
      this.stats.fallbackFailed++;
      throw e;
    }
  }
}
