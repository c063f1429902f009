/**
 * What a DCM worker does with the datagrams the front hands it (worker-main.ts): not all at
 * once. Under a flood the front posts batch after batch, and the worker's port delivers every
 * message waiting before the event loop moves on; handled as they came, a second's worth of
 * JOINs would hold the loop for that second — no timer (liveness, the planner, the admission
 * slices) would run and no HEARTBEAT_ACK would leave (the outbox posts at setImmediate), so
 * nodes would take control for dead (their detector allows half a heartbeat interval).
 *
 * So arriving datagrams are only queued, in two lanes: HEARTBEAT, LEAVE and RESUME (from
 * established sessions — a RESUME needs a ticket — cheap to check, and what keeps them alive)
 * go first, everything else (JOIN, ...) after, each lane in arrival order. A drain at setImmediate handles them for at most
 * `budgetMs` of wall time, then yields a loop turn (timers run, the outbox posts) and goes on.
 * Both lanes are bounded: past `maxQueued` datagrams the oldest of the lane is dropped and
 * counted — the same as the socket's buffer overflowing, which is what it replaces.
 *
 * The lane comes from a peek at the envelope's type (protocol/envelope-peek.ts: a canonical
 * envelope starts `map, 0, v, 1, type`). The peek is untrusted and only schedules: every
 * datagram is decoded and authenticated as before whichever lane it took.
 */
import { Fifo } from "../../common/fifo.js";
import { peekType } from "../../protocol/envelope-peek.js";
import { MsgType } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";

export interface InboundDeps {
  /** Schedules `fn` after the current turn (setImmediate in the worker). */
  defer(fn: () => void): void;
  /** Wall clock, ms (performance.now in the worker). */
  now(): number;
  /** Hands one datagram to the server. */
  deliver(data: Buffer, from: Address): void;
}

export interface InboundConfig {
  /** Wall time one drain may take before it yields a loop turn, ms. */
  budgetMs: number;
  /** Datagrams each lane holds at most. */
  maxQueued: number;
}

export { peekType };

/** 8 ms a turn; 65,536 datagrams a lane (about the 8 MiB receive buffer's worth of heartbeats). */
export const DEFAULT_INBOUND: InboundConfig = { budgetMs: 8, maxQueued: 65_536 };

interface Item {
  data: Buffer;
  from: Address;
}

export class InboundQueue {
  readonly #deps: InboundDeps;
  readonly #config: InboundConfig;
  readonly #urgent = new Fifo<Item>();
  readonly #rest = new Fifo<Item>();
  #scheduled = false;
  #stopped = false;
  /** Datagrams dropped because their lane was full; drains that yielded with work left. */
  dropped = 0;
  yields = 0;

  constructor(deps: InboundDeps, config: InboundConfig = DEFAULT_INBOUND) {
    this.#deps = deps;
    this.#config = config;
  }

  get depth(): number {
    return this.#urgent.size + this.#rest.size;
  }

  push(data: Buffer, from: Address): void {
    if (this.#stopped) return;
    const t = peekType(data);
    const urgent = t === MsgType.HEARTBEAT || t === MsgType.LEAVE || t === MsgType.RESUME;
    const lane = urgent ? this.#urgent : this.#rest;
    if (lane.size >= this.#config.maxQueued) {
      lane.shift();
      this.dropped++;
    }
    lane.push({ data, from });
    this.#schedule();
  }

  /** Drops what waits and takes nothing more. */
  stop(): void {
    this.#stopped = true;
    while (this.#urgent.shift() !== undefined);
    while (this.#rest.shift() !== undefined);
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#deps.defer(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const start = this.#deps.now();
    let n = 0;
    for (;;) {
      const item = this.#urgent.shift() ?? this.#rest.shift();
      if (item === undefined) return;
      this.#deps.deliver(item.data, item.from);
      // The clock is read every 16 datagrams: each costs microseconds, a read costs less.
      if ((++n & 15) === 0 && this.#deps.now() - start >= this.#config.budgetMs) break;
    }
    if (this.depth > 0) {
      this.yields++;
      this.#schedule();
    }
  }
}
