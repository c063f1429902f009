/**
 * The agent's control session with the control center, over the shared UDP socket.
 *
 *   joining ──JOIN_ACK ok──> joined ──(HEARTBEAT every heartbeatMs)
 *      │  ^                    │
 *      │  └──JOIN_ACK REJOIN───┘   (control forgot us: JOIN again; the data plane keeps
 *      │                            running on the last assignment meanwhile)
 *      └──JOIN_ACK UNKNOWN_CHANNEL / refused──> JOIN again every 2 s / 5 s
 *
 * The session is authenticated (common/control-link.ts, docs/security.md): JOIN is signed and
 * answered by a COOKIE (the address check) and then a JOIN_ACK signed by control's pinned key;
 * HEARTBEAT and LEAVE carry the session's tag, and an ASSIGN is applied only when its tag and
 * counter check. A JOIN_ACK REJOIN without a signature (control lost our session: it restarted)
 * is only a hint, honoured at most once per REJOIN_HINT_MS.
 * JOIN is resent every second until a JOIN_ACK arrives. ASSIGN is applied when its version is
 * newer than the last applied in this session (a new session after REJOIN starts from 0,
 * because a restarted control center may count versions from 1 again). LEAVE on a clean stop.
 * VoD downloads (`extraChannels`) ride the same session: JOIN lists them after the live
 * channel, each gets its own ASSIGN versions and its own HEARTBEAT every interval.
 * Message handling is in handlers/ (one file per message type); this file holds state and timers.
 */
import type { KeyObject } from "node:crypto";
import { ControlLink } from "../common/control-link.js";
import { decodeControl } from "../protocol/control-codec.js";
import { EncodeError } from "../protocol/errors.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  LeaveReason,
  MsgType,
  type AssignBody,
  type ChannelInfo,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
  type NatType,
  type Role,
} from "../protocol/messages.js";
import type { Clock, Timer } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { sameAddress, type Address, type Transport } from "../seams/transport.js";
import { onAssign } from "./handlers/on-assign.js";
import { AssignParts } from "../protocol/assign-parts.js";
import { onJoinAck } from "./handlers/on-join-ack.js";

export type SessionPhase = "idle" | "joining" | "waiting_channel" | "refused" | "joined" | "stopped";

export interface SessionHooks {
  /** JOIN_ACK accepted: the node's id, region and the channel's parameters. */
  /** `channel` is undefined for an idle box (it watches nothing). */
  joined(ack: JoinAckBody, channel: ChannelInfo | undefined): void;
  /** A newer ASSIGN for our channel. */
  assigned(body: AssignBody): void;
  /** The heartbeat's body at local time `ts` (assignVersion is filled in by the session). */
  heartbeat(ts: number): Omit<HeartbeatBody, "assignVersion">;
  /** The heartbeat of an extra (VoD) channel; none is sent while it returns undefined. */
  extraHeartbeat?(ts: number, channel: ChannelInfo): Omit<HeartbeatBody, "assignVersion"> | undefined;
  /** Control's key, trusted on first use, was confirmed by a signed JOIN_ACK: keep it. */
  controlKeyLearnt?(key: Uint8Array): void;
}

export interface SessionDeps {
  clock: Clock;
  transport: Transport;
  logger: Logger;
  hooks: SessionHooks;
}

export interface SessionConfig {
  control: Address;
  channel: string;
  /** The node's Ed25519 key pair (raw public key: JOIN.key). */
  identity: { publicKey: Uint8Array; privateKey: KeyObject };
  /** Control's public key (raw Ed25519), pinned; or trustOnFirstUse. */
  controlKey?: Uint8Array | undefined;
  trustOnFirstUse?: boolean;
  /** False only in the attack suite's negative controls (nothing from control is checked). */
  verifyControl?: boolean;
  /** Enrolment token for control's `token` policy (needed once, by a new key). */
  enrolmentToken?: string | undefined;
  role: Role;
  uploadKbps: number;
  nat: NatType;
  /** LAN HTTP port. */
  httpPort: number;
  regionHint?: string;
  /** VoD channels joined as well as `channel` (downloads carried at the same time). */
  extraChannels?: readonly string[];
  /**
   * An idle box: JOIN with no channel, offering to relay whatever control recruits it for
   * (`channel` is then not watched; ASSIGNs for any channel are applied).
   */
  idle?: boolean;
  /** JOIN resend interval until JOIN_ACK, ms. */
  joinRetryMs: number;
  /** JOIN interval after JOIN_ACK UNKNOWN_CHANNEL (the origin may not have joined yet), ms. */
  unknownChannelRetryMs: number;
  /** JOIN interval after any other refusal (BAD_REQUEST, FULL), ms. */
  refusedRetryMs: number;
}

export const SESSION_TIMING = { joinRetryMs: 1000, unknownChannelRetryMs: 2000, refusedRetryMs: 5000 };
/** An unauthenticated REJOIN hint is acted on at most this often, ms (a forged one costs a handshake). */
export const REJOIN_HINT_MS = 10_000;

export interface SessionStats {
  joinsSent: number;
  heartbeatsSent: number;
  /** Encoded heartbeat sizes. */
  heartbeatBytesMax: number;
  heartbeatBytesTotal: number;
  /** Control datagrams that did not decode, by code. */
  malformed: Record<string, number>;
  /** Control datagrams from an address that is not the control center. */
  rejected: number;
  /** Control datagrams that did not authenticate, by reason (common/control-link.ts). */
  authFailed: Record<string, number>;
  /** REJOIN hints ignored because one was honoured less than REJOIN_HINT_MS ago. */
  hintsIgnored: number;
  rejoins: number;
}

export class Session {
  readonly stats: SessionStats = {
    joinsSent: 0,
    heartbeatsSent: 0,
    heartbeatBytesMax: 0,
    heartbeatBytesTotal: 0,
    malformed: {},
    rejected: 0,
    authFailed: {},
    hintsIgnored: 0,
    rejoins: 0,
  };
  phase: SessionPhase = "idle";
  nodeId = 0;
  region = "";
  heartbeatMs = 0;
  channel: ChannelInfo | undefined;
  /** Version of the last ASSIGN applied in this session (0: none yet). */
  assignVersion = 0;
  /** Reassembles ASSIGNs sent in several parts. */
  readonly assignParts = new AssignParts();
  /** The extra (VoD) channels control acknowledged, their last applied ASSIGN versions and parts. */
  extras: ChannelInfo[] = [];
  readonly extraVersions = new Map<number, number>();
  readonly extraParts = new Map<number, AssignParts>();
  readonly deps: SessionDeps;
  readonly config: SessionConfig;
  readonly link: ControlLink;
  #lastHint = -Infinity;
  #joinTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;

  constructor(deps: SessionDeps, config: SessionConfig) {
    this.deps = deps;
    this.config = config;
    this.link = new ControlLink(
      {
        identity: config.identity,
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verifyControl === false ? { verify: false } : {}),
      },
      { onControlKeyLearnt: (key) => deps.hooks.controlKeyLearnt?.(key) },
    );
    this.stats.authFailed = this.link.stats.authFailed;
  }

  get heartbeatBytesMean(): number {
    const n = this.stats.heartbeatsSent;
    return n === 0 ? 0 : this.stats.heartbeatBytesTotal / n;
  }

  get malformedTotal(): number {
    return Object.values(this.stats.malformed).reduce((a, b) => a + b, 0);
  }

  start(): void {
    if (this.phase !== "idle") return;
    this.rejoin("start");
  }

  /** A datagram classified as control. Only the control center's address is listened to. */
  onControl(buf: Uint8Array, from: Address): void {
    if (this.phase === "stopped") return;
    if (!sameAddress(from, this.config.control)) {
      this.stats.rejected++;
      return;
    }
    const r = decodeControl(buf);
    if (!r.ok) {
      const code = r.error.code;
      this.stats.malformed[code] = (this.stats.malformed[code] ?? 0) + 1;
      this.deps.logger.debug("control_malformed", { code, message: r.error.message });
      return;
    }
    const msg = r.value;
    switch (msg.type) {
      case MsgType.COOKIE:
        if (this.phase === "joined" || this.phase === "idle") return;
        if (this.link.onCookie(msg.body)) this.#sendJoin();
        return;
      case MsgType.JOIN_ACK: {
        const verdict = this.link.onJoinAck(buf, msg.body, msg.auth !== undefined);
        if (verdict === "forged") return;
        if (verdict === "rejoin_hint") {
          if (this.phase !== "joined") return;
          const now = this.deps.clock.now();
          if (now - this.#lastHint < REJOIN_HINT_MS) {
            this.stats.hintsIgnored++;
            return;
          }
          this.#lastHint = now;
        }
        onJoinAck(this, msg);
        return;
      }
      case MsgType.ASSIGN:
        if (this.link.open(buf, msg.seq)) onAssign(this, msg);
        return;
      default:
        this.deps.logger.debug("control_unexpected", { type: msg.type });
    }
  }

  /** Starts (again) to JOIN: at once, then every `everyMs` until a JOIN_ACK. */
  rejoin(why: "start" | "rejoin" | "unknown_channel" | "refused"): void {
    const every =
      why === "unknown_channel"
        ? this.config.unknownChannelRetryMs
        : why === "refused"
          ? this.config.refusedRetryMs
          : this.config.joinRetryMs;
    this.phase = why === "unknown_channel" ? "waiting_channel" : why === "refused" ? "refused" : "joining";
    if (why === "rejoin") this.stats.rejoins++;
    if (why === "start" || why === "rejoin") this.link.restart();
    this.#stopHeartbeats();
    this.deps.clock.clearInterval(this.#joinTimer);
    // After a refusal the JOIN just answered need not be repeated at once.
    if (why === "start" || why === "rejoin") this.#sendJoin();
    this.#joinTimer = this.deps.clock.setInterval(() => this.#sendJoin(), every);
  }

  /** JOIN_ACK accepted: heartbeats from now on. */
  enterJoined(): void {
    this.phase = "joined";
    this.deps.clock.clearInterval(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#stopHeartbeats();
    this.#heartbeatTimer = this.deps.clock.setInterval(() => this.sendHeartbeat(), this.heartbeatMs);
    this.sendHeartbeat();
  }

  sendHeartbeat(): void {
    const ch = this.channel;
    if (this.phase !== "joined" || ch === undefined) return;
    const ts = this.deps.clock.now();
    const body: HeartbeatBody = { ...this.deps.hooks.heartbeat(ts), assignVersion: this.assignVersion };
    const buf = this.#send({ type: MsgType.HEARTBEAT, body } as ControlMessage, ts);
    if (buf === undefined) return;
    this.#countHeartbeat(buf);
    for (const extra of this.extras) {
      const part = this.deps.hooks.extraHeartbeat?.(ts, extra);
      if (part === undefined) continue;
      const b: HeartbeatBody = {
        ...part,
        channel: extra.id,
        assignVersion: this.extraVersions.get(extra.id) ?? 0,
      };
      const sent = this.#send({ type: MsgType.HEARTBEAT, body: b } as ControlMessage, ts);
      if (sent !== undefined) this.#countHeartbeat(sent);
    }
  }

  #countHeartbeat(buf: Buffer): void {
    this.stats.heartbeatsSent++;
    this.stats.heartbeatBytesTotal += buf.length;
    this.stats.heartbeatBytesMax = Math.max(this.stats.heartbeatBytesMax, buf.length);
  }

  /** Clean stop: LEAVE (when joined) and no more timers. */
  stop(): void {
    if (this.phase === "stopped") return;
    if (this.nodeId !== 0 && this.channel !== undefined) {
      this.#send({
        type: MsgType.LEAVE,
        body: { channel: this.channel.id, reason: LeaveReason.SHUTDOWN },
      } as ControlMessage);
    }
    this.phase = "stopped";
    this.deps.clock.clearInterval(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#stopHeartbeats();
  }

  #sendJoin(): void {
    const c = this.config;
    this.stats.joinsSent++;
    const buf = this.link.join(
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
      this.deps.clock.now(),
    );
    this.deps.transport.send(buf, c.control);
  }

  #send(partial: Pick<ControlMessage, "type" | "body">, ts = this.deps.clock.now()): Buffer | undefined {
    const msg = {
      v: WIRE_VERSION,
      sender: this.nodeId,
      seq: 0, // the link sets the session counter
      ts,
      ...partial,
    } as ControlMessage;
    let buf: Buffer;
    try {
      buf = this.link.seal(msg);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.deps.logger.error("control_encode_failed", { type: MsgType[msg.type], message: e.message });
      return undefined;
    }
    this.deps.transport.send(buf, this.config.control);
    return buf;
  }

  #stopHeartbeats(): void {
    this.deps.clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }
}
