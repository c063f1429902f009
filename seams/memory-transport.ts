/**
 * A simulated datagram network on an injected Clock: each datagram is delivered after a
 * latency, may be lost at random (seeded), and is dropped across a partition. It implements
 * the same Transport as UDP so the same contract tests run against both. A host can also be
 * taken down whole (`down`/`up`: a box or a region losing power or its uplink), which the
 * simulator (sim/) uses for region outages.
 */
import { mulberry32 } from "./prng.js";
import type { Clock } from "./clock.js";
import { addressKey, type Address, type DatagramHandler, type Transport } from "./transport.js";

export interface MemoryNetworkConfig {
  /** One-way latency in ms (default 1). */
  latencyMs?: number;
  /** Extra uniformly distributed jitter in ms (default 0). */
  jitterMs?: number;
  /** Probability in [0,1] that a datagram is lost (default 0). */
  loss?: number;
  /** Seed for loss and jitter. */
  seed?: number;
  /** Largest datagram delivered; larger ones are dropped like an oversized UDP send (default 65507). */
  maxDatagram?: number;
}

export class MemoryNetwork {
  readonly #clock: Clock;
  readonly #config: Required<MemoryNetworkConfig>;
  readonly #endpoints = new Map<string, MemoryTransport>();
  readonly #cut = new Set<string>();
  readonly #down = new Set<string>();
  #rng: () => number;
  #nextPort = 40000;
  delivered = 0;
  dropped = 0;
  /** Bytes of the datagrams delivered. */
  deliveredBytes = 0;

  constructor(clock: Clock, config: MemoryNetworkConfig = {}) {
    this.#clock = clock;
    this.#config = {
      latencyMs: config.latencyMs ?? 1,
      jitterMs: config.jitterMs ?? 0,
      loss: config.loss ?? 0,
      seed: config.seed ?? 1,
      maxDatagram: config.maxDatagram ?? 65507,
    };
    this.#rng = mulberry32(this.#config.seed);
  }

  /** Binds an endpoint; port 0 picks a free one. Throws if the address is taken. */
  bind(address: string, port = 0): MemoryTransport {
    const local = { address, port: port === 0 ? this.#nextPort++ : port };
    const key = addressKey(local);
    if (this.#endpoints.has(key)) throw new Error(`address in use: ${key}`);
    const t = new MemoryTransport(this, local);
    this.#endpoints.set(key, t);
    return t;
  }

  /** Drops every datagram between hosts a and b (both directions) until `heal`. */
  partition(a: string, b: string): void {
    this.#cut.add(pairKey(a, b));
  }

  heal(a: string, b: string): void {
    this.#cut.delete(pairKey(a, b));
  }

  /** Host `address` is down: every datagram from or to it is dropped (sent or in flight) until `up`. */
  down(address: string): void {
    this.#down.add(address);
  }

  up(address: string): void {
    this.#down.delete(address);
  }

  isDown(address: string): boolean {
    return this.#down.has(address);
  }

  /** @internal */
  deliver(from: Address, to: Address, data: Uint8Array): void {
    const c = this.#config;
    if (
      data.length > c.maxDatagram ||
      (this.#cut.size > 0 && this.#cut.has(pairKey(from.address, to.address))) ||
      (this.#down.size > 0 && (this.#down.has(from.address) || this.#down.has(to.address))) ||
      (c.loss > 0 && this.#rng() < c.loss)
    ) {
      this.dropped++;
      return;
    }
    const copy = Buffer.from(data);
    // Whole milliseconds, as a real clock reads (wire timestamps are integers).
    const delay = Math.round(c.latencyMs + (c.jitterMs > 0 ? this.#rng() * c.jitterMs : 0));
    this.#clock.setTimeout(() => {
      const dest = this.#endpoints.get(addressKey(to));
      if (dest === undefined || (this.#down.size > 0 && this.#down.has(to.address))) {
        this.dropped++;
        return;
      }
      this.delivered++;
      this.deliveredBytes += copy.length;
      dest.receive(copy, from);
    }, delay);
  }

  /** @internal */
  unbind(t: MemoryTransport): void {
    this.#endpoints.delete(addressKey(t.local));
  }
}

export class MemoryTransport implements Transport {
  #handler: DatagramHandler = () => {};
  #closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly local: Address,
  ) {}

  send(data: Uint8Array, to: Address): void {
    if (!this.#closed) this.network.deliver(this.local, to, data);
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /** @internal */
  receive(data: Buffer, from: Address): void {
    if (!this.#closed) this.#handler(data, from);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.network.unbind(this);
    return Promise.resolve();
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
