/**
 * A Transport decorator that delays outgoing datagrams by destination prefix, for the network
 * lab (tools/lab/lab.ts). The lab's kernel has no netem qdisc, so the one thing nftables
 * and tbf cannot do — latency and jitter between regions — is done here, in the sender:
 * a datagram to an address inside a rule's prefix reaches `inner.send` after
 * `delayMs ± jitterMs` (uniform, never below 0); anything else goes out at once.
 *
 * Ordering: with no jitter every datagram to one prefix waits the same time, so they leave in
 * the order they were sent. With jitter a later datagram may draw a shorter delay and overtake
 * an earlier one, as on a real jittery path. The queue is bounded (`maxQueued`); past it new
 * datagrams are dropped and counted, like a full router buffer. Rules are tried in order and
 * the first whose prefix holds the destination applies. Timing is as good as the Clock's
 * timers: with the system clock a datagram may leave up to about 1 ms early or a few ms late.
 * Only for the lab and test benches.
 */
import { BlockList, isIP } from "node:net";
import type { Clock, Timer } from "./clock.js";
import type { Address, DatagramHandler, Transport } from "./transport.js";

export interface DelayRule {
  /** CIDR, e.g. "10.77.2.0/24" (IPv4 or IPv6). */
  prefix: string;
  delayMs: number;
  /** Half-width of the uniform jitter: the delay is drawn from delayMs ± jitterMs. */
  jitterMs: number;
}

export interface ImpairedTransportDeps {
  clock: Clock;
  /** Uniform in [0, 1); seeded in tests. */
  random: () => number;
}

export interface ImpairedTransportConfig {
  /** Most datagrams held at once; beyond it new ones are dropped (default 4096). */
  maxQueued?: number;
}

export type ParseDelayRulesResult = { ok: true; rules: DelayRule[] } | { ok: false; error: string };

/** Largest delay or jitter accepted, ms: anything larger is a typo, not a network. */
export const MAX_DELAY_MS = 60_000;
const DEFAULT_MAX_QUEUED = 4096;

/**
 * Parses `10.77.2.0/24=50,10.77.3.0/24=50±5` (`+-` works for `±`). Empty text means no rules.
 * Never throws; the error names the bad part.
 */
export function parseDelayRules(text: string): ParseDelayRulesResult {
  const rules: DelayRule[] = [];
  if (text.trim() === "") return { ok: true, rules };
  for (const raw of text.split(",")) {
    const part = raw.trim();
    const fail = (why: string): ParseDelayRulesResult => ({
      ok: false,
      error: `"${part}": ${why} (expected <cidr>=<ms> or <cidr>=<ms>±<ms>, e.g. 10.77.2.0/24=50±5)`,
    });
    const eq = part.indexOf("=");
    if (eq < 0) return fail("missing '='");
    const prefix = part.slice(0, eq).trim();
    const cidr = parseCidr(prefix);
    if (cidr === undefined) return fail(`"${prefix}" is not a CIDR prefix`);
    const timing = part
      .slice(eq + 1)
      .trim()
      .replace("+-", "±");
    const [delayText = "", jitterText, extra] = timing.split("±");
    if (extra !== undefined) return fail("more than one '±'");
    const delayMs = parseMs(delayText);
    if (delayMs === undefined)
      return fail(`delay "${delayText}" is not a number of ms in 0..${MAX_DELAY_MS}`);
    const jitterMs = jitterText === undefined ? 0 : parseMs(jitterText);
    if (jitterMs === undefined) {
      return fail(`jitter "${jitterText ?? ""}" is not a number of ms in 0..${MAX_DELAY_MS}`);
    }
    rules.push({ prefix, delayMs, jitterMs });
  }
  return { ok: true, rules };
}

/** The inverse of parseDelayRules, for handing rules to a child process. */
export function formatDelayRules(rules: readonly DelayRule[]): string {
  return rules.map((r) => `${r.prefix}=${r.delayMs}${r.jitterMs > 0 ? `±${r.jitterMs}` : ""}`).join(",");
}

interface Held {
  due: number;
  order: number;
  data: Buffer;
  to: Address;
}

interface CompiledRule extends DelayRule {
  match: BlockList;
  family: "ipv4" | "ipv6";
}

export class ImpairedTransport implements Transport {
  /** Datagrams dropped because the queue was full or the transport closed with them held. */
  dropped = 0;
  /** Datagrams that went through a rule (delayed), and those passed straight on. */
  delayed = 0;
  passed = 0;
  readonly #rules: CompiledRule[];
  readonly #maxQueued: number;
  /** Min-heap on (due, order): one timer serves every held datagram. */
  readonly #heap: Held[] = [];
  #order = 0;
  #timer: Timer | undefined;
  #timerAt = Infinity;
  /** The clock, never going back: a wall clock stepping back must not reorder unjittered datagrams. */
  #mono = -Infinity;
  #closed = false;

  constructor(
    readonly inner: Transport,
    rules: readonly DelayRule[],
    private readonly deps: ImpairedTransportDeps,
    config: ImpairedTransportConfig = {},
  ) {
    this.#rules = rules.map((r) => compileRule(r));
    this.#maxQueued = config.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  get local(): Address {
    return this.inner.local;
  }

  /** Datagrams waiting for their delay. */
  get queued(): number {
    return this.#heap.length;
  }

  send(data: Uint8Array, to: Address): void {
    if (this.#closed) return;
    const rule = this.#ruleFor(to.address);
    if (rule === undefined) {
      this.passed++;
      this.inner.send(data, to);
      return;
    }
    if (this.#heap.length >= this.#maxQueued) {
      this.dropped++;
      return;
    }
    this.delayed++;
    const jitter = rule.jitterMs > 0 ? (this.deps.random() * 2 - 1) * rule.jitterMs : 0;
    const due = this.#now() + Math.max(0, rule.delayMs + jitter);
    this.#push({ due, order: this.#order++, data: Buffer.from(data), to: { ...to } });
    this.#arm();
  }

  onDatagram(handler: DatagramHandler): void {
    this.inner.onDatagram(handler);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.dropped += this.#heap.length;
    this.#heap.length = 0;
    return this.inner.close();
  }

  #ruleFor(address: string): CompiledRule | undefined {
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    for (const r of this.#rules) {
      if (r.family === family && r.match.check(address, family)) return r;
    }
    return undefined;
  }

  #arm(): void {
    const head = this.#heap[0];
    if (head === undefined || head.due >= this.#timerAt) return;
    this.deps.clock.clearTimeout(this.#timer);
    this.#timerAt = head.due;
    this.#timer = this.deps.clock.setTimeout(() => this.#fire(), Math.max(0, head.due - this.#now()));
  }

  #now(): number {
    this.#mono = Math.max(this.#mono, this.deps.clock.now());
    return this.#mono;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    for (let head = this.#heap[0]; head !== undefined && head.due <= now; head = this.#heap[0]) {
      this.#pop();
      this.inner.send(head.data, head.to);
      if (this.#closed) return;
    }
    this.#arm();
  }

  #push(h: Held): void {
    const heap = this.#heap;
    heap.push(h);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}

function before(a: Held, b: Held): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}

function compileRule(r: DelayRule): CompiledRule {
  const cidr = parseCidr(r.prefix);
  if (cidr === undefined) throw new Error(`ImpairedTransport: "${r.prefix}" is not a CIDR prefix`);
  const match = new BlockList();
  match.addSubnet(cidr.network, cidr.bits, cidr.family);
  return { ...r, match, family: cidr.family };
}

function parseCidr(text: string): { network: string; bits: number; family: "ipv4" | "ipv6" } | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const network = text.slice(0, slash);
  const bitsText = text.slice(slash + 1);
  const v = isIP(network);
  if (v === 0 || !/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (v === 4 ? 32 : 128)) return undefined;
  return { network, bits, family: v === 4 ? "ipv4" : "ipv6" };
}

function parseMs(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return n <= MAX_DELAY_MS ? n : undefined;
}
