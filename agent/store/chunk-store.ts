/**
 * The chunk cache seam: where verified segments live until LAN players (live or VoD) ask for
 * them. `SqliteChunkStore` (cache.ts) is the real one; `MemoryChunkStore` here serves tests and
 * the simulator. One contract suite (test/agent-cache.test.ts) runs against both.
 *
 * Rules both keep: bounded by `capacityBytes` with oldest-first eviction (by storedAt, then
 * insertion order) done together with the insert; a put of a segment already held with the
 * same hash changes nothing, with a different hash replaces it (the origin restarted its ids);
 * a segment larger than the whole cache is refused (CacheError E_SEGMENT_TOO_LARGE).
 */
import { CacheError } from "../errors.js";

export interface SegmentRecord {
  channel: string;
  id: number;
  durationMs: number;
  discontinuity: boolean;
  sha256: Uint8Array;
  bytes: Uint8Array;
  /** Local wall clock when stored, ms since the epoch. */
  storedAt: number;
}

export type SegmentInfo = Omit<SegmentRecord, "bytes"> & { size: number };

export interface SegmentKey {
  channel: string;
  id: number;
}

export interface PutResult {
  /** False when the same segment (same hash) was already held. */
  stored: boolean;
  /** Segments removed to make room, oldest first. */
  evicted: SegmentKey[];
}

export interface ChunkStore {
  readonly capacityBytes: number;
  /** Bytes of segment data held. */
  readonly usedBytes: number;
  put(seg: SegmentRecord): PutResult;
  get(channel: string, id: number): SegmentRecord | undefined;
  has(channel: string, id: number): boolean;
  /** Every segment of the channel without its bytes, ascending by id. */
  list(channel: string): SegmentInfo[];
  count(channel: string): number;
  /** Highest id held for the channel. */
  newest(channel: string): number | undefined;
  close(): void;
}

export function tooLarge(seg: SegmentRecord, capacity: number): CacheError {
  return new CacheError(
    "E_SEGMENT_TOO_LARGE",
    `segment ${seg.channel}/${seg.id} is ${seg.bytes.length} bytes, larger than the cache (${capacity} bytes)`,
  );
}

/** The same contract in memory (tests, simulator). */
export class MemoryChunkStore implements ChunkStore {
  readonly #rows = new Map<string, SegmentRecord>();
  #order = 0;
  readonly #seq = new Map<string, number>();
  #used = 0;

  constructor(readonly capacityBytes: number) {}

  get usedBytes(): number {
    return this.#used;
  }

  put(seg: SegmentRecord): PutResult {
    if (seg.bytes.length > this.capacityBytes) throw tooLarge(seg, this.capacityBytes);
    const key = keyOf(seg.channel, seg.id);
    const old = this.#rows.get(key);
    if (old !== undefined) {
      if (Buffer.from(old.sha256).equals(seg.sha256)) return { stored: false, evicted: [] };
      this.#delete(key);
    }
    const evicted: SegmentKey[] = [];
    while (this.#used + seg.bytes.length > this.capacityBytes) {
      const oldest = this.#oldest();
      if (oldest === undefined) break;
      this.#delete(keyOf(oldest.channel, oldest.id));
      evicted.push({ channel: oldest.channel, id: oldest.id });
    }
    this.#rows.set(key, {
      ...seg,
      sha256: Uint8Array.from(seg.sha256),
      bytes: Buffer.from(seg.bytes),
    });
    this.#seq.set(key, this.#order++);
    this.#used += seg.bytes.length;
    return { stored: true, evicted };
  }

  get(channel: string, id: number): SegmentRecord | undefined {
    const r = this.#rows.get(keyOf(channel, id));
    return r === undefined
      ? undefined
      : { ...r, sha256: Uint8Array.from(r.sha256), bytes: Buffer.from(r.bytes) };
  }

  has(channel: string, id: number): boolean {
    return this.#rows.has(keyOf(channel, id));
  }

  list(channel: string): SegmentInfo[] {
    const out: SegmentInfo[] = [];
    for (const r of this.#rows.values()) {
      if (r.channel !== channel) continue;
      const { bytes, ...info } = r;
      out.push({ ...info, sha256: Uint8Array.from(info.sha256), size: bytes.length });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  count(channel: string): number {
    let n = 0;
    for (const r of this.#rows.values()) if (r.channel === channel) n++;
    return n;
  }

  newest(channel: string): number | undefined {
    let best: number | undefined;
    for (const r of this.#rows.values())
      if (r.channel === channel && (best === undefined || r.id > best)) best = r.id;
    return best;
  }

  close(): void {}

  #oldest(): SegmentRecord | undefined {
    let best: SegmentRecord | undefined;
    let bestKey = "";
    for (const [k, r] of this.#rows) {
      if (
        best === undefined ||
        r.storedAt < best.storedAt ||
        (r.storedAt === best.storedAt && this.#seq.get(k)! < this.#seq.get(bestKey)!)
      ) {
        best = r;
        bestKey = k;
      }
    }
    return best;
  }

  #delete(key: string): void {
    const r = this.#rows.get(key);
    if (r === undefined) return;
    this.#used -= r.bytes.length;
    this.#rows.delete(key);
    this.#seq.delete(key);
  }
}

function keyOf(channel: string, id: number): string {
  return `${channel}\u0000${id}`;
}
