/**
 * Control's side of the handshake (docs/security.md): what happens to a JOIN before the
 * JOIN handler sees it, and how its JOIN_ACK is made.
 *
 *   1. no valid cookie for (source address, key)   -> COOKIE, no larger than the JOIN; no state
 *   2. rate limits per source prefix and in total  -> JOIN_ACK BUSY with a retry-after (unsigned,
 *                                                     echoing the JOIN's hash: control-center.ts)
 *   3. Ed25519 signature over the exact bytes, for control's key, and an epk -> else dropped
 *   4. timestamp newer than the key's last JOIN    -> else dropped (a replay)
 *   5. enrolment policy, revocation                -> signed JOIN_ACK UNAUTHORIZED
 * Only then does the JOIN handler run (and a store row exist). Its JOIN_ACK opens the session:
 * control's ephemeral, the derived keys, a signature over the JOIN's hash.
 * Steps 1-2 run as soon as the JOIN is read (checkAddress: cheap, no state); steps 3-5 when its
 * turn in the admission queue comes (verifyJoin; control/admission.ts). Meanwhile the signature
 * of step 3 is checked on libuv's thread pool (trust/off-thread.ts), and control's ephemerals are
 * generated there ahead of use: the JOIN's turn takes the pool's verdict when it is in (for
 * exactly its bytes and key), else checks the signature itself; nothing else moves.
 * Every drop is counted in auth_failed_total{reason} (or joins_limited_total) and not answered.
 *
 * RESUME (a failover, docs/resilience.md) skips steps 1-5: its ticket (trust/ticket.ts) proves a
 * control server of this deployment admitted the key, and its tag proves the sender holds the
 * session's resumption secret. Checked here: the ticket opens and is fresh, the tag, the sender
 * is the ticket's node, the key is not revoked, the RESUME is newer than the last one from that
 * key. The JOIN handler then runs on the ticket's JOIN, and its answer goes out as a RESUME_ACK
 * tagged with the resumed session's keys.
 */
import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { checkSignature, checkTag, ed25519Key, encodeSigned } from "../../protocol/auth.js";
import { encodeControl } from "../../protocol/control-codec.js";
import {
  deriveSessionKeys,
  joinAckContext,
  joinContext,
  newEphemeral,
  resumedSessionKeys,
  resumeTagKey,
  sha256,
  type Ephemeral,
  type SessionKeys,
} from "../../protocol/handshake.js";
import { JOIN_ECHO_BYTES, RESUME_NONCE_BYTES, WIRE_VERSION } from "../../protocol/limits.js";
import {
  type ControlMessage,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  type Placement,
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
import { EphemeralStock, SignatureChecks } from "./off-thread.js";
import { DEFAULT_ADMISSION } from "../admission.js";
import type { NodeSession, SessionTable } from "./sessions.js";
import { TicketSealer } from "./ticket.js";

type Join = MessageOf<MsgType.JOIN>;
type Resume = MessageOf<MsgType.RESUME>;

/** A RESUME that passed the checks: the resumed session and what the node reported. */
export interface Resumption {
  node: number;
  /** The node's RESUME nonce and control's: the resumed keys come from both. */
  nodeNonce: Uint8Array;
  controlNonce: Uint8Array;
  keys: SessionKeys;
  channel: number;
  assignVersion: number;
  placement?: Placement;
  /** ms since the ticket was issued (how long the session has existed, at least). */
  ticketAgeMs: number;
}

/** A JOIN that passed the checks: what its JOIN_ACK needs. */
export interface Handshake {
  /** SHA-256 of the JOIN datagram (the JOIN_ACK's signature covers it). */
  joinHash: Uint8Array;
  /** The node's identity key (raw) and its ephemeral; epk undefined only with verification off. */
  key: Uint8Array;
  epk: Uint8Array | undefined;
  /** Control's ephemeral and the keys it gives with epk (checked before the JOIN handler runs). */
  prepared?: { own: Ephemeral; keys: SessionKeys };
  /** The JOIN's facts (sealed into the session's ticket). */
  join: JoinBody;
  /** Present when this "JOIN" is a RESUME's ticket: the answer is a RESUME_ACK. */
  resume?: Resumption;
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
  /**
   * The fencing epoch of this server's DCM for a channel id (the RSL's), which a RESUME_ACK must
   * carry: a node drops an answer below the epoch it has seen. Absent: no RSL (epoch 0).
   */
  epochOf?(channel: number): number | undefined;
}

export interface ResponderConfig {
  policy: TrustPolicy;
  limits: JoinLimits;
  /**
   * False only in the attack suite's negative controls: every check is skipped (JOINs need no
   * cookie or signature, tags and counters are not checked). Never set in a deployment.
   */
  verify: boolean;
  /**
   * Signatures checked and ephemerals generated on libuv's thread pool ahead of the JOIN's turn
   * (trust/off-thread.ts). Default true; the outcome is the same either way.
   */
  offThread?: boolean;
  /** How long the admission queue keeps a JOIN, ms (default: DEFAULT_ADMISSION's). */
  maxWaitMs?: number;
}

/**
 * Key agreements kept for resent JOINs: a node resends its JOIN (same identity key, same epk)
 * until a JOIN_ACK reaches it, and during a burst many do, each costing an X25519 key pair, a
 * DH and HKDF for keys its session already has. Keyed by the raw key and epk bytes, at most
 * PREPARED_MAX entries (the oldest dropped first), each for PREPARED_TTL_MS. It skips only the
 * key agreement: the signature, freshness, revocation and enrolment checks run for every JOIN.
 */
const PREPARED_MAX = 4096;
const PREPARED_TTL_MS = 30_000;

export class HandshakeResponder {
  readonly #deps: ResponderDeps;
  readonly #config: ResponderConfig;
  readonly #cookies = new CookieJar();
  readonly #limiter: JoinLimiter;
  readonly #joinContext: Buffer;
  readonly #tickets: TicketSealer;
  readonly #prepared = new Map<string, { own: Ephemeral; keys: SessionKeys; at: number }>();
  /** Key agreements that opened a session (see sendJoinAck). */
  readonly #opened = new WeakSet<object>();
  /** Off the thread (trust/off-thread.ts); undefined when config.offThread is false. */
  readonly #signatures: SignatureChecks | undefined;
  readonly #ephemerals: EphemeralStock | undefined;
  #seq = 0;

  constructor(deps: ResponderDeps, config: ResponderConfig) {
    this.#deps = deps;
    this.#config = config;
    this.#limiter = new JoinLimiter(config.limits, deps.clock.now());
    this.#joinContext = joinContext(deps.identity.publicKey);
    this.#tickets = new TicketSealer(deps.identity.privateKey);
    const offThread = config.verify && config.offThread !== false;
    this.#signatures = offThread
      ? new SignatureChecks(
          this.#joinContext,
          () => deps.clock.now(),
          config.maxWaitMs ?? DEFAULT_ADMISSION.maxWaitMs,
        )
      : undefined;
    this.#ephemerals = offThread ? new EphemeralStock(newEphemeral) : undefined;
    this.#ephemerals?.fill();
  }

  /** How the off-thread work went (trust/off-thread.ts): checks started, verdicts used, ephemerals taken. */
  get offThread(): {
    signaturesStarted: number;
    signaturesInFlight: number;
    signaturesUsed: number;
    signaturesPending: number;
    ephemeralsReady: number;
    ephemeralsTaken: number;
    ephemeralsMadeNow: number;
  } {
    return {
      signaturesStarted: this.#signatures?.started ?? 0,
      signaturesInFlight: this.#signatures?.inFlight ?? 0,
      signaturesUsed: this.#signatures?.used ?? 0,
      signaturesPending: this.#signatures?.pending ?? 0,
      ephemeralsReady: this.#ephemerals?.ready ?? 0,
      ephemeralsTaken: this.#ephemerals?.taken ?? 0,
      ephemeralsMadeNow: this.#ephemerals?.madeNow ?? 0,
    };
  }

  get verify(): boolean {
    return this.#config.verify;
  }

  get policy(): TrustPolicy {
    return this.#config.policy;
  }

  /** Steps 1-5 above; a Handshake when the JOIN handler may run, undefined when the JOIN was dealt with. */
  onJoin(msg: Join, data: Uint8Array, from: Address): Handshake | undefined {
    const gate = this.#gate(msg, data, from);
    if (gate === "busy") return this.#limited("proven");
    return gate === "proceed" ? this.verifyJoin(msg, data, from) : undefined;
  }

  /**
   * Steps 1-2, cheap and stateless: what control does with a JOIN as soon as it reads it.
   * "proceed": the source is proven and within the limits (steps 3-5 may run, verifyJoin);
   * "busy": proven but over a rate limit (the caller answers BUSY, counted here);
   * undefined: answered with a COOKIE, or dropped.
   * A JOIN that may proceed has its signature checked on the thread pool while it waits.
   */
  checkAddress(msg: Join, data: Uint8Array, from: Address): "proceed" | "busy" | undefined {
    const gate = this.#gate(msg, data, from);
    if (gate === "proceed" && this.#signatures !== undefined) {
      const requester = `${addressKey(from)}/${Buffer.from(msg.body.key).toString("hex")}`;
      this.#signatures.offer(requester, data, msg.body.key, msg.ts);
    }
    return gate;
  }

  #gate(msg: Join, data: Uint8Array, from: Address): "proceed" | "busy" | undefined {
    if (!this.#config.verify) return "proceed";
    const { clock, metrics } = this.#deps;
    const b = msg.body;
    const now = clock.now();
    if (!this.#cookies.check(b.cookie, from, b.key, now)) {
      metrics.unprovenBytesIn += data.length;
      if (!this.#limiter.unproven(now)) return this.#limited("unproven");
      this.#sendCookie(from, b.key, data.length);
      return undefined;
    }
    if (!this.#limiter.proven(from.address, now)) {
      ControlMetrics.bump(metrics.joinsLimited, "proven");
      return "busy";
    }
    return "proceed";
  }

  /** How long until the proven-JOIN limits would take one more from `from`, ms. */
  limiterWaitMs(from: Address): number {
    return this.#limiter.provenWaitMs(from.address, this.#deps.clock.now());
  }

  /**
   * Steps 3-5, the expensive ones (signature, key agreement, enrolment): run when the JOIN's turn
   * in the admission queue comes. A Handshake when the JOIN handler may run.
   */
  verifyJoin(msg: Join, data: Uint8Array, from: Address): Handshake | undefined {
    const b = msg.body;
    const now = this.#deps.clock.now();
    const handshake: Handshake = { joinHash: sha256(data), key: b.key, epk: b.epk, join: b };
    if (!this.#config.verify) return handshake;
    // The pool's verdict when it is in (its check imported the key: a valid one); else here.
    const ahead = this.#signatures?.verdict(data, b.key);
    const key = ahead === undefined ? ed25519Key(b.key) : undefined;
    if (ahead === undefined && key === undefined) return this.#fail("join_bad_key", from);
    if (b.epk === undefined) return this.#fail("join_no_epk", from);
    if (!(ahead ?? checkSignature(data, key!, this.#joinContext))) return this.#fail("join_signature", from);
    const keyHex = Buffer.from(b.key).toString("hex");
    if (!this.#deps.sessions.freshJoin(keyHex, msg.ts, now)) return this.#fail("join_replay", from);
    // The key agreement before any state: an epk that gives no usable secret is refused here.
    const prepared = this.#keyAgreement(b.key, b.epk, now);
    if (prepared === undefined) return this.#fail("join_bad_epk", from);
    handshake.prepared = prepared;
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

  /** Control's ephemeral and the session keys for (key, epk): a resend's from the cache (see PREPARED_MAX). */
  #keyAgreement(
    key: Uint8Array,
    epk: Uint8Array,
    now: number,
  ): { own: Ephemeral; keys: SessionKeys } | undefined {
    const id = Buffer.concat([key, epk]).toString("base64");
    const cached = this.#prepared.get(id);
    if (cached !== undefined && now - cached.at <= PREPARED_TTL_MS) return cached;
    const own = this.#ephemeral();
    const keys = deriveSessionKeys(own.privateKey, epk, {
      nodeKey: key,
      nodeEpk: epk,
      controlEpk: own.publicKey,
    });
    if (keys === undefined) return undefined;
    const entry = { own, keys, at: now };
    this.#prepared.delete(id);
    this.#prepared.set(id, entry);
    if (this.#prepared.size > PREPARED_MAX) {
      const oldest = this.#prepared.keys().next();
      if (oldest.done !== true) this.#prepared.delete(oldest.value);
    }
    return entry;
  }

  /** A fresh ephemeral of control's: from the stock generated on the pool, else made now. */
  #ephemeral(): Ephemeral {
    return this.#ephemerals?.take() ?? newEphemeral();
  }

  /** Key agreements held for resent JOINs (at most PREPARED_MAX). */
  get preparedCached(): number {
    return this.#prepared.size;
  }

  /**
   * The JOIN_ACK, signed over the JOIN's hash. With `node` (an accepted JOIN) it opens the
   * node's session, or keeps the current one when the JOIN is a resend with the same epk.
   */
  sendJoinAck(to: Address, hs: Handshake, node: number | undefined, body: JoinAckBody): void {
    if (hs.resume !== undefined) return this.#sendResumeAck(to, hs, hs.resume, node, body);
    const { sessions, identity, clock } = this.#deps;
    let ack = body;
    if (node !== undefined && hs.epk !== undefined) {
      const keyHex = Buffer.from(hs.key).toString("hex");
      let s = sessions.get(node);
      if (s === undefined || s.keyHex !== keyHex || !Buffer.from(s.nodeEpk).equals(hs.epk)) {
        // Keys that opened a session once never open another (a cached agreement reached by a
        // resend after that session ended): the new session's counters start again, so it gets
        // fresh keys, or what was tagged under the old one would verify under it.
        let prepared = hs.prepared !== undefined && this.#opened.has(hs.prepared) ? undefined : hs.prepared;
        if (prepared === undefined) {
          // Verification off (the JOIN skipped the checks), or the above: the keys are made here.
          const own = this.#ephemeral();
          const keys = deriveSessionKeys(own.privateKey, hs.epk, {
            nodeKey: hs.key,
            nodeEpk: hs.epk,
            controlEpk: own.publicKey,
          });
          if (keys === undefined) return void this.#fail("join_bad_epk", to);
          prepared = { own, keys };
        }
        this.#opened.add(prepared);
        s = sessions.set({
          node,
          keyHex,
          nodeEpk: hs.epk,
          own: prepared.own,
          keys: prepared.keys,
          openedAt: clock.now(),
        });
        this.#deps.metrics.sessionsOpened++;
      }
      ack = { ...body, epk: s.own!.publicKey, ticket: this.#ticket(node, hs.join, s) };
    }
    const msg = this.#envelope(MsgType.JOIN_ACK, ack);
    this.#deps.send(encodeSigned(msg, identity.privateKey, joinAckContext(hs.joinHash)), to);
  }

  /**
   * A RESUME: the ticket, its tag, sender, revocation and freshness (see the header). Returns
   * the handshake the JOIN handler runs with (its JOIN is the ticket's), or undefined (dropped,
   * counted in auth_failed_total{reason}; a refused ticket gets the REJOIN hint: JOIN afresh).
   */
  onResume(msg: Resume, data: Uint8Array, from: Address): Handshake | undefined {
    const { clock, store, sessions } = this.#deps;
    const now = clock.now();
    const b = msg.body;
    const t = this.#tickets.open(b.ticket, now);
    if (!t.ok) {
      this.#fail(t.reason, from);
      this.sendRejoinHint(from, data.length);
      return undefined;
    }
    const ticket = t.value;
    const verify = this.#config.verify;
    if (verify && !checkTag(data, resumeTagKey(ticket.resumption))) return this.#fail("resume_tag", from);
    if (verify && msg.sender !== ticket.node) return this.#fail("resume_sender", from);
    const key = ticket.join.key;
    if (verify && store.isRevoked(key)) return this.#fail("resume_revoked", from);
    if (!store.adoptNodeId(ticket.node, key, now)) {
      // Another node has this id in this server's store: JOIN afresh, for an id of this store's.
      this.#fail("resume_id_taken", from);
      this.sendRejoinHint(from, data.length);
      return undefined;
    }
    const keyHex = Buffer.from(key).toString("hex");
    const current = sessions.get(ticket.node);
    // A resend of the RESUME this session came from: the same answer, so whichever RESUME_ACK
    // the node takes, its keys are the session's.
    const resend =
      current?.resumeNonce !== undefined &&
      current.keyHex === keyHex &&
      Buffer.from(current.nodeEpk).equals(b.nonce);
    if (verify && !resend && !sessions.freshJoin(`${keyHex}/resume`, msg.ts, now))
      return this.#fail("resume_replay", from);
    const controlNonce = resend ? current!.resumeNonce! : randomBytes(RESUME_NONCE_BYTES);
    this.#deps.metrics.resumes++;
    return {
      joinHash: sha256(data),
      key,
      epk: undefined,
      join: ticket.join,
      resume: {
        node: ticket.node,
        nodeNonce: b.nonce,
        controlNonce,
        keys: resend ? current!.keys : resumedSessionKeys(ticket.resumption, b.nonce, controlNonce),
        channel: b.channel,
        assignVersion: b.assignVersion,
        ...(b.placement === undefined ? {} : { placement: b.placement }),
        ticketAgeMs: Math.max(0, now - ticket.issuedAt),
      },
    };
  }

  /**
   * A RESUME's answer: RESUME_ACK with control's nonce and a fresh ticket, tagged with the
   * resumed keys (installed as the node's session when the JOIN handler accepted it).
   */
  #sendResumeAck(
    to: Address,
    hs: Handshake,
    r: Resumption,
    node: number | undefined,
    body: JoinAckBody,
  ): void {
    const { sessions, clock } = this.#deps;
    const keyHex = Buffer.from(hs.key).toString("hex");
    let s = sessions.get(r.node);
    if (s === undefined || s.resumeNonce === undefined || !Buffer.from(s.nodeEpk).equals(r.nodeNonce)) {
      s = sessions.set({
        node: r.node,
        keyHex,
        nodeEpk: r.nodeNonce,
        resumeNonce: r.controlNonce,
        keys: r.keys,
        openedAt: clock.now(),
      });
      this.#deps.metrics.sessionsOpened++;
    }
    const ok = node !== undefined && body.error === JoinError.NONE;
    const epoch = ok ? this.#deps.epochOf?.(r.channel) : undefined;
    const msg = this.#envelope(MsgType.RESUME_ACK, {
      error: body.error,
      nonce: r.controlNonce,
      heartbeatMs: body.heartbeatMs,
      ...(ok ? { ticket: this.#ticket(r.node, hs.join, s) } : {}),
      ...(epoch === undefined ? {} : { epoch }),
    });
    this.#deps.send(sessions.seal(s, msg), to);
    // A refused RESUME leaves no session behind.
    if (!ok) sessions.drop(r.node);
  }

  #ticket(node: number, join: JoinBody, s: NodeSession): Uint8Array {
    return this.#tickets.seal({
      node,
      join,
      resumption: s.keys.resumption,
      issuedAt: this.#deps.clock.now(),
    });
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

  /**
   * JOIN_ACK BUSY to a proven source (its cookie checked): not now, again after `retryAfterMs`.
   * Unsigned (a signature costs what admitting the JOIN would), bound to the JOIN by `echo`
   * (the first bytes of its hash) and never larger than the JOIN (docs/security.md).
   */
  sendJoinBusy(to: Address, data: Uint8Array, retryAfterMs: number): boolean {
    this.#signatures?.dropped(data);
    const buf = encodeControl(
      this.#envelope(MsgType.JOIN_ACK, {
        error: JoinError.BUSY,
        node: 0,
        region: "",
        heartbeatMs: 0,
        channels: [],
        retryAfterMs,
        echo: sha256(data).subarray(0, JOIN_ECHO_BYTES),
      }),
    );
    if (buf.length > data.length) return false;
    this.#deps.send(buf, to);
    return true;
  }

  /**
   * RESUME_ACK BUSY: untagged, the RESUME's own nonce echoed (what binds it to the RESUME), never
   * larger than the RESUME.
   */
  sendResumeBusy(to: Address, msg: Resume, inBytes: number, retryAfterMs: number): boolean {
    const buf = encodeControl(
      this.#envelope(MsgType.RESUME_ACK, {
        error: JoinError.BUSY,
        nonce: msg.body.nonce,
        heartbeatMs: 0,
        retryAfterMs,
      }),
    );
    if (buf.length > inBytes) return false;
    this.#deps.send(buf, to);
    return true;
  }

  /**
   * The cheap checks of a RESUME (AES-GCM and an HMAC, no store, no signature), run as soon as
   * it is read so that only authentic RESUMEs wait in the admission queue: the ticket opens and
   * is fresh, its tag, the sender is the ticket's node. What fails is handled as onResume does.
   */
  resumeAuthentic(msg: Resume, data: Uint8Array, from: Address): boolean {
    const t = this.#tickets.open(msg.body.ticket, this.#deps.clock.now());
    if (!t.ok) {
      this.#fail(t.reason, from);
      this.sendRejoinHint(from, data.length);
      return false;
    }
    if (!this.#config.verify) return true;
    if (!checkTag(data, resumeTagKey(t.value.resumption))) return this.#fail("resume_tag", from) ?? false;
    if (msg.sender !== t.value.node) return this.#fail("resume_sender", from) ?? false;
    return true;
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
