/**
 * The agent's data plane: datagrams in, datagrams out.
 *
 * Each datagram is classified and decoded (malformed ones are counted by code and dropped;
 * an unknown data version is logged once per sender). A packet is accepted only from the
 * address of an assigned parent (any substream) or tier-1 mesh neighbour — or, for a short
 * grace after an ASSIGN, of a parent it replaced (make-before-break) — and only once: a bounded
 * sequence window drops duplicates. Accepted bytes are forwarded unchanged, through the Pacer at
 * the configured upload rate, by link algorithm (forwardTargets): mesh neighbours get every new
 * packet but from its sender (flooding); a TREE child the packets of the substreams in its mask;
 * a FEC_TREE child the coded substreams in its mask: data packet seq is coded substream
 * seq mod fec.k, parity j >= fec.k comes from the node at the top of the coded tree (fec-relay.ts:
 * encoder, decoder, parity relay). The packet goes to the `sink` (the assembler). The per-link state (last packet time and
 * sequence number per parent and child) feeds the FIG. 9 heartbeat.
 *
 * Packet-level repair: gaps in a parent's lane are asked for with NACKs (nack-tracker.ts), first
 * from that parent, then from the others; a NACK from a child is answered from the packets held
 * here, within the child's credit and only while the upload has room (dataplane/nack-responder.ts).
 */
import type { Pacer } from "../../dataplane/pacer.js";
import { PRIORITY_BULK, PRIORITY_LIVE } from "../../dataplane/pacer.js";
import { classifyDatagram, decodeData, encodeData } from "../../protocol/data-codec.js";
import { FLAG_NACK, FLAG_PARITY } from "../../protocol/limits.js";
import {
  type ChildLink,
  type DataPacket,
  type FecParams,
  type LinkState,
  type Peer,
} from "../../protocol/messages.js";
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { addressKey, type Address } from "../../seams/transport.js";
import { DEFAULT_SEQ_WINDOW, SeqWindow } from "./seq-window.js";
import { UploadGuard } from "./upload-guard.js";
import { FecRelay, type FecRelayStats } from "./fec-relay.js";
import { childWants, forwardTargets, sameLinks, type Assignment } from "./assignment.js";
import type { NackTrackerConfig } from "./nack-tracker.js";
import type { NackResponderConfig } from "../../dataplane/nack-responder.js";
import { NackRepair, type NackStats } from "./packet-repair.js";
import { SubstreamBuffers } from "./substream-buffers.js";
import { LossSampler } from "./loss-sampler.js";

export interface DataPlaneDeps {
  clock: Clock;
  logger: Logger;
  pacer: Pacer;
  /**
   * Receives every accepted, non-duplicate packet (its payload is a view into the datagram) and
   * the address key of the parent it came from ("" for a packet rebuilt from parity).
   */
  sink: (packet: DataPacket, from: string) => void;
}

export interface DataPlaneConfig {
  /** Sequence numbers remembered for duplicate suppression. */
  seqWindow: number;
  /** How long packets from a parent that an ASSIGN replaced are still accepted, ms. */
  formerParentGraceMs: number;
  /**
   * Make-before-break on the sending side: a child an ASSIGN took away keeps getting its
   * substreams this long, while its new parent starts (it drops the duplicates), ms. Sent at
   * bulk priority: only with upload the live stream leaves free.
   */
  formerChildGraceMs: number;
  /** Pacer priority of forwarded packets: PRIORITY_LIVE (default), PRIORITY_BULK for a VoD channel. */
  priority?: number;
  /** Packet-level repair: false turns asking for missing packets off (answering stays on). */
  nack?: Partial<NackTrackerConfig> | false;
  nackResponder?: Partial<NackResponderConfig>;
}

/** How often incomplete FEC groups are coded (and old ones forgotten) and NACKs sent, ms. */
const TICK_MS = 25;

export const DEFAULT_DATA_PLANE: DataPlaneConfig = {
  seqWindow: DEFAULT_SEQ_WINDOW.size,
  formerParentGraceMs: 2000,
  formerChildGraceMs: 1500,
};

export interface DataPlaneStats {
  /** Data packets accepted (duplicates included). */
  received: number;
  duplicates: number;
  /** From an address that is not an assigned parent, or for another channel. */
  rejected: number;
  /** Undecodable datagrams, by DecodeError code ("E_UNKNOWN_KIND": neither data nor control). */
  malformed: Record<string, number>;
  /** Bytes of accepted data datagrams. */
  peerBytesReceived: number;
  /** Data packets rebuilt from Reed-Solomon parity. */
  recovered: number;
  /** Packets sent to children during their make-before-break grace. */
  formerChildSends: number;
}

interface LinkStats {
  lastAt: number | undefined;
  lastSeq: number;
}

/** Senders remembered for "logged once" warnings. */
const MAX_WARNED = 1024;

export class DataPlane {
  readonly stats: DataPlaneStats = {
    received: 0,
    duplicates: 0,
    rejected: 0,
    malformed: {},
    peerBytesReceived: 0,
    recovered: 0,
    formerChildSends: 0,
  };
  readonly #deps: DataPlaneDeps;
  readonly #config: DataPlaneConfig;
  #window: SeqWindow;
  #assignment: Assignment | undefined;
  #assignedAt = 0;
  /** Parent address key -> the parent's node id. */
  #parents = new Map<string, number>();
  /** Former parents still accepted until the time given. */
  readonly #former = new Map<string, number>();
  /** Children an ASSIGN took away, still fed until `until` (make-before-break). */
  readonly #formerChildren = new Map<
    string,
    { link: ChildLink; until: number; fec: FecParams | undefined }
  >();
  readonly #parentLinks = new Map<string, LinkStats>();
  readonly #childLinks = new Map<string, LinkStats>();
  readonly #buffers = new SubstreamBuffers();
  readonly #warned = new Set<string>();
  readonly #guard = new UploadGuard();
  #fec: FecRelay | undefined;
  #timer: Timer | undefined;
  readonly #nack: NackRepair;
  /** Addresses this node feeds (children, mesh neighbours): whose NACKs it answers. */
  #fed = new Set<string>();
  /** Loss sampling (region quality). */
  readonly #loss = new LossSampler();

  constructor(deps: DataPlaneDeps, config: Partial<DataPlaneConfig> = {}) {
    this.#deps = deps;
    this.#config = { ...DEFAULT_DATA_PLANE, ...config };
    this.#window = new SeqWindow({ ...DEFAULT_SEQ_WINDOW, size: this.#config.seqWindow });
    this.#nack = new NackRepair(
      { pacer: deps.pacer },
      { ask: this.#config.nack ?? {}, answer: this.#config.nackResponder ?? {} },
    );
  }

  get assignment(): Assignment | undefined {
    return this.#assignment;
  }

  /** Bytes sent to children (what left the pacer). */
  get peerBytesSent(): number {
    return this.#deps.pacer.stats.sentBytes;
  }

  get malformedTotal(): number {
    return Object.values(this.stats.malformed).reduce((a, b) => a + b, 0);
  }

  /** Applies an assignment; the data plane keeps running on it until the next one. */
  setAssignment(a: Assignment): void {
    const now = this.#deps.clock.now();
    const before = this.#assignment;
    const next = new Map<string, number>();
    for (const p of a.parents) if (p !== null) next.set(addressKey(p), p.node);
    for (const p of a.mesh ?? []) next.set(addressKey(p), p.node);
    for (const key of this.#parents.keys()) {
      if (!next.has(key)) this.#former.set(key, now + this.#config.formerParentGraceMs);
    }
    for (const key of next.keys()) this.#former.delete(key);
    if (this.#assignment !== undefined && this.#assignment.channel !== a.channel) {
      this.#window = new SeqWindow({ ...DEFAULT_SEQ_WINDOW, size: this.#config.seqWindow });
      this.#buffers.clear();
      this.#nack.reset();
    }
    this.#parents = next;
    this.#assignment = {
      ...a,
      parents: [...a.parents],
      children: [...a.children],
      ...(a.mesh === undefined ? {} : { mesh: [...a.mesh] }),
    };
    this.#assignedAt = now;
    this.#guard.reset();
    if (before?.channel !== a.channel) this.#formerChildren.clear();
    const kept = new Set(a.children.map((c) => addressKey(c)));
    for (const key of kept) this.#formerChildren.delete(key);
    if (before !== undefined && before.channel === a.channel)
      for (const c of before.children) {
        const key = addressKey(c);
        if (!kept.has(key))
          this.#formerChildren.set(key, {
            link: c,
            until: now + this.#config.formerChildGraceMs,
            fec: before.fec,
          });
      }
    // New coded links: a new relay (new targets); with the same code it carries on the groups in flight.
    const f = this.#fec;
    const same =
      f !== undefined &&
      a.fec !== undefined &&
      f.fec.k === a.fec.k &&
      f.fec.n === a.fec.n &&
      sameLinks(before, a);
    if (!same) this.#fec = FecRelay.for({ clock: this.#deps.clock }, this.#assignment, {}, f);
    this.#fed = new Set([...a.children, ...(a.mesh ?? [])].map((c) => addressKey(c)));
    this.#nack.setAssignment(this.#assignment, this.#fed, now);
    if (this.#timer === undefined) this.#timer = this.#deps.clock.setInterval(() => this.tick(), TICK_MS);
    forgetExcept(this.#parentLinks, new Set([...next.keys(), ...this.#former.keys()]));
    forgetExcept(
      this.#childLinks,
      new Set([...a.children.map((c) => addressKey(c)), ...(a.mesh ?? []).map((m) => addressKey(m))]),
    );
  }

  /** One datagram that is not a control message. */
  onDatagram(buf: Uint8Array, from: Address): void {
    if (classifyDatagram(buf) !== "data") {
      // Data packets start with their version byte: a small number is a newer data version.
      const first = buf[0];
      if (first !== undefined && first > 1 && first < 0x20)
        this.#warnOnce("unknown_version", from, { version: first });
      this.#malformed("E_UNKNOWN_KIND");
      return;
    }
    const r = decodeData(buf);
    if (!r.ok) {
      if (r.error.code === "E_BAD_VERSION") this.#warnOnce("unknown_version", from, { version: buf[0] });
      this.#malformed(r.error.code);
      return;
    }
    const p = r.value;
    const a = this.#assignment;
    const key = addressKey(from);
    const now = this.#deps.clock.now();
    if ((p.flags & FLAG_NACK) !== 0) {
      this.#onNack(p, from, key, now);
      return;
    }
    if (a === undefined || p.channel !== a.channel || !this.#isParent(key, now)) {
      this.stats.rejected++;
      return;
    }
    this.stats.received++;
    this.stats.peerBytesReceived += buf.length;
    const link = this.#parentLinks.get(key) ?? { lastAt: undefined, lastSeq: 0 };
    link.lastAt = now;
    link.lastSeq = p.seq; // parity: its group's first seq
    this.#parentLinks.set(key, link);
    if ((p.flags & FLAG_PARITY) !== 0) {
      this.#onParity(buf, p, now);
      return;
    }
    if (this.#window.check(p.seq) !== "new") {
      this.stats.duplicates++;
      return;
    }
    // Loss as the link delivered it: a packet that came because it was asked for is repair.
    if (!this.#accept(buf, p, key, now)) this.#loss.onReceived();
  }

  /**
   * A new data packet (received, rebuilt from parity, or resent): forward, code, sink. True when
   * it had been asked for with a NACK.
   */
  #accept(buf: Uint8Array, p: DataPacket, fromKey: string, now: number): boolean {
    const a = this.#assignment!;
    this.#buffers.count(p.segmentId, p.substream, a.k);
    const asked = this.#nack.onPacket(p.seq, buf, now, this.#settled);
    for (const to of forwardTargets(a, p, fromKey)) this.#send(buf, to, p.seq, now);
    if (this.#formerChildren.size > 0) this.#feedFormer(buf, p, fromKey, now);
    if (this.#fec !== undefined) {
      const { parity, rebuilt } = this.#fec.onData(p);
      this.#sendParity(parity, now);
      this.#deliverRebuilt(rebuilt, now);
    }
    this.#deps.sink(p, fromKey);
    return asked;
  }

  readonly #settled = (seq: number): boolean => this.#window.settled(seq);

  /** A NACK: answered if it comes from an address this node feeds (dataplane/nack-responder.ts). */
  #onNack(p: DataPacket, from: Address, key: string, now: number): void {
    const feeds = (channel: number): boolean =>
      channel === this.#assignment?.channel &&
      (this.#fed.has(key) || (this.#formerChildren.get(key)?.until ?? 0) > now);
    const bad = this.#nack.onNack(p, from, key, feeds);
    if (bad !== undefined) this.#malformed(bad);
  }

  /** A segment was committed (by packets, or over HTTP): its numbers are not asked for any more. */
  segmentDone(firstSeq: number, count: number): void {
    this.#nack.segmentDone(firstSeq, count);
  }

  /**
   * Asks the parents for these numbers (a quiet segment's missing packets, from its META);
   * those already held or already being asked for are skipped.
   */
  askFor(seqs: Iterable<number>): void {
    this.#nack.askFor(seqs, this.#deps.clock.now(), this.#settled);
  }

  /** Parity: forwarded once to the coded children that take its index; may rebuild packets. */
  #onParity(buf: Uint8Array, p: DataPacket, now: number): void {
    const fec = this.#fec;
    if (fec === undefined) {
      this.stats.rejected++;
      return;
    }
    const { fresh, rebuilt } = fec.onParity(p);
    if (!fresh) {
      this.stats.duplicates++;
      return;
    }
    for (const to of fec.parityTargets(p.fecIndex)) this.#send(buf, to, p.seq, now);
    this.#deliverRebuilt(rebuilt, now);
  }

  /** Make-before-break: children taken away by the last ASSIGN, during their grace. */
  #feedFormer(buf: Uint8Array, p: DataPacket, fromKey: string, now: number): void {
    for (const [key, f] of this.#formerChildren) {
      if (f.until <= now) {
        this.#formerChildren.delete(key);
        continue;
      }
      if (key !== fromKey && childWants(f.link, f.fec, p)) {
        this.stats.formerChildSends++;
        // Best effort, from what the live stream leaves free: a node with less than twice the
        // stream's upload would otherwise queue up during every grace and shed children.
        this.#send(buf, f.link, p.seq, now, PRIORITY_BULK);
      }
    }
  }

  #sendParity(parity: readonly Buffer[], now: number): void {
    const fec = this.#fec;
    if (fec === undefined) return;
    for (const d of parity) {
      // fecIndex is byte 13 of the header (data-codec.ts).
      for (const to of fec.parityTargets(d[13]!)) this.#send(d, to, d.readUInt32BE(8), now);
    }
  }

  #deliverRebuilt(rebuilt: readonly DataPacket[], now: number): void {
    for (const r of rebuilt) {
      if (this.#window.check(r.seq) !== "new") continue; // it arrived on its own meanwhile
      this.stats.recovered++;
      this.#accept(encodeData(r, r.payload), r, "", now);
    }
  }

  #send(
    buf: Uint8Array,
    to: Peer,
    seq: number,
    now: number,
    priority = this.#config.priority ?? PRIORITY_LIVE,
  ): void {
    const ck = addressKey(to);
    if (this.#guard.isShed(ck)) return;
    this.#deps.pacer.send(buf, to, priority);
    this.#nack.sentTo(ck);
    const cl = this.#childLinks.get(ck) ?? { lastAt: undefined, lastSeq: 0 };
    cl.lastAt = now;
    cl.lastSeq = seq;
    this.#childLinks.set(ck, cl);
  }

  /** Periodic (every TICK_MS): codes groups left incomplete, forgets old ones, asks for what is missing. */
  tick(): void {
    const now = this.#deps.clock.now();
    if (this.#fec !== undefined) this.#sendParity(this.#fec.tick(now), now);
    const a = this.#assignment;
    if (a !== undefined) this.#nack.tick(a.channel, now, this.#settled);
  }

  /** Packet-level repair counters. */
  get nackStats(): NackStats {
    return this.#nack.stats;
  }

  /**
   * Sequence numbers of the channel never received (nor rebuilt) since the window started,
   * not counting the newest `horizon` (default 256: still in flight or reordered).
   */
  missed(horizon = 256): number {
    return this.#window.missed(horizon);
  }

  /** Erasure-coded tier counters (undefined without coded links). */
  get fecStats(): FecRelayStats | undefined {
    return this.#fec?.stats;
  }

  /** Children shed over the upload cap since the last ASSIGN (HEARTBEAT resources.shed). */
  get shedCount(): number {
    return this.#guard.shedCount;
  }

  /**
   * Once per heartbeat interval: over the upload cap for a while, sheds the lowest-priority child
   * (upload-guard.ts). Returns the child shed now, if any.
   */
  checkUpload(): ChildLink | undefined {
    const a = this.#assignment;
    if (a === undefined) return undefined;
    const pacer = this.#deps.pacer;
    // The backlog that never drained this interval: bursts (a whole segment forwarded at once)
    // that the cap clears in time are not an overload.
    const shed = this.#guard.check(pacer.takeLowWater(PRIORITY_LIVE), pacer.rateBytesPerSec, a.children);
    if (shed !== undefined)
      this.#deps.logger.warn("child_shed", { child: shed.node, shed: this.#guard.shedCount });
    return shed;
  }

  /**
   * Data packets lost since the last call, 0..1, before any repair: 1 - new packets received /
   * sequence numbers the channel advanced by. Undefined when nothing was expected (no data yet,
   * or the stream did not move).
   */
  lossSample(): number | undefined {
    return this.#loss.sample(this.#window.highest);
  }

  /** P_1..P_k of the heartbeat at local time `ts`: age of the last packet and its seq, per substream. */
  parentStates(ts: number): Array<LinkState | null> {
    const a = this.#assignment;
    if (a === undefined) return [];
    return a.parents.map((p) =>
      p === null ? null : this.#linkState(p.node, this.#parentLinks.get(addressKey(p)), ts),
    );
  }

  /** C_1..C_m of the heartbeat: age of the last packet sent to each child and its seq. */
  childStates(ts: number): LinkState[] {
    const a = this.#assignment;
    if (a === undefined) return [];
    return a.children.map((c) => this.#linkState(c.node, this.#childLinks.get(addressKey(c)), ts));
  }

  /**
   * S_1..S_k: packets held per substream for segments after `playing` (all counted segments
   * when undefined: the player has not started).
   */
  buffers(playing: number | undefined): number[] {
    return this.#buffers.buffers(playing, this.#assignment?.k ?? 1);
  }

  stop(): void {
    if (this.#timer !== undefined) this.#deps.clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#deps.pacer.stop();
  }

  #isParent(key: string, now: number): boolean {
    if (this.#parents.has(key)) return true;
    const until = this.#former.get(key);
    if (until === undefined) return false;
    if (now <= until) return true;
    this.#former.delete(key);
    return false;
  }

  #linkState(node: number, l: LinkStats | undefined, ts: number): LinkState {
    // A link with no packet yet is as old as the assignment that made it.
    const since = l?.lastAt ?? this.#assignedAt;
    return { node, ageMs: Math.max(0, ts - since), lastSeq: l?.lastSeq ?? 0 };
  }

  #malformed(code: string): void {
    this.stats.malformed[code] = (this.stats.malformed[code] ?? 0) + 1;
  }

  #warnOnce(event: string, from: Address, fields: Record<string, unknown>): void {
    const key = `${event} ${addressKey(from)}`;
    if (this.#warned.has(key) || this.#warned.size >= MAX_WARNED) return;
    this.#warned.add(key);
    this.#deps.logger.warn(event, { from: addressKey(from), ...fields });
  }
}

function forgetExcept<V>(m: Map<string, V>, keep: Set<string>): void {
  for (const key of m.keys()) if (!keep.has(key)) m.delete(key);
}
