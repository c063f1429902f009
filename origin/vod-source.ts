/**
 * The VoD carousel: sends a file's chunks 0, 1, ..., n-1 at a configured bulk rate, then
 * starts over, for as long as the channel is offered. Looping (instead of sending each chunk a
 * fixed number of times) means an agent that joins late, or lost a chunk, gets every chunk
 * again within one round without asking anyone; what it needs sooner it fetches from the
 * origin's HTTP fallback. The rate is the channel's streamKbps, so the tree is planned for it.
 *
 * Timing comes from the injected Clock: chunk i goes out len(i) x 8 / kbps ms after chunk i-1
 * (len(i) = its bytes; packet headers ride in the pacer's margin). A late timer does not
 * cause a burst: when more than one chunk behind, the schedule restarts from now.
 */
import type { Clock, Timer } from "../seams/clock.js";

export interface VodCarouselConfig {
  /** Chunks in the file. */
  chunks: number;
  /** Bytes of chunk i (the last one may be short). */
  chunkLength: (index: number) => number;
  /** Bulk rate, kbit/s. */
  kbps: number;
  /** Chunk to start with (a restarted origin continues its round; default 0). */
  firstIndex?: number;
}

export interface VodCarouselStats {
  /** Chunks sent since start. */
  sent: number;
  /** Full rounds completed. */
  rounds: number;
  /** The next chunk to send. */
  next: number;
}

export class VodCarousel {
  readonly #clock: Clock;
  readonly #config: VodCarouselConfig;
  #next: number;
  #sent = 0;
  #rounds = 0;
  #dueAt = 0;
  #timer: Timer | undefined;
  #send: ((index: number) => void) | undefined;

  constructor(deps: { clock: Clock }, config: VodCarouselConfig) {
    if (!Number.isInteger(config.chunks) || config.chunks < 1) throw new RangeError("chunks must be >= 1");
    if (!(config.kbps > 0)) throw new RangeError("kbps must be > 0");
    this.#clock = deps.clock;
    this.#config = config;
    const first = config.firstIndex ?? 0;
    this.#next = Number.isInteger(first) && first >= 0 && first < config.chunks ? first : 0;
  }

  get stats(): VodCarouselStats {
    return { sent: this.#sent, rounds: this.#rounds, next: this.#next };
  }

  /** ms between chunk `index` and the next one at the configured rate. */
  intervalMs(index: number): number {
    return (this.#config.chunkLength(index) * 8) / this.#config.kbps;
  }

  /** Sends the first chunk at once, the rest on schedule. */
  start(send: (index: number) => void): void {
    if (this.#send !== undefined) return;
    this.#send = send;
    this.#dueAt = this.#clock.now();
    this.#tick();
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#send = undefined;
  }

  #tick(): void {
    const send = this.#send;
    if (send === undefined) return;
    const index = this.#next;
    this.#next = (index + 1) % this.#config.chunks;
    if (this.#next === 0) this.#rounds++;
    this.#sent++;
    send(index);
    if (this.#send === undefined) return; // stopped from inside send
    const now = this.#clock.now();
    this.#dueAt += this.intervalMs(index);
    if (this.#dueAt < now - this.intervalMs(index)) this.#dueAt = now; // too far behind: no burst
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, this.#dueAt - now));
  }
}
