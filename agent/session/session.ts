/**
 * The agent's control session with the control center, over the shared UDP socket.
 *
 *   joining ──JOIN_ACK ok──> joined ──(HEARTBEAT every heartbeatMs, each answered by control)
 *      │  ^                    │  ^
 *      │  │                    │  └──RESUME_ACK ok── resuming <── heartbeats unanswered, a REJOIN
 *      │  │                    │                        │          hint (with a ticket), a REDIRECT
 *      │  └──JOIN_ACK REJOIN───┘ (no ticket)            │
 *      │  └─────────────────────── RESUME refused / unanswered
 *      └──JOIN_ACK UNKNOWN_CHANNEL / refused──> JOIN again every 2 s / 5 s
 *
 * The session is authenticated (common/control-link.ts, docs/security.md): JOIN is signed and
 * answered by a COOKIE (the address check) and then a JOIN_ACK signed by control's pinned key;
 * HEARTBEAT and LEAVE carry the session's tag, and an ASSIGN (or HEARTBEAT_ACK) is believed only
 * when its tag and counter check. A JOIN_ACK REJOIN without a signature (control lost our
 * session) is only a hint: with a session ticket it starts a RESUME at that endpoint (at most
 * once per RESUME_HINT_MS), without one a full JOIN (at most once per REJOIN_HINT_MS).
 * Failover (docs/agent.md "Failover", ControlFailover): control answers every heartbeat; two
 * unanswered in a row (the second an early re-send) and the session moves to another configured
 * endpoint with one RESUME round trip, keeping node id, assignment and data plane. Control
 * datagrams are taken from any configured endpoint; heartbeats go to the one the session is on.
 * JOIN is resent until a JOIN_ACK arrives (to the next endpoint when unanswered) with exponential
 * back-off and jitter (JoinBackoff: the first resend after 0.5-1 x joinRetryMs, the ceiling
 * doubling up to joinRetryCapMs, reset once joined); a BUSY answer (control's admission queue
 * is full, docs/agent.md) puts the next JOIN at least its retry-after out, plus jitter, and a
 * BUSY answer to a RESUME does the same for the next RESUME (ControlFailover.busy).
 * ASSIGN is applied when it is newer than the last applied: a higher DCM epoch, or the same
 * epoch and a higher version; a lower epoch is a deposed server's (fenced: dropped). A new
 * session after a full JOIN starts versions and epochs from 0 (a restarted control center may
 * count from the start again); a resumed one keeps them. LEAVE on a clean stop.
 * VoD downloads (`extraChannels`) ride the same session: JOIN lists them after the live
 * channel, each gets its own ASSIGN versions and its own HEARTBEAT every interval.
 * Message handling is in handlers/ (one file per message type): pure functions of what they
 * read of the session (SessionView, session-state.ts, with the types around it) and the message,
 * returning a decision. This file owns the state (all of it #private; getters for what others
 * read), the timers, the link and the failover, and applies the decisions (the #apply* methods).
 */
import { ControlLink } from "../../common/control-link.js";
import {
  EpochFence,
  JOIN_BACKOFF,
  JoinBackoff,
  sessionFailover,
  type ControlFailover,
  type FailoverTrigger,
  type FallbackReason,
} from "../../common/control-failover.js";
import { REJOIN_HINT_MS } from "../../common/session-timing.js";
import { AssignParts } from "../../protocol/assign-parts.js";
import { decodeControl } from "../../protocol/control-codec.js";
import { EncodeError } from "../../protocol/errors.js";
import { WIRE_VERSION } from "../../protocol/limits.js";
import {
  JoinError,
  LeaveReason,
  MsgType,
  type AssignBody,
  type ChannelInfo,
  type ControlMessage,
  type HeartbeatBody,
  type MessageOf,
  type Placement,
} from "../../protocol/messages.js";
import type { Timer } from "../../seams/clock.js";
import { addressKey, type Address } from "../../seams/transport.js";
import { onAssembled, onAssign, type AssembledDecision, type AssignDecision } from "./handlers/on-assign.js";
import { onHeartbeatAck, type HeartbeatAckDecision } from "./handlers/on-heartbeat-ack.js";
import { onJoinAck, type JoinAckDecision } from "./handlers/on-join-ack.js";
import { onRedirect, type RedirectDecision } from "./handlers/on-redirect.js";
import {
  onResumeAck,
  onResumeVerdict,
  type ResumeAckDecision,
  type ResumeVerdictDecision,
} from "./handlers/on-resume-ack.js";
import type {
  DeepReadonly,
  RejoinReason,
  SessionConfig,
  SessionDeps,
  SessionPhase,
  SessionStats,
  SessionView,
} from "./session-state.js";

export class Session implements SessionView {
  readonly #stats: SessionStats = {
    joinsSent: 0,
    heartbeatsSent: 0,
    heartbeatBytesMax: 0,
    heartbeatBytesTotal: 0,
    malformed: {},
    rejected: 0,
    authFailed: {},
    hintsIgnored: 0,
    busy: 0,
    busyIgnored: 0,
    rejoins: 0,
    fenced: { assign: 0, heartbeatAck: 0, resumeAck: 0 },
    failover: {
      failovers: 0,
      resumes: { ok: 0, refused: 0, unanswered: 0 },
      probes: 0,
      redirectsIgnored: 0,
      busy: 0,
    },
  };
  #phase: SessionPhase = "idle";
  #nodeId = 0;
  #region = "";
  #heartbeatMs = 0;
  #channel: ChannelInfo | undefined;
  /** Version of the last ASSIGN applied in this session (0: none yet). */
  #assignVersion = 0;
  /** DCM epoch of the last ASSIGN applied (absent: 0): a higher epoch starts a new version count. */
  #assignEpoch = 0;
  /** Channel of the last ASSIGN applied for the live channel (an idle box learns it so). */
  #assignChannel = 0;
  /** Where the last applied ASSIGN placed us (sent in a RESUME). */
  #placement: Placement | undefined;
  /** Reassembles ASSIGNs sent in several parts. */
  #assignParts = new AssignParts();
  /** The highest DCM epoch seen per channel. */
  readonly #fence = new EpochFence();
  /** The control endpoints, the failure detector and the RESUME schedule. */
  readonly #failover: ControlFailover;
  /** The extra (VoD) channels control acknowledged, their last applied ASSIGN versions and parts. */
  #extras: ChannelInfo[] = [];
  readonly #extraVersions = new Map<number, number>();
  readonly #extraParts = new Map<number, AssignParts>();
  readonly #deps: SessionDeps;
  readonly #config: SessionConfig;
  readonly #link: ControlLink;
  #lastHint = -Infinity;
  readonly #backoff: JoinBackoff;
  #joinTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;

  constructor(deps: SessionDeps, config: SessionConfig) {
    this.#deps = deps;
    this.#config = config;
    this.#link = new ControlLink(
      {
        identity: config.identity,
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verifyControl === false ? { verify: false } : {}),
      },
      { onControlKeyLearnt: (key) => deps.hooks.controlKeyLearnt?.(key) },
    );
    this.#stats.authFailed = this.#link.stats.authFailed;
    this.#backoff = new JoinBackoff(deps.random ?? Math.random, {
      baseMs: config.joinRetryMs,
      capMs: Math.max(config.joinRetryMs, config.joinRetryCapMs ?? JOIN_BACKOFF.capMs),
    });
    this.#failover = sessionFailover(deps, config.control, {
      probe: () => this.#sendHeartbeat(),
      canResume: () => this.#link.canResume,
      sendResume: (to, fresh) => this.#sendResume(to, fresh),
      fallBack: (why, trigger) => this.#fallBack(why, trigger),
    });
    this.#stats.failover = this.#failover.stats;
  }

  /** The session's counters (the link's authFailed and the failover's stats among them). */
  get stats(): DeepReadonly<SessionStats> {
    return this.#stats;
  }

  get phase(): SessionPhase {
    return this.#phase;
  }

  /** The node id control gave us (0: none yet). */
  get nodeId(): number {
    return this.#nodeId;
  }

  /** The region control placed us in ("" until joined). */
  get region(): string {
    return this.#region;
  }

  get config(): Readonly<SessionConfig> {
    return this.#config;
  }

  /** The live channel as control acknowledged it (undefined: not joined yet, or an idle box). */
  get channel(): ChannelInfo | undefined {
    return this.#channel;
  }

  /** Version of the last ASSIGN applied in this session (0: none yet). */
  get assignVersion(): number {
    return this.#assignVersion;
  }

  /** DCM epoch of the last ASSIGN applied (absent: 0). */
  get assignEpoch(): number {
    return this.#assignEpoch;
  }

  /** The extra (VoD) channels control acknowledged. */
  get extras(): readonly ChannelInfo[] {
    return this.#extras;
  }

  /** The last applied ASSIGN version per extra (VoD) channel. */
  get extraVersions(): ReadonlyMap<number, number> {
    return this.#extraVersions;
  }

  /** The highest DCM epoch seen per channel. */
  get fence(): Pick<EpochFence, "highest"> {
    return this.#fence;
  }

  /** The authenticated link's session ticket and counters. */
  get link(): Pick<ControlLink, "ticket" | "stats"> {
    return this.#link;
  }

  /** The endpoint the session is on (heartbeats go there). */
  get endpoint(): Address {
    return this.#failover.current;
  }

  /** The live channel's id as control knows it (an idle box: the channel it was recruited for). */
  get liveChannelId(): number {
    return this.#channel?.id ?? this.#assignChannel;
  }

  get heartbeatBytesMean(): number {
    const n = this.#stats.heartbeatsSent;
    return n === 0 ? 0 : this.#stats.heartbeatBytesTotal / n;
  }

  get malformedTotal(): number {
    return Object.values(this.#stats.malformed).reduce((a, b) => a + b, 0);
  }

  start(): void {
    if (this.#phase !== "idle") return;
    this.#rejoin("start");
  }

  /** A datagram classified as control. Only the configured control endpoints are listened to. */
  onControl(buf: Uint8Array, from: Address): void {
    if (this.#phase === "stopped") return;
    if (!this.#failover.isEndpoint(from)) {
      this.#stats.rejected++;
      return;
    }
    const r = decodeControl(buf);
    if (!r.ok) {
      const code = r.error.code;
      this.#stats.malformed[code] = (this.#stats.malformed[code] ?? 0) + 1;
      this.#deps.logger.debug("control_malformed", { code, message: r.error.message });
      return;
    }
    const msg = r.value;
    switch (msg.type) {
      case MsgType.COOKIE:
        if (this.#phase === "joined" || this.#phase === "resuming" || this.#phase === "idle") return;
        if (this.#link.onCookie(msg.body)) {
          this.#failover.joinAnswered(from);
          this.#sendJoin();
        }
        return;
      case MsgType.JOIN_ACK: {
        const verdict = this.#link.onJoinAck(buf, msg.body, msg.auth !== undefined);
        if (verdict === "forged") return;
        if (verdict === "busy") return this.#onBusy(msg.body.retryAfterMs ?? 0, from);
        if (verdict === "rejoin_hint") {
          // While resuming it is control's refusal of our ticket: JOIN afresh (a hint: rate-limited).
          if (this.#phase === "resuming") return this.#refusalHint(from);
          if (this.#phase !== "joined") return;
          // With a ticket the hint costs one RESUME (rate-limited in ControlFailover).
          if (this.#link.canResume) {
            if (!this.#failover.hint(from)) this.#stats.hintsIgnored++;
            return;
          }
          if (!this.#hintJoinAllowed()) return;
        } else this.#failover.joinAnswered(from);
        this.#applyJoinAck(onJoinAck(this, msg), from);
        return;
      }
      case MsgType.ASSIGN:
        if (this.#link.open(buf, msg.seq)) this.#applyAssign(msg.body, onAssign(this, msg));
        return;
      case MsgType.HEARTBEAT_ACK:
        if (this.#link.open(buf, msg.seq)) this.#applyHeartbeatAck(onHeartbeatAck(this, msg));
        return;
      case MsgType.RESUME_ACK:
        if (msg.body.error === JoinError.BUSY && msg.auth === undefined) {
          // Not now: the same RESUME again after the retry-after (ControlFailover.busy).
          if (this.#phase !== "resuming") return;
          if (this.#link.onResumeAck(buf, msg.body, msg.seq, false) !== "busy") return;
          if (this.#failover.busy(from, msg.body.retryAfterMs ?? 0))
            this.#deps.logger.debug("resume_busy", {
              from: addressKey(from),
              retryAfterMs: msg.body.retryAfterMs,
            });
          return;
        }
        this.#applyResumeAck(buf, msg, from, onResumeAck(this, msg));
        return;
      case MsgType.REDIRECT:
        this.#applyRedirect(onRedirect(this, msg));
        return;
      default:
        this.#deps.logger.debug("control_unexpected", { type: msg.type });
    }
  }

  #applyJoinAck(d: JoinAckDecision, from: Address): void {
    const log = this.#deps.logger;
    switch (d.kind) {
      case "ignore":
        return;
      case "rejoin":
        log.warn("rejoin", { node: this.#nodeId });
        return this.#rejoin("rejoin");
      case "unknown_channel":
        log.info("join_unknown_channel", { channel: this.#config.channel });
        return this.#rejoin("unknown_channel");
      case "refused":
        log.warn("join_refused", { error: d.error, errorName: JoinError[d.error] ?? "unknown" });
        return this.#rejoin("refused");
      case "unusable":
        log.warn("join_ack_unusable", { node: d.node, channels: d.channels });
        return;
      case "again":
        if (d.changed) log.warn("node_id_changed", { from: this.#nodeId, to: d.nodeId });
        this.#nodeId = d.nodeId;
        if (d.arm) this.#failover.arm();
        return;
      case "joined": {
        const ack = d.ack;
        this.#nodeId = ack.node;
        this.#region = ack.region;
        this.#heartbeatMs = ack.heartbeatMs;
        this.#channel = d.channel;
        // A new session: a restarted control center may count versions (and epochs) from the start again.
        this.#assignVersion = 0;
        this.#assignEpoch = 0;
        this.#fence.clear();
        this.#extras = d.extras;
        if (d.missing.length > 0) log.warn("vod_unavailable", { channels: d.missing });
        this.#extraVersions.clear();
        this.#extraParts.clear();
        log.info("joined", {
          node: ack.node,
          region: ack.region,
          heartbeatMs: ack.heartbeatMs,
          channelId: d.channel?.id ?? null,
        });
        this.#deps.hooks.joined(ack, d.channel);
        this.#enterJoined(from);
      }
    }
  }

  #applyAssign(body: AssignBody, d: AssignDecision): void {
    switch (d.kind) {
      case "ignore":
        return;
      case "fenced":
        this.#stats.fenced.assign++;
        this.#deps.logger.warn("assign_fenced", {
          channel: d.channel,
          version: d.version,
          epoch: d.epoch,
          highest: d.highest,
        });
        return;
    }
    // Believed: its epoch is the channel's highest now, and it answers for the server.
    this.#fence.admit(d.channel, d.epoch);
    this.#failover.answered();
    if (d.kind === "stale") return;
    let parts: AssignParts;
    if (d.into === "extra") {
      parts = this.#extraParts.get(d.channel) ?? new AssignParts();
      this.#extraParts.set(d.channel, parts);
    } else {
      if (d.restart) this.#assignParts = new AssignParts();
      parts = this.#assignParts;
    }
    const a = parts.accept(body);
    if (a === undefined) return; // more parts to come
    this.#applyAssembled(onAssembled(this, a, d.epoch, d.into));
  }

  #applyAssembled(d: AssembledDecision): void {
    const log = this.#deps.logger;
    switch (d.kind) {
      case "stale":
        return;
      case "other_channel":
        log.debug("assign_other_channel", { channel: d.channel });
        return;
      case "assigned": {
        const a = d.assignment;
        this.#assignVersion = a.version;
        this.#assignEpoch = d.epoch;
        this.#assignChannel = a.channel;
        this.#placement = d.placement;
        log.info("assigned", {
          version: a.version,
          k: a.k,
          tier: a.tier,
          role: a.role ?? null,
          ...(d.epoch === 0 ? {} : { epoch: d.epoch }),
          parents: a.parents.map((p) => p?.node ?? null),
          children: a.children.map((c) => c.node),
        });
        this.#deps.hooks.assigned(a);
        return;
      }
      case "assigned_extra": {
        const a = d.assignment;
        this.#extraVersions.set(a.channel, a.version);
        log.info("assigned", {
          channel: a.channel,
          version: a.version,
          k: a.k,
          tier: a.tier,
          parents: a.parents.map((p) => p?.node ?? null),
          children: a.children.map((c) => c.node),
        });
        this.#deps.hooks.assigned(a);
      }
    }
  }

  #applyHeartbeatAck(d: HeartbeatAckDecision): void {
    switch (d.kind) {
      case "ignore":
        return;
      case "fenced":
        this.#stats.fenced.heartbeatAck++;
        this.#deps.logger.debug("heartbeat_ack_fenced", {
          channel: d.channel,
          epoch: d.epoch,
          highest: d.highest,
        });
        return;
      case "answered":
        if (d.fence !== undefined) this.#fence.admit(d.fence.channel, d.fence.epoch);
        this.#failover.arm();
        this.#failover.answered();
    }
  }

  #applyResumeAck(
    buf: Uint8Array,
    msg: MessageOf<MsgType.RESUME_ACK>,
    from: Address,
    d: ResumeAckDecision,
  ): void {
    switch (d.kind) {
      case "unexpected":
        this.#deps.logger.debug("resume_ack_unexpected", { from: addressKey(from) });
        return;
      case "fenced":
        this.#stats.fenced.resumeAck++;
        this.#deps.logger.warn("resume_ack_fenced", {
          from: addressKey(from),
          epoch: d.epoch,
          highest: d.highest,
        });
        return;
      case "authenticate": {
        const verdict = this.#link.onResumeAck(buf, msg.body, msg.seq, msg.auth !== undefined);
        this.#applyResumeVerdict(onResumeVerdict(this, msg, verdict), from);
      }
    }
  }

  #applyResumeVerdict(d: ResumeVerdictDecision, from: Address): void {
    switch (d.kind) {
      case "ignore":
        return;
      case "refusal_hint":
        return this.#refusalHint(from);
      case "refused":
        this.#deps.logger.warn("resume_refused", {
          from: addressKey(from),
          error: d.error,
          errorName: JoinError[d.error] ?? "unknown",
        });
        this.#failover.refused(from);
        return;
      case "resumed":
        this.#fence.admit(d.channel, d.epoch);
        this.#deps.logger.info("resumed", {
          node: this.#nodeId,
          control: addressKey(from),
          heartbeatMs: d.heartbeatMs,
          epoch: d.epoch ?? null,
          trigger: this.#failover.trigger ?? null,
        });
        this.#enterResumed(from, d.heartbeatMs);
    }
  }

  #applyRedirect(d: RedirectDecision): void {
    if (d.kind === "ignore") return;
    const followed = d.kind === "redirect" && this.#failover.redirect(d.endpoints, this.#phase === "joined");
    if (d.kind === "not_ours") this.#stats.failover.redirectsIgnored++;
    this.#deps.logger.debug("control_redirect", {
      channel: d.channel,
      endpoints: d.endpoints.map((e) => `${e.address}:${e.port}`),
      followed,
    });
  }

  /** An unsigned signal to JOIN from scratch is acted on at most once per REJOIN_HINT_MS. */
  #hintJoinAllowed(): boolean {
    const now = this.#deps.clock.now();
    if (now - this.#lastHint < REJOIN_HINT_MS) {
      this.#stats.hintsIgnored++;
      return false;
    }
    this.#lastHint = now;
    return true;
  }

  /** An unauthenticated RESUME refusal (a server that could not open our ticket): a hint to JOIN. */
  #refusalHint(from: Address): void {
    if (this.#phase !== "resuming" || !this.#hintJoinAllowed()) return;
    this.#failover.refused(from);
  }

  /**
   * Starts (again) to JOIN: at once, then on the back-off until a JOIN_ACK (after a refusal:
   * every unknownChannelRetryMs / refusedRetryMs).
   */
  #rejoin(why: RejoinReason): void {
    this.#phase = why === "unknown_channel" ? "waiting_channel" : why === "refused" ? "refused" : "joining";
    if (why === "rejoin") this.#stats.rejoins++;
    if (why === "start" || why === "rejoin") {
      this.#link.restart();
      this.#backoff.reset();
    }
    this.#failover.reset();
    this.#stopHeartbeats();
    // After a refusal the JOIN just answered need not be repeated at once.
    if (why === "start" || why === "rejoin") this.#sendJoin();
    this.#scheduleJoin(this.#nextJoinMs());
  }

  /** The wait before the next JOIN in this phase. */
  #nextJoinMs(): number {
    if (this.#phase === "waiting_channel") return this.#config.unknownChannelRetryMs;
    if (this.#phase === "refused") return this.#config.refusedRetryMs;
    return this.#backoff.next();
  }

  #scheduleJoin(ms: number): void {
    this.#deps.clock.clearTimeout(this.#joinTimer);
    this.#joinTimer = this.#deps.clock.setTimeout(() => {
      this.#joinTimer = undefined;
      if (this.#phase !== "joining" && this.#phase !== "waiting_channel" && this.#phase !== "refused") return;
      this.#sendJoin();
      this.#scheduleJoin(this.#nextJoinMs());
    }, ms);
  }

  /**
   * JOIN_ACK BUSY (its echo matched a JOIN of ours): control is alive but cannot take the JOIN
   * now. The next JOIN waits its retry-after plus jitter; one BUSY per JOIN sent is honoured.
   */
  #onBusy(retryAfterMs: number, from: Address): void {
    if (this.#phase !== "joining" && this.#phase !== "waiting_channel" && this.#phase !== "refused") return;
    this.#failover.joinAnswered(from);
    const wait = this.#backoff.busy(retryAfterMs);
    if (wait === undefined) {
      this.#stats.busyIgnored++;
      return;
    }
    this.#stats.busy++;
    this.#deps.logger.debug("join_busy", { from: addressKey(from), retryAfterMs, waitMs: wait });
    this.#scheduleJoin(wait);
  }

  /** JOIN_ACK accepted from `from`: heartbeats from now on. */
  #enterJoined(from: Address): void {
    this.#failover.established(from, this.#heartbeatMs);
    // A control that gives tickets answers every heartbeat: the failure detector can run.
    if (this.#link.ticket !== undefined) this.#failover.arm();
    this.#heartbeating();
  }

  /** RESUME_ACK accepted: the session runs at the endpoint that answered; heartbeats at once. */
  #enterResumed(from: Address, heartbeatMs: number): void {
    if (heartbeatMs > 0) this.#heartbeatMs = heartbeatMs;
    this.#failover.resumed(from, this.#heartbeatMs);
    this.#heartbeating();
  }

  #heartbeating(): void {
    this.#phase = "joined";
    this.#deps.clock.clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#backoff.reset();
    this.#stopHeartbeats();
    this.#heartbeatTimer = this.#deps.clock.setInterval(() => this.#sendHeartbeat(), this.#heartbeatMs);
    this.#sendHeartbeat();
  }

  #sendHeartbeat(): void {
    // An idle box heartbeats too (its channel: 0 until recruited), or control would lose it.
    if (this.#phase !== "joined" || (this.#channel === undefined && this.#config.idle !== true)) return;
    const ts = this.#deps.clock.now();
    const body: HeartbeatBody = { ...this.#deps.hooks.heartbeat(ts), assignVersion: this.#assignVersion };
    const buf = this.#send({ type: MsgType.HEARTBEAT, body } as ControlMessage, ts);
    if (buf === undefined) return;
    this.#countHeartbeat(buf);
    this.#failover.heartbeatSent();
    for (const extra of this.#extras) {
      const part = this.#deps.hooks.extraHeartbeat?.(ts, extra);
      if (part === undefined) continue;
      const b: HeartbeatBody = {
        ...part,
        channel: extra.id,
        assignVersion: this.#extraVersions.get(extra.id) ?? 0,
      };
      const sent = this.#send({ type: MsgType.HEARTBEAT, body: b } as ControlMessage, ts);
      if (sent !== undefined) this.#countHeartbeat(sent);
    }
  }

  #countHeartbeat(buf: Buffer): void {
    this.#stats.heartbeatsSent++;
    this.#stats.heartbeatBytesTotal += buf.length;
    this.#stats.heartbeatBytesMax = Math.max(this.#stats.heartbeatBytesMax, buf.length);
  }

  /** Clean stop: LEAVE (when joined) and no more timers. */
  stop(): void {
    if (this.#phase === "stopped") return;
    if (this.#nodeId !== 0 && this.#channel !== undefined) {
      this.#send({
        type: MsgType.LEAVE,
        body: { channel: this.#channel.id, reason: LeaveReason.SHUTDOWN },
      } as ControlMessage);
    }
    this.#phase = "stopped";
    this.#deps.clock.clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#stopHeartbeats();
    this.#failover.stop();
  }

  /** ControlFailover's hook: the RESUME datagram to `to` (see ControlLink.resume). */
  #sendResume(to: Address, fresh: boolean): boolean {
    if (this.#phase === "joined") {
      // The session starts to move: no heartbeats until a RESUME_ACK or a new session.
      this.#phase = "resuming";
      this.#stopHeartbeats();
      this.#deps.logger.warn("control_failover", {
        trigger: this.#failover.trigger ?? "silence",
        from: addressKey(this.endpoint),
        to: addressKey(to),
      });
    }
    if (this.#phase !== "resuming") return false;
    const ts = this.#deps.clock.now();
    let buf: Buffer | undefined;
    try {
      buf = this.#link.resume(
        this.#nodeId,
        ts,
        {
          channel: this.liveChannelId,
          assignVersion: this.#assignVersion,
          ...(this.#placement === undefined ? {} : { placement: this.#placement }),
        },
        fresh,
      );
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.#deps.logger.error("control_encode_failed", { type: "RESUME", message: e.message });
      return false;
    }
    if (buf === undefined) return false;
    this.#deps.logger.debug("resume_sent", { to: addressKey(to), fresh });
    this.#deps.transport.send(buf, to);
    return true;
  }

  /** ControlFailover's hook: the session cannot be resumed; JOIN from scratch. */
  #fallBack(why: FallbackReason, trigger: FailoverTrigger): void {
    if (this.#phase === "stopped") return;
    this.#link.abandonResume();
    this.#deps.logger.warn("rejoin", { node: this.#nodeId, why, trigger });
    this.#rejoin("rejoin");
  }

  #sendJoin(): void {
    const c = this.#config;
    this.#stats.joinsSent++;
    this.#backoff.sent();
    const buf = this.#link.join(
      {
        key: c.identity.publicKey,
        role: c.role,
        channels: c.idle === true ? [] : [c.channel, ...(c.extraChannels ?? [])],
        uploadKbps: c.uploadKbps,
        nat: c.nat,
        httpPort: c.httpPort,
        ...(c.regionHint ? { regionHint: c.regionHint } : {}),
        ...(c.enrolmentToken ? { token: c.enrolmentToken } : {}),
      },
      this.#deps.clock.now(),
    );
    this.#deps.transport.send(buf, this.#failover.joinTarget());
  }

  #send(partial: Pick<ControlMessage, "type" | "body">, ts = this.#deps.clock.now()): Buffer | undefined {
    const msg = {
      v: WIRE_VERSION,
      sender: this.#nodeId,
      seq: 0, // the link sets the session counter
      ts,
      ...partial,
    } as ControlMessage;
    let buf: Buffer;
    try {
      buf = this.#link.seal(msg);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.#deps.logger.error("control_encode_failed", { type: MsgType[msg.type], message: e.message });
      return undefined;
    }
    this.#deps.transport.send(buf, this.#failover.current);
    return buf;
  }

  #stopHeartbeats(): void {
    this.#deps.clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }
}
