/**
 * A node's side of the authenticated control session (docs/security.md), shared by the agent
 * (agent/session/session.ts), the origin (origin/control-session.ts) and the tests' scripted nodes.
 *
 * ControlLink owns the keys, counters and the session ticket, and nothing else: the caller
 * keeps its timers and socket.
 *
 *   join()         the JOIN datagram: the node's ephemeral X25519 key and control's last cookie,
 *                  signed with the node's Ed25519 key for control's (pinned) public key
 *   onCookie()     control's address check: keep the cookie, JOIN again at once
 *   onJoinAck()    accepted only with control's signature over one of our pending JOINs; an
 *                  accepting one carries control's ephemeral (the session keys follow) and the
 *                  session ticket, kept with the session's resumption secret; an unsigned BUSY
 *                  only when its echo is the start of a pending JOIN's hash
 *   seal()         HEARTBEAT and LEAVE: the next counter and the session tag
 *   open()         ASSIGN and HEARTBEAT_ACK: the session tag, then the counter in the replay window
 *   resume()       RESUME (failover, docs/agent.md "Failover"): the ticket and a fresh nonce, tagged
 *                  with resumeTagKey(resumption); resends of one attempt keep the nonce
 *   onResumeAck()  RESUME_ACK: tag checked with the resumed keys (resumption secret, both nonces)
 *                  before anything is believed; then the session runs on them (new receive window)
 *   settle()       optional, for callers that hold very many links (the simulator): the handshake
 *                  is over, forget its ephemeral and pending JOINs (a late JOIN_ACK of it is
 *                  then dropped as "ack_settled"); the agent and the origin do not call it
 *
 * Which endpoint the session uses and when it moves: control-failover.ts.
 *
 * Control's key is pinned by configuration (`controlKey`, what a device maker pre-seeds) or,
 * when the configuration says so, trusted on first use: the key a COOKIE names is used for the
 * handshake and kept (onControlKeyLearnt) once a JOIN_ACK signed by it verifies.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import { checkSignature, checkTag, ed25519Key, encodeSigned, encodeTagged } from "../protocol/auth.js";
import { encodeControl } from "../protocol/control-codec.js";
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
} from "../protocol/handshake.js";
import { JOIN_ECHO_BYTES, PUBLIC_KEY_BYTES, RESUME_NONCE_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type ControlMessage,
  type CookieBody,
  JoinError,
  type JoinAckBody,
  type JoinBody,
  MsgType,
  type ResumeAckBody,
  type ResumeBody,
} from "../protocol/messages.js";
import { ReplayWindow } from "../protocol/replay-window.js";

export interface ControlLinkConfig {
  /** The node's long-term Ed25519 key pair (common/identity.ts). */
  identity: { publicKey: Uint8Array; privateKey: KeyObject };
  /** Control's public key (raw Ed25519, 32 bytes), pinned. */
  controlKey?: Uint8Array | undefined;
  /** Without a pinned key: trust the key control names in its first COOKIE (demo, lab). */
  trustOnFirstUse?: boolean;
  /** False only in the attack suite's negative controls: ASSIGNs and JOIN_ACKs are not checked. */
  verify?: boolean;
}

export interface ControlLinkHooks {
  /** A key trusted on first use was confirmed by a signed JOIN_ACK: keep it. */
  onControlKeyLearnt?(key: Uint8Array): void;
}

/**
 * What a JOIN_ACK was: a new session, a signed refusal, the unsigned REJOIN hint, an unsigned
 * BUSY whose echo matches one of our pending JOINs (JOIN again after its retry-after), or not
 * control's.
 */
export type AckVerdict = "accepted" | "refused" | "rejoin_hint" | "busy" | "forged";

/**
 * What a RESUME_ACK was: the session resumed on new keys; a refusal that authenticates (the
 * ticket will not be resumed: JOIN); an unauthenticated refusal (a server that could not open
 * the ticket, or a forgery: a hint, like REJOIN); an answer to no RESUME we wait for (a late
 * duplicate); or one that does not authenticate (counted in authFailed).
 */
export type ResumeVerdict = "resumed" | "refused" | "refusal_hint" | "busy" | "stale" | "forged";

export interface ControlLinkStats {
  /** Control datagrams dropped because they did not authenticate, by reason. */
  authFailed: Record<string, number>;
  cookies: number;
  sessions: number;
  /** Sessions moved to resumed keys by a RESUME_ACK. */
  resumed: number;
}

/** What a RESUME says besides its ticket and nonce (the link adds those). */
export type ResumeFields = Omit<ResumeBody, "ticket" | "nonce">;

/** JOINs of one handshake whose JOIN_ACK is still accepted (resends while an answer is under way). */
const PENDING_JOINS = 4;

/**
 * The control key last built into a KeyObject: the links of one process nearly always pin the
 * same key, and a KeyObject holds about 1.2 KB of native memory (the simulator runs 10^6 links).
 * KeyObjects are immutable, so sharing one is safe.
 */
let lastControlKey: { raw: Buffer; key: KeyObject } | undefined;

function controlKeyObject(raw: Uint8Array): KeyObject | undefined {
  if (lastControlKey !== undefined && raw instanceof Uint8Array && lastControlKey.raw.equals(raw))
    return lastControlKey.key;
  const key = ed25519Key(raw);
  if (key !== undefined) lastControlKey = { raw: Buffer.from(raw), key };
  return key;
}

/** The hooks of a link given none: one object for all of them. */
const NO_HOOKS: ControlLinkHooks = Object.freeze({});

export class ControlLink {
  readonly stats: ControlLinkStats = { authFailed: {}, cookies: 0, sessions: 0, resumed: 0 };
  readonly #config: ControlLinkConfig;
  readonly #hooks: ControlLinkHooks;
  #controlKey: Uint8Array | undefined;
  /** #controlKey as a KeyObject, built once per key (every JOIN_ACK is verified with it). */
  #controlKeyObject: KeyObject | undefined;
  #pinned: boolean;
  #cookie: Uint8Array | undefined;
  #ephemeral: Ephemeral | undefined;
  #pending: Buffer[] = [];
  #keys: SessionKeys | undefined;
  #window = new ReplayWindow();
  #sent = 0;
  #lastJoinTs = 0;
  /** The session ticket (opaque) and the resumption secret sealed in it. */
  #ticket: Uint8Array | undefined;
  #resumption: Uint8Array | undefined;
  /** The RESUME under way: its nonce and the secret it was tagged with. */
  #resume: { nonce: Buffer; resumption: Uint8Array } | undefined;
  #lastResumeTs = 0;

  constructor(config: ControlLinkConfig, hooks: ControlLinkHooks = NO_HOOKS) {
    const keyObject = config.controlKey === undefined ? undefined : controlKeyObject(config.controlKey);
    if (config.controlKey !== undefined && keyObject === undefined) {
      throw new RangeError(`controlKey: expected a raw Ed25519 public key (${PUBLIC_KEY_BYTES} bytes)`);
    }
    if (config.controlKey === undefined && config.trustOnFirstUse !== true && config.verify !== false) {
      throw new RangeError("controlKey: required unless trustOnFirstUse is set");
    }
    this.#config = config;
    this.#hooks = hooks;
    this.#controlKey = config.controlKey;
    this.#controlKeyObject = keyObject;
    this.#pinned = config.controlKey !== undefined;
  }

  /** A session is open (a JOIN_ACK accepted our JOIN). */
  get established(): boolean {
    return this.#keys !== undefined;
  }

  /** Control's public key as pinned or learnt (undefined before a TOFU node's first COOKIE). */
  get controlKey(): Uint8Array | undefined {
    return this.#controlKey;
  }

  /** The session ticket control gave (JOIN_ACK or RESUME_ACK); undefined from a control without. */
  get ticket(): Uint8Array | undefined {
    return this.#ticket;
  }

  /** A RESUME can be made: a session with a ticket and its resumption secret. */
  get canResume(): boolean {
    return this.#keys !== undefined && this.#ticket !== undefined && this.#resumption !== undefined;
  }

  /** A RESUME is waiting for its RESUME_ACK. */
  get resuming(): boolean {
    return this.#resume !== undefined;
  }

  /** Starts a new handshake: the next JOINs carry a fresh ephemeral; the old session stays usable until one is accepted. */
  restart(): void {
    this.#ephemeral = newEphemeral();
    this.#pending = [];
    this.#resume = undefined;
  }

  /**
   * The handshake is over (the caller saw the session work: an authenticated ASSIGN or
   * HEARTBEAT_ACK): its ephemeral key and pending JOINs' hashes are let go (the cookie stays for
   * the next JOIN). A JOIN_ACK of it that comes later is dropped (authFailed "ack_settled"); a
   * COOKIE is ignored until the next restart() or join(). For callers that hold very many links
   * (the simulator's viewers: an X25519 KeyObject is about 1.4 KB of native memory); a no-op
   * without a session.
   */
  settle(): void {
    if (this.#keys === undefined || (this.#ephemeral === undefined && this.#pending.length === 0)) return;
    this.#ephemeral = undefined;
    this.#pending = [];
  }

  /** The signed JOIN datagram for `body` (its epk and cookie are filled in). */
  join(body: JoinBody, now: number): Buffer {
    if (this.#ephemeral === undefined) this.restart();
    const eph = this.#ephemeral!;
    // Control refuses a JOIN not newer than the last it accepted from this key (a replay).
    this.#lastJoinTs = Math.max(now, this.#lastJoinTs + 1);
    const msg = {
      v: WIRE_VERSION,
      type: MsgType.JOIN,
      sender: 0,
      seq: 0,
      ts: this.#lastJoinTs,
      body: {
        ...body,
        epk: eph.publicKey,
        ...(this.#cookie === undefined ? {} : { cookie: this.#cookie }),
      },
    } as ControlMessage;
    const context = joinContext(this.#controlKey ?? new Uint8Array(PUBLIC_KEY_BYTES));
    const buf = encodeSigned(msg, this.#config.identity.privateKey, context);
    this.#pending.push(sha256(buf));
    if (this.#pending.length > PENDING_JOINS) this.#pending.shift();
    return buf;
  }

  /** A COOKIE: true when the JOIN should go again now, with it. */
  onCookie(body: CookieBody): boolean {
    if (this.#ephemeral === undefined) return false; // no handshake under way
    this.stats.cookies++;
    this.#cookie = body.cookie;
    const learnt = this.#pinned || body.controlKey === undefined ? undefined : ed25519Key(body.controlKey);
    if (learnt !== undefined) {
      this.#controlKey = body.controlKey;
      this.#controlKeyObject = learnt;
    }
    return true;
  }

  /** A JOIN_ACK datagram (decoded as `ack`). On "accepted" the session keys are in place. */
  onJoinAck(buf: Uint8Array, ack: JoinAckBody, hasAuth: boolean): AckVerdict {
    const verify = this.#config.verify !== false;
    if (!hasAuth) {
      if (ack.error === JoinError.REJOIN) return "rejoin_hint";
      if (ack.error === JoinError.BUSY)
        return this.#busyEcho(ack.echo) || !verify ? "busy" : this.#fail("busy_echo");
      if (verify) return this.#fail("ack_unsigned");
    }
    if (verify) {
      const key = this.#controlKeyObject;
      if (key === undefined) return this.#fail("ack_no_control_key");
      if (this.#pending.length === 0 && this.#ephemeral === undefined && this.#keys !== undefined)
        return this.#fail("ack_settled");
      if (!this.#pending.some((h) => checkSignature(buf, key, joinAckContext(h)))) {
        return this.#fail("ack_signature");
      }
    }
    if (ack.error !== JoinError.NONE) return "refused";
    const eph = this.#ephemeral;
    if (ack.epk === undefined || eph === undefined) {
      if (verify) return this.#fail("ack_no_epk");
      return "accepted";
    }
    const keys = deriveSessionKeys(eph.privateKey, ack.epk, {
      nodeKey: this.#config.identity.publicKey,
      nodeEpk: eph.publicKey,
      controlEpk: ack.epk,
    });
    if (keys === undefined) return this.#fail("ack_bad_epk");
    const fresh = this.#keys === undefined || !this.#keys.controlToNode.equals(keys.controlToNode);
    if (fresh) {
      this.#keys = keys;
      this.#window = new ReplayWindow();
      this.#sent = 0;
      this.#ticket = ack.ticket;
      this.#resumption = ack.ticket === undefined ? undefined : keys.resumption;
      this.#resume = undefined;
      this.stats.sessions++;
    } else if (ack.ticket !== undefined) {
      // Another answer to the same JOIN: the same session, perhaps a newer ticket for it.
      this.#ticket = ack.ticket;
      this.#resumption = this.#keys!.resumption;
    }
    if (!this.#pinned && this.#controlKey !== undefined && verify) {
      this.#pinned = true;
      this.#hooks.onControlKeyLearnt?.(this.#controlKey);
    }
    return "accepted";
  }

  /** A BUSY's echo is the start of the hash of one of our pending JOINs (only who saw the JOIN knows it). */
  #busyEcho(echo: Uint8Array | undefined): boolean {
    if (echo === undefined || echo.length !== JOIN_ECHO_BYTES) return false;
    return this.#pending.some((h) => h.subarray(0, JOIN_ECHO_BYTES).equals(echo));
  }

  /** Encodes a HEARTBEAT or LEAVE with the next counter and the session tag (untagged before a session). */
  seal(msg: ControlMessage): Buffer {
    this.#sent = (this.#sent + 1) >>> 0;
    const m = { ...msg, seq: this.#sent };
    return this.#keys === undefined ? encodeControl(m) : encodeTagged(m, this.#keys.nodeToControl);
  }

  /** True when an ASSIGN or HEARTBEAT_ACK datagram carries our session's tag and a counter not seen before. */
  open(buf: Uint8Array, counter: number): boolean {
    if (this.#config.verify === false) return true;
    const why =
      this.#keys === undefined
        ? "no_session"
        : !checkTag(buf, this.#keys.controlToNode)
          ? "tag"
          : !this.#window.accept(counter)
            ? "replay"
            : undefined;
    if (why === undefined) return true;
    this.#fail(why);
    return false;
  }

  /**
   * The RESUME datagram (sender = our node id): ticket, nonce and `fields`, tagged with the
   * resumption key. `fresh` starts a new attempt (a new nonce); otherwise a resend keeps the
   * nonce, so whichever RESUME_ACK comes back, both sides derive the same keys. Undefined when
   * the session has no ticket. Throws EncodeError like encodeControl (a bad placement).
   */
  resume(sender: number, ts: number, fields: ResumeFields, fresh: boolean): Buffer | undefined {
    const ticket = this.#ticket;
    const resumption = this.#resumption;
    if (!this.canResume || ticket === undefined || resumption === undefined) return undefined;
    if (fresh || this.#resume === undefined) {
      this.#resume = { nonce: randomBytes(RESUME_NONCE_BYTES), resumption };
    }
    const r = this.#resume;
    this.#sent = (this.#sent + 1) >>> 0;
    // Control refuses a RESUME not newer than the last it took from this key (a replay), as a JOIN.
    this.#lastResumeTs = Math.max(ts, this.#lastResumeTs + 1);
    const msg = {
      v: WIRE_VERSION,
      type: MsgType.RESUME,
      sender,
      seq: this.#sent,
      ts: this.#lastResumeTs,
      body: { ...fields, ticket, nonce: r.nonce },
    } as ControlMessage;
    return encodeTagged(msg, resumeTagKey(r.resumption));
  }

  /** No RESUME_ACK is awaited any more (the attempt gave up: a JOIN follows). */
  abandonResume(): void {
    this.#resume = undefined;
  }

  /**
   * A RESUME_ACK datagram (decoded as `ack`, envelope counter `counter`). The tag must verify with
   * the keys the resumption secret, our nonce and control's give; on "resumed" the session runs
   * on them: fresh receive window, the new ticket (when control sent one) with its secret.
   */
  onResumeAck(buf: Uint8Array, ack: ResumeAckBody, counter: number, hasAuth: boolean): ResumeVerdict {
    const r = this.#resume;
    if (r === undefined || this.#keys === undefined) return "stale";
    const verify = this.#config.verify !== false;
    if (!hasAuth && ack.error === JoinError.BUSY) {
      // Untagged: bound to the RESUME under way by its nonce, which only who saw it knows.
      if (r.nonce.equals(ack.nonce) || !verify) return "busy";
      this.#fail("busy_echo");
      return "forged";
    }
    if (!hasAuth && verify) {
      if (ack.error !== JoinError.NONE) return "refusal_hint";
      this.#fail("resume_unsigned");
      return "forged";
    }
    const keys = resumedSessionKeys(r.resumption, r.nonce, ack.nonce);
    const window = new ReplayWindow();
    if (verify && !checkTag(buf, keys.controlToNode)) {
      // A refusal from a server that cannot derive the keys (it could not open the ticket) is
      // still a hint; anything else that does not verify is not control's.
      if (ack.error !== JoinError.NONE) return "refusal_hint";
      this.#fail("resume_tag");
      return "forged";
    }
    if (verify && !window.accept(counter)) {
      this.#fail("replay");
      return "forged";
    }
    this.#resume = undefined;
    if (ack.error !== JoinError.NONE) return "refused";
    // Without a new ticket the old one (and the secret sealed in it) stays good for the next failover.
    if (ack.ticket !== undefined) {
      this.#ticket = ack.ticket;
      this.#resumption = keys.resumption;
    }
    this.#keys = keys;
    this.#window = window;
    this.stats.resumed++;
    return "resumed";
  }

  #fail(reason: string): "forged" {
    this.stats.authFailed[reason] = (this.stats.authFailed[reason] ?? 0) + 1;
    return "forged";
  }
}
