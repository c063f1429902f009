/**
 * The origin's side of the control protocol: JOIN until JOIN_ACK (every 1 s; every 2 s after a
 * refusal such as UNKNOWN_CHANNEL), HEARTBEAT every heartbeatMs once joined, JOIN again on
 * JOIN_ACK error REJOIN (control restarted) while the data plane keeps its last assignment,
 * ASSIGN accepted when newer, LEAVE on stop. Control datagrams are accepted only from the
 * control address, and only when they authenticate (common/control-link.ts: a signed JOIN,
 * the COOKIE address check, a JOIN_ACK signed by control's pinned key, tagged HEARTBEAT, LEAVE
 * and ASSIGN); an unsigned REJOIN hint is acted on at most once per REJOIN_HINT_MS.
 * Messages are built by the owner (the origin) through callbacks.
 */
import type { Clock, Timer } from "../seams/clock.js";
import { SECOND } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { sameAddress, type Address, type Transport } from "../seams/transport.js";
import type { KeyObject } from "node:crypto";
import { ControlLink } from "../common/control-link.js";
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
} from "../protocol/messages.js";

/** JOIN is resent this often until JOIN_ACK. */
export const JOIN_RETRY_MS = 1 * SECOND;
/** After a refused JOIN (UNKNOWN_CHANNEL, FULL, BAD_REQUEST) the next one waits this long. */
export const JOIN_REFUSED_RETRY_MS = 2 * SECOND;

/** An unauthenticated REJOIN hint is acted on at most this often, ms (a forged one costs a handshake). */
export const REJOIN_HINT_MS = 10 * SECOND;

export interface ControlSessionConfig {
  control: Address;
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
  /** An ASSIGN from control (version checks are the owner's). */
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
  /** Control messages from an address that is not control's. */
  rejected: number;
  joinsSent: number;
  heartbeatsSent: number;
  refusals: number;
  rejoins: number;
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
  };
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #logger: Logger;
  readonly #config: ControlSessionConfig;
  readonly #handlers: ControlSessionHandlers;
  #node = 0;
  #joined = false;
  #rejoining = false;
  #heartbeatMs = 0;
  #lastHint = -Infinity;
  readonly #link: ControlLink;
  #joinTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;
  #stopped = false;

  constructor(
    deps: { clock: Clock; transport: Transport; logger: Logger },
    config: ControlSessionConfig,
    handlers: ControlSessionHandlers,
  ) {
    this.#clock = deps.clock;
    this.#transport = deps.transport;
    this.#logger = deps.logger;
    this.#config = config;
    this.#handlers = handlers;
    this.#link = new ControlLink(
      {
        identity: config.identity,
        controlKey: config.controlKey,
        ...(config.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
        ...(config.verify === false ? { verify: false } : {}),
      },
      { onControlKeyLearnt: (key) => handlers.onControlKeyLearnt?.(key) },
    );
  }

  /** Control datagrams that did not authenticate, by reason. */
  get authFailed(): Readonly<Record<string, number>> {
    return this.#link.stats.authFailed;
  }

  /** Compact node id from the last JOIN_ACK (0 before). */
  get node(): number {
    return this.#node;
  }

  get joined(): boolean {
    return this.#joined;
  }

  start(): void {
    this.#link.restart();
    this.#joinEvery(JOIN_RETRY_MS);
  }

  /** Stops the timers; sends LEAVE for `channel` if joined. */
  stop(channel: number | undefined): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clock.clearInterval(this.#joinTimer);
    this.#clock.clearInterval(this.#heartbeatTimer);
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
    if (!sameAddress(from, this.#config.control)) {
      this.stats.rejected++;
      return;
    }
    this.stats.received++;
    switch (msg.type) {
      case MsgType.COOKIE:
        if (!this.#joined && this.#link.onCookie(msg.body)) this.#sendJoin();
        break;
      case MsgType.JOIN_ACK: {
        const verdict = this.#link.onJoinAck(buf, msg.body, msg.auth !== undefined);
        if (verdict === "forged") break;
        if (verdict === "rejoin_hint") {
          if (!this.#joined) break;
          const now = this.#clock.now();
          if (now - this.#lastHint < REJOIN_HINT_MS) break;
          this.#lastHint = now;
        }
        this.#onJoinAck(msg.body);
        break;
      }
      case MsgType.ASSIGN:
        if (this.#node !== 0 && this.#link.open(buf, msg.seq)) this.#handlers.onAssign(msg.body);
        break;
      default:
        this.#logger.debug("control_unexpected", { type: msg.type });
    }
  }

  #onJoinAck(ack: JoinAckBody): void {
    if (ack.error === JoinError.REJOIN) {
      // Control does not know us (it restarted): join again; the data plane keeps running.
      if (this.#joined || !this.#rejoining) {
        this.stats.rejoins++;
        this.#logger.warn("rejoin", { node: this.#node });
      }
      this.#joined = false;
      this.#rejoining = true;
      this.#link.restart();
      this.#clock.clearInterval(this.#heartbeatTimer);
      this.#heartbeatTimer = undefined;
      this.#joinEvery(JOIN_RETRY_MS);
      return;
    }
    if (ack.error !== JoinError.NONE) {
      this.stats.refusals++;
      this.#logger.warn("join_refused", { error: JoinError[ack.error] ?? ack.error });
      if (!this.#joined) this.#joinEvery(JOIN_REFUSED_RETRY_MS);
      return;
    }
    if (this.#joined && ack.node === this.#node && ack.heartbeatMs === this.#heartbeatMs) return; // a duplicate
    const rejoined = this.#rejoining || (this.#node !== 0 && ack.node !== this.#node);
    this.#clock.clearInterval(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#node = ack.node;
    this.#joined = true;
    this.#rejoining = false;
    this.#logger.info("joined", {
      node: ack.node,
      region: ack.region,
      heartbeatMs: ack.heartbeatMs,
      rejoined,
    });
    this.#handlers.onJoinAck(ack, rejoined);
    if (ack.heartbeatMs !== this.#heartbeatMs || this.#heartbeatTimer === undefined) {
      this.#heartbeatMs = ack.heartbeatMs;
      this.#clock.clearInterval(this.#heartbeatTimer);
      this.#heartbeatTimer = this.#clock.setInterval(
        () => this.#sendHeartbeat(),
        Math.max(100, ack.heartbeatMs),
      );
    }
    this.#sendHeartbeat();
  }

  #joinEvery(ms: number): void {
    this.#clock.clearInterval(this.#joinTimer);
    this.#sendJoin();
    this.#joinTimer = this.#clock.setInterval(() => this.#sendJoin(), ms);
  }

  #sendJoin(): void {
    if (this.#joined || this.#stopped) return;
    // A node sends JOIN as sender 0: control knows it by its key.
    let buf: Buffer;
    try {
      buf = this.#link.join(this.#handlers.joinBody(), this.#clock.now());
    } catch (e) {
      this.#logger.error("control_unencodable", { type: "JOIN", error: (e as Error).message });
      return;
    }
    this.#emit(buf);
    this.stats.joinsSent++;
    this.#logger.debug("join_sent", { control: this.#config.control });
  }

  #sendHeartbeat(): void {
    if (!this.#joined || this.#stopped) return;
    const body = this.#handlers.heartbeatBody();
    if (body === undefined) return;
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

  #emit(buf: Buffer): void {
    this.#transport.send(buf, this.#config.control);
    this.stats.sentMessages++;
    this.stats.sentBytes += buf.length;
  }
}
