/**
 * The origin's children (the top of the tree, as the latest ASSIGN says) and what was sent to
 * each, through the Pacer: with a tier-1 mesh every packet to every mesh neighbour (flooding);
 * to a TREE (or FLOOD outside the mesh) child the packets of the substreams in its mask; to a
 * FEC_TREE child the coded substreams in its mask: data packet seq when bit seq mod fec.k is
 * set, and Reed-Solomon parity j (fec-encoder.ts: each group of fec.k packets gives fec.n
 * parity datagrams) when bit j >= fec.k is set. The origin sends a segment at once, so the
 * segment's last, incomplete group is coded right away (a partial group). Per link it
 * remembers the last sequence number sent and when, for the HEARTBEAT's link states.
 * A child's NACK is answered from the last packets sent (dataplane/nack-responder.ts: children and
 * mesh neighbours only, within their credit).
 */
import type { Pacer } from "../dataplane/pacer.js";
import { PRIORITY_LIVE } from "../dataplane/pacer.js";
import {
  type ChildLink,
  type FecParams,
  LinkAlgorithm,
  type LinkState,
  type Peer,
} from "../protocol/messages.js";
import type { Packet } from "./packetizer.js";
import { FecEncoder } from "../dataplane/fec-encoder.js";
import { decodeData } from "../protocol/data-codec.js";
import { runnableCode } from "../protocol/reed-solomon.js";
import { systemClock } from "../seams/clock.js";
import { NackResponder } from "../dataplane/nack-responder.js";
import type { Nack } from "../protocol/nack-codec.js";
import { addressKey, type Address } from "../seams/transport.js";

interface ChildState {
  link: ChildLink;
  lastSeq: number;
  /** When the last packet was queued for it; the assignment time until then. */
  lastAt: number;
  sentPackets: number;
  sentBytes: number;
  dropped: number;
  /** A mesh neighbour: gets every packet. */
  flood: boolean;
  /** Listed in the ASSIGN's children (link states are reported for those only). */
  child: boolean;
}

export interface ChildStatus extends ChildLink {
  lastSeq: number;
  ageMs: number;
  sentPackets: number;
  sentBytes: number;
  dropped: number;
}

export class Fanout {
  #children: ChildState[] = [];
  #fec: FecParams | undefined;
  #encoder: FecEncoder | undefined;
  #now = 0;
  /** Parity datagrams made for coded children. */
  parityMade = 0;
  /**
   * Answers NACKs. The origin queues a whole segment at once, so its live queue is long right
   * after each publish: a repair may wait behind up to 2 s of it (the child asks a mesh
   * neighbour or another parent meanwhile).
   */
  readonly nacks: NackResponder;
  #fed = new Set<string>();

  constructor(private readonly pacer: Pacer) {
    this.nacks = new NackResponder({ pacer }, { busyQueueMs: 2000 });
  }

  /** A NACK from `from`: answered only if the origin feeds that address. */
  onNack(nack: Nack, from: Address): void {
    const key = addressKey(from);
    this.nacks.onNack(nack, from, key, this.#fed.has(key));
  }

  /** Takes the children (and mesh neighbours) of a new ASSIGN; a link that stays keeps its state. */
  assign(
    children: readonly ChildLink[],
    now: number,
    opts: { fec?: FecParams; mesh?: readonly Peer[] } = {},
  ): void {
    const before = new Map(this.#children.map((c) => [c.link.node, c]));
    const fresh = (link: ChildLink, flood: boolean, child: boolean): ChildState => {
      const old = before.get(link.node);
      return old !== undefined
        ? { ...old, link, flood, child }
        : { link, lastSeq: 0, lastAt: now, sentPackets: 0, sentBytes: 0, dropped: 0, flood, child };
    };
    const mesh = new Set((opts.mesh ?? []).map((m) => m.node));
    const f = opts.fec;
    const coded = children.some((c) => c.algorithm === LinkAlgorithm.FEC_TREE);
    const runnable = f !== undefined && runnableCode(f.k, f.n);
    if (!coded || !runnable) this.#encoder = undefined;
    else if (this.#fec?.k !== f.k || this.#fec.n !== f.n || this.#encoder === undefined)
      this.#encoder = new FecEncoder(
        { clock: { ...systemClock, now: () => this.#now } },
        { k: f.k, n: f.n, flushMs: 0 },
      );
    this.#fec = opts.fec;
    this.#children = [
      ...children.map((link) => fresh(link, mesh.has(link.node), true)),
      ...(opts.mesh ?? [])
        .filter((m) => !children.some((c) => c.node === m.node))
        .map((m) => fresh({ ...m, substreams: 0, algorithm: LinkAlgorithm.FLOOD }, true, false)),
    ];
    this.#fed = new Set(this.#children.map((c) => addressKey(c.link)));
    this.nacks.retain(this.#fed);
  }

  get size(): number {
    return this.#children.length;
  }

  /** Queues each packet for every child that takes its substream; returns datagrams queued. */
  send(packets: readonly Packet[], now: number): number {
    let queued = 0;
    this.#now = now;
    const fec = this.#fec;
    for (const p of packets) {
      this.nacks.remember(p.seq, p.datagram);
      const bit = 1 << p.substream;
      const coded = fec === undefined ? 0 : 1 << (p.seq % fec.k);
      for (const c of this.#children) {
        const wants = c.flood
          ? true
          : c.link.algorithm === LinkAlgorithm.FEC_TREE
            ? (c.link.substreams & coded) !== 0
            : (c.link.substreams & bit) !== 0;
        if (!wants) continue;
        if (!this.pacer.send(p.datagram, { address: c.link.address, port: c.link.port }, PRIORITY_LIVE)) {
          c.dropped++;
          continue;
        }
        this.nacks.credit(addressKey(c.link));
        c.lastSeq = p.seq;
        c.lastAt = now;
        c.sentPackets++;
        c.sentBytes += p.datagram.length;
        queued++;
      }
      const enc = this.#encoder;
      if (enc !== undefined) {
        const d = decodeData(p.datagram);
        if (d.ok) queued += this.#sendParity(enc.push(d.value), now);
      }
    }
    if (this.#encoder !== undefined) {
      queued += this.#sendParity(this.#encoder.flush(Number.POSITIVE_INFINITY), now);
    }
    return queued;
  }

  #sendParity(parity: readonly Buffer[], now: number): number {
    let queued = 0;
    for (const d of parity) {
      this.parityMade++;
      const bit = 1 << d[13]!; // fecIndex (data-codec.ts header)
      for (const c of this.#children) {
        if (c.link.algorithm !== LinkAlgorithm.FEC_TREE || (c.link.substreams & bit) === 0) continue;
        if (!this.pacer.send(d, { address: c.link.address, port: c.link.port }, PRIORITY_LIVE)) {
          c.dropped++;
          continue;
        }
        c.lastAt = now;
        c.sentPackets++;
        c.sentBytes += d.length;
        queued++;
      }
    }
    return queued;
  }

  /** C_1..C_m for a HEARTBEAT stamped `now`. */
  linkStates(now: number): LinkState[] {
    return this.#children
      .filter((c) => c.child)
      .map((c) => ({
        node: c.link.node,
        ageMs: Math.max(0, now - c.lastAt),
        lastSeq: c.lastSeq,
      }));
  }

  status(now: number): ChildStatus[] {
    return this.#children.map((c) => ({
      ...c.link,
      lastSeq: c.lastSeq,
      ageMs: Math.max(0, now - c.lastAt),
      sentPackets: c.sentPackets,
      sentBytes: c.sentBytes,
      dropped: c.dropped,
    }));
  }
}
