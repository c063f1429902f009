/**
 * The erasure-coded tier on one node (tier 2 of US 10,091,285: "any k of the k + n substreams
 * rebuild the stream"), per assignment:
 *
 * - **Encoder** — a node that feeds FEC_TREE children but is not itself fed by coded links
 *   (the tier-1 node, or the origin, at the top of a cluster's coded multi-tree) turns each
 *   group of fec.k data packets into fec.n parity datagrams (dataplane/fec-encoder.ts) and sends parity j
 *   to the coded children whose mask has bit j. Data packets go to bit seq mod fec.k as before.
 * - **Decoder** — a node fed by FEC_TREE parents collects data and parity per group
 *   (fec-decoder.ts); once it holds k of a group's k + n shards it rebuilds the missing data
 *   packets, which then travel on as if received.
 * - **Parity relay** — a coded interior node forwards parity j unchanged to its coded children
 *   with bit j; a parity datagram is forwarded once (duplicates dropped by (group, index)).
 *
 * Pure apart from the injected clock: the data plane hands packets in and sends what comes out.
 */
import { FLAG_PARITY } from "../../protocol/limits.js";
import { type DataPacket, type FecParams, LinkAlgorithm, type Peer } from "../../protocol/messages.js";
import { runnableCode } from "../../protocol/reed-solomon.js";
import type { Clock } from "../../seams/clock.js";
import { FecDecoder } from "./fec-decoder.js";
import { FecEncoder } from "../../dataplane/fec-encoder.js";
import type { Assignment } from "./assignment.js";
import { SeqWindow } from "./seq-window.js";

export interface FecRelayConfig {
  /** An incomplete group is coded (partial) this long after its first packet, ms. */
  flushMs: number;
  /** Groups the decoder holds at once. */
  maxGroups: number;
  /** A group is forgotten this long after its first packet, ms. */
  groupTtlMs: number;
}

export const DEFAULT_FEC_RELAY: FecRelayConfig = { flushMs: 250, maxGroups: 256, groupTtlMs: 10_000 };

export interface FecRelayStats {
  /** Parity datagrams received (duplicates included) / made here. */
  parityReceived: number;
  parityMade: number;
  parityDuplicates: number;
  /** Data packets rebuilt from parity. */
  recovered: number;
}

export class FecRelay {
  readonly stats: FecRelayStats = { parityReceived: 0, parityMade: 0, parityDuplicates: 0, recovered: 0 };
  readonly fec: FecParams;
  readonly #encoder: FecEncoder | undefined;
  readonly #decoder: FecDecoder | undefined;
  readonly #coded: Array<Peer & { substreams: number }>;
  /** Parity seen, keyed (group * 16 + index) mod 2^32. */
  readonly #parity: SeqWindow = new SeqWindow({ size: 4096, resetDistance: 1 << 24 });
  /** The channel's k (substream of rebuilt packets). */
  readonly #channelK: number;

  /**
   * undefined when the assignment has no erasure-coded link (or a code this build cannot run).
   * `previous`: the relay of the assignment this one replaces. With the same code (and channel
   * k) its decoder or encoder carries on, with the groups in flight, the parity already seen and
   * the counters: a link moved by control costs no group (only the targets follow the ASSIGN).
   */
  static for(
    deps: { clock: Clock },
    a: Assignment,
    config: Partial<FecRelayConfig> = {},
    previous?: FecRelay,
  ): FecRelay | undefined {
    const fec = a.fec;
    if (fec === undefined || !runnableCode(fec.k, fec.n)) return undefined;
    const codedIn = a.parents.some((p) => p?.algorithm === LinkAlgorithm.FEC_TREE);
    const codedOut = a.children.some((c) => c.algorithm === LinkAlgorithm.FEC_TREE);
    if (!codedIn && !codedOut) return undefined;
    const same =
      previous !== undefined &&
      previous.fec.k === fec.k &&
      previous.fec.n === fec.n &&
      previous.#channelK === a.k;
    return new FecRelay(
      deps,
      a,
      fec,
      codedIn,
      { ...DEFAULT_FEC_RELAY, ...config },
      same ? previous : undefined,
    );
  }

  private constructor(
    deps: { clock: Clock },
    a: Assignment,
    fec: FecParams,
    codedIn: boolean,
    c: FecRelayConfig,
    previous: FecRelay | undefined,
  ) {
    this.fec = fec;
    this.#channelK = a.k;
    this.#coded = a.children.filter((x) => x.algorithm === LinkAlgorithm.FEC_TREE);
    if (previous !== undefined) {
      Object.assign(this.stats, previous.stats);
      this.#parity = previous.#parity;
    }
    if (codedIn)
      this.#decoder =
        (previous === undefined ? undefined : previous.#decoder) ??
        new FecDecoder(deps, {
          k: fec.k,
          n: fec.n,
          maxGroups: c.maxGroups,
          groupTtlMs: c.groupTtlMs,
          channelK: a.k,
        });
    else if (this.#coded.length > 0)
      this.#encoder =
        (previous === undefined ? undefined : previous.#encoder) ??
        new FecEncoder(deps, { k: fec.k, n: fec.n, flushMs: c.flushMs });
  }

  /** A new data packet (not a duplicate): parity to send (encoder) and packets rebuilt (decoder). */
  onData(p: DataPacket): { parity: Buffer[]; rebuilt: DataPacket[] } {
    const parity = this.#encoder?.push(p) ?? [];
    this.stats.parityMade += parity.length;
    const rebuilt = this.#decoder?.onData(p) ?? [];
    this.stats.recovered += rebuilt.length;
    return { parity, rebuilt };
  }

  /**
   * A parity datagram from a parent: whether it is new (forward it, see parityTargets) and the
   * packets it let the decoder rebuild.
   */
  onParity(p: DataPacket): { fresh: boolean; rebuilt: DataPacket[] } {
    this.stats.parityReceived++;
    if ((p.flags & FLAG_PARITY) === 0) return { fresh: false, rebuilt: [] };
    if (this.#parity.check((p.fecGroup * 16 + p.fecIndex) >>> 0) !== "new") {
      this.stats.parityDuplicates++;
      return { fresh: false, rebuilt: [] };
    }
    const rebuilt = this.#decoder?.onParity(p) ?? [];
    this.stats.recovered += rebuilt.length;
    return { fresh: true, rebuilt };
  }

  /** Coded children that take coded substream `index` (data: seq mod fec.k; parity: fecIndex). */
  parityTargets(index: number): Peer[] {
    return this.#coded.filter((c) => (c.substreams & (1 << index)) !== 0);
  }

  /** Periodic: codes groups left incomplete for flushMs (encoder), forgets old groups (decoder). */
  tick(now: number): Buffer[] {
    this.#decoder?.expire(now);
    const parity = this.#encoder?.flush(now) ?? [];
    this.stats.parityMade += parity.length;
    return parity;
  }
}
