/**
 * Rebuilds lost data packets on an erasure-coded tier (pure, injected Clock). A tier-2 node
 * hands every data packet (`onData`) and parity datagram (`onParity`) of the channel in; once a
 * FEC group (protocol/fec-shard.ts) holds k coded shards — data, parity, and the empty
 * positions a parity datagram announces (D..k-1 and its empty mask) — while data positions
 * are missing, the missing packets are rebuilt with Reed-Solomon (protocol/reed-solomon.ts)
 * and returned, once per group. A packet at a position coded empty (it reached this node some
 * other way) is kept out of the decoding. Rebuilt packets carry the header fields a data packet travels with: channel, seq,
 * substream seq mod channelK, fecGroup = fecIndex = 0, and flags/segmentId/offset/payload from
 * the shard.
 *
 * Parity comes from the network, so nothing in it is trusted: parity that is malformed
 * (parseParity), or disagrees with the group's first parity on D, the empty mask or the shard length, or is
 * shorter than a data shard it would cover, is dropped and counted. When a data packet
 * disagrees with parity already held, the data wins and the group's parity is dropped. A
 * rebuilt shard that no encoder makes (fromShard) voids the whole rebuild (counted): forged
 * parity of the right shape can still yield wrong bytes, which the segment's SHA-256 catches.
 *
 * Memory is bounded: at most maxGroups groups (a new one evicts the oldest), each dropped
 * groupTtlMs after its first packet; groups rebuilt or complete keep only a small marker, so
 * late shards of them are ignored.
 */
import { FLAG_PARITY, MAX_SUBSTREAMS } from "../../protocol/limits.js";
import type { DataPacket } from "../../protocol/messages.js";
import {
  fecGroupOf,
  fecIndexOf,
  fromShard,
  groupFirstSeq,
  groupSize,
  isCodable,
  parseParity,
  toShard,
} from "../../protocol/fec-shard.js";
import { decode, RS_MAX_PARITY_SHARDS } from "../../protocol/reed-solomon.js";
import type { Clock } from "../../seams/clock.js";

export interface FecDecoderDeps {
  clock: Clock;
}

export interface FecDecoderConfig {
  /** Data packets per group (1..16). */
  k: number;
  /** Parity datagrams per group (1..8), k + n <= 16. */
  n: number;
  /** Groups held at once; a new group evicts the oldest. */
  maxGroups: number;
  /** A group is forgotten this long after its first packet. */
  groupTtlMs: number;
  /** The channel's substream count, for the substream field of rebuilt packets (default k). */
  channelK?: number;
}

export interface FecDecoderStats {
  /** Groups whose missing packets were rebuilt. */
  groupsRebuilt: number;
  /** Data packets rebuilt (empty positions of partial groups not counted). */
  packetsRecovered: number;
  /**
   * Groups expired or evicted with data known missing (a coded position, or with no parity a gap
   * below the last packet held) and too few shards to rebuild it.
   */
  groupsUnrecoverable: number;
  /** Parity datagrams handed to onParity. */
  parityReceived: number;
  /** Of which dropped: malformed, inconsistent with the group, or overruled by data. */
  parityRejected: number;
  /** Rebuilds voided because a rebuilt shard was not one an encoder makes. */
  rebuildsRejected: number;
  /** Groups evicted to stay within maxGroups. */
  groupsEvicted: number;
  /** Data or parity for a position already held. */
  duplicates: number;
}

interface Group {
  createdAt: number;
  channel: number;
  group: number;
  /** Packets of the group when all arrived (k, or fewer at the wrap). */
  size: number;
  /** Rebuilt, complete or given up: only the marker stays. */
  done: boolean;
  /** Unpadded data shards by coded index. */
  data: Array<Uint8Array | undefined>;
  /** Parity shards by j - k. */
  parity: Array<Uint8Array | undefined>;
  dataCount: number;
  parityCount: number;
  /** From the first accepted parity: data positions coded (D), those coded empty, shard length (L). */
  coded: number | undefined;
  emptyMask: number;
  shardLen: number;
}

export class FecDecoder {
  readonly #clock: Clock;
  readonly #k: number;
  readonly #n: number;
  readonly #maxGroups: number;
  readonly #ttl: number;
  readonly #channelK: number;
  /** Insertion order = creation order, so the oldest is first. */
  readonly #groups = new Map<string, Group>();
  readonly #stats: FecDecoderStats = {
    groupsRebuilt: 0,
    packetsRecovered: 0,
    groupsUnrecoverable: 0,
    parityReceived: 0,
    parityRejected: 0,
    rebuildsRejected: 0,
    groupsEvicted: 0,
    duplicates: 0,
  };

  constructor(deps: FecDecoderDeps, config: FecDecoderConfig) {
    const { k, n } = config;
    if (!Number.isInteger(k) || k < 1 || k > MAX_SUBSTREAMS)
      throw new RangeError(`k must be 1..${MAX_SUBSTREAMS}`);
    if (!Number.isInteger(n) || n < 1 || n > RS_MAX_PARITY_SHARDS || k + n > MAX_SUBSTREAMS)
      throw new RangeError(`n must be 1..${RS_MAX_PARITY_SHARDS} with k + n <= ${MAX_SUBSTREAMS}`);
    if (!Number.isInteger(config.maxGroups) || config.maxGroups < 1)
      throw new RangeError("maxGroups must be >= 1");
    if (!(config.groupTtlMs > 0)) throw new RangeError("groupTtlMs must be > 0");
    const channelK = config.channelK ?? k;
    if (!Number.isInteger(channelK) || channelK < 1 || channelK > MAX_SUBSTREAMS)
      throw new RangeError(`channelK must be 1..${MAX_SUBSTREAMS}`);
    this.#clock = deps.clock;
    this.#k = k;
    this.#n = n;
    this.#maxGroups = config.maxGroups;
    this.#ttl = config.groupTtlMs;
    this.#channelK = channelK;
  }

  get stats(): Readonly<FecDecoderStats> {
    return { ...this.#stats };
  }

  /** Groups held (including markers of finished ones). */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** A data packet (a parity one goes to onParity); returns the packets rebuilt thanks to it. */
  onData(packet: DataPacket): DataPacket[] {
    if ((packet.flags & FLAG_PARITY) !== 0) return this.onParity(packet);
    this.expire();
    // Too long to be coded: it was sent uncoded, outside any group.
    if (!isCodable(packet)) return [];
    const k = this.#k;
    const g = this.#group(packet.channel, fecGroupOf(packet.seq, k));
    if (g.done) return [];
    const index = fecIndexOf(packet.seq, k);
    if (g.data[index] !== undefined) {
      this.#stats.duplicates++;
      return [];
    }
    const shard = toShard(packet);
    if (codedAt(g, index) && shard.length > g.shardLen) this.#dropParity(g);
    g.data[index] = shard;
    g.dataCount++;
    if (g.coded === undefined && g.dataCount >= g.size) {
      this.#finish(g);
      return [];
    }
    return this.#tryRebuild(g);
  }

  /** A parity datagram (decoded by decodeData); returns the packets rebuilt thanks to it. */
  onParity(packet: DataPacket): DataPacket[] {
    this.expire();
    this.#stats.parityReceived++;
    const r = parseParity(packet, this.#k, this.#n);
    if (!r.ok) {
      this.#stats.parityRejected++;
      return [];
    }
    const p = r.value;
    const g = this.#group(p.channel, p.fecGroup);
    if (g.done) return [];
    const slot = p.index - this.#k;
    if (g.parity[slot] !== undefined) {
      this.#stats.duplicates++;
      return [];
    }
    const len = p.shard.length;
    if (g.coded === undefined) {
      // The first parity fixes D, the empty mask and L: it must cover every data shard it codes.
      for (let i = 0; i < p.dataCount; i++) {
        const d = g.data[i];
        if (d !== undefined && (p.emptyMask & (1 << i)) === 0 && d.length > len) {
          this.#stats.parityRejected++;
          return [];
        }
      }
      g.coded = p.dataCount;
      g.emptyMask = p.emptyMask;
      g.shardLen = len;
    } else if (p.dataCount !== g.coded || p.emptyMask !== g.emptyMask || len !== g.shardLen) {
      this.#stats.parityRejected++;
      return [];
    }
    g.parity[slot] = Uint8Array.from(p.shard);
    g.parityCount++;
    return this.#tryRebuild(g);
  }

  /** Forgets groups older than groupTtlMs at `now` (also done on every packet). */
  expire(now: number = this.#clock.now()): void {
    for (const g of this.#groups.values()) {
      if (g.createdAt + this.#ttl > now) break;
      this.#forget(g);
    }
  }

  #group(channel: number, group: number): Group {
    const key = groupKey(channel, group);
    const found = this.#groups.get(key);
    if (found !== undefined) return found;
    if (this.#groups.size >= this.#maxGroups) {
      const oldest = this.#groups.values().next();
      if (oldest.done !== true) {
        if (!oldest.value.done) this.#stats.groupsEvicted++;
        this.#forget(oldest.value);
      }
    }
    const g: Group = {
      createdAt: this.#clock.now(),
      channel,
      group,
      size: groupSize(group, this.#k),
      done: false,
      data: new Array<Uint8Array | undefined>(this.#k).fill(undefined),
      parity: new Array<Uint8Array | undefined>(this.#n).fill(undefined),
      dataCount: 0,
      parityCount: 0,
      coded: undefined,
      emptyMask: 0,
      shardLen: 0,
    };
    this.#groups.set(key, g);
    return g;
  }

  #forget(g: Group): void {
    this.#groups.delete(groupKey(g.channel, g.group));
    if (g.done) return;
    // Known losses: coded positions without data; with no parity, gaps below the last packet held.
    let missing = false;
    if (g.coded !== undefined) {
      for (let i = 0; i < g.coded; i++) if (codedAt(g, i) && g.data[i] === undefined) missing = true;
    } else {
      const last = g.data.findLastIndex((d) => d !== undefined);
      for (let i = 0; i < last; i++) if (g.data[i] === undefined) missing = true;
    }
    if (missing) this.#stats.groupsUnrecoverable++;
  }

  #dropParity(g: Group): void {
    this.#stats.parityRejected += g.parityCount;
    g.parity.fill(undefined);
    g.parityCount = 0;
    g.coded = undefined;
    g.emptyMask = 0;
    g.shardLen = 0;
  }

  #finish(g: Group): void {
    g.done = true;
    g.data = [];
    g.parity = [];
  }

  #tryRebuild(g: Group): DataPacket[] {
    const coded = g.coded;
    if (coded === undefined) return [];
    const k = this.#k;
    const missing: number[] = [];
    for (let i = 0; i < coded; i++) if (codedAt(g, i) && g.data[i] === undefined) missing.push(i);
    if (missing.length === 0) {
      this.#finish(g);
      return [];
    }
    // Every other data position is held or known empty: each missing one takes a parity shard.
    if (g.parityCount < missing.length) return [];
    const len = g.shardLen;
    const zero = new Uint8Array(len);
    const shards: Array<Uint8Array | undefined> = [];
    for (let i = 0; i < k; i++) {
      const d = codedAt(g, i) ? g.data[i] : zero;
      if (d === undefined || d.length === len) shards.push(d);
      else {
        const padded = new Uint8Array(len);
        padded.set(d);
        shards.push(padded);
      }
    }
    for (const p of g.parity) shards.push(p);
    const rebuilt = decode(shards, k, this.#n);
    const first = groupFirstSeq(g.group, k);
    const out: DataPacket[] = [];
    for (const i of missing) {
      const seq = first + i;
      const r = fromShard(rebuilt[i] as Uint8Array, {
        channel: g.channel,
        seq,
        substream: seq % this.#channelK,
      });
      if (!r.ok) {
        this.#stats.rebuildsRejected++;
        this.#finish(g);
        return [];
      }
      if (r.value !== null) out.push(r.value);
    }
    this.#finish(g);
    this.#stats.groupsRebuilt++;
    this.#stats.packetsRecovered += out.length;
    return out;
  }
}

/** Position i was coded with a packet (below D, not in the empty mask), per the group's parity. */
function codedAt(g: Group, i: number): boolean {
  return g.coded !== undefined && i < g.coded && (g.emptyMask & (1 << i)) === 0;
}

function groupKey(channel: number, group: number): string {
  return `${channel}/${group}`;
}
