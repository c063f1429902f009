/**
 * The origin's side of the control protocol: JOIN until JOIN_ACK (exponential back-off with
 * jitter from 1 s, JoinBackoff; every 2 s after a refusal such as UNKNOWN_CHANNEL; a BUSY answer
 * puts the next JOIN its retry-after out, plus jitter, and a BUSY answer to a RESUME the next
 * RESUME), HEARTBEAT every heartbeatMs once joined, JOIN again on
 * JOIN_ACK error REJOIN (control restarted) while the data plane keeps its last assignment,
 * ASSIGN passed on (version checks are the owner's), LEAVE on stop. Control datagrams are
 * accepted only from the configured control endpoints, and only when they authenticate
 * (common/control-link.ts: a signed JOIN, the COOKIE address check, a JOIN_ACK signed by
 * control's pinned key, tagged HEARTBEAT, LEAVE, ASSIGN and HEARTBEAT_ACK); an unsigned REJOIN
 * hint is acted on at most once per REJOIN_HINT_MS.
 *
 * Failover (docs/origin.md "Failover"), as the agent's: control answers every heartbeat; when two
 * go unanswered in a row (the second an early re-send) the session moves to another configured
 * endpoint with one RESUME round trip (ControlFailover: endpoints in turn, back-off), keeping its
 * node id and assignment while the data plane keeps sending. A REJOIN hint with a ticket in hand
 * starts a RESUME at that endpoint; a REDIRECT names configured endpoints to try next; a refused
 * or long-unanswered RESUME falls back to a full JOIN. An ASSIGN whose DCM epoch is below one
 * already seen for the channel (a deposed server's) is dropped (EpochFence).
 * Messages are built by the owner (the origin) through callbacks.
 */
import type { Clock, Timer } from "../seams/clock.js";
import { SECOND } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { addressKey, type Address, type Transport } from "../seams/transport.js";
import type { KeyObject } from "node:crypto";
import { ControlLink } from "../common/control-link.js";
import { REJOIN_HINT_MS } from "../common/session-timing.js";
import {
  EpochFence,
  JOIN_BACKOFF,
  JoinBackoff,
  placementOf,
  sessionFailover,
  type ControlFailover,
  type FailoverStats,
  type FailoverTrigger,
  type FallbackReason,
} from "../common/control-failover.js";
import { AssignParts } from "../protocol/assign-parts.js";
import { EncodeError } from "../protocol/errors.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  JoinError,
  LeaveReason,
  MsgType,
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  type Placement,
  type ResumeAckBody,
} from "../protocol/messages.js";

/** JOIN back-off base until JOIN_ACK: the first resend after 0.5-1 x this, the ceiling doubling to JOIN_BACKOFF.capMs. */
export const JOIN_RETRY_MS = JOIN_BACKOFF.baseMs;
/** After a refused JOIN (UNKNOWN_CHANNEL, FULL, BAD_REQUEST) the next one waits this long. */
export const JOIN_REFUSED_RETRY_MS = 2 * SECOND;

export interface ControlSessionConfig {
  /** The control endpoints (one, or several servers of one deployment: failover); the first is JOINed first. */
  control: Address | readonly Address[];
  /** The origin's identity: raw public key (JOIN.key) and private key. */
  identity: { publicKey: Uint8Array; privateKey: KeyObject };
  /** Control's public key (raw Ed25519), pinned; or trustOnFirstUse. */
  controlKey?: Uint8Array | undefined;
  trustOnFirstUse?: boolean;
  /** False only in the attack suite's negative controls. */
  verify?: boolean;
}

export interface ControlSessionHandlers {
  /** The JOIN body to send (read each time: it may change). */
  joinBody(): JoinBody;
  /** A JOIN_ACK without error. `rejoined` is true when it follows a REJOIN. */
  onJoinAck(ack: JoinAckBody, rejoined: boolean): void;
  /** An ASSIGN from control (version checks are the owner's; fenced ones never get here). */
  onAssign(assign: AssignBody): void;
  /** The heartbeat body, or undefined to skip this one. */
  heartbeatBody(): HeartbeatBody | undefined;
  /** Control's key, trusted on first use, was confirmed by a signed JOIN_ACK: keep it. */
  onControlKeyLearnt?(key: Uint8Array): void;
}

export interface ControlSessionStats {
  sentMessages: number;
  sentBytes: number;
  received: number;
  /** Control messages from an address that is not one of the control endpoints. */
  rejected: number;
  joinsSent: number;
  heartbeatsSent: number;
  refusals: number;
  rejoins: number;
  /** ASSIGNs dropped for a DCM epoch below one already seen (a deposed server). */
  assignsFenced: number;
  /** RESUME datagrams sent. */
  resumesSent: number;
  /** JOIN_ACK BUSY answers honoured (the next JOIN waited for their retry-after). */
  busy: number;
}

export class ControlSession {
  readonly stats: ControlSessionStats = {
    sentMessages: 0,
    sentBytes: 0,
    received: 0,
    rejected: 0,
    joinsSent: 0,
    heartbeatsSent: 0,
    refusals: 0,
    rejoins: 0,
    assignsFenced: 0,
    resumesSent: 0,
    busy: 0,
  };
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #logger: Logger;
  readonly #handlers: ControlSessionHandlers;
  #node = 0;
  #joined = false;
  #rejoining = false;
  #resuming = false;
  #heartbeatMs = 0;
  #lastHint = -Infinity;
  readonly #link: ControlLink;
  readonly #failover: ControlFailover;
  readonly #fence = new EpochFence();
  /** The channel's id (JOIN_ACK), what the last heartbeat reported, where the last ASSIGN placed us. */
  #channel = 0;
  #reportedVersion = 0;
  #placement: Placement | undefined;
  readonly #parts = new AssignParts();
  #joinTimer: Timer | undefined;
  readonly #backoff: JoinBackoff;
  /** The wait between JOINs while refused (undefined: the back-off). */
  #refusedEvery: number | undefined;
  #heartbeatTimer: Timer | undefined;
  #stopped = false;

  constructor(
    deps: { clock: Clock; transport: Transport; logger: Logger; random?: () => number },
    config: ControlSessionConfig,
    handlers: ControlSessionHandlers,
  ) {
    this.#clock = deps.clock;
    this.#transport = deps.transport;
    this.#logger = deps.logger;
    this.#handlers = handlers;
    this.#backoff = new JoinBackoff(deps.random ?? Math.random);
    this.#link = new ControlLink(
      {
        identity: config.identity,
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verify === false ? { verify: false } : {}),
      },
      { onControlKeyLearnt: (key) => handlers.onControlKeyLearnt?.(key) },
    );
    this.#failover = sessionFailover(deps, config.control, {
      probe: () => this.#sendHeartbeat(),
      canResume: () => this.#link.canResume,
      sendResume: (to, fresh) => this.#sendResume(to, fresh),
      fallBack: (why, trigger) => this.#fallBack(why, trigger),
    });
  }

  /** Control datagrams that did not authenticate, by reason. */
  get authFailed(): Readonly<Record<string, number>> {
    return this.#link.stats.authFailed;
  }

  /** Failovers started, RESUME outcomes, early re-sends, REDIRECTs ignored. */
  get failover(): Readonly<FailoverStats> {
    return this.#failover.stats;
  }

  /** The control endpoint the session is on (heartbeats go there). */
  get endpoint(): Address {
    return this.#failover.current;
  }

  /** Compact node id from the last JOIN_ACK (0 before). */
  get node(): number {
    return this.#node;
  }

  /** A session is open (or being resumed: the data plane goes on either way). */
  get joined(): boolean {
    return this.#joined;
  }

  /** The session is moving to another control server (a RESUME is under way). */
  get resuming(): boolean {
    return this.#resuming;
  }

  start(): void {
    this.#link.restart();
    this.#backoff.reset();
    this.#joinEvery(undefined);
  }

  /** Stops the timers; sends LEAVE for `channel` if joined. */
  stop(channel: number | undefined): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clock.clearTimeout(this.#joinTimer);
    this.#clock.clearInterval(this.#heartbeatTimer);
    this.#failover.stop();
    if (this.#joined && channel !== undefined) {
      this.#send({
        ...this.#envelope(),
        type: MsgType.LEAVE,
        body: { channel, reason: LeaveReason.SHUTDOWN },
      });
      this.#logger.info("leave", { node: this.#node, channel });
    }
    this.#joined = false;
  }

  /** A control datagram (`buf`, decoded as `msg`) from `from`. */
  onControl(buf: Uint8Array, msg: ControlMessage, from: Address): void {
    if (this.#stopped) return;
    if (!this.#failover.isEndpoint(from)) {
      this.stats.rejected++;
      return;
    }
    this.stats.received++;
    switch (msg.type) {
      case MsgType.COOKIE:
        if (!this.#joined && this.#link.onCookie(msg.body)) {
          this.#failover.joinAnswered(from);
          this.#sendJoin();
        }
        break;
      case MsgType.JOIN_ACK: {
        const verdict = this.#link.onJoinAck(buf, msg.body, msg.auth !== undefined);
        if (verdict === "forged") break;
        if (verdict === "busy") {
          this.#onBusy(msg.body.retryAfterMs ?? 0, from);
          break;
        }
        if (verdict === "rejoin_hint") {
          if (!this.#joined) break;
          // While resuming, the hint is control's refusal of our ticket: JOIN afresh.
          if (this.#resuming) {
            if (this.#hintJoinAllowed()) this.#failover.refused(from);
            break;
          }
          // With a ticket a hint costs one RESUME (rate-limited in ControlFailover).
          if (this.#link.canResume) {
            this.#failover.hint(from);
            break;
          }
          if (!this.#hintJoinAllowed()) break;
        } else this.#failover.joinAnswered(from);
        this.#onJoinAck(msg.body, from);
        break;
      }
      case MsgType.ASSIGN:
        if (this.#node !== 0 && this.#link.open(buf, msg.seq)) this.#onAssign(msg.body);
        break;
      case MsgType.HEARTBEAT_ACK:
        if (this.#node !== 0 && this.#link.open(buf, msg.seq)) {
          if (this.#fence.admit(this.#channel, msg.body.epoch)) {
            this.#failover.arm();
            this.#failover.answered();
          } else this.#logger.debug("heartbeat_ack_fenced", { epoch: msg.body.epoch });
        }
        break;
      case MsgType.RESUME_ACK:
        if (msg.body.error === JoinError.BUSY && msg.auth === undefined) {
          // Not now: the same RESUME again after the retry-after (ControlFailover.busy).
          if (this.#resuming && this.#link.onResumeAck(buf, msg.body, msg.seq, false) === "busy")
            this.#failover.busy(from, msg.body.retryAfterMs ?? 0);
          break;
        }
        this.#onResumeAck(buf, msg.seq, msg.auth !== undefined, msg.body, from);
        break;
      case MsgType.REDIRECT:
        if (this.#channel === 0 || msg.body.channel === this.#channel) {
          this.#failover.redirect(msg.body.endpoints, this.#joined && !this.#resuming);
        } else this.#failover.stats.redirectsIgnored++;
        break;
      default:
        this.#logger.debug("control_unexpected", { type: msg.type });
    }
  }

  #hintJoinAllowed(): boolean {
    const now = this.#clock.now();
    if (now - this.#lastHint < REJOIN_HINT_MS) return false;
    this.#lastHint = now;
    return true;
  }

  #onJoinAck(ack: JoinAckBody, from: Address): void {
    if (ack.error === JoinError.REJOIN) {
      // Control does not know us (it restarted) and we hold no ticket: join again; the data plane keeps running.
      if (this.#joined || !this.#rejoining) {
        this.stats.rejoins++;
        this.#logger.warn("rejoin", { node: this.#node });
      }
      this.#toJoin();
      return;
    }
    if (ack.error !== JoinError.NONE) {
      this.stats.refusals++;
      this.#logger.warn("join_refused", { error: JoinError[ack.error] ?? ack.error });
      if (!this.#joined) this.#joinEvery(JOIN_REFUSED_RETRY_MS);
      return;
    }
    if (this.#joined && ack.node === this.#node && ack.heartbeatMs === this.#heartbeatMs) {
      if (this.#link.ticket !== undefined) this.#failover.arm();
      return; // a duplicate
    }
    if (this.#resuming) return; // a late answer to the old handshake's JOIN: the resume decides
    const rejoined = this.#rejoining || (this.#node !== 0 && ack.node !== this.#node);
    this.#clock.clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#backoff.reset();
    this.#node = ack.node;
    this.#joined = true;
    this.#rejoining = false;
    const name = this.#handlers.joinBody().channels[0];
    this.#channel = ack.channels.find((c) => c.name === name)?.id ?? 0;
    // A new session: a restarted control may count epochs from the start again.
    this.#fence.clear();
    this.#failover.established(from, Math.max(100, ack.heartbeatMs));
    if (this.#link.ticket !== undefined) this.#failover.arm();
    this.#logger.info("joined", {
      node: ack.node,
      region: ack.region,
      heartbeatMs: ack.heartbeatMs,
      rejoined,
      control: addressKey(from),
    });
    this.#handlers.onJoinAck(ack, rejoined);
    this.#heartbeatEvery(ack.heartbeatMs);
  }

  #onAssign(part: AssignBody): void {
    if (!this.#fence.admit(part.channel, part.epoch)) {
      this.stats.assignsFenced++;
      this.#logger.warn("assign_fenced", {
        channel: part.channel,
        version: part.version,
        epoch: part.epoch ?? 0,
        highest: this.#fence.highest(part.channel),
      });
      return;
    }
    this.#failover.answered();
    const whole = this.#parts.accept(part);
    if (whole !== undefined && whole.channel === this.#channel) this.#placement = placementOf(whole);
    this.#handlers.onAssign(part);
  }

  #onResumeAck(buf: Uint8Array, counter: number, hasAuth: boolean, ack: ResumeAckBody, from: Address): void {
    if (!this.#resuming) return;
    if (ack.error === JoinError.NONE && (ack.epoch ?? 0) < this.#fence.highest(this.#channel)) {
      this.#logger.warn("resume_ack_fenced", { from: addressKey(from), epoch: ack.epoch ?? 0 });
      return;
    }
    const verdict = this.#link.onResumeAck(buf, ack, counter, hasAuth);
    if (verdict === "forged" || verdict === "stale") return;
    if (verdict === "refusal_hint") {
      if (this.#hintJoinAllowed()) this.#failover.refused(from);
      return;
    }
    if (verdict === "refused") {
      this.#logger.warn("resume_refused", {
        from: addressKey(from),
        error: JoinError[ack.error] ?? ack.error,
      });
      this.#failover.refused(from);
      return;
    }
    this.#fence.admit(this.#channel, ack.epoch);
    this.#resuming = false;
    const heartbeatMs = ack.heartbeatMs > 0 ? Math.max(100, ack.heartbeatMs) : this.#heartbeatMs;
    this.#failover.resumed(from, heartbeatMs);
    this.#logger.info("resumed", {
      node: this.#node,
      control: addressKey(from),
      heartbeatMs: ack.heartbeatMs,
      epoch: ack.epoch ?? null,
    });
    this.#heartbeatEvery(heartbeatMs);
  }

  /** Heartbeats every `ms` from now on, the first at once. */
  #heartbeatEvery(ms: number): void {
    this.#heartbeatMs = ms;
    this.#clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = this.#clock.setInterval(() => this.#sendHeartbeat(), Math.max(100, ms));
    this.#sendHeartbeat();
  }

  /** JOIN afresh (the data plane keeps its last assignment meanwhile). */
  #toJoin(): void {
    this.#joined = false;
    this.#rejoining = true;
    this.#resuming = false;
    this.#link.restart();
    this.#failover.reset();
    this.#clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    this.#backoff.reset();
    this.#joinEvery(undefined);
  }

  /** ControlFailover's hook: the RESUME datagram to `to`. */
  #sendResume(to: Address, fresh: boolean): boolean {
    if (this.#stopped || !this.#joined) return false;
    if (!this.#resuming) {
      // The session starts to move: no heartbeats until a RESUME_ACK or a new session.
      this.#resuming = true;
      this.#clock.clearInterval(this.#heartbeatTimer);
      this.#heartbeatTimer = undefined;
      this.#logger.warn("control_failover", {
        trigger: this.#failover.trigger ?? "silence",
        from: addressKey(this.#failover.current),
        to: addressKey(to),
      });
    }
    let buf: Buffer | undefined;
    try {
      buf = this.#link.resume(
        this.#node,
        this.#clock.now(),
        {
          channel: this.#channel,
          assignVersion: this.#reportedVersion,
          ...(this.#placement === undefined ? {} : { placement: this.#placement }),
        },
        fresh,
      );
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.#logger.error("control_unencodable", { type: "RESUME", error: e.message });
      return false;
    }
    if (buf === undefined) return false;
    this.#emit(buf, to);
    this.stats.resumesSent++;
    return true;
  }

  /** ControlFailover's hook: the session cannot be resumed; JOIN from scratch. */
  #fallBack(why: FallbackReason, trigger: FailoverTrigger): void {
    if (this.#stopped) return;
    this.#link.abandonResume();
    this.stats.rejoins++;
    this.#logger.warn("rejoin", { node: this.#node, why, trigger });
    this.#toJoin();
  }

  /** A JOIN now, then every `refusedMs` (after a refusal) or on the back-off (undefined). */
  #joinEvery(refusedMs: number | undefined): void {
    this.#refusedEvery = refusedMs;
    this.#sendJoin();
    this.#scheduleJoin(refusedMs ?? this.#backoff.next());
  }

  #scheduleJoin(ms: number): void {
    this.#clock.clearTimeout(this.#joinTimer);
    this.#joinTimer = this.#clock.setTimeout(() => {
      this.#joinTimer = undefined;
      if (this.#joined || this.#stopped) return;
      this.#sendJoin();
      this.#scheduleJoin(this.#refusedEvery ?? this.#backoff.next());
    }, ms);
  }

  /** JOIN_ACK BUSY (its echo matched a JOIN of ours): the next JOIN after its retry-after, plus jitter. */
  #onBusy(retryAfterMs: number, from: Address): void {
    if (this.#joined || this.#stopped) return;
    this.#failover.joinAnswered(from);
    const wait = this.#backoff.busy(retryAfterMs);
    if (wait === undefined) return;
    this.stats.busy++;
    this.#logger.debug("join_busy", { control: addressKey(from), retryAfterMs, waitMs: wait });
    this.#scheduleJoin(wait);
  }

  #sendJoin(): void {
    if (this.#joined || this.#stopped) return;
    this.#backoff.sent();
    // A node sends JOIN as sender 0: control knows it by its key.
    let buf: Buffer;
    try {
      buf = this.#link.join(this.#handlers.joinBody(), this.#clock.now());
    } catch (e) {
      this.#logger.error("control_unencodable", { type: "JOIN", error: (e as Error).message });
      return;
    }
    const to = this.#failover.joinTarget();
    this.#emit(buf, to);
    this.stats.joinsSent++;
    this.#logger.debug("join_sent", { control: to });
  }

  #sendHeartbeat(): void {
    if (!this.#joined || this.#resuming || this.#stopped) return;
    const body = this.#handlers.heartbeatBody();
    if (body === undefined) return;
    this.#reportedVersion = body.assignVersion;
    // A heartbeat too large for one datagram (more children than fit) is sent with fewer
    // children rather than not at all: control drops a node after 3 missed heartbeats.
    let children = body.children;
    for (;;) {
      try {
        const buf = this.#link.seal({
          ...this.#envelope(),
          type: MsgType.HEARTBEAT,
          body: { ...body, children },
        });
        this.#emit(buf);
        this.stats.heartbeatsSent++;
        this.#failover.heartbeatSent();
        return;
      } catch (e) {
        if (!(e instanceof EncodeError) || children.length === 0) {
          this.#logger.error("heartbeat_unencodable", { error: (e as Error).message });
          return;
        }
        children = children.slice(0, Math.floor(children.length / 2));
      }
    }
  }

  /** The envelope's seq is the session counter, which the link sets. */
  #envelope(): { v: number; sender: number; seq: number; ts: number } {
    return { v: WIRE_VERSION, sender: this.#node, seq: 0, ts: this.#clock.now() };
  }

  #send(msg: ControlMessage): boolean {
    let buf: Buffer;
    try {
      buf = this.#link.seal(msg);
    } catch (e) {
      this.#logger.error("control_unencodable", { type: MsgType[msg.type], error: (e as Error).message });
      return false;
    }
    this.#emit(buf);
    return true;
  }

  #emit(buf: Buffer, to: Address = this.#failover.current): void {
    this.#transport.send(buf, to);
    this.stats.sentMessages++;
    this.stats.sentBytes += buf.length;
  }
}
