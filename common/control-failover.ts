/**
 * A node's reassociation with the control center (docs/resilience.md; the seed's claim 10,
 * "unobtrusively"), shared by the agent and the origin beside control-link.ts's session:
 *
 * ControlFailover owns the node's control endpoints and its reassociation, on the injected clock:
 * which endpoint the JOIN and the session use, the failure detector (every heartbeat must be
 * answered: two unanswered in a row, the second an early re-send, and the server is gone) and
 * the RESUME schedule (endpoints in turn, back-off with jitter). EpochFence remembers the
 * highest DCM epoch seen per channel (ASSIGNs of a deposed server are dropped). placementOf()
 * is what a RESUME tells a replacement DCM of where the node sits.
 *
 * JoinBackoff (issue 13) is when a node sends its next JOIN: exponential back-off with jitter
 * while JOINs go unanswered, at least the retry-after of a BUSY answer (plus jitter), reset once
 * joined; a BUSY answer to a RESUME pushes that endpoint's next RESUME out the same way.
 */
import { MAX_RETRY_AFTER_MS } from "../protocol/limits.js";
import type { AssignBody, Placement } from "../protocol/messages.js";
import type { Clock, Timer } from "../seams/clock.js";
import { sameAddress, type Address } from "../seams/transport.js";

/** Why a node started to move its session: its server went silent, a REJOIN hint, a REDIRECT. */
export type FailoverTrigger = "silence" | "hint" | "redirect";
/** How a RESUME attempt ended. */
export type ResumeResult = "ok" | "refused" | "unanswered";
/** Why the node JOINs from scratch after all. */
export type FallbackReason = "refused" | "unanswered" | "no_ticket";

/** A REJOIN hint or a REDIRECT starts a RESUME at most this often, ms (unauthenticated: each costs one datagram). */
export const RESUME_HINT_MS = 1000;
/**
 * A hint's RESUME goes to the hinting endpoint at least this many times, and for at least
 * hintResumeMs, before the node JOINs instead.
 */
export const HINT_RESUME_TRIES = 3;
/** A RESUME attempt unanswered this long (or 4 heartbeat intervals, if longer) gives up: full JOIN, ms. */
export const RESUME_GIVE_UP_MS = 30_000;

/**
 * How long a heartbeat waits for its answer (HEARTBEAT_ACK, ASSIGN or RESUME_ACK), ms: a quarter
 * of the interval, 10..500 ms. The first deadline missed sends a heartbeat again at once (the
 * early re-send); the second declares the server gone. Detection therefore comes at most
 * heartbeatMs + 2 x ackTimeoutMs <= 1.5 heartbeat intervals after a server dies.
 */
export function ackTimeoutMs(heartbeatMs: number): number {
  return Math.min(500, Math.max(10, Math.round(heartbeatMs / 4)));
}

/**
 * How long a RESUME attempt waits before it asks each endpoint again, at first, ms: min(250,
 * heartbeatMs / 4). It doubles with each round of the endpoints up to resumeRetryCapMs; the
 * RESUMEs of one round are spread evenly over it, each wait shortened by up to 25 % (jitter).
 */
export function resumeBackoffMs(heartbeatMs: number): number {
  return Math.min(250, Math.max(10, Math.round(heartbeatMs / 4)));
}

/**
 * The longest wait before an endpoint is asked again, ms: a quarter of the heartbeat interval. A
 * server holds the RESUME of a node whose channel's origin has not resumed there yet (the node
 * resends); the origin, itself resumed within 1.5 intervals of a failure, is then followed by its
 * agents within another quarter of an interval: every node within 2 intervals.
 */
export function resumeRetryCapMs(heartbeatMs: number): number {
  return Math.max(resumeBackoffMs(heartbeatMs), Math.round(heartbeatMs / 4));
}

/**
 * How long a hint's RESUMEs go on while the hinting server neither takes nor refuses them, ms:
 * 1.5 heartbeat intervals. A server holds the RESUMEs of a channel whose origin has not resumed
 * there yet, and the origin learns of the failover only at its own next heartbeat (up to one
 * interval after its agents, then a round trip): a node that gave up sooner JOINed, was told
 * UNKNOWN_CHANNEL and waited a JOIN retry (control-failover test: 3 s instead of 1).
 */
export function hintResumeMs(heartbeatMs: number): number {
  return Math.round(1.5 * heartbeatMs);
}

/** JOIN resends: the first after base/2..base, each ceiling doubling up to the cap, ms. */
export const JOIN_BACKOFF = { baseMs: 1000, capMs: 30_000 };

/**
 * The wait before JOIN attempt `attempt` (1 = the first resend), ms. Unanswered: full jitter
 * above a floor, uniform in [base/2, min(cap, base x 2^(attempt-1))], so a crowd that joined
 * together spreads out and a control that cannot keep up sees fewer resends, not more. After a
 * BUSY: its retry-after (clamped to MAX_RETRY_AFTER_MS: a forged one delays at most that much)
 * plus up to half of max(base, retry-after) of jitter. `random` is in [0, 1).
 */
export function joinRetryDelayMs(
  attempt: number,
  random: () => number,
  retryAfterMs?: number,
  timing: { baseMs: number; capMs: number } = JOIN_BACKOFF,
): number {
  const { baseMs, capMs } = timing;
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    const r = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
    return Math.round(r + (random() * Math.max(baseMs, r)) / 2);
  }
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  const floor = Math.min(baseMs / 2, ceiling);
  return Math.max(1, Math.round(floor + random() * (ceiling - floor)));
}

/**
 * A node's JOIN schedule (joinRetryDelayMs): `next()` after a JOIN went unanswered, `busy()`
 * after a BUSY, `reset()` once joined. Honours at most one BUSY per JOIN sent (`sent()`), so a
 * stream of forged BUSYs cannot hold a node back for longer than one retry-after per JOIN.
 */
export class JoinBackoff {
  readonly #random: () => number;
  readonly #timing: { baseMs: number; capMs: number };
  #attempt = 0;
  #busyTaken = false;

  constructor(random: () => number = Math.random, timing: { baseMs: number; capMs: number } = JOIN_BACKOFF) {
    this.#random = random;
    this.#timing = timing;
  }

  /** Resends so far since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** A JOIN went out: the next BUSY may be honoured. */
  sent(): void {
    this.#busyTaken = false;
  }

  /** The wait before the next JOIN when the last one went unanswered. */
  next(): number {
    this.#attempt++;
    return joinRetryDelayMs(this.#attempt, this.#random, undefined, this.#timing);
  }

  /** The wait before the next JOIN after a BUSY asking for `retryAfterMs`; undefined when one was already honoured for this JOIN. */
  busy(retryAfterMs: number): number | undefined {
    if (this.#busyTaken) return undefined;
    this.#busyTaken = true;
    this.#attempt++;
    return joinRetryDelayMs(this.#attempt, this.#random, Math.max(1, retryAfterMs), this.#timing);
  }

  reset(): void {
    this.#attempt = 0;
    this.#busyTaken = false;
  }
}

export interface FailoverHooks {
  /** The early re-send: a heartbeat again now (the last one went unanswered). */
  probe(): void;
  /** Whether the session holds a ticket (a RESUME can be made). */
  canResume(): boolean;
  /** Send the RESUME to `to`: a new nonce when `fresh`, else the attempt's. False when it could not be made. */
  sendResume(to: Address, fresh: boolean): boolean;
  /** The session cannot be resumed: JOIN from scratch (the data plane keeps its last assignment). */
  fallBack(why: FallbackReason, trigger: FailoverTrigger): void;
}

export interface FailoverDeps {
  clock: Clock;
  hooks: FailoverHooks;
  /** Jitter source, [0, 1) (default Math.random). */
  random?: () => number;
}

export interface FailoverConfig {
  /** The control endpoints the node was configured with (at least one); the JOIN tries them in order. */
  endpoints: readonly Address[];
}

export interface FailoverStats {
  /** Times the node started to move its session (any trigger). */
  failovers: number;
  /** RESUME attempts by how they ended. */
  resumes: Record<ResumeResult, number>;
  /** Early re-sends after an unanswered heartbeat. */
  probes: number;
  /** REDIRECTs that named no configured endpoint, or came while nothing could be done with them. */
  redirectsIgnored: number;
  /** RESUME_ACK BUSY answers honoured (the next RESUME waited for their retry-after). */
  busy: number;
}

interface Attempt {
  trigger: FailoverTrigger;
  /** Endpoint indexes, tried in turn (round and round). */
  order: number[];
  next: number;
  tries: number;
  startedAt: number;
  delay: number;
  timer: Timer | undefined;
  /** A REDIRECT may still send the next RESUME at once (one per RESUME the schedule sent). */
  redirectFree: boolean;
  /** A BUSY was honoured since the last RESUME sent. */
  busyTaken: boolean;
}

/**
 * The node's control endpoints and its reassociation (module header). Pure logic on the
 * injected clock: the session sends what the hooks ask for and reports what it receives.
 */
export class ControlFailover {
  readonly stats: FailoverStats = {
    failovers: 0,
    resumes: { ok: 0, refused: 0, unanswered: 0 },
    probes: 0,
    redirectsIgnored: 0,
    busy: 0,
  };
  readonly endpoints: readonly Address[];
  readonly #clock: Clock;
  readonly #hooks: FailoverHooks;
  readonly #random: () => number;
  /** The endpoint the session runs on (heartbeats, LEAVE). */
  #current = 0;
  /** The endpoint the next JOIN goes to, and whether anything answered the last one sent there. */
  #join = 0;
  #joinAnswered = true;
  #heartbeatMs = 1000;
  /** The detector runs once control showed it answers heartbeats (an ack, or a ticket). */
  #armed = false;
  #missed = 0;
  #ackTimer: Timer | undefined;
  #attempt: Attempt | undefined;
  #lastUnsolicited = -Infinity;

  constructor(deps: FailoverDeps, config: FailoverConfig) {
    if (config.endpoints.length === 0) throw new RangeError("control: at least one endpoint");
    this.endpoints = [...config.endpoints];
    this.#clock = deps.clock;
    this.#hooks = deps.hooks;
    this.#random = deps.random ?? Math.random;
  }

  /** The endpoint the session runs on. */
  get current(): Address {
    return this.endpoints[this.#current]!;
  }

  /** A RESUME attempt is under way. */
  get resuming(): boolean {
    return this.#attempt !== undefined;
  }

  get trigger(): FailoverTrigger | undefined {
    return this.#attempt?.trigger;
  }

  get armed(): boolean {
    return this.#armed;
  }

  /** Control datagrams are taken from any configured endpoint (their authenticity is the tag). */
  isEndpoint(a: Address): boolean {
    return this.#indexOf(a) >= 0;
  }

  /** Where the next JOIN goes: the same endpoint while it answers, the next one when it did not. */
  joinTarget(): Address {
    if (!this.#joinAnswered) this.#join = (this.#join + 1) % this.endpoints.length;
    this.#joinAnswered = false;
    return this.endpoints[this.#join]!;
  }

  /** A COOKIE or a JOIN_ACK came from `from`: JOINs stay there. */
  joinAnswered(from: Address): void {
    const i = this.#indexOf(from);
    if (i < 0) return;
    this.#join = i;
    this.#joinAnswered = true;
  }

  /** A JOIN_ACK from `from` opened a session: heartbeats go there. */
  established(from: Address, heartbeatMs: number): void {
    this.#cancel();
    const i = this.#indexOf(from);
    this.#current = i >= 0 ? i : this.#join;
    this.#join = this.#current;
    this.#joinAnswered = true;
    this.#heartbeatMs = heartbeatMs;
    this.#armed = false;
  }

  /** Control proved it answers heartbeats (a HEARTBEAT_ACK, or a session ticket): detection on. */
  arm(): void {
    this.#armed = true;
  }

  /** A heartbeat went out: its answer is due within ackTimeoutMs (the earliest unanswered one counts). */
  heartbeatSent(): void {
    if (!this.#armed || this.#attempt !== undefined || this.#ackTimer !== undefined) return;
    this.#ackTimer = this.#clock.setTimeout(() => this.#deadline(), ackTimeoutMs(this.#heartbeatMs));
  }

  /** An authenticated message from control (HEARTBEAT_ACK, ASSIGN, RESUME_ACK) that is not fenced. */
  answered(): void {
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#missed = 0;
  }

  /**
   * Starts moving the session (one attempt at a time). "silence": every endpoint in turn, the
   * current one last (or only); "redirect": the named endpoints first; "hint": only the hinting
   * endpoint, HINT_RESUME_TRIES times and for hintResumeMs at least. A hint or a REDIRECT is unauthenticated: it starts an
   * attempt at most once per RESUME_HINT_MS and only when the session holds a ticket. False when
   * nothing was started.
   */
  start(trigger: FailoverTrigger, preferred: readonly Address[] = []): boolean {
    if (this.#attempt !== undefined) return false;
    const now = this.#clock.now();
    const ticket = this.#hooks.canResume();
    if (trigger !== "silence") {
      if (!ticket || now - this.#lastUnsolicited < RESUME_HINT_MS) return false;
      this.#lastUnsolicited = now;
    }
    this.answered();
    this.stats.failovers++;
    if (!ticket) {
      this.#joinElsewhere();
      this.#hooks.fallBack("no_ticket", trigger);
      return true;
    }
    const wanted = this.#indexes(preferred);
    this.#attempt = {
      trigger,
      order: trigger === "hint" ? wanted.slice(0, 1) : this.#ring(wanted),
      next: 0,
      tries: 0,
      startedAt: now,
      delay: resumeBackoffMs(this.#heartbeatMs),
      timer: undefined,
      redirectFree: false,
      busyTaken: false,
    };
    if (this.#attempt.order.length === 0) this.#attempt.order = [this.#current];
    this.#try();
    return true;
  }

  /** A REJOIN hint from `from` (control there has no session for us): RESUME there. */
  hint(from: Address): boolean {
    return this.isEndpoint(from) && this.start("hint", [from]);
  }

  /**
   * A REDIRECT naming `named` (only configured endpoints count). While resuming they are tried
   * next, at once the first time after each RESUME the schedule sent (so spoofed REDIRECTs can at
   * most double the RESUMEs); while `joined` the session moves there (a RESUME, rate-limited like
   * a hint); before that the next JOIN goes there.
   */
  redirect(named: readonly Address[], joined: boolean): boolean {
    const wanted = this.#indexes(named);
    const a = this.#attempt;
    let followed = false;
    if (wanted.length === 0) followed = false;
    else if (a !== undefined) {
      a.order = [...wanted, ...a.order.filter((i) => !wanted.includes(i))];
      a.next = 0;
      if (a.redirectFree) {
        a.redirectFree = false;
        this.#clock.clearTimeout(a.timer);
        this.#try(false);
      }
      followed = true;
    } else if (joined) {
      followed = !(wanted.length === 1 && wanted[0] === this.#current) && this.start("redirect", named);
    } else {
      this.#join = wanted[0]!;
      this.#joinAnswered = true;
      followed = true;
    }
    if (!followed) this.stats.redirectsIgnored++;
    return followed;
  }

  /** A RESUME_ACK from `from` resumed the session: it runs there now. */
  resumed(from: Address, heartbeatMs: number): void {
    const i = this.#indexOf(from);
    if (i >= 0) this.#current = i;
    this.#join = this.#current;
    this.#joinAnswered = true;
    if (heartbeatMs > 0) this.#heartbeatMs = heartbeatMs;
    if (this.#attempt !== undefined) this.stats.resumes.ok++;
    this.#cancel();
    this.#armed = true;
  }

  /**
   * A RESUME_ACK BUSY from `from` (its nonce is our RESUME's): that server is alive but cannot
   * take the RESUME now. The next RESUME waits at least the retry-after (clamped, plus jitter),
   * and the attempt's give-up clock starts again (a busy server is no reason to JOIN instead,
   * which would cost it more). At most once per RESUME sent. False when ignored.
   */
  busy(from: Address, retryAfterMs: number): boolean {
    const a = this.#attempt;
    if (a === undefined || !this.isEndpoint(from) || a.busyTaken) return false;
    a.busyTaken = true;
    this.stats.busy++;
    const r = Math.min(Math.max(1, retryAfterMs), MAX_RETRY_AFTER_MS);
    const wait = Math.round(r + (this.#random() * Math.max(resumeBackoffMs(this.#heartbeatMs), r)) / 2);
    a.startedAt = this.#clock.now() + wait;
    // The same endpoint again when the wait is over: it answered.
    const i = this.#indexOf(from);
    a.next = Math.max(0, a.order.indexOf(i));
    this.#clock.clearTimeout(a.timer);
    a.timer = this.#clock.setTimeout(() => this.#try(), wait);
    return true;
  }

  /** Control refused to resume (a RESUME_ACK with an error): JOIN, starting at `from`. */
  refused(from: Address): void {
    if (this.#attempt === undefined) return;
    const i = this.#indexOf(from);
    if (i >= 0) {
      this.#join = i;
      this.#joinAnswered = true;
    }
    this.#finish("refused");
  }

  /** A full JOIN starts (whatever the cause): no detector, no attempt until the next session. */
  reset(): void {
    this.#cancel();
    this.#armed = false;
  }

  stop(): void {
    this.reset();
  }

  #deadline(): void {
    this.#ackTimer = undefined;
    this.#missed++;
    if (this.#missed < 2) {
      this.stats.probes++;
      this.#hooks.probe();
      if (this.#ackTimer === undefined && this.#attempt === undefined) {
        this.#ackTimer = this.#clock.setTimeout(() => this.#deadline(), ackTimeoutMs(this.#heartbeatMs));
      }
      return;
    }
    this.start("silence");
  }

  /** The next RESUME of the attempt; `scheduled` unless a REDIRECT asked for it. */
  #try(scheduled = true): void {
    const a = this.#attempt;
    if (a === undefined) return;
    a.timer = undefined;
    if (scheduled) a.redirectFree = true;
    const now = this.#clock.now();
    const spent =
      a.trigger === "hint"
        ? a.tries >= HINT_RESUME_TRIES && now - a.startedAt >= hintResumeMs(this.#heartbeatMs)
        : now - a.startedAt >= Math.max(RESUME_GIVE_UP_MS, 4 * this.#heartbeatMs);
    if (spent) return this.#finish("unanswered");
    const i = a.order[a.next % a.order.length]!;
    a.next++;
    const fresh = a.tries === 0;
    a.tries++;
    a.busyTaken = false;
    if (!this.#hooks.sendResume(this.endpoints[i]!, fresh)) return this.#finish("unanswered");
    if (this.#attempt !== a) return; // the hook ended it
    // A round asks every endpoint once: its RESUMEs are spread over the round's delay.
    const n = a.order.length;
    const wait = Math.max(1, Math.round((a.delay / n) * (1 - 0.25 * this.#random())));
    if (a.next % n === 0) a.delay = Math.min(2 * a.delay, resumeRetryCapMs(this.#heartbeatMs));
    a.timer = this.#clock.setTimeout(() => this.#try(), wait);
  }

  #finish(result: Exclude<ResumeResult, "ok">): void {
    const a = this.#attempt;
    if (a === undefined) return;
    this.#cancel();
    this.stats.resumes[result]++;
    if (result === "unanswered") {
      // A hinting server is alive: JOIN there; after silence, the next endpoint first.
      if (a.trigger === "hint" && a.order[0] !== undefined) {
        this.#join = a.order[0];
        this.#joinAnswered = true;
      } else this.#joinElsewhere();
    }
    this.#hooks.fallBack(result, a.trigger);
  }

  /** The JOIN that follows starts at the endpoint after the current one (which went silent). */
  #joinElsewhere(): void {
    this.#join = this.#current;
    this.#joinAnswered = this.endpoints.length === 1;
  }

  #cancel(): void {
    this.#clock.clearTimeout(this.#attempt?.timer);
    this.#attempt = undefined;
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#missed = 0;
  }

  /** Every endpoint once: `first`, then those after the current one in ring order, the current one last. */
  #ring(first: number[]): number[] {
    const n = this.endpoints.length;
    const ring = Array.from({ length: n }, (_, k) => (this.#current + 1 + k) % n);
    return [...first, ...ring.filter((i) => !first.includes(i))];
  }

  #indexes(list: readonly Address[]): number[] {
    const out: number[] = [];
    for (const a of list) {
      const i = this.#indexOf(a);
      if (i >= 0 && !out.includes(i)) out.push(i);
    }
    return out;
  }

  #indexOf(a: Address): number {
    return this.endpoints.findIndex((e) => sameAddress(e, a));
  }
}

/**
 * The ControlFailover of a node's control session, built the one way the agent's session and the
 * origin's both need: the endpoints as configured (one address or a list, in JOIN order), the
 * session's clock and jitter source, and its hooks.
 */
export function sessionFailover(
  deps: { clock: Clock; random?: (() => number) | undefined },
  control: Address | readonly Address[],
  hooks: FailoverHooks,
): ControlFailover {
  const endpoints = Array.isArray(control) ? control : [control as Address];
  return new ControlFailover(
    { clock: deps.clock, ...(deps.random === undefined ? {} : { random: deps.random }), hooks },
    { endpoints },
  );
}

/**
 * Fencing (issue 12): the highest DCM epoch seen per channel, from authenticated ASSIGNs,
 * RESUME_ACKs and HEARTBEAT_ACKs (absent = 0). A message with a lower epoch comes from a server
 * that has been deposed: the caller drops it.
 */
export class EpochFence {
  readonly #highest = new Map<number, number>();

  /** Whether `epoch` (absent: 0) may be believed for `channel`; a higher one is remembered. */
  admit(channel: number, epoch: number | undefined): boolean {
    const e = epoch ?? 0;
    const h = this.#highest.get(channel) ?? 0;
    if (e < h) return false;
    if (e > h) this.#highest.set(channel, e);
    return true;
  }

  highest(channel: number): number {
    return this.#highest.get(channel) ?? 0;
  }

  /** A new session from a full JOIN: a restarted control may count epochs from the start again. */
  clear(): void {
    this.#highest.clear();
  }
}

/** Where an assignment put the node, as a RESUME tells a replacement DCM (it adopts it). */
export function placementOf(a: AssignBody): Placement {
  return {
    tier: a.tier,
    ...(a.role === undefined ? {} : { role: a.role }),
    ...(a.cluster === undefined ? {} : { cluster: a.cluster }),
    ...(a.fec === undefined ? {} : { fec: a.fec }),
    ...(a.mesh === undefined ? {} : { mesh: a.mesh.map((m) => m.node) }),
  };
}
