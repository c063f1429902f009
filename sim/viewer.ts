/**
 * A simulated node on the control plane (issue 13): what an agent's session (agent/session/session.ts)
 * does with the control center, and nothing of the data plane. The simulator (sim/main.ts) runs
 * 10^4..10^6 of them on a MemoryNetwork; the real-UDP load generator runs them on UdpTransport.
 *
 *   joining ──JOIN_ACK ok──> joined ──(HEARTBEAT every heartbeatMs, each answered)
 *      ^  │                    │  ^
 *      │  └── COOKIE: JOIN     │  └── RESUME_ACK ok ── resuming <── two heartbeats unanswered,
 *      │      again at once    │                          │          a REJOIN hint (with a ticket)
 *      └───────────────────────┴──────────────────────────┘ refused, given up, no ticket
 *
 * The handshake is the real one (common/control-link.ts: COOKIE, signed JOIN, signed JOIN_ACK,
 * session keys; HEARTBEAT and LEAVE tagged; ASSIGN and HEARTBEAT_ACK checked). JOIN is resent on
 * the agent's own retry policy (joinRetryDelayMs, common/control-failover.ts: exponential back-off
 * with jitter; a BUSY's retry-after honoured, one per JOIN sent, as JoinBackoff does; a BUSY
 * answer to a RESUME puts the next RESUME out the same way). Heartbeats are
 * built from the last ASSIGN applied as a fed node reports them (FIG. 9: every parent and child
 * link with its age and last sequence number, buffers, resources, newest segment). Failover as
 * common/control-failover.ts has it, in a compact form: every heartbeat must be answered
 * (HEARTBEAT_ACK or ASSIGN) within ackTimeoutMs; the first miss re-sends at once, the second
 * starts a RESUME (back-off resumeBackoffMs doubling to resumeRetryCapMs, with jitter; given up
 * after RESUME_GIVE_UP_MS: JOIN). A REJOIN hint resumes (with a ticket) or JOINs.
 *
 * Compact: no per-viewer closures; one pending wake-up. With a `scheduler` in deps the simulator
 * drives every viewer from one timing wheel (tick(now) when due); without, the viewer keeps one
 * timer of its own on the injected Clock (the UDP load generator's mode). No KeyObject is held
 * by a viewer whose session works (a KeyObject is about 1.4 KB of native memory): control's is
 * one KeyObject for all (ControlLink); its own key is kept as a JWK string (CompactIdentity), and
 * once an authenticated ASSIGN or HEARTBEAT_ACK came, the KeyObject it was imported into for the
 * JOINs and the handshake's ephemeral are let go (#settle).
 *
 * Hooks for scenarios: leave() (LEAVE, then silent), silence() / resume() (stops sending and
 * listening; back where it was), reportLag() / clearLag() (its current parent links report that
 * many packets behind: a congested link, FIG. 9).
 */
import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { ControlLink } from "../common/control-link.js";
import {
  ackTimeoutMs,
  joinRetryDelayMs,
  placementOf,
  RESUME_GIVE_UP_MS,
  RESUME_HINT_MS,
  resumeBackoffMs,
  resumeRetryCapMs,
} from "../common/control-failover.js";
import { REJOIN_HINT_MS, SESSION_TIMING } from "../common/session-timing.js";
import { AssignParts } from "../protocol/assign-parts.js";
import { rawPublicKey } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { EncodeError } from "../protocol/errors.js";
import { MAX_RETRY_AFTER_MS, WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  JoinError,
  type JoinAckBody,
  type JoinBody,
  LeaveReason,
  type LinkState,
  MsgType,
  NatType,
  type Placement,
  Role,
} from "../protocol/messages.js";
import type { Clock, Timer } from "../seams/clock.js";
import type { Address, Transport } from "../seams/transport.js";

export type ViewerPhase = "idle" | "joining" | "joined" | "resuming" | "silent" | "left";

/** Wakes viewers when they are due (the simulator's timing wheel). */
export interface ViewerScheduler {
  /** Call v.tick(now) at `at` (or a little later); a viewer may be woken early: it checks. */
  wake(v: Viewer, at: number): void;
}

/** Where the stream is: the sequence number a fed node last received, the newest segment id. */
export interface StreamClock {
  seq(now: number): number;
  segment(now: number): number;
}

export interface ViewerDeps {
  transport: Transport;
  clock: Clock;
  /** Absent: the viewer keeps its own timer on `clock`. */
  scheduler?: ViewerScheduler;
  /** Absent: 200 packets/s and 2 s segments from the clock's time. */
  stream?: StreamClock;
  /** Jitter of the retry back-offs, [0, 1) (seeded in the simulator; default Math.random). */
  random?: () => number;
}

export interface ViewerConfig {
  /**
   * The node's Ed25519 key pair, or `seed` to make one (the same seed: the same key; importing a
   * key from DER costs about 8 times what making a fresh one does), or neither: a fresh one kept
   * compact (CompactIdentity: no KeyObject held once the session works).
   */
  identity?: { publicKey: Uint8Array; privateKey: KeyObject };
  seed?: number;
  /** Sent as JOIN.regionHint (control's region policy decides by address first). */
  region?: string;
  uploadKbps: number;
  channel: string;
  control: Address;
  /** Control's pinned public key (raw Ed25519). */
  controlKey: Uint8Array;
  /** Default AGENT. An ORIGIN offers `channel` (streamKbps, segmentMs, fallbackUrl then apply). */
  role?: Role;
  nat?: NatType;
  httpPort?: number;
  streamKbps?: number;
  segmentMs?: number;
  fallbackUrl?: string;
}

/** The agent's own JOIN retry policy (common/control-failover.ts): back-off with jitter, BUSY's retry-after. */
export { joinRetryDelayMs };

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");

/** A deterministic Ed25519 key pair from a 32-bit seed (simulation only: not secret). */
export function identityFromSeed(seed: number): { publicKey: Uint8Array; privateKey: KeyObject } {
  const raw = Buffer.alloc(32);
  raw.writeUInt32BE(seed >>> 0, 0);
  raw.write("tiercast-sim", 4);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, raw]),
    format: "der",
    type: "pkcs8",
  });
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

/** A fresh Ed25519 key pair; the public key raw (JOIN.key). */
export function newIdentity(): { publicKey: Uint8Array; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519", {
    publicKeyEncoding: { format: "der", type: "spki" },
  });
  // With a publicKeyEncoding the public key comes back encoded (a Buffer), the private one a KeyObject.
  const der = publicKey as unknown as Buffer;
  return { privateKey, publicKey: new Uint8Array(der.subarray(der.length - 32)) };
}

/**
 * A node identity that keeps its Ed25519 private key as its JWK's `d` (a 43-character string),
 * not as a KeyObject (about 1.5 KB of native memory each, 1.5 GB at 10^6 viewers) once it is
 * not needed: `privateKey` imports it (about 45 µs, what making a key costs) and keeps it until
 * release() (the viewer's session works: no JOIN to sign for now), so the JOINs a viewer resends
 * while control is busy import it once. Its own key all the same: control tells the nodes apart by it.
 */
export class CompactIdentity {
  readonly publicKey: Uint8Array;
  readonly #d: string;
  #key: KeyObject | undefined;

  constructor(publicKey: Uint8Array, d: string) {
    this.publicKey = publicKey;
    this.#d = d;
  }

  /** A fresh Ed25519 key pair, made straight into JWK (no KeyObject is kept). */
  static fresh(): CompactIdentity {
    // Node takes "jwk" here (the encoding runs inside the generation job); @types/node lists pem and der.
    const generate = generateKeyPairSync as unknown as (
      type: "ed25519",
      options: { publicKeyEncoding: { format: "jwk" }; privateKeyEncoding: { format: "jwk" } },
    ) => { privateKey: JsonWebKey; publicKey: JsonWebKey };
    const { privateKey, publicKey } = generate("ed25519", {
      publicKeyEncoding: { format: "jwk" },
      privateKeyEncoding: { format: "jwk" },
    });
    const raw = typeof publicKey.x === "string" ? Buffer.from(publicKey.x, "base64url") : undefined;
    if (raw === undefined || raw.length !== 32 || typeof privateKey.d !== "string")
      throw new Error("Ed25519 key generation gave no JWK");
    return new CompactIdentity(new Uint8Array(raw), privateKey.d);
  }

  get privateKey(): KeyObject {
    if (this.#key !== undefined) return this.#key;
    const x = Buffer.from(this.publicKey.buffer, this.publicKey.byteOffset, 32).toString("base64url");
    this.#key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: this.#d, x }, format: "jwk" });
    return this.#key;
  }

  /** Lets the imported KeyObject go (the next privateKey imports it again). */
  release(): void {
    this.#key = undefined;
  }

  /** Whether a KeyObject is held now. */
  get holding(): boolean {
    return this.#key !== undefined;
  }
}

const DEFAULT_STREAM: StreamClock = {
  seq: (now) => Math.floor(now / 5),
  segment: (now) => Math.floor(now / 2000),
};

/** Counters of one viewer, small integers. */
export interface ViewerStats {
  joinsSent: number;
  heartbeatsSent: number;
  heartbeatBytes: number;
  assigns: number;
  resumes: number;
  rejoins: number;
  /** Datagrams that did not decode or authenticate. */
  dropped: number;
  /** BUSY answers honoured (JOIN or RESUME). */
  busy: number;
  /** ASSIGNs that changed the set of parents (moves, repairs). */
  parentChanges: number;
  /** Since resetSlotChanges(): the most times one parent slot (a substream) changed its parent. */
  maxSlotChanges: number;
}

export class Viewer {
  readonly deps: ViewerDeps;
  readonly config: ViewerConfig;
  readonly stats: ViewerStats = {
    joinsSent: 0,
    heartbeatsSent: 0,
    heartbeatBytes: 0,
    assigns: 0,
    resumes: 0,
    rejoins: 0,
    dropped: 0,
    busy: 0,
    parentChanges: 0,
    maxSlotChanges: 0,
  };
  /** Changes per parent slot since resetSlotChanges() (made on the first change only). */
  #slotChanges: number[] | undefined;
  phase: ViewerPhase = "idle";
  nodeId = 0;
  channelId = 0;
  heartbeatMs = 0;
  region = "";
  /** The last ASSIGN applied: its version and epoch, tier, parents' ids (0: none) and children's. */
  assignVersion = 0;
  assignEpoch = 0;
  tier = 0;
  parents: number[] = [];
  children: number[] = [];
  placement: Placement | undefined;
  /** When the first ASSIGN of this session that names a parent arrived (clock ms; 0: none yet). */
  placedAt = 0;
  /** Simulated time of the JOIN_ACK that opened the session (0: none yet). */
  joinedAt = 0;
  /** Lag reported on parent links: the parents it applies to, and packets behind. */
  lagParents: number[] | undefined;
  lagPackets = 0;
  readonly link: ControlLink;
  /** JOIN.key: the raw Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The identity when it is a CompactIdentity (its KeyObject is let go with the handshake's). */
  readonly compactIdentity: CompactIdentity | undefined;
  #parts: AssignParts | undefined;
  /** The phase before silence (resume() goes back to it). */
  #before: ViewerPhase = "idle";
  #joinTries = 0;
  #busyTaken = false;
  /** Next heartbeat, ack deadline (0: none), next JOIN/RESUME (0: none); the wake-up asked for. */
  #nextHb = 0;
  #ackAt = 0;
  #retryAt = 0;
  #missed = 0;
  #armed = false;
  #resumeStart = 0;
  #resumeDelay = 0;
  #lastHint = -Infinity;
  #due = Infinity;
  #timer: Timer | undefined;

  constructor(deps: ViewerDeps, config: ViewerConfig) {
    this.deps = deps;
    this.config = config;
    const identity =
      config.identity ??
      (config.seed === undefined ? CompactIdentity.fresh() : identityFromSeed(config.seed));
    this.publicKey = identity.publicKey;
    this.compactIdentity = identity instanceof CompactIdentity ? identity : undefined;
    this.link = new ControlLink({ identity, controlKey: config.controlKey });
    deps.transport.onDatagram((buf) => this.onDatagram(buf));
  }

  /** Placed: an ASSIGN applied in this session. */
  get placed(): boolean {
    return this.placedAt > 0 && (this.phase === "joined" || this.phase === "resuming");
  }

  /** JOINs from now on. */
  start(): void {
    if (this.phase !== "idle" && this.phase !== "left") return;
    this.#rejoin(false);
  }

  /** Starts counting changes per parent slot afresh (stats.maxSlotChanges). */
  resetSlotChanges(): void {
    this.#slotChanges = undefined;
    this.stats.maxSlotChanges = 0;
  }

  /** Clean stop: LEAVE when in a session, then nothing more. */
  leave(): void {
    if (this.phase === "joined" && this.nodeId !== 0 && this.channelId !== 0) {
      this.#send({ type: MsgType.LEAVE, body: { channel: this.channelId, reason: LeaveReason.SHUTDOWN } });
    }
    this.phase = "left";
    this.#clearTimer();
  }

  /** The box goes dark (power cut, region outage): sends nothing, hears nothing. */
  silence(): void {
    if (this.phase === "silent" || this.phase === "left") return;
    this.#before = this.phase;
    this.phase = "silent";
    this.#clearTimer();
  }

  /** Back from silence where it was: heartbeats (or JOINs) at once; control decides the rest. */
  unsilence(): void {
    if (this.phase !== "silent") return;
    this.phase = this.#before === "idle" ? "idle" : this.#before;
    if (this.phase === "idle") return;
    const now = this.deps.clock.now();
    this.#ackAt = 0;
    this.#missed = 0;
    if (this.phase === "joined") this.#nextHb = now;
    else this.#retryAt = now;
    this.#schedule(now);
  }

  /** Its current parent links report `packets` behind what the parents sent (until clearLag or a move). */
  reportLag(packets: number): void {
    this.lagParents = this.parents.filter((p) => p !== 0);
    this.lagPackets = packets;
  }

  clearLag(): void {
    this.lagParents = undefined;
    this.lagPackets = 0;
  }

  /** Whether it still reports lag on a parent it has (false once control moved it). */
  get lagging(): boolean {
    const lag = this.lagParents;
    return lag !== undefined && this.parents.some((p) => p !== 0 && lag.includes(p));
  }

  /** Does what is due at `now` (the scheduler's call; the own timer's too). */
  tick(now: number): void {
    if (now < this.#due) {
      // Early (a stale wheel entry; a system timer may fire a millisecond before its time): again at the due time.
      if (this.#due === Infinity) return;
      if (this.deps.scheduler !== undefined) this.deps.scheduler.wake(this, this.#due);
      else this.#timer = this.deps.clock.setTimeout(() => this.tick(this.deps.clock.now()), this.#due - now);
      return;
    }
    this.#due = Infinity;
    this.#timer = undefined;
    const p = this.phase;
    if (p === "joining") {
      if (this.#retryAt > 0 && now >= this.#retryAt) this.#sendJoin(now);
    } else if (p === "resuming") {
      if (this.#retryAt > 0 && now >= this.#retryAt) this.#resumeAgain(now);
    } else if (p === "joined") {
      if (this.#ackAt > 0 && now >= this.#ackAt) {
        this.#ackAt = 0;
        this.#missed++;
        if (this.#missed >= 2) this.#startResume(now);
        else this.#heartbeat(now); // the early re-send
      }
      if (this.phase === "joined" && now >= this.#nextHb) {
        this.#nextHb = now + this.heartbeatMs;
        this.#heartbeat(now);
      }
    }
    this.#schedule(now);
  }

  onDatagram(buf: Buffer): void {
    const p = this.phase;
    if (p === "silent" || p === "left" || p === "idle") return;
    const r = decodeControl(buf);
    if (!r.ok) {
      this.stats.dropped++;
      return;
    }
    const msg = r.value;
    const now = this.deps.clock.now();
    switch (msg.type) {
      case MsgType.COOKIE:
        if (p === "joining" && this.link.onCookie(msg.body)) this.#sendJoin(now, false);
        return;
      case MsgType.JOIN_ACK:
        return this.#onJoinAck(buf, msg.body, msg.auth !== undefined, now);
      case MsgType.ASSIGN:
        if (!this.link.open(buf, msg.seq)) return void this.stats.dropped++;
        this.#settle();
        return this.#onAssign(msg.body, now);
      case MsgType.HEARTBEAT_ACK:
        if (!this.link.open(buf, msg.seq)) return void this.stats.dropped++;
        this.#settle();
        this.#answered();
        return;
      case MsgType.RESUME_ACK: {
        if (p !== "resuming") return;
        const verdict = this.link.onResumeAck(buf, msg.body, msg.seq, msg.auth !== undefined);
        if (verdict === "busy") {
          // Not now: the same RESUME after the retry-after plus jitter; the give-up clock waits too.
          const r = Math.min(Math.max(1, msg.body.retryAfterMs ?? 0), MAX_RETRY_AFTER_MS);
          const wait = Math.round(
            r + (this.#random()() * Math.max(resumeBackoffMs(this.heartbeatMs), r)) / 2,
          );
          this.stats.busy++;
          this.#resumeStart = now + wait;
          this.#retryAt = now + wait;
          this.#schedule(now);
          return;
        }
        if (verdict === "resumed") {
          this.stats.resumes++;
          if (msg.body.heartbeatMs > 0) this.heartbeatMs = msg.body.heartbeatMs;
          if (msg.body.epoch !== undefined && msg.body.epoch > this.assignEpoch) {
            this.assignEpoch = msg.body.epoch;
            this.assignVersion = 0;
          }
          this.#enterJoined(now);
        } else if (verdict === "refused" || verdict === "refusal_hint") this.#rejoin(true);
        return;
      }
      default:
        return;
    }
  }

  #onJoinAck(buf: Buffer, ack: JoinAckBody, hasAuth: boolean, now: number): void {
    const verdict = this.link.onJoinAck(buf, ack, hasAuth);
    if (verdict === "forged") return void this.stats.dropped++;
    if (verdict === "busy") {
      // Control's admission is full: the next JOIN after its retry-after (one BUSY per JOIN sent).
      if (this.phase !== "joining" || this.#busyTaken) return;
      this.#busyTaken = true;
      this.stats.busy++;
      this.#joinTries++;
      this.#retryAt =
        now + joinRetryDelayMs(this.#joinTries, this.#random(), Math.max(1, ack.retryAfterMs ?? 0));
      this.#schedule(now);
      return;
    }
    if (verdict === "rejoin_hint") {
      // Control lost our session (a restart): resume with the ticket, or JOIN afresh; rate-limited.
      if (this.phase !== "joined") return;
      if (this.link.canResume) {
        if (now - this.#lastHint < RESUME_HINT_MS) return;
        this.#lastHint = now;
        this.#startResume(now);
      } else {
        if (now - this.#lastHint < REJOIN_HINT_MS) return;
        this.#lastHint = now;
        this.#rejoin(true);
      }
      return;
    }
    if (this.phase !== "joining") return;
    if (verdict === "refused") {
      this.#retryAt =
        now +
        (ack.error === JoinError.UNKNOWN_CHANNEL
          ? SESSION_TIMING.unknownChannelRetryMs
          : SESSION_TIMING.refusedRetryMs);
      this.#schedule(now);
      return;
    }
    // accepted
    this.nodeId = ack.node;
    this.region = ack.region;
    this.heartbeatMs = ack.heartbeatMs;
    const ch = ack.channels.find((c) => c.name === this.config.channel) ?? ack.channels[0];
    this.channelId = ch?.id ?? 0;
    // A new session counts versions and epochs from the start (a restarted control may too).
    this.assignVersion = 0;
    this.assignEpoch = 0;
    this.placedAt = 0;
    this.parents = [];
    this.children = [];
    this.#parts = undefined;
    this.joinedAt = now;
    this.#armed = this.link.ticket !== undefined;
    this.#enterJoined(now);
  }

  #onAssign(a: AssignBody, now: number): void {
    if (this.phase !== "joined" && this.phase !== "resuming") return;
    const epoch = a.epoch ?? 0;
    if (epoch < this.assignEpoch) return; // a deposed server's (fenced)
    this.#answered();
    if (epoch === this.assignEpoch && a.version <= this.assignVersion) return;
    let whole: AssignBody | undefined = a;
    if ((a.parts ?? 1) > 1) {
      this.#parts ??= new AssignParts();
      whole = this.#parts.accept(a);
      if (whole === undefined) return;
    }
    if (whole.channel !== this.channelId && this.channelId !== 0) return;
    this.assignVersion = whole.version;
    this.assignEpoch = epoch;
    this.tier = whole.tier;
    const parents = whole.parents.map((p) => p?.node ?? 0);
    if (this.parents.length > 0 && parents.join() !== this.parents.join()) {
      this.stats.parentChanges++;
      parents.forEach((p, j) => {
        if (p === (this.parents[j] ?? 0)) return;
        const c = (this.#slotChanges ??= []);
        c[j] = (c[j] ?? 0) + 1;
        this.stats.maxSlotChanges = Math.max(this.stats.maxSlotChanges, c[j]);
      });
    }
    this.parents = parents;
    this.children = whole.children.map((c) => c.node);
    this.placement = placementOf(whole);
    this.stats.assigns++;
    if (this.placedAt === 0 && parents.some((p) => p !== 0)) this.placedAt = now;
  }

  /** The session works: the handshake's keys go (the ephemeral, and the own key's KeyObject). */
  #settle(): void {
    this.link.settle();
    this.compactIdentity?.release();
  }

  /** A heartbeat (or ASSIGN) was answered: the failure detector starts over. */
  #answered(): void {
    this.#ackAt = 0;
    this.#missed = 0;
  }

  #enterJoined(now: number): void {
    this.phase = "joined";
    this.#retryAt = 0;
    this.#ackAt = 0;
    this.#missed = 0;
    this.#joinTries = 0;
    this.#nextHb = now + this.heartbeatMs;
    this.#heartbeat(now);
    this.#schedule(now);
  }

  #rejoin(again: boolean): void {
    if (again) this.stats.rejoins++;
    this.link.abandonResume();
    this.link.restart();
    this.phase = "joining";
    this.#joinTries = 0;
    this.#ackAt = 0;
    this.#armed = false;
    const now = this.deps.clock.now();
    this.#sendJoin(now);
    this.#schedule(now);
  }

  #sendJoin(now: number, count = true): void {
    const c = this.config;
    if (count) this.#joinTries++;
    this.stats.joinsSent++;
    const origin = c.role === Role.ORIGIN;
    const body: JoinBody = {
      key: this.publicKey,
      role: c.role ?? Role.AGENT,
      channels: [c.channel],
      uploadKbps: c.uploadKbps,
      nat: c.nat ?? (origin ? NatType.OPEN : NatType.PORT_RESTRICTED),
      httpPort: c.httpPort ?? 8081,
      ...(c.region === undefined ? {} : { regionHint: c.region }),
      ...(origin
        ? {
            streamKbps: c.streamKbps ?? 2000,
            segmentMs: c.segmentMs ?? 2000,
            fallbackUrl: c.fallbackUrl ?? `http://${this.deps.transport.local.address}:8080`,
          }
        : {}),
    };
    this.deps.transport.send(this.link.join(body, now), c.control);
    this.#busyTaken = false;
    if (count) this.#retryAt = now + joinRetryDelayMs(this.#joinTries, this.#random());
  }

  #startResume(now: number): void {
    if (!this.link.canResume || !this.#armed) {
      this.#rejoin(true);
      return;
    }
    this.phase = "resuming";
    this.#ackAt = 0;
    this.#missed = 0;
    this.#resumeStart = now;
    this.#resumeDelay = resumeBackoffMs(this.heartbeatMs);
    this.#sendResume(now, true);
  }

  #resumeAgain(now: number): void {
    if (now - this.#resumeStart >= Math.max(RESUME_GIVE_UP_MS, 4 * this.heartbeatMs)) {
      this.#rejoin(true);
      return;
    }
    this.#resumeDelay = Math.min(this.#resumeDelay * 2, resumeRetryCapMs(this.heartbeatMs));
    this.#sendResume(now, false);
  }

  #sendResume(now: number, fresh: boolean): void {
    let buf: Buffer | undefined;
    try {
      buf = this.link.resume(
        this.nodeId,
        now,
        {
          channel: this.channelId,
          assignVersion: this.assignVersion,
          ...(this.placement === undefined ? {} : { placement: this.placement }),
        },
        fresh,
      );
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
    }
    if (buf === undefined) {
      this.#rejoin(true);
      return;
    }
    this.deps.transport.send(buf, this.config.control);
    this.#retryAt = now + Math.max(1, Math.round(this.#resumeDelay * (1 - 0.25 * this.#random()())));
  }

  /** The HEARTBEAT a fed node sends: every link of its last ASSIGN, as received and sent. */
  heartbeatBody(now: number): HeartbeatBody {
    const stream = this.deps.stream ?? DEFAULT_STREAM;
    const seq = stream.seq(now);
    const lag = this.lagParents;
    const parents: Array<LinkState | null> = this.parents.map((p) =>
      p === 0
        ? null
        : lag !== undefined && lag.includes(p)
          ? { node: p, ageMs: 40, lastSeq: (seq - this.lagPackets) & 0xffff }
          : { node: p, ageMs: 5, lastSeq: seq & 0xffff },
    );
    const children: LinkState[] = [];
    for (let i = 0; i < this.children.length && i < 64; i++) {
      children.push({ node: this.children[i]!, ageMs: 5, lastSeq: seq & 0xffff });
    }
    const up = this.config.uploadKbps;
    return {
      channel: this.channelId,
      assignVersion: this.assignVersion,
      parents: this.config.role === Role.ORIGIN ? [] : parents.length === 0 ? [null] : parents,
      children,
      buffers: parents.map(() => 300),
      resources: {
        uploadKbps: Math.min(up, children.length * 2000),
        nat: this.config.nat ?? NatType.PORT_RESTRICTED,
        cacheBytes: 40_000_000,
        cpuPct: 5,
        rssMB: 60,
        loss: 0,
      },
      newestSegment: stream.segment(now),
    };
  }

  #heartbeat(now: number): void {
    if (this.channelId === 0) return;
    const buf = this.#send({ type: MsgType.HEARTBEAT, body: this.heartbeatBody(now) }, now);
    if (buf === undefined) return;
    this.stats.heartbeatsSent++;
    this.stats.heartbeatBytes += buf.length;
    if (this.#armed) this.#ackAt = now + ackTimeoutMs(this.heartbeatMs);
  }

  #send(partial: Pick<ControlMessage, "type" | "body">, now = this.deps.clock.now()): Buffer | undefined {
    const msg = { v: WIRE_VERSION, sender: this.nodeId, seq: 0, ts: now, ...partial } as ControlMessage;
    let buf: Buffer;
    try {
      buf = this.link.seal(msg);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      return undefined;
    }
    this.deps.transport.send(buf, this.config.control);
    return buf;
  }

  /** The earliest of what is pending; asks the scheduler (or the own timer) for it. */
  #schedule(now: number): void {
    let due = Infinity;
    const p = this.phase;
    if ((p === "joining" || p === "resuming") && this.#retryAt > 0) due = this.#retryAt;
    else if (p === "joined") {
      due = this.#nextHb;
      if (this.#ackAt > 0 && this.#ackAt < due) due = this.#ackAt;
    }
    if (due === Infinity || due === this.#due) return;
    if (due < now) due = now;
    if (due > this.#due && this.#due !== Infinity && this.deps.scheduler !== undefined) {
      // The wheel holds an earlier entry: that wake-up will ask again for `due`.
      this.#due = due;
      return;
    }
    if (this.deps.scheduler === undefined) this.#clearTimer();
    this.#due = due;
    if (this.deps.scheduler !== undefined) this.deps.scheduler.wake(this, due);
    else {
      this.#timer = this.deps.clock.setTimeout(() => this.tick(this.deps.clock.now()), due - now);
    }
  }

  #random(): () => number {
    return this.deps.random ?? Math.random;
  }

  #clearTimer(): void {
    this.#due = Infinity;
    if (this.#timer !== undefined) this.deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
