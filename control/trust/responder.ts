/**
 * Control's side of the handshake (docs/security.md): what happens to a JOIN before the
 * JOIN handler sees it, and how its JOIN_ACK is made.
 *
 *   1. no valid cookie for (source address, key)   -> COOKIE, no larger than the JOIN; no state
 *   2. rate limits per source prefix and in total  -> dropped
 *   3. Ed25519 signature over the exact bytes, for control's key, and an epk -> else dropped
 *   4. timestamp newer than the key's last JOIN    -> else dropped (a replay)
 *   5. enrolment policy, revocation                -> signed JOIN_ACK UNAUTHORIZED
 * Only then does the JOIN handler run (and a store row exist). Its JOIN_ACK opens the session:
 * control's ephemeral, the derived keys, a signature over the JOIN's hash.
 * Every drop is counted in auth_failed_total{reason} (or joins_limited_total) and not answered.
 */
import type { KeyObject } from "node:crypto";
import { checkSignature, ed25519Key, encodeSigned } from "../../protocol/auth.js";
import { encodeControl } from "../../protocol/control-codec.js";
import {
  deriveSessionKeys,
  joinAckContext,
  joinContext,
  newEphemeral,
  sha256,
  type Ephemeral,
  type SessionKeys,
} from "../../protocol/handshake.js";
import { WIRE_VERSION } from "../../protocol/limits.js";
import {
  type ControlMessage,
  type JoinAckBody,
  JoinError,
  type MessageOf,
  MsgType,
} from "../../protocol/messages.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { addressKey, type Address } from "../../seams/transport.js";
import { roleName } from "../client-manager.js";
import { ControlMetrics } from "../metrics.js";
import type { NodeStore } from "../store.js";
import { CookieJar } from "./cookie.js";
import { admitKey, type TrustPolicy } from "./enrolment.js";
import { JoinLimiter, type JoinLimits } from "./join-limiter.js";
import type { SessionTable } from "./sessions.js";

type Join = MessageOf<MsgType.JOIN>;

/** A JOIN that passed the checks: what its JOIN_ACK needs. */
export interface Handshake {
  /** SHA-256 of the JOIN datagram (the JOIN_ACK's signature covers it). */
  joinHash: Uint8Array;
  /** The node's identity key (raw) and its ephemeral; epk undefined only with verification off. */
  key: Uint8Array;
  epk: Uint8Array | undefined;
  /** Control's ephemeral and the keys it gives with epk (checked before the JOIN handler runs). */
  prepared?: { own: Ephemeral; keys: SessionKeys };
}

export interface ResponderDeps {
  clock: Clock;
  logger: Logger;
  store: NodeStore;
  metrics: ControlMetrics;
  sessions: SessionTable;
  /** Control's long-term Ed25519 key pair. */
  identity: { publicKey: Uint8Array; privateKey: KeyObject };
  send(buf: Uint8Array, to: Address): void;
}

export interface ResponderConfig {
  policy: TrustPolicy;
  limits: JoinLimits;
  /**
   * False only in the attack suite's negative controls: every check is skipped (JOINs need no
   * cookie or signature, tags and counters are not checked). Never set in a deployment.
   */
  verify: boolean;
}

export class HandshakeResponder {
  readonly #deps: ResponderDeps;
  readonly #config: ResponderConfig;
  readonly #cookies = new CookieJar();
  readonly #limiter: JoinLimiter;
  readonly #joinContext: Buffer;
  #seq = 0;

  constructor(deps: ResponderDeps, config: ResponderConfig) {
    this.#deps = deps;
    this.#config = config;
    this.#limiter = new JoinLimiter(config.limits, deps.clock.now());
    this.#joinContext = joinContext(deps.identity.publicKey);
  }

  get verify(): boolean {
    return this.#config.verify;
  }

  get policy(): TrustPolicy {
    return this.#config.policy;
  }

  /** Steps 1-5 above; a Handshake when the JOIN handler may run, undefined when the JOIN was dealt with. */
  onJoin(msg: Join, data: Uint8Array, from: Address): Handshake | undefined {
    const { clock, metrics } = this.#deps;
    const b = msg.body;
    const now = clock.now();
    const handshake: Handshake = { joinHash: sha256(data), key: b.key, epk: b.epk };
    if (!this.#config.verify) return handshake;
    if (!this.#cookies.check(b.cookie, from, b.key, now)) {
      metrics.unprovenBytesIn += data.length;
      if (!this.#limiter.unproven(now)) return this.#limited("unproven");
      this.#sendCookie(from, b.key, data.length);
      return undefined;
    }
    if (!this.#limiter.proven(from.address, now)) return this.#limited("proven");
    const key = ed25519Key(b.key);
    if (key === undefined) return this.#fail("join_bad_key", from);
    if (b.epk === undefined) return this.#fail("join_no_epk", from);
    if (!checkSignature(data, key, this.#joinContext)) return this.#fail("join_signature", from);
    const keyHex = Buffer.from(b.key).toString("hex");
    if (!this.#deps.sessions.freshJoin(keyHex, msg.ts, now)) return this.#fail("join_replay", from);
    // The key agreement before any state: an epk that gives no usable secret is refused here.
    const own = newEphemeral();
    const keys = deriveSessionKeys(own.privateKey, b.epk, {
      nodeKey: b.key,
      nodeEpk: b.epk,
      controlEpk: own.publicKey,
    });
    if (keys === undefined) return this.#fail("join_bad_epk", from);
    handshake.prepared = { own, keys };
    const admission = admitKey(this.#deps.store, this.#config.policy, b.key, roleName(b.role), b.token);
    if (!admission.ok) {
      this.#fail(`enrolment_${admission.reason}`, from);
      this.#deps.logger.warn("join_unauthorized", {
        key: keyHex,
        role: roleName(b.role),
        reason: admission.reason,
        from: addressKey(from),
      });
      this.sendJoinAck(from, handshake, undefined, {
        error: JoinError.UNAUTHORIZED,
        node: 0,
        region: "",
        heartbeatMs: 0,
        channels: [],
      });
      return undefined;
    }
    // A key enrolled by a token has finished enrolment: it keeps its row (and id) from now on,
    // so a JOIN refused for another reason (its channel not offered yet) spends no second use.
    if (admission.enrolledBy === "token") this.#deps.store.nodeIdForKey(b.key, now);
    return handshake;
  }

  /**
   * The JOIN_ACK, signed over the JOIN's hash. With `node` (an accepted JOIN) it opens the
   * node's session, or keeps the current one when the JOIN is a resend with the same epk.
   */
  sendJoinAck(to: Address, hs: Handshake, node: number | undefined, body: JoinAckBody): void {
    const { sessions, identity, clock } = this.#deps;
    let ack = body;
    if (node !== undefined && hs.epk !== undefined) {
      const keyHex = Buffer.from(hs.key).toString("hex");
      let s = sessions.get(node);
      if (s === undefined || s.keyHex !== keyHex || !Buffer.from(s.nodeEpk).equals(hs.epk)) {
        let prepared = hs.prepared;
        if (prepared === undefined) {
          // Verification off: the JOIN skipped the checks, the keys are made here.
          const own = newEphemeral();
          const keys = deriveSessionKeys(own.privateKey, hs.epk, {
            nodeKey: hs.key,
            nodeEpk: hs.epk,
            controlEpk: own.publicKey,
          });
          if (keys === undefined) return void this.#fail("join_bad_epk", to);
          prepared = { own, keys };
        }
        s = sessions.set({ node, keyHex, nodeEpk: hs.epk, ...prepared, openedAt: clock.now() });
        this.#deps.metrics.sessionsOpened++;
      }
      ack = { ...body, epk: s.own.publicKey };
    }
    const msg = this.#envelope(MsgType.JOIN_ACK, ack);
    this.#deps.send(encodeSigned(msg, identity.privateKey, joinAckContext(hs.joinHash)), to);
  }

  /**
   * JOIN_ACK REJOIN to a HEARTBEAT from an id without a session (control restarted): unsigned, as
   * there is no session to tag it with, and sent only when no larger than what came in.
   */
  sendRejoinHint(to: Address, inBytes: number): void {
    const buf = encodeControl(
      this.#envelope(MsgType.JOIN_ACK, {
        error: JoinError.REJOIN,
        node: 0,
        region: "",
        heartbeatMs: 0,
        channels: [],
      }),
    );
    this.#deps.metrics.unprovenBytesIn += inBytes;
    if (buf.length > inBytes) return;
    this.#deps.metrics.unprovenBytesOut += buf.length;
    this.#deps.send(buf, to);
  }

  fail(reason: string, from: Address): undefined {
    return this.#fail(reason, from);
  }

  #sendCookie(to: Address, key: Uint8Array, inBytes: number): void {
    const { metrics, clock, identity } = this.#deps;
    const cookie = this.#cookies.make(to, key, clock.now());
    const buf = encodeControl(this.#envelope(MsgType.COOKIE, { cookie, controlKey: identity.publicKey }));
    // No amplification: a JOIN too small to pay for its COOKIE gets nothing (a real one is larger).
    if (buf.length > inBytes) return void this.#fail("join_too_small", to);
    metrics.cookiesSent++;
    metrics.unprovenBytesOut += buf.length;
    this.#deps.send(buf, to);
  }

  #envelope<T extends MsgType>(type: T, body: MessageOf<T>["body"]): ControlMessage {
    this.#seq = (this.#seq + 1) >>> 0;
    return {
      v: WIRE_VERSION,
      type,
      sender: 0,
      seq: this.#seq,
      ts: this.#deps.clock.now(),
      body,
    } as ControlMessage;
  }

  #limited(stage: "unproven" | "proven"): undefined {
    ControlMetrics.bump(this.#deps.metrics.joinsLimited, stage);
    return undefined;
  }

  #fail(reason: string, from: Address): undefined {
    ControlMetrics.bump(this.#deps.metrics.authFailed, reason);
    this.#deps.logger.debug("auth_failed", { reason, from: addressKey(from) });
    return undefined;
  }
}
