/**
 * Segment repair over HTTP: from a parent, then from the origin's HTTP fallback, and the join fast path.
 *
 * Packet-level first: a segment whose packets stop coming for tailMs while some are missing has
 * those packets (its META says which numbers it has) asked of the parents with NACKs
 * (askPackets, agent/relay/nack-tracker.ts); the resends usually complete it before HTTP is due.
 *
 * A segment the assembler knows but has not completed is fetched over HTTP when it is due,
 * first from a parent's LAN HTTP server (the same /live/<channel>/<id>.ts path the origin
 * serves), checked against the hash of the segment's verified META and only that — a peer's own
 * header is not trusted — and, when no parent has it (or its META is unknown), from the origin,
 * whose answer must carry a META signed by the channel's origin key (x-tiercast-meta, checked by
 * the channel's MetaVerifier) that the bytes match: nothing is committed on a bare hash. It is due
 * repairAfterMs after its first packet or META (default half a segment) — later while its
 * packets are still flowing, up to maxWaitMs — or gapGraceMs after a newer segment revealed
 * it with no packet of its own. Fetches are bounded in number and time, retried a few times,
 * then abandoned. The join fast path fetches latest.json and the newest segment right after
 * joining, so a player has something within a few hundred ms; from then on UDP delivers and
 * HTTP only repairs.
 */
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Assembler, CompletedSegment, PendingSegment } from "./assembler.js";
import { AgentError, FallbackError } from "../errors.js";
import type { FallbackClient, MetaChecker } from "./fallback-client.js";
import type { MetaVerifier, VerifiedMeta } from "./meta-verifier.js";

export interface RepairTiming {
  /** A segment with packets of its own is due this long after it became known, ms. */
  repairAfterMs: number;
  /** ...unless a packet arrived within stallMs (it is still flowing)... */
  stallMs: number;
  /** Its missing packets are asked of the parents once it has been quiet this long, ms. */
  tailMs: number;
  /** ...but no later than this after it became known, ms. */
  maxWaitMs: number;
  /** A gap (no packet of its own) is due this long after a newer segment revealed it, ms. */
  gapGraceMs: number;
}

export interface RepairConfig extends RepairTiming {
  channel: string;
  fallbackUrl: string;
  /** Fetches at once. */
  maxConcurrent: number;
  /** Attempts per segment before it is abandoned. */
  maxAttempts: number;
  /** Wait after a failed attempt, ms. */
  retryMs: number;
  /** How often due segments are looked for, ms. */
  tickMs: number;
}

/** Tuning for a channel with segments of `segmentMs`. */
export function repairTiming(segmentMs: number): RepairTiming {
  return {
    repairAfterMs: Math.round(0.5 * segmentMs),
    // A NACK asked at tailMs has the rest for its answer before the segment goes to HTTP.
    stallMs: 300,
    tailMs: 100,
    maxWaitMs: segmentMs,
    gapGraceMs: 150,
  };
}

/** Range requests for one segment's missing bytes (more gaps are merged, the bytes between dropped). */
const MAX_RANGE_REQUESTS = 4;

export const REPAIR_LIMITS = { maxConcurrent: 2, maxAttempts: 3, retryMs: 500, tickMs: 50 };

/** Pure: is `p` due for an HTTP repair at `now`? */
export function repairDue(p: PendingSegment, now: number, t: RepairTiming): boolean {
  if (p.gap) return now >= p.firstSeenAt + t.gapGraceMs;
  if (now < p.firstSeenAt + t.repairAfterMs) return false;
  const flowing = p.lastPacketAt !== undefined && now - p.lastPacketAt < t.stallMs;
  return !flowing || now >= p.firstSeenAt + t.maxWaitMs;
}

export interface RepairDeps {
  clock: Clock;
  logger: Logger;
  client: FallbackClient;
  assembler: Assembler;
  /** The channel's META verifier: what the origin's fallback serves must pass it. */
  verifier: MetaVerifier;
  /** Stores a verified segment (the caller logs segment_committed after the insert). */
  commit: (seg: CompletedSegment, source: "fallback" | "parent") => void;
  /** False for segments not worth fetching (older than the first playable one). */
  wanted: (id: number) => boolean;
  /** Duration to assume when neither the origin nor a META says, ms. */
  segmentMs: number;
  /** Base URLs of the parents' LAN HTTP servers, tried before the origin (default: none). */
  peers?: () => string[];
  /** Asks the parents for these packet numbers with NACKs (default: no packet-level repair). */
  askPackets?: (seqs: Iterable<number>) => void;
}

export interface RepairStats {
  repaired: number;
  /** Of those, from a parent (the rest from the origin). */
  fromPeers: number;
  /** Of those from the origin, completed with only the missing bytes (HTTP Range). */
  fromRanges: number;
  peerBytes: number;
  originBytes: number;
  failed: number;
  abandoned: number;
  inFlight: number;
}

interface Attempts {
  count: number;
  nextAt: number;
}

export class SegmentRepairer {
  readonly stats: RepairStats = {
    repaired: 0,
    fromPeers: 0,
    fromRanges: 0,
    peerBytes: 0,
    originBytes: 0,
    failed: 0,
    abandoned: 0,
    inFlight: 0,
  };
  readonly #deps: RepairDeps;
  readonly #config: RepairConfig;
  readonly #attempts = new Map<number, Attempts>();
  readonly #inFlight = new Set<number>();
  /** Parents that answered 503 with a Retry-After: not asked again before then (base URL -> ms). */
  readonly #peerPausedUntil = new Map<string, number>();
  /** Segment id -> its lastPacketAt when its tail was last asked for (once per quiet spell). */
  readonly #tailAsked = new Map<number, number>();
  readonly #abort = new AbortController();
  #timer: Timer | undefined;

  constructor(deps: RepairDeps, config: RepairConfig) {
    this.#deps = deps;
    this.#config = config;
  }

  start(): void {
    if (this.#timer === undefined)
      this.#timer = this.#deps.clock.setInterval(() => this.tick(), this.#config.tickMs);
  }

  stop(): void {
    this.#deps.clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }

  /** Starts the fetches that are due (called by the timer; public for tests). */
  tick(): void {
    const { assembler } = this.#deps;
    const now = this.#deps.clock.now();
    const pending = assembler.pending();
    this.#askTails(pending, now);
    for (const p of pending) {
      if (this.#inFlight.size >= this.#config.maxConcurrent) return;
      if (this.#inFlight.has(p.id)) continue;
      if (!this.#deps.wanted(p.id)) {
        assembler.abandon(p.id);
        this.#attempts.delete(p.id);
        continue;
      }
      const a = this.#attempts.get(p.id);
      if (a !== undefined && now < a.nextAt) continue;
      if (!repairDue(p, now, this.#config)) continue;
      void this.#repair(p);
    }
  }

  /** Quiet segments with a META: their missing packet numbers, asked for once per quiet spell. */
  #askTails(pending: readonly PendingSegment[], now: number): void {
    const ask = this.#deps.askPackets;
    if (ask === undefined) return;
    const live = new Set<number>();
    for (const p of pending) {
      live.add(p.id);
      const m = p.meta;
      const last = p.lastPacketAt;
      if (m === undefined || last === undefined || now - last < this.#config.tailMs) continue;
      if (this.#tailAsked.get(p.id) === last || !this.#deps.wanted(p.id)) continue;
      this.#tailAsked.set(p.id, last);
      ask(seqRange(m.firstSeq, m.packetCount));
    }
    for (const id of this.#tailAsked.keys()) if (!live.has(id)) this.#tailAsked.delete(id);
  }

  /**
   * The join fast path: latest.json, then the newest segment. Resolves with the id committed,
   * or undefined when the origin had nothing yet. Rejects with a FallbackError on failure.
   */
  async fetchNewest(): Promise<number | undefined> {
    const { client, assembler } = this.#deps;
    const c = this.#config;
    const list = await client.latest(c.fallbackUrl, c.channel, this.#abort.signal);
    const newest = list[list.length - 1];
    if (newest === undefined) return undefined;
    if (assembler.isDone(newest.id)) return newest.id;
    const seg = await client.segment(
      c.fallbackUrl,
      c.channel,
      newest.id,
      this.#checker(newest.id),
      this.#abort.signal,
    );
    if (!assembler.isDone(newest.id)) this.#commit(seg.bytes, seg.meta);
    return newest.id;
  }

  async #repair(p: PendingSegment): Promise<void> {
    const { client, assembler, logger } = this.#deps;
    const c = this.#config;
    this.#inFlight.add(p.id);
    this.stats.inFlight = this.#inFlight.size;
    const meta = p.meta;
    try {
      if (meta !== undefined && (await this.#fromPeer(p.id, meta))) {
        this.#attempts.delete(p.id);
        return;
      }
      if (meta !== undefined && (await this.#fromOriginRanges(p.id))) {
        this.#attempts.delete(p.id);
        return;
      }
      const seg = await client.segment(
        c.fallbackUrl,
        c.channel,
        p.id,
        this.#checker(p.id),
        this.#abort.signal,
      );
      if (meta !== undefined && !Buffer.from(meta.sha256).equals(seg.meta.sha256)) {
        // Both signed by the origin (it reused the id): the one it serves now wins.
        logger.warn("meta_mismatch", { id: p.id });
      }
      if (!assembler.isDone(p.id)) {
        this.#commit(seg.bytes, seg.meta);
        this.stats.repaired++;
        this.stats.originBytes += seg.bytes.length;
      }
      this.#attempts.delete(p.id);
    } catch (e) {
      if (this.#abort.signal.aborted) return;
      this.stats.failed++;
      const a = this.#attempts.get(p.id) ?? { count: 0, nextAt: 0 };
      a.count++;
      a.nextAt = this.#deps.clock.now() + c.retryMs;
      this.#attempts.set(p.id, a);
      const code = e instanceof AgentError ? e.code : "E_UNEXPECTED";
      logger.warn("repair_failed", { id: p.id, attempt: a.count, code, message: (e as Error).message });
      if (a.count >= c.maxAttempts) {
        assembler.abandon(p.id);
        this.#attempts.delete(p.id);
        this.stats.abandoned++;
        logger.warn("repair_abandoned", { id: p.id });
      }
    } finally {
      this.#inFlight.delete(p.id);
      this.stats.inFlight = this.#inFlight.size;
    }
  }

  /**
   * Only the missing bytes, from the origin with HTTP Range (a few lost packets cost a few KB,
   * not the whole segment): at most MAX_RANGE_REQUESTS requests, and only while at most half of
   * the segment is missing. The bytes go into the assembler like packets, so the segment is
   * checked against its META hash as a whole. True when that completed it; false to fetch the
   * whole segment instead (a range refused, bytes that spoil the hash, or still incomplete).
   */
  async #fromOriginRanges(id: number): Promise<boolean> {
    const { client, assembler, logger, clock } = this.#deps;
    const c = this.#config;
    const meta = assembler.meta(id);
    const missing = assembler.missingRanges(id);
    if (meta === undefined || missing === undefined || missing.length === 0) return false;
    const total = missing.reduce((a, [s, e]) => a + e - s, 0);
    if (total > meta.totalBytes / 2) return false;
    let fetched = 0;
    try {
      for (const [start, end] of coalesce(missing, MAX_RANGE_REQUESTS)) {
        const body = await client.segmentRange(
          c.fallbackUrl,
          c.channel,
          id,
          start,
          end - 1,
          this.#abort.signal,
        );
        fetched += body.length;
        for (const [s, e] of missing) {
          if (s < start || e > end) continue;
          const r = assembler.onChunk(id, s, body.subarray(s - start, e - start), clock.now());
          if (r.kind === "poisoned") {
            logger.warn("range_repair_poisoned", { id });
            return false;
          }
          if (r.kind === "complete") {
            this.#deps.commit(r.segment, "fallback");
            this.stats.repaired++;
            this.stats.fromRanges++;
          }
        }
      }
    } catch (e) {
      if (this.#abort.signal.aborted) throw e;
      logger.debug("range_repair_failed", { id, message: (e as Error).message });
      return false;
    } finally {
      this.stats.originBytes += fetched;
    }
    return assembler.isDone(id);
  }

  /**
   * Tries the parents in turn (at most two); true when one had the segment with the META's hash.
   * A parent that said 503 with a Retry-After (its repair share spent, or repairs off: agents
   * serve them only with --peer-repair-share) is skipped until then, so a child does not spend
   * two round trips and its uplink on every repair before it asks the origin.
   */
  async #fromPeer(id: number, meta: VerifiedMeta): Promise<boolean> {
    const { client, assembler, logger, clock } = this.#deps;
    const c = this.#config;
    const now = clock.now();
    for (const [base, until] of this.#peerPausedUntil) if (until <= now) this.#peerPausedUntil.delete(base);
    const asked = (this.#deps.peers?.() ?? []).filter((b) => !this.#peerPausedUntil.has(b)).slice(0, 2);
    for (const base of asked) {
      try {
        const bytes = await client.peerSegment(base, c.channel, id, meta.sha256, this.#abort.signal);
        if (!assembler.isDone(id)) {
          this.#commit(bytes, meta, "parent");
          this.stats.repaired++;
          this.stats.fromPeers++;
          this.stats.peerBytes += bytes.length;
        }
        return true;
      } catch (e) {
        if (this.#abort.signal.aborted) throw e;
        if (e instanceof FallbackError && e.retryAfterMs !== undefined && e.retryAfterMs > 0)
          this.#peerPausedUntil.set(base, clock.now() + e.retryAfterMs);
        logger.debug("peer_repair_failed", { id, from: base, message: (e as Error).message });
      }
    }
    return false;
  }

  /** Commits `bytes`, which match `meta` (signed by the origin: verified by the caller). */
  #commit(bytes: Buffer, meta: VerifiedMeta, source: "fallback" | "parent" = "fallback"): void {
    this.#deps.commit(
      {
        id: meta.segmentId,
        bytes,
        sha256: meta.sha256,
        durationMs: meta.durationMs,
        discontinuity: meta.discontinuity,
      },
      source,
    );
  }

  /** The fallback's META for segment `id` must verify (counted as from "fallback" when not). */
  #checker(id: number): MetaChecker {
    return (payload) => this.#deps.verifier.check(payload, "fallback", id);
  }
}

/** The `count` numbers from `first` (mod 2^32). */
function* seqRange(first: number, count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield (first + i) >>> 0;
}

/**
 * `ranges` ([start, end), ascending, disjoint) merged into at most `max` covering ranges, closing
 * the smallest gaps first (pure).
 */
export function coalesce(ranges: ReadonlyArray<[number, number]>, max: number): Array<[number, number]> {
  const out = ranges.map(([s, e]): [number, number] => [s, e]);
  while (out.length > Math.max(1, max)) {
    let best = 0;
    for (let i = 1; i < out.length - 1; i++)
      if (out[i + 1]![0] - out[i]![1] < out[best + 1]![0] - out[best]![1]) best = i;
    out.splice(best, 2, [out[best]![0], out[best + 1]![1]]);
  }
  return out;
}
