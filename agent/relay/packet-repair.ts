/**
 * Packet-level repair on one node, both ways, for the data plane: asking its parents for the
 * packets it misses (nack-tracker.ts: which, when, whom; the NACK datagrams go through the
 * pacer) and answering its children's NACKs from the packets it holds (dataplane/nack-responder.ts).
 * One per channel: a new channel starts both sides afresh.
 */
import { type Pacer, PRIORITY_LIVE } from "../../dataplane/pacer.js";
import type { DecodeErrorCode } from "../../protocol/errors.js";
import type { DataPacket } from "../../protocol/messages.js";
import { decodeNack, encodeNack, nackSpans } from "../../protocol/nack-codec.js";
import type { Address } from "../../seams/transport.js";
import type { Assignment } from "./assignment.js";
import {
  NackResponder,
  type NackResponderConfig,
  type NackResponderStats,
} from "../../dataplane/nack-responder.js";
import { NackTracker, type NackTrackerConfig, type NackTrackerStats } from "./nack-tracker.js";

export interface NackRepairConfig {
  /** Asking for missing packets (false: off; answering stays on). */
  ask: Partial<NackTrackerConfig> | false;
  answer: Partial<NackResponderConfig>;
}

/** Packet-level repair counters: asking (tracker) and answering (responder). */
export interface NackStats {
  ask: NackTrackerStats;
  answer: NackResponderStats;
  /** NACK datagrams sent to parents. */
  sent: number;
}

/** Whether a sequence number needs nothing more (the data plane's duplicate window). */
export type Settled = (seq: number) => boolean;

export class NackRepair {
  #tracker: NackTracker | undefined;
  #responder: NackResponder;
  #sent = 0;
  readonly #pacer: Pacer;
  readonly #config: NackRepairConfig;

  constructor(deps: { pacer: Pacer }, config: NackRepairConfig) {
    this.#pacer = deps.pacer;
    this.#config = config;
    this.#tracker = config.ask === false ? undefined : new NackTracker(config.ask);
    this.#responder = new NackResponder(deps, config.answer);
  }

  /** Another channel: nothing asked or held for the old one matters. */
  reset(): void {
    const ask = this.#config.ask;
    this.#tracker = ask === false ? undefined : new NackTracker(ask);
    this.#responder = new NackResponder({ pacer: this.#pacer }, this.#config.answer);
  }

  /** A new assignment: the tracker's lanes, and the addresses fed (`fed`: whose NACKs count). */
  setAssignment(a: Assignment, fed: ReadonlySet<string>, now: number): void {
    this.#tracker?.setAssignment(a, now);
    this.#responder.retain(fed);
  }

  /** A new data packet held here (as its datagram). True when it had been asked for. */
  onPacket(seq: number, datagram: Uint8Array, now: number, settled: Settled): boolean {
    this.#responder.remember(seq, datagram);
    return this.#tracker?.onPacket(seq, now, settled) ?? false;
  }

  /** A packet went to `key` (it earns resend credit there). */
  sentTo(key: string): void {
    this.#responder.credit(key);
  }

  /**
   * A NACK datagram (FLAG_NACK) from `from`; `feeds(channel)` says whether this node feeds that
   * address on that channel. Returns the decode error code of a malformed one.
   */
  onNack(
    p: DataPacket,
    from: Address,
    key: string,
    feeds: (channel: number) => boolean,
  ): DecodeErrorCode | undefined {
    const r = decodeNack(p);
    if (!r.ok) return r.error.code;
    this.#responder.onNack(r.value, from, key, feeds(r.value.channel));
    return undefined;
  }

  /** Sends the NACKs that are due, for `channel`. */
  tick(channel: number, now: number, settled: Settled): void {
    if (this.#tracker === undefined) return;
    for (const req of this.#tracker.due(now, settled)) {
      for (const run of nackSpans(req.seqs)) {
        this.#pacer.send(encodeNack(channel, run), req.to, PRIORITY_LIVE);
        this.#sent++;
      }
    }
  }

  /** Numbers known missing some other way (a quiet segment's META). */
  askFor(seqs: Iterable<number>, now: number, settled: Settled): void {
    this.#tracker?.ask(seqs, now, settled);
  }

  /** A committed segment's numbers are not asked for any more. */
  segmentDone(firstSeq: number, count: number): void {
    this.#tracker?.forget(firstSeq, count);
  }

  get stats(): NackStats {
    return {
      ask: { ...(this.#tracker?.stats ?? NackTracker.emptyStats()) },
      answer: { ...this.#responder.stats },
      sent: this.#sent,
    };
  }
}
