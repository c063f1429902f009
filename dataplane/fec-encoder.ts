/**
 * Parity for an erasure-coded tier (pure, injected Clock): a tier-1 node feeding a tier-2
 * cluster hands every data packet of the channel to `push`; each FEC group of k consecutive
 * seqs (protocol/fec-shard.ts) is kept until it holds all its packets, then coded with
 * Reed-Solomon (protocol/reed-solomon.ts) into n parity datagrams, returned for sending on
 * coded substreams k..k+n-1. `flush` codes groups that stayed incomplete for flushMs (a
 * stream pause, a lost packet, joining mid-group): positions it lacks are empty shards, which
 * the parity names (protocol/fec-shard.ts), so receivers need no parity to account for them.
 *
 * Memory is bounded: at most maxOpenGroups groups wait (a new one drops the oldest, counted),
 * and a bounded set remembers recently coded groups so that a late packet of one is ignored
 * instead of starting it again.
 */
import { FLAG_PARITY, MAX_SUBSTREAMS } from "../protocol/limits.js";
import type { DataPacket } from "../protocol/messages.js";
import {
  encodeParity,
  fecGroupOf,
  fecIndexOf,
  groupSize,
  isCodable,
  toShard,
} from "../protocol/fec-shard.js";
import { encode, RS_MAX_PARITY_SHARDS } from "../protocol/reed-solomon.js";
import type { Clock } from "../seams/clock.js";

export interface FecEncoderDeps {
  clock: Clock;
}

export interface FecEncoderConfig {
  /** Data packets per group (1..16). */
  k: number;
  /** Parity datagrams per group (1..8), k + n <= 16. */
  n: number;
  /** An incomplete group is coded this long after its first packet arrived (at the next flush). */
  flushMs: number;
  /** Groups waiting at once (default 64). */
  maxOpenGroups?: number;
}

export interface FecEncoderStats {
  /** Groups coded (full or partial). */
  groupsCoded: number;
  /** Of which partial: coded by flush with positions missing. */
  groupsPartial: number;
  parityDatagrams: number;
  /** Open groups dropped uncoded to make room. */
  groupsDropped: number;
  /** Packets of a seq already in its group. */
  duplicates: number;
  /** Packets of a group already coded. */
  late: number;
  /** Parity packets or payloads over MAX_CODED_PAYLOAD_BYTES (sent uncoded; an empty shard in the group). */
  notCodable: number;
}

const DEFAULT_MAX_OPEN_GROUPS = 64;
/** Coded groups remembered per open group allowed. */
const CLOSED_PER_OPEN = 4;
const EMPTY = new Uint8Array(0);

interface OpenGroup {
  channel: number;
  group: number;
  createdAt: number;
  /** Packets this group holds when complete (k, or fewer at the wrap). */
  size: number;
  /** Shard per coded index, unpadded; EMPTY for a packet that cannot be coded. */
  shards: Array<Uint8Array | undefined>;
  count: number;
}

export class FecEncoder {
  readonly #clock: Clock;
  readonly #k: number;
  readonly #n: number;
  readonly #flushMs: number;
  readonly #maxOpen: number;
  /** Insertion order = creation order, so the oldest is first. */
  readonly #open = new Map<string, OpenGroup>();
  readonly #closed = new Set<string>();
  readonly #stats: FecEncoderStats = {
    groupsCoded: 0,
    groupsPartial: 0,
    parityDatagrams: 0,
    groupsDropped: 0,
    duplicates: 0,
    late: 0,
    notCodable: 0,
  };

  constructor(deps: FecEncoderDeps, config: FecEncoderConfig) {
    const { k, n } = config;
    if (!Number.isInteger(k) || k < 1 || k > MAX_SUBSTREAMS)
      throw new RangeError(`k must be 1..${MAX_SUBSTREAMS}`);
    if (!Number.isInteger(n) || n < 1 || n > RS_MAX_PARITY_SHARDS || k + n > MAX_SUBSTREAMS)
      throw new RangeError(`n must be 1..${RS_MAX_PARITY_SHARDS} with k + n <= ${MAX_SUBSTREAMS}`);
    if (!(config.flushMs >= 0)) throw new RangeError("flushMs must be >= 0");
    const maxOpen = config.maxOpenGroups ?? DEFAULT_MAX_OPEN_GROUPS;
    if (!Number.isInteger(maxOpen) || maxOpen < 1) throw new RangeError("maxOpenGroups must be >= 1");
    this.#clock = deps.clock;
    this.#k = k;
    this.#n = n;
    this.#flushMs = config.flushMs;
    this.#maxOpen = maxOpen;
  }

  get stats(): Readonly<FecEncoderStats> {
    return { ...this.#stats };
  }

  /** Groups waiting for packets. */
  get openGroups(): number {
    return this.#open.size;
  }

  /** Adds one data packet; returns the group's n parity datagrams when this packet completes it. */
  push(packet: DataPacket): Buffer[] {
    if ((packet.flags & FLAG_PARITY) !== 0) {
      this.#stats.notCodable++;
      return [];
    }
    const k = this.#k;
    const group = fecGroupOf(packet.seq, k);
    const key = groupKey(packet.channel, group);
    if (this.#closed.has(key)) {
      this.#stats.late++;
      return [];
    }
    let g = this.#open.get(key);
    if (g === undefined) {
      if (this.#open.size >= this.#maxOpen) this.#dropOldest();
      g = {
        channel: packet.channel,
        group,
        createdAt: this.#clock.now(),
        size: groupSize(group, k),
        shards: new Array<Uint8Array | undefined>(k).fill(undefined),
        count: 0,
      };
      this.#open.set(key, g);
    }
    const index = fecIndexOf(packet.seq, k);
    if (g.shards[index] !== undefined) {
      this.#stats.duplicates++;
      return [];
    }
    if (isCodable(packet)) g.shards[index] = toShard(packet);
    else {
      this.#stats.notCodable++;
      g.shards[index] = EMPTY;
    }
    g.count++;
    if (g.count < g.size) return [];
    return this.#code(key, g);
  }

  /** Codes every group whose first packet is flushMs old or more at `now`; returns their parity datagrams. */
  flush(now: number = this.#clock.now()): Buffer[] {
    const out: Buffer[] = [];
    for (const [key, g] of this.#open) {
      if (g.createdAt + this.#flushMs > now) break;
      for (const d of this.#code(key, g)) out.push(d);
    }
    return out;
  }

  #dropOldest(): void {
    const oldest = this.#open.keys().next();
    if (oldest.done === true) return;
    this.#open.delete(oldest.value);
    this.#stats.groupsDropped++;
  }

  #code(key: string, g: OpenGroup): Buffer[] {
    this.#open.delete(key);
    this.#closed.add(key);
    if (this.#closed.size > this.#maxOpen * CLOSED_PER_OPEN) {
      const first = this.#closed.values().next();
      if (first.done !== true) this.#closed.delete(first.value);
    }
    // D = 1 + the last position with a packet to code; the longest shard sets the length;
    // positions below D without one are empty shards, named in the mask.
    let dataCount = 0;
    let len = 0;
    g.shards.forEach((s, i) => {
      if (s === undefined || s.length === 0) return;
      dataCount = i + 1;
      len = Math.max(len, s.length);
    });
    if (dataCount === 0) return [];
    let emptyMask = 0;
    for (let i = 0; i < dataCount; i++) {
      const s = g.shards[i];
      if (s === undefined || s.length === 0) emptyMask |= 1 << i;
    }
    const k = this.#k;
    const padded = new Uint8Array(k * len);
    const data: Uint8Array[] = [];
    for (let i = 0; i < k; i++) {
      const view = padded.subarray(i * len, (i + 1) * len);
      const s = i < dataCount ? g.shards[i] : undefined;
      if (s !== undefined) view.set(s);
      data.push(view);
    }
    const parity = encode(data, this.#n);
    const datagrams = encodeParity(
      { channel: g.channel, k, fecGroup: g.group, dataCount, emptyMask },
      parity,
    );
    this.#stats.groupsCoded++;
    if (g.count < g.size) this.#stats.groupsPartial++;
    this.#stats.parityDatagrams += datagrams.length;
    return datagrams;
  }
}

function groupKey(channel: number, group: number): string {
  return `${channel}/${group}`;
}
