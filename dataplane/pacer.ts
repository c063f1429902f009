/**
 * Paced sending: datagrams queue per priority and leave through a token bucket at the
 * configured upload rate, so a node never pushes its uplink (or a socket buffer) past
 * what was configured. Priority 0 (live) always drains before 1 (bulk).
 * rate 0 means unpaced: datagrams go out at once.
 *
 * The cap is charged in wire bytes: each datagram costs its length plus `overheadBytes`
 * (Ethernet 14 + IPv4 20 + UDP 8 by default), because that is what an uplink (or the lab's tbf)
 * counts. Paced on payload alone, a node at its cap would overrun it by 3.5 % with full-size
 * datagrams, and by far more with small ones.
 */
import type { Clock, Timer } from "../seams/clock.js";
import type { Address, Transport } from "../seams/transport.js";
import { WIRE_OVERHEAD_BYTES } from "../protocol/limits.js";
import { TokenBucket } from "../common/token-bucket.js";

export interface PacerConfig {
  /** Upload cap in bytes per second; 0 = no cap. */
  rateBytesPerSec: number;
  /** Bytes that may leave back to back (default: 50 ms worth, at least four 1200-byte datagrams). */
  burstBytes?: number;
  /** Queue limit per priority; beyond it new datagrams are dropped and counted (default 1 MB). */
  maxQueueBytes?: number;
  /** Bytes the link adds to each datagram (default WIRE_OVERHEAD_BYTES). */
  overheadBytes?: number;
}

export interface PacerStats {
  sentBytes: number;
  sentPackets: number;
  droppedPackets: number;
  queuedBytes: number;
}

interface Item {
  data: Uint8Array;
  to: Address;
}

export const PRIORITY_LIVE = 0;
export const PRIORITY_BULK = 1;
const PRIORITIES = 2;

export class Pacer {
  readonly stats: PacerStats = { sentBytes: 0, sentPackets: 0, droppedPackets: 0, queuedBytes: 0 };
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #bucket: TokenBucket | undefined;
  readonly #rate: number;
  readonly #maxQueue: number;
  readonly #overhead: number;
  readonly #queues: Item[][] = Array.from({ length: PRIORITIES }, () => []);
  readonly #heads = new Array<number>(PRIORITIES).fill(0);
  readonly #queued = new Array<number>(PRIORITIES).fill(0);
  /** The least queued per priority since the last takeLowWater. */
  readonly #lowWater = new Array<number>(PRIORITIES).fill(0);
  #timer: Timer | undefined;
  #stopped = false;

  constructor(deps: { clock: Clock; transport: Transport }, config: PacerConfig) {
    this.#clock = deps.clock;
    this.#transport = deps.transport;
    this.#maxQueue = config.maxQueueBytes ?? 1 << 20;
    this.#overhead = Math.max(0, config.overheadBytes ?? WIRE_OVERHEAD_BYTES);
    this.#rate = Math.max(0, config.rateBytesPerSec);
    if (config.rateBytesPerSec > 0) {
      // 50 ms worth, at least four full datagrams: a home uplink's buffer (tens of ms) holds it,
      // and a timer that fires late on a busy box still lets the rate through.
      const burst = config.burstBytes ?? Math.max(4 * 1200, config.rateBytesPerSec / 20);
      this.#bucket = new TokenBucket(config.rateBytesPerSec, burst, deps.clock.now());
    }
  }

  /** The upload cap, bytes per second (0: unpaced). */
  get rateBytesPerSec(): number {
    return this.#rate;
  }

  /** Bytes waiting at one priority. */
  queuedBytesAt(priority: number): number {
    return this.#queued[priority] ?? 0;
  }

  /**
   * The least that was queued at `priority` since the last call: a backlog that never drained
   * in that time (a queue that only peaks after bursts and empties again reads 0). Starts the
   * next measure from what is queued now.
   */
  takeLowWater(priority: number): number {
    const low = this.#lowWater[priority] ?? 0;
    this.#lowWater[priority] = this.#queued[priority] ?? 0;
    return low;
  }

  /** Queues one datagram; false if it was dropped because that priority's queue is full. */
  send(data: Uint8Array, to: Address, priority = PRIORITY_LIVE): boolean {
    if (this.#stopped) return false;
    if (this.#bucket === undefined) {
      this.#emit(data, to);
      return true;
    }
    const p = Math.min(Math.max(priority, 0), PRIORITIES - 1);
    if (this.#queued[p]! + data.length > this.#maxQueue) {
      this.stats.droppedPackets++;
      return false;
    }
    this.#queues[p]!.push({ data, to });
    this.#queued[p]! += data.length;
    this.stats.queuedBytes += data.length;
    this.#drain();
    return true;
  }

  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #drain(): void {
    if (this.#timer !== undefined || this.#bucket === undefined) return;
    const bucket = this.#bucket;
    for (let p = 0; p < PRIORITIES; p++) {
      const q = this.#queues[p]!;
      while (this.#heads[p]! < q.length) {
        const item = q[this.#heads[p]!]!;
        const now = this.#clock.now();
        // Never more than the bucket holds, or a datagram larger than the burst would wait forever.
        const cost = Math.min(item.data.length + this.#overhead, bucket.burstBytes);
        if (!bucket.take(cost, now)) {
          const wait = Math.max(1, bucket.waitMs(cost, now));
          this.#timer = this.#clock.setTimeout(() => {
            this.#timer = undefined;
            this.#drain();
          }, wait);
          return;
        }
        this.#heads[p]!++;
        this.#queued[p]! -= item.data.length;
        if (this.#queued[p]! < this.#lowWater[p]!) this.#lowWater[p] = this.#queued[p]!;
        this.stats.queuedBytes -= item.data.length;
        this.#emit(item.data, item.to);
      }
      // Queue drained: reset it so the array does not grow without bound.
      q.length = 0;
      this.#heads[p] = 0;
    }
  }

  #emit(data: Uint8Array, to: Address): void {
    this.#transport.send(data, to);
    this.stats.sentBytes += data.length;
    this.stats.sentPackets++;
  }
}
