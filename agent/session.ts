/**
 * The agent's control session with the control center, over the shared UDP socket.
 *
 *   joining ──JOIN_ACK ok──> joined ──(HEARTBEAT every heartbeatMs)
 *      │  ^                    │
 *      │  └──JOIN_ACK REJOIN───┘   (control forgot us: JOIN again; the data plane keeps
 *      │                            running on the last assignment meanwhile)
 *      └──JOIN_ACK UNKNOWN_CHANNEL / refused──> JOIN again every 2 s / 5 s
 *
 * JOIN is resent every second until a JOIN_ACK arrives. ASSIGN is applied when its version is
 * newer than the last applied in this session (a new session after REJOIN starts from 0,
 * because a restarted control center may count versions from 1 again). LEAVE on a clean stop.
 * VoD downloads (`extraChannels`) ride the same session: JOIN lists them after the live
 * channel, each gets its own ASSIGN versions and its own HEARTBEAT every interval.
 * Message handling is in handlers/ (one file per message type); this file holds state and timers.
 */
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
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
  /** Raw Ed25519 public key (32 bytes). */
  key: Uint8Array;
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
  #seq = 0;
  #joinTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;

  constructor(deps: SessionDeps, config: SessionConfig) {
    this.deps = deps;
    this.config = config;
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
      case MsgType.JOIN_ACK:
        onJoinAck(this, msg);
        return;
      case MsgType.ASSIGN:
        onAssign(this, msg);
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
    this.#send({
      type: MsgType.JOIN,
      body: {
        key: c.key,
        role: c.role,
        channels: c.idle === true ? [] : [c.channel, ...(c.extraChannels ?? [])],
        uploadKbps: c.uploadKbps,
        nat: c.nat,
        httpPort: c.httpPort,
        ...(c.regionHint ? { regionHint: c.regionHint } : {}),
      },
    } as ControlMessage);
  }

  #send(partial: Pick<ControlMessage, "type" | "body">, ts = this.deps.clock.now()): Buffer | undefined {
    const msg = {
      v: WIRE_VERSION,
      sender: this.nodeId,
      seq: this.#nextSeq(),
      ts,
      ...partial,
    } as ControlMessage;
    let buf: Buffer;
    try {
      buf = encodeControl(msg);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.deps.logger.error("control_encode_failed", { type: MsgType[msg.type], message: e.message });
      return undefined;
    }
    this.deps.transport.send(buf, this.config.control);
    return buf;
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  #stopHeartbeats(): void {
    this.deps.clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }
}
