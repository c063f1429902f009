/**
 * The parent's side of packet-level repair: answers a child's NACK by resending the data
 * packets it still holds, through the Pacer, so a repair never pushes the uplink past its cap.
 *
 * A NACK is untrusted input from the network, so it is answered only when:
 * - it comes from an address this node feeds (a child of the last ASSIGN, a mesh neighbour,
 *   or a child it still feeds during make-before-break): a forged source can at most make the
 *   node resend to its own children, never to a third party;
 * - the requester has credit: each packet sent to it earns `creditPerPacket` (default 0.15) up
 *   to `maxCredit`, each resend costs one — resends to a child stay a bounded share of what it
 *   gets anyway, however many NACKs it sends;
 * - the live queue is short (at most `busyQueueMs`, 200 ms, of the upload cap; the upload guard
 *   sheds a child at 400 ms): a repair must not hold the other children's live stream back long. A busy parent stays silent; the child asks another
 *   parent next, then the origin's HTTP fallback takes the whole segment.
 * A packet resent goes at live priority, after what is already queued.
 */
import { type Pacer, PRIORITY_LIVE } from "./pacer.js";
import type { Nack } from "../protocol/nack-codec.js";
import type { Address } from "../seams/transport.js";
import { RetransmitCache } from "./retransmit-cache.js";

export interface NackResponderConfig {
  /** Resends a requester earns per packet sent to it. */
  creditPerPacket: number;
  /** Most resends a requester may save up (and its credit when first seen). */
  maxCredit: number;
  /** A NACK is not answered while more than this much upload is queued at live priority, ms. */
  busyQueueMs: number;
  /** Packets kept for resending (RetransmitCache slots). */
  cachePackets: number;
}

export const DEFAULT_NACK_RESPONDER: NackResponderConfig = {
  creditPerPacket: 0.15,
  maxCredit: 64,
  busyQueueMs: 200,
  cachePackets: 4096,
};

export interface NackResponderStats {
  /** NACK datagrams received from addresses this node feeds. */
  nacks: number;
  /** Sequence numbers asked for in them. */
  asked: number;
  resent: number;
  /** Asked for but not held (not received yet, or too old). */
  notHeld: number;
  /** Not answered: the requester had no credit left / the live queue was long. */
  noCredit: number;
  busy: number;
  /** From an address this node does not feed (or for another channel). */
  rejected: number;
}

/** Live-queue floor of the busy test: a few datagrams may always be queued. */
const MIN_BUSY_BYTES = 4 * 1200;

export class NackResponder {
  readonly stats: NackResponderStats = {
    nacks: 0,
    asked: 0,
    resent: 0,
    notHeld: 0,
    noCredit: 0,
    busy: 0,
    rejected: 0,
  };
  readonly #pacer: Pacer;
  readonly #config: NackResponderConfig;
  readonly #cache: RetransmitCache;
  /** Requester address key -> resends it may still have. */
  readonly #credit = new Map<string, number>();

  constructor(deps: { pacer: Pacer }, config: Partial<NackResponderConfig> = {}) {
    this.#pacer = deps.pacer;
    this.#config = { ...DEFAULT_NACK_RESPONDER, ...config };
    this.#cache = new RetransmitCache(this.#config.cachePackets);
  }

  /** A data packet this node holds (received, rebuilt or made), as its datagram. */
  remember(seq: number, datagram: Uint8Array): void {
    this.#cache.put(seq, datagram);
  }

  /** One packet was sent to `key`: it earns credit. */
  credit(key: string): void {
    const { maxCredit, creditPerPacket } = this.#config;
    this.#credit.set(key, Math.min(maxCredit, (this.#credit.get(key) ?? maxCredit) + creditPerPacket));
  }

  /** Forgets requesters this node no longer feeds. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.#credit.keys()) if (!keys.has(key)) this.#credit.delete(key);
  }

  /** A decoded NACK from `from` (`key` its address key), which `feeds` says whether this node feeds. */
  onNack(nack: Nack, from: Address, key: string, feeds: boolean): void {
    if (!feeds) {
      this.stats.rejected++;
      return;
    }
    this.stats.nacks++;
    this.stats.asked += nack.seqs.length;
    const rate = this.#pacer.rateBytesPerSec;
    const busyBytes = Math.max(MIN_BUSY_BYTES, (rate * this.#config.busyQueueMs) / 1000);
    let credit = this.#credit.get(key) ?? this.#config.maxCredit;
    for (const seq of nack.seqs) {
      const d = this.#cache.get(seq);
      if (d === undefined) {
        this.stats.notHeld++;
        continue;
      }
      if (credit < 1) {
        this.stats.noCredit++;
        continue;
      }
      if (rate > 0 && this.#pacer.queuedBytesAt(PRIORITY_LIVE) + d.length > busyBytes) {
        this.stats.busy++;
        continue;
      }
      if (!this.#pacer.send(d, from, PRIORITY_LIVE)) continue;
      credit--;
      this.stats.resent++;
    }
    this.#credit.set(key, credit);
  }
}
