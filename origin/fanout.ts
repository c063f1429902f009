/**
 * The origin's children (the top of the tree, as the latest ASSIGN says) and what was sent to
 * each: every packet of substream s goes, through the Pacer, to each child whose substream
 * bitmask has bit s. Per child it remembers the last sequence number sent and when, for the
 * HEARTBEAT's C_1..C_m link states.
 */
import type { Pacer } from "../common/pacer.js";
import { PRIORITY_LIVE } from "../common/pacer.js";
import type { ChildLink, LinkState } from "../protocol/messages.js";
import type { Packet } from "./packetizer.js";

interface ChildState {
  link: ChildLink;
  lastSeq: number;
  /** When the last packet was queued for it; the assignment time until then. */
  lastAt: number;
  sentPackets: number;
  sentBytes: number;
  dropped: number;
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

  constructor(private readonly pacer: Pacer) {}

  /** Takes the children of a new ASSIGN; a child that stays keeps its link state. */
  assign(children: readonly ChildLink[], now: number): void {
    const before = new Map(this.#children.map((c) => [c.link.node, c]));
    this.#children = children.map((link) => {
      const old = before.get(link.node);
      return old !== undefined
        ? { ...old, link }
        : { link, lastSeq: 0, lastAt: now, sentPackets: 0, sentBytes: 0, dropped: 0 };
    });
  }

  get size(): number {
    return this.#children.length;
  }

  /** Queues each packet for every child that takes its substream; returns datagrams queued. */
  send(packets: readonly Packet[], now: number): number {
    let queued = 0;
    for (const p of packets) {
      const bit = 1 << p.substream;
      for (const c of this.#children) {
        if ((c.link.substreams & bit) === 0) continue;
        if (!this.pacer.send(p.datagram, { address: c.link.address, port: c.link.port }, PRIORITY_LIVE)) {
          c.dropped++;
          continue;
        }
        c.lastSeq = p.seq;
        c.lastAt = now;
        c.sentPackets++;
        c.sentBytes += p.datagram.length;
        queued++;
      }
    }
    return queued;
  }

  /** C_1..C_m for a HEARTBEAT stamped `now`. */
  linkStates(now: number): LinkState[] {
    return this.#children.map((c) => ({
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
