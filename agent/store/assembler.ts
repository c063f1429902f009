/**
 * Segment assembly (pure: no sockets, timers or disk; time comes in as an argument).
 *
 * Data packets carry (segmentId, offset, payload); the META packet carries what is needed
 * to finish and check a segment (totalBytes, durationMs, discontinuity, sha256). Only a
 * VerifiedMeta gets in (meta-verifier.ts: signed by the channel's origin), so a forged META
 * never names the bytes a segment must have, nor makes a genuine one look conflicting. A
 * segment is complete when every byte of [0, totalBytes) is present and its SHA-256 matches
 * the META; a mismatch discards it (`poisoned`: forged or corrupted data packets, repaired from
 * the origin), so corrupted or poisoned bytes never leave this file. Everything is bounded: segments in flight, bytes per segment, bytes buffered
 * overall, and how far back an id may be.
 *
 * The assembler also knows which segment ids exist: ids seen in a META or data packet, and
 * ids skipped over when a newer one shows up (a gap: every packet of that segment was
 * lost). `pending()` lists the known ids that are not complete yet; the repairer fetches
 * those from the origin's HTTP fallback and reports back with `markDone`.
 */
import { createHash } from "node:crypto";
import type { VerifiedMeta } from "./meta-verifier.js";

export interface AssemblerConfig {
  /** Segments collected at once; a newer one evicts the oldest (it is then repaired over HTTP). */
  maxInFlight: number;
  /** Largest segment accepted, bytes. */
  maxSegmentBytes: number;
  /** Bytes buffered over all segments in flight. */
  maxBufferedBytes: number;
  /** At most this many ids are marked as gaps by one jump (older ones are too late anyway). */
  maxGapFill: number;
  /** Ids more than this far below the newest are ignored and forgotten. */
  horizon: number;
}

export const DEFAULT_ASSEMBLER: AssemblerConfig = {
  maxInFlight: 8,
  maxSegmentBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 48 * 1024 * 1024,
  maxGapFill: 8,
  horizon: 64,
};

export interface CompletedSegment {
  id: number;
  durationMs: number;
  discontinuity: boolean;
  sha256: Uint8Array;
  bytes: Buffer;
}

export type IgnoreReason =
  /** The segment is already complete (e.g. the trailing META copy). */
  | "done"
  /** Older than the horizon, or evicted from the in-flight set by newer ones. */
  | "stale"
  /** The same chunk again. */
  | "duplicate"
  /** The chunk overlaps a different one already held. */
  | "overlap"
  /** offset + length beyond totalBytes or the segment limit. */
  | "out_of_range"
  /** A META that breaks a limit or disagrees with its packet. */
  | "bad_meta"
  /** The segment was poisoned; it is repaired from the fallback, not from peers. */
  | "poisoned";

export type AssembleResult =
  | { kind: "partial" }
  | { kind: "complete"; segment: CompletedSegment }
  | { kind: "poisoned"; id: number; why: "hash" | "meta_conflict" | "beyond_total" }
  | { kind: "ignored"; reason: IgnoreReason };

export interface PendingSegment {
  id: number;
  /** When the id became known (first packet, META, or the newer id that revealed it). */
  firstSeenAt: number;
  /** Known only because a newer id skipped over it: no packet of its own yet. */
  gap: boolean;
  meta: VerifiedMeta | undefined;
  receivedBytes: number;
  /** When the last packet (data or META) of this segment arrived; undefined for a gap. */
  lastPacketAt: number | undefined;
  /** The FLAG_END packet arrived: nothing more is coming after it but the trailing META. */
  endSeen: boolean;
}

export interface AssemblerStats {
  completed: number;
  poisoned: number;
  duplicates: number;
  overlaps: number;
  outOfRange: number;
  badMeta: number;
  stale: number;
  evicted: number;
}

interface Chunk {
  offset: number;
  bytes: Buffer;
}

interface Entry {
  id: number;
  firstSeenAt: number;
  gap: boolean;
  meta: VerifiedMeta | undefined;
  /** Sorted by offset, never overlapping; undefined once evicted or poisoned. */
  chunks: Chunk[] | undefined;
  receivedBytes: number;
  poisoned: boolean;
  lastPacketAt: number | undefined;
  endSeen: boolean;
}

export class Assembler {
  readonly stats: AssemblerStats = {
    completed: 0,
    poisoned: 0,
    duplicates: 0,
    overlaps: 0,
    outOfRange: 0,
    badMeta: 0,
    stale: 0,
    evicted: 0,
  };
  readonly #config: AssemblerConfig;
  readonly #known = new Map<number, Entry>();
  readonly #done = new Set<number>();
  #highest: number | undefined;
  #buffered = 0;

  constructor(config: Partial<AssemblerConfig> = {}) {
    this.#config = { ...DEFAULT_ASSEMBLER, ...config };
  }

  /** The highest segment id seen (packet, META or markDone). */
  get highestSeen(): number | undefined {
    return this.#highest;
  }

  /** Bytes held in segments being collected. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  isDone(id: number): boolean {
    return this.#done.has(id);
  }

  meta(id: number): VerifiedMeta | undefined {
    return this.#known.get(id)?.meta;
  }

  /** A META whose signature verified (MetaVerifier.check): never one that did not. */
  onMeta(meta: VerifiedMeta, now: number): AssembleResult {
    const c = this.#config;
    if (
      !Number.isSafeInteger(meta.totalBytes) ||
      meta.totalBytes < 0 ||
      meta.totalBytes > c.maxSegmentBytes ||
      meta.sha256.length !== 32 ||
      !Number.isSafeInteger(meta.segmentId) ||
      meta.segmentId < 0
    ) {
      this.stats.badMeta++;
      return { kind: "ignored", reason: "bad_meta" };
    }
    const e = this.#entry(meta.segmentId, now);
    if ("kind" in e) return e;
    if (e.poisoned) return { kind: "ignored", reason: "poisoned" };
    if (e.meta !== undefined) {
      if (sameMeta(e.meta, meta)) return { kind: "ignored", reason: "duplicate" };
      // Two different METAs, both signed by the origin (it reused an id): let the origin's
      // fallback decide. A forged META never gets here.
      return this.#poison(e, "meta_conflict");
    }
    e.meta = meta;
    if (e.chunks !== undefined && e.chunks.some((ch) => ch.offset + ch.bytes.length > meta.totalBytes)) {
      return this.#poison(e, "beyond_total");
    }
    return this.#tryComplete(e);
  }

  /**
   * A data packet's payload (`last`: it carries FLAG_END). The bytes are copied: `payload` may
   * be a view into a datagram.
   */
  onChunk(segmentId: number, offset: number, payload: Uint8Array, now: number, last = false): AssembleResult {
    if (!Number.isSafeInteger(segmentId) || segmentId < 0 || !Number.isSafeInteger(offset) || offset < 0) {
      this.stats.outOfRange++;
      return { kind: "ignored", reason: "out_of_range" };
    }
    const e = this.#entry(segmentId, now);
    if ("kind" in e) return e;
    if (e.poisoned) return { kind: "ignored", reason: "poisoned" };
    if (last) e.endSeen = true;
    if (e.chunks === undefined) {
      this.stats.stale++;
      return { kind: "ignored", reason: "stale" };
    }
    const limit = e.meta?.totalBytes ?? this.#config.maxSegmentBytes;
    const end = offset + payload.length;
    if (end > limit) {
      this.stats.outOfRange++;
      return { kind: "ignored", reason: "out_of_range" };
    }
    if (payload.length === 0) return { kind: "partial" };
    const chunks = e.chunks;
    const i = lowerBound(chunks, offset);
    const at = chunks[i];
    if (
      at !== undefined &&
      at.offset === offset &&
      at.bytes.length === payload.length &&
      at.bytes.equals(payload)
    ) {
      this.stats.duplicates++;
      return { kind: "ignored", reason: "duplicate" };
    }
    const before = chunks[i - 1];
    if (
      (at !== undefined && at.offset < end) ||
      (before !== undefined && before.offset + before.bytes.length > offset)
    ) {
      this.stats.overlaps++;
      return { kind: "ignored", reason: "overlap" };
    }
    this.#makeRoom(payload.length, e.id);
    if (e.chunks === undefined) {
      // Making room evicted this very segment: nothing left to add to.
      this.stats.stale++;
      return { kind: "ignored", reason: "stale" };
    }
    chunks.splice(i, 0, { offset, bytes: Buffer.from(payload) });
    e.receivedBytes += payload.length;
    this.#buffered += payload.length;
    return this.#tryComplete(e);
  }

  /**
   * The byte ranges [start, end) of a segment still missing, in order; undefined when that is not
   * known (no META yet, or the segment is not being collected: unknown, done, evicted, poisoned).
   */
  missingRanges(id: number): Array<[number, number]> | undefined {
    const e = this.#known.get(id);
    if (e === undefined || e.meta === undefined || e.chunks === undefined || e.poisoned) return undefined;
    const out: Array<[number, number]> = [];
    let at = 0;
    for (const c of e.chunks) {
      if (c.offset > at) out.push([at, c.offset]);
      at = Math.max(at, c.offset + c.bytes.length);
    }
    if (at < e.meta.totalBytes) out.push([at, e.meta.totalBytes]);
    return out;
  }

  /** The segment was committed by other means (HTTP fallback): drop what was collected. */
  markDone(id: number): void {
    const e = this.#known.get(id);
    if (e !== undefined) this.#forget(e);
    this.#done.add(id);
    this.#advance(id, undefined);
  }

  /** Gives up on a segment (the fallback does not have it): it is no longer pending. */
  abandon(id: number): void {
    const e = this.#known.get(id);
    if (e !== undefined) this.#forget(e);
  }

  /** Known segments that are not complete, oldest first. */
  pending(): PendingSegment[] {
    const out: PendingSegment[] = [];
    for (const e of this.#known.values()) {
      out.push({
        id: e.id,
        firstSeenAt: e.firstSeenAt,
        gap: e.gap,
        meta: e.meta,
        receivedBytes: e.receivedBytes,
        lastPacketAt: e.lastPacketAt,
        endSeen: e.endSeen,
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** Finds or creates the entry for a packet of `id`, or says why the packet is ignored. */
  #entry(id: number, now: number): Entry | AssembleResult {
    if (this.#done.has(id)) return { kind: "ignored", reason: "done" };
    const known = this.#known.get(id);
    if (known !== undefined) {
      known.gap = false;
      known.lastPacketAt = now;
      return known;
    }
    if (this.#highest !== undefined && id <= this.#highest - this.#config.horizon) {
      this.stats.stale++;
      return { kind: "ignored", reason: "stale" };
    }
    // A new segment: evict the oldest collecting one if the in-flight set is full. Gap
    // entries hold nothing yet; the byte limit bounds them once packets arrive.
    const collecting = [...this.#known.values()].filter((e) => e.chunks !== undefined && !e.gap);
    if (collecting.length >= this.#config.maxInFlight) {
      const oldest = collecting.reduce((a, b) => (b.id < a.id ? b : a));
      if (oldest.id > id) {
        this.stats.stale++;
        return { kind: "ignored", reason: "stale" };
      }
      this.#evict(oldest);
    }
    const e: Entry = {
      id,
      firstSeenAt: now,
      gap: false,
      meta: undefined,
      chunks: [],
      receivedBytes: 0,
      poisoned: false,
      lastPacketAt: now,
      endSeen: false,
    };
    this.#known.set(id, e);
    this.#advance(id, now);
    return e;
  }

  /** Moves the newest id forward, marking skipped ids as gaps and forgetting ids past the horizon. */
  #advance(id: number, now: number | undefined): void {
    const c = this.#config;
    const prev = this.#highest;
    if (prev !== undefined && id <= prev) return;
    this.#highest = id;
    if (prev !== undefined && now !== undefined) {
      for (let g = Math.max(prev + 1, id - c.maxGapFill); g < id; g++) {
        if (this.#done.has(g) || this.#known.has(g)) continue;
        this.#known.set(g, {
          id: g,
          firstSeenAt: now,
          gap: true,
          meta: undefined,
          chunks: [],
          receivedBytes: 0,
          poisoned: false,
          lastPacketAt: undefined,
          endSeen: false,
        });
      }
    }
    const floor = id - c.horizon;
    for (const e of this.#known.values()) if (e.id <= floor) this.#forget(e);
    for (const d of this.#done) if (d <= floor) this.#done.delete(d);
  }

  #tryComplete(e: Entry): AssembleResult {
    const meta = e.meta;
    if (meta === undefined || e.chunks === undefined || e.receivedBytes !== meta.totalBytes) {
      return { kind: "partial" };
    }
    // No overlaps and every chunk inside [0, totalBytes): the byte count proves full coverage.
    const bytes = Buffer.concat(
      e.chunks.map((c) => c.bytes),
      meta.totalBytes,
    );
    const digest = createHash("sha256").update(bytes).digest();
    if (!digest.equals(meta.sha256)) return this.#poison(e, "hash");
    this.#forget(e);
    this.#done.add(e.id);
    this.stats.completed++;
    return {
      kind: "complete",
      segment: {
        id: e.id,
        durationMs: meta.durationMs,
        discontinuity: meta.discontinuity,
        sha256: meta.sha256,
        bytes,
      },
    };
  }

  #poison(e: Entry, why: "hash" | "meta_conflict" | "beyond_total"): AssembleResult {
    this.#dropChunks(e);
    e.poisoned = true;
    // The repair fetches the whole segment from the origin, with the META the origin signs now.
    e.meta = undefined;
    this.stats.poisoned++;
    return { kind: "poisoned", id: e.id, why };
  }

  #makeRoom(bytes: number, keep: number): void {
    while (this.#buffered + bytes > this.#config.maxBufferedBytes) {
      let oldest: Entry | undefined;
      for (const e of this.#known.values()) {
        if (e.chunks !== undefined && e.receivedBytes > 0 && (oldest === undefined || e.id < oldest.id))
          oldest = e;
      }
      if (oldest === undefined) return;
      this.#evict(oldest);
      if (oldest.id === keep) return;
    }
  }

  /** Stops collecting a segment but keeps it pending: the repairer fetches it. */
  #evict(e: Entry): void {
    this.#dropChunks(e);
    this.stats.evicted++;
  }

  #dropChunks(e: Entry): void {
    this.#buffered -= e.receivedBytes;
    e.chunks = undefined;
    e.receivedBytes = 0;
  }

  #forget(e: Entry): void {
    if (e.chunks !== undefined) this.#dropChunks(e);
    this.#known.delete(e.id);
  }
}

function lowerBound(chunks: Chunk[], offset: number): number {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (chunks[mid]!.offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sameMeta(a: VerifiedMeta, b: VerifiedMeta): boolean {
  return (
    a.totalBytes === b.totalBytes &&
    a.durationMs === b.durationMs &&
    a.discontinuity === b.discontinuity &&
    Buffer.from(a.sha256).equals(b.sha256)
  );
}
