/**
 * The child's side of packet-level repair (pure, clock passed in): which sequence numbers are
 * missing, when to ask for them, and whom.
 *
 * Gaps are found per lane. A lane is one residue class of the channel's sequence numbers that
 * one parent sends in order: on a TREE link substream i (seq mod k = i), on a FEC_TREE link the
 * systematic coded substream i (seq mod fec.k = i). When a lane's packet jumps past the next
 * number of its class, the numbers skipped (and not received some other way) are missing. A
 * loss at the tail of a segment shows no later packet in its lane until the next segment: the
 * caller, which knows a segment's numbers from its META, hands those in with `ask` once the
 * segment has gone quiet (agent/store/segment-repair.ts). Lanes follow the residue, not the parent, so a parent switch that starts ahead leaves its
 * gap to be asked for (make-before-break, packet by packet).
 *
 * A missing number waits `delayMs` (a coded lane longer: parity may rebuild it first; a node
 * with tier-1 mesh neighbours longer too: flooding may bring it), then is asked for: first from
 * the lane's own parent (the loss was most likely on the last link), then, `retryMs` apart,
 * from the node's other parents and mesh neighbours in turn — they all carry the whole stream.
 * After `maxAttempts` it is given up: the segment's HTTP repair (agent/store/segment-repair.ts) takes over.
 * Tier-1 mesh links are flooding, not lanes: a packet comes there by several paths.
 */
import { LinkAlgorithm, type Peer } from "../../protocol/messages.js";
import { addressKey } from "../../seams/transport.js";
import type { Assignment } from "./assignment.js";

export interface NackTrackerConfig {
  /** A gap on a TREE lane is asked for this long after it was seen, ms. */
  delayMs: number;
  /** ...on a FEC_TREE lane (Reed-Solomon parity may rebuild it first), ms. */
  codedDelayMs: number;
  /** ...on a node with tier-1 mesh neighbours (flooding may bring it), ms. */
  meshDelayMs: number;
  /** Next attempt (another parent) this long after the last, ms. */
  retryMs: number;
  maxAttempts: number;
  /**
   * Asks a node may make per new packet it gets (and at most maxAskCredit saved up): a loss
   * storm (a parent gone, a congested path) must not turn into a storm of NACKs and resends on
   * uplinks that are already short; what is not asked for is left to the segment's HTTP repair.
   */
  askShare: number;
  maxAskCredit: number;
  /** `ask` skips numbers past a lane's newest packet while that lane has had one this recently, ms. */
  tailQuietMs: number;
  /** Missing numbers tracked at once (beyond: left to the segment repair). */
  maxMissing: number;
  /** Numbers one jump may add (a longer gap is a restart, not loss). */
  maxGap: number;
}

export const DEFAULT_NACK_TRACKER: NackTrackerConfig = {
  delayMs: 40,
  codedDelayMs: 300,
  meshDelayMs: 150,
  retryMs: 250,
  maxAttempts: 3,
  tailQuietMs: 100,
  askShare: 0.1,
  maxAskCredit: 64,
  maxMissing: 2048,
  maxGap: 512,
};

export interface NackTrackerStats {
  /** Sequence numbers found missing. */
  missing: number;
  /** Requests made (one per number per attempt). */
  asked: number;
  /** Numbers that arrived after being asked for. */
  recovered: number;
  /** Numbers given up after maxAttempts, or dropped because too many were tracked. */
  givenUp: number;
  overflow: number;
  /** Rounds cut short for lack of ask credit. */
  throttled: number;
}

interface Lane {
  modulus: number;
  residue: number;
  coded: boolean;
  parent: Peer;
  last: number | undefined;
  lastAt: number;
}

interface Missing {
  dueAt: number;
  attempts: number;
  /** The lane's parent when the gap was found (asked first). */
  parent: Peer;
}

/** One NACK to send: these numbers, to that parent. */
export interface NackRequest {
  to: Peer;
  seqs: number[];
}

export class NackTracker {
  readonly stats: NackTrackerStats = NackTracker.emptyStats();

  static emptyStats(): NackTrackerStats {
    return { missing: 0, asked: 0, recovered: 0, givenUp: 0, overflow: 0, throttled: 0 };
  }
  readonly #config: NackTrackerConfig;
  #lanes: Lane[] = [];
  /** Everyone who holds the stream and feeds this node: parents, then mesh neighbours. */
  #sources: Peer[] = [];
  #mesh = false;
  readonly #missing = new Map<number, Missing>();
  #credit: number;

  constructor(config: Partial<NackTrackerConfig> = {}) {
    this.#config = { ...DEFAULT_NACK_TRACKER, ...config };
    this.#credit = this.#config.maxAskCredit;
  }

  /** Numbers being tracked now. */
  get size(): number {
    return this.#missing.size;
  }

  /** The lanes and sources of a new assignment; a lane with the same residue keeps its place. */
  setAssignment(a: Assignment, now: number): void {
    const old = new Map(this.#lanes.map((l) => [`${l.modulus}/${l.residue}`, l]));
    const lanes: Lane[] = [];
    a.parents.forEach((p, i) => {
      if (p === null) return;
      const algorithm = p.algorithm ?? LinkAlgorithm.TREE;
      let modulus: number;
      if (algorithm === LinkAlgorithm.TREE) modulus = a.k;
      else if (algorithm === LinkAlgorithm.FEC_TREE && a.fec !== undefined) modulus = a.fec.k;
      else return;
      if (i >= modulus) return; // parity substream: no data numbers of its own
      const before = old.get(`${modulus}/${i}`);
      lanes.push({
        modulus,
        residue: i,
        coded: algorithm === LinkAlgorithm.FEC_TREE,
        parent: p,
        last: before?.last,
        lastAt: before?.lastAt ?? now,
      });
    });
    this.#lanes = lanes;
    this.#mesh = (a.mesh?.length ?? 0) > 0;
    const seen = new Set<string>();
    this.#sources = [];
    for (const p of [...a.parents, ...(a.mesh ?? [])]) {
      if (p === null) continue;
      const key = addressKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      this.#sources.push(p);
    }
  }

  /**
   * A new data packet (received, rebuilt or resent). `settled` tells whether a number needs
   * nothing more (data plane's duplicate window). True when the number had been asked for.
   */
  onPacket(seq: number, now: number, settled: (seq: number) => boolean): boolean {
    const m = this.#missing.get(seq);
    const asked = m !== undefined && m.attempts > 0;
    this.#credit = Math.min(this.#config.maxAskCredit, this.#credit + this.#config.askShare);
    if (m !== undefined) this.#missing.delete(seq);
    if (asked) this.stats.recovered++;
    for (const lane of this.#lanes) {
      if (seq % lane.modulus !== lane.residue) continue;
      if (lane.last === undefined) {
        lane.last = seq;
        lane.lastAt = now;
        continue;
      }
      const diff = (seq - lane.last) | 0;
      if (diff <= 0) continue; // late: a resend, a rebuild, or a former parent's copy
      this.#addRange(lane, lane.last, seq, now, this.#delayOf(lane), 0, settled);
      lane.last = seq;
      lane.lastAt = now;
    }
    return asked;
  }

  /**
   * Numbers known to be missing some other way (a quiet segment's META says which it has):
   * asked for at the next `due`, first of the parent of their lane — except those past the
   * newest packet of a lane that is still flowing (its path is only slower than the others').
   */
  ask(seqs: Iterable<number>, now: number, settled: (seq: number) => boolean): void {
    for (const seq of seqs) {
      const s = seq >>> 0;
      if (this.#missing.has(s) || settled(s)) continue;
      const lane = this.#lanes.find((l) => s % l.modulus === l.residue);
      // Past the lane's newest packet while the lane still flows: late (a slower path), not lost.
      if (
        lane?.last !== undefined &&
        ((s - lane.last) | 0) > 0 &&
        now - lane.lastAt < this.#config.tailQuietMs
      )
        continue;
      const parent = lane?.parent ?? this.#sources[0];
      if (parent === undefined) return;
      if (this.#missing.size >= this.#config.maxMissing) {
        this.stats.overflow++;
        return;
      }
      this.#missing.set(s, { dueAt: now, attempts: 0, parent });
      this.stats.missing++;
    }
  }

  /** Stops asking for the `count` numbers from `first` (their segment is complete). */
  forget(first: number, count: number): void {
    for (const seq of this.#missing.keys()) if ((seq - first) >>> 0 < count) this.#missing.delete(seq);
  }

  /**
   * What to ask for now (grouped by parent). Numbers that arrived meanwhile are dropped; each number asked for waits retryMs for its
   * next attempt.
   */
  due(now: number, settled: (seq: number) => boolean): NackRequest[] {
    const c = this.#config;
    const byPeer = new Map<string, NackRequest>();
    for (const [seq, m] of this.#missing) {
      if (m.dueAt > now) continue;
      if (settled(seq)) {
        this.#missing.delete(seq);
        continue;
      }
      if (m.attempts >= c.maxAttempts) {
        this.#missing.delete(seq);
        this.stats.givenUp++;
        continue;
      }
      if (this.#credit < 1) {
        this.stats.throttled++; // the rest waits for credit (or its segment's HTTP repair)
        break;
      }
      this.#credit--;
      const to = this.#target(seq, m);
      m.attempts++;
      m.dueAt = now + c.retryMs;
      this.stats.asked++;
      const key = addressKey(to);
      const r = byPeer.get(key);
      if (r === undefined) byPeer.set(key, { to, seqs: [seq] });
      else r.seqs.push(seq);
    }
    for (const r of byPeer.values()) r.seqs.sort((x, y) => (x - y) | 0);
    return [...byPeer.values()];
  }

  /** Attempt 0: the lane's parent; then the other sources in turn (the lane's parent if none). */
  #target(seq: number, m: Missing): Peer {
    if (m.attempts === 0) return m.parent;
    const key = addressKey(m.parent);
    const others = this.#sources.filter((s) => addressKey(s) !== key);
    if (others.length === 0) return m.parent;
    return others[(seq + m.attempts) % others.length]!;
  }

  /** Numbers of the lane's class strictly between `from` and `to` that are not settled. */
  #addRange(
    lane: Lane,
    from: number,
    to: number,
    now: number,
    delay: number,
    attempts: number,
    settled: (seq: number) => boolean,
  ): void {
    const step = lane.modulus;
    const span = ((to - from) >>> 0) / step - 1;
    if (span <= 0) return;
    const count = Math.min(Math.floor(span), this.#config.maxGap);
    const first = (to - count * step) >>> 0;
    for (let n = 0; n < count; n++) {
      const seq = (first + n * step) >>> 0;
      if (this.#missing.has(seq) || settled(seq)) continue;
      if (this.#missing.size >= this.#config.maxMissing) {
        this.stats.overflow++;
        continue;
      }
      this.#missing.set(seq, { dueAt: now + delay, attempts, parent: lane.parent });
      this.stats.missing++;
    }
  }

  #delayOf(lane: Lane): number {
    const c = this.#config;
    return lane.coded ? c.codedDelayMs : this.#mesh ? c.meshDelayMs : c.delayMs;
  }
}
