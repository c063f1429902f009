/**
 * The JOIN's costliest cryptography, done on libuv's thread pool ahead of the JOIN's turn, so
 * that the thread running control (a DCM worker) goes on reading heartbeats meanwhile
 * (docs/performance.md, "Joins: where control's CPU goes"):
 *
 * - SignatureChecks: a JOIN that passed its cheap checks (cookie, rate limits) waits in the
 *   admission queue; its Ed25519 signature (about 110 µs on the thread, 11 µs to hand to the
 *   pool) is checked on the pool meanwhile, the JOINs nearest their turn first, a bounded number
 *   at a time (checking every arrival at once would check resends that replace each other in
 *   the queue, and JOINs turned away). When its turn comes the responder takes the verdict if it
 *   is in, for exactly these bytes and this key; otherwise it checks the signature itself, as
 *   before. Only a pure function of the datagram moves: every check that reads state (freshness,
 *   revocation, enrolment, origin binding) still runs at the JOIN's turn, in order.
 * - EphemeralStock: control's X25519 ephemerals (about 50 µs each on the thread, 12 µs to hand
 *   to the pool), generated on the pool ahead of use. Each is taken once and never given out
 *   again; an empty stock makes one on the spot.
 *
 * Both are bounded (requests on the pool at once, keys held), and neither changes a verdict:
 * without the pool's answer (not back yet, or a simulation that never runs the event loop) the
 * thread does the work itself, so the outcome never depends on timing.
 */
import { generateKeyPair, type JsonWebKey, type KeyObject, verify } from "node:crypto";
import { ed25519Key, SIGNATURE_BYTES } from "../../protocol/auth.js";
import type { Ephemeral } from "../../protocol/handshake.js";
import { PUBLIC_KEY_BYTES } from "../../protocol/limits.js";

/**
 * JOINs checked ahead of their turn at most (on the pool, or checked and waiting for the turn):
 * the JOINs nearest their turn. Not more: a check far ahead would be wasted on the node's resend
 * (which replaces its datagram in the queue) or on a JOIN that is turned away meanwhile.
 */
export const SIGNATURES_AHEAD = 64;
/** JOINs remembered while they wait for a check, at most. */
export const SIGNATURES_HELD = 4096;

/** The bytes a signed envelope ends with before its signature: key 6, a 64-byte bstr. */
const SIGNATURE_HEADER = Uint8Array.of(0x06, 0x58, 0x40);

interface Check {
  requester: string;
  /** The datagram as it came (its turn comes with this very Buffer). */
  source: Uint8Array;
  rawKey: Uint8Array;
  ts: number;
  /** When it was offered (or replaced by a resend), ms. */
  at: number;
  state: "waiting" | "out" | "done";
  /** A copy of the bytes and key checked (made when the check starts): a verdict is only for exactly these. */
  copy?: { data: Buffer; key: Buffer };
  ok: boolean;
}

/**
 * The JOINs waiting for their turn, mirrored in the admission queue's order (control/admission.ts:
 * one entry per requester, first come first checked, a newer resend replacing the waiting
 * datagram in place, one no newer ignored as the queue drops it), checked on the pool oldest
 * first, at most `ahead` of them checked and not yet taken. A JOIN turned away (BUSY) is
 * forgotten (`dropped`); one that waited longer than the queue keeps a JOIN is never checked,
 * and a check whose turn did not come within that time gives up its room.
 */
export class SignatureChecks {
  readonly #context: Buffer;
  readonly #now: () => number;
  readonly #maxWaitMs: number;
  readonly #ahead: number;
  /** Waiting for a check, by requester, oldest first. */
  readonly #waiting = new Map<string, Check>();
  /** Checked ahead (on the pool, or done) and waiting for the turn, by requester, oldest first. */
  readonly #started = new Map<string, Check>();
  /** Every check by the datagram's own Buffer (the one its turn comes with). */
  readonly #byData = new WeakMap<Uint8Array, Check>();
  #inFlight = 0;
  /** Checks handed to the pool; verdicts taken from it; turns that found theirs still out. */
  started = 0;
  used = 0;
  pending = 0;

  /**
   * `context`: what the signature covers before the datagram's bytes (handshake.ts joinContext);
   * `now`: control's clock, ms; `maxWaitMs`: how long the admission queue keeps a JOIN; `ahead`:
   * JOINs checked ahead of their turn at most.
   */
  constructor(context: Buffer, now: () => number, maxWaitMs: number, ahead = SIGNATURES_AHEAD) {
    this.#context = context;
    this.#now = now;
    this.#maxWaitMs = maxWaitMs;
    this.#ahead = ahead;
  }

  /** Checks on the pool now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** JOINs waiting for a check. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * A JOIN from `requester` (its source and key, as the admission queue keys it) that may wait for
   * its turn: it will be checked that `data` ends with a signature by `rawKey` (Ed25519, raw) over
   * the context and the bytes before it, when its place in line comes.
   */
  offer(requester: string, data: Uint8Array, rawKey: Uint8Array, ts: number): void {
    const now = this.#now();
    const waiting = this.#waiting.get(requester);
    if (waiting !== undefined) {
      // A resend takes the waiting one's place (a datagram no newer is dropped by the queue).
      if (ts <= waiting.ts) return;
      this.#byData.delete(waiting.source);
      Object.assign(waiting, { source: data, rawKey, ts, at: now });
      this.#byData.set(data, waiting);
      return;
    }
    const out = this.#started.get(requester);
    if (out !== undefined) {
      if (ts <= out.ts) return;
      // Checked already, but the resend is the datagram its turn will come with.
      this.#forget(out, this.#started);
    }
    const check: Check = { requester, source: data, rawKey, ts, at: now, state: "waiting", ok: false };
    this.#waiting.set(requester, check);
    this.#byData.set(data, check);
    if (this.#waiting.size > SIGNATURES_HELD) this.#forgetOldest(this.#waiting);
    this.#pump();
  }

  /** A JOIN turned away (BUSY): not checked, or its check's room given to the next. */
  dropped(data: Uint8Array): void {
    const check = this.#byData.get(data);
    if (check === undefined) return;
    this.#forget(check, check.state === "waiting" ? this.#waiting : this.#started);
    this.#pump();
  }

  /**
   * The pool's verdict on `data` signed by `rawKey` at the JOIN's turn, when it is in and was
   * reached for these very bytes and key; undefined otherwise (the caller checks the signature
   * itself). Either way the JOIN is forgotten here.
   */
  verdict(data: Uint8Array, rawKey: Uint8Array): boolean | undefined {
    const check = this.#byData.get(data);
    if (check === undefined) return undefined;
    this.#forget(check, check.state === "waiting" ? this.#waiting : this.#started);
    this.#pump();
    if (check.state !== "done") {
      if (check.state === "out") this.pending++;
      return undefined;
    }
    const copy = check.copy;
    if (copy === undefined || !copy.data.equals(data) || !copy.key.equals(rawKey)) return undefined;
    this.used++;
    return check.ok;
  }

  #forget(check: Check, lane: Map<string, Check>): void {
    if (lane.get(check.requester) === check) lane.delete(check.requester);
    if (this.#byData.get(check.source) === check) this.#byData.delete(check.source);
  }

  #forgetOldest(lane: Map<string, Check>): void {
    const oldest = lane.values().next();
    if (oldest.done !== true) this.#forget(oldest.value, lane);
  }

  /** Hands the oldest waiting JOINs to the pool while fewer than `ahead` are checked ahead. */
  #pump(): void {
    if (this.#waiting.size === 0) return;
    const now = this.#now();
    // A check whose turn did not come while the queue keeps a JOIN (evicted, expired) gives its room.
    for (const check of this.#started.values()) {
      if (now - check.at <= this.#maxWaitMs) break;
      this.#forget(check, this.#started);
    }
    for (const check of this.#waiting.values()) {
      // What is on the pool counts too: a check whose turn came before its answer is forgotten
      // here but still out (a loop that never turns, a simulation, would otherwise start them
      // without bound). Twice `ahead`, so that such stragglers do not hold back the next ones.
      if (this.#started.size >= this.#ahead || this.#inFlight >= 2 * this.#ahead) break;
      this.#forget(check, this.#waiting);
      // Waited longer than the queue keeps a JOIN: its turn will not come.
      if (now - check.at > this.#maxWaitMs) continue;
      this.#start(check);
    }
  }

  #start(check: Check): void {
    const at = signatureOffset(check.source);
    const key = at === undefined ? undefined : ed25519Key(check.rawKey);
    // Could not verify at all: its turn checks it and fails the same way.
    if (at === undefined || key === undefined) return;
    const copy = { data: Buffer.from(check.source), key: Buffer.from(check.rawKey) };
    check.copy = copy;
    check.state = "out";
    this.#started.set(check.requester, check);
    this.#byData.set(check.source, check);
    this.#inFlight++;
    this.started++;
    const signed = Buffer.concat([this.#context, copy.data.subarray(0, at)]);
    try {
      verify(null, signed, key, copy.data.subarray(at), (err, ok) => this.#settle(check, err === null && ok));
    } catch {
      this.#settle(check, false);
    }
  }

  #settle(check: Check, ok: boolean): void {
    check.ok = ok;
    check.state = "done";
    this.#inFlight--;
    // Room on the pool: the next waiting JOINs go now, well ahead of their turn.
    this.#pump();
  }
}

/** Where a signed envelope's signature starts; undefined when it does not end with one. */
function signatureOffset(buf: Uint8Array): number | undefined {
  const at = buf.length - SIGNATURE_BYTES;
  const h = at - SIGNATURE_HEADER.length;
  if (h < 1) return undefined;
  for (let i = 0; i < SIGNATURE_HEADER.length; i++) if (buf[h + i] !== SIGNATURE_HEADER[i]) return undefined;
  return at;
}

/** Ephemerals kept ready, and generations on the pool at once, at most. */
export const EPHEMERAL_STOCK = 64;
export const EPHEMERALS_IN_FLIGHT = 32;

export class EphemeralStock {
  readonly #make: () => Ephemeral;
  readonly #target: number;
  readonly #maxInFlight: number;
  readonly #stock: Ephemeral[] = [];
  #inFlight = 0;
  /** Ephemerals taken from the stock; made on the spot (stock empty); generations that failed. */
  taken = 0;
  madeNow = 0;
  failed = 0;

  /** `make`: a fresh ephemeral made on this thread (handshake.ts newEphemeral). */
  constructor(make: () => Ephemeral, target = EPHEMERAL_STOCK, maxInFlight = EPHEMERALS_IN_FLIGHT) {
    this.#make = make;
    this.#target = target;
    this.#maxInFlight = maxInFlight;
  }

  get ready(): number {
    return this.#stock.length;
  }

  /** A fresh ephemeral, never given out before; the stock is topped up on the pool. */
  take(): Ephemeral {
    const e = this.#stock.pop();
    this.#refill();
    if (e !== undefined) {
      this.taken++;
      return e;
    }
    this.madeNow++;
    return this.#make();
  }

  /** Tops the stock up (also at start, so that the first JOINs find it full). */
  fill(): void {
    this.#refill();
  }

  #refill(): void {
    while (this.#inFlight < this.#maxInFlight && this.#stock.length + this.#inFlight < this.#target) {
      this.#inFlight++;
      try {
        generateX25519((e) => {
          this.#inFlight--;
          if (e === undefined) {
            // Not retried here (no loop of failures): the next take() tries again.
            this.failed++;
            return;
          }
          this.#stock.push(e);
          this.#refill();
        });
      } catch {
        this.#inFlight--;
        this.failed++;
        return;
      }
    }
  }
}

/**
 * An X25519 pair generated on the pool, its public half encoded (as a JWK) by the generation
 * itself, as handshake.ts newEphemeral does on the thread (why JWK: see there and auth.ts
 * rawPublicKey).
 */
function generateX25519(done: (e: Ephemeral | undefined) => void): void {
  // Node takes any export format here, "jwk" included; @types/node lists only "pem" and "der".
  const generate = generateKeyPair as unknown as (
    type: "x25519",
    options: { publicKeyEncoding: { format: "jwk" } },
    callback: (err: Error | null, publicKey: JsonWebKey, privateKey: KeyObject) => void,
  ) => void;
  generate("x25519", { publicKeyEncoding: { format: "jwk" } }, (err, publicKey, privateKey) => {
    if (err !== null) return done(undefined);
    const raw = typeof publicKey.x === "string" ? Buffer.from(publicKey.x, "base64url") : undefined;
    if (raw === undefined || raw.length !== PUBLIC_KEY_BYTES) return done(undefined);
    done({ privateKey, publicKey: new Uint8Array(raw) });
  });
}
