/**
 * The control center's UDP endpoint: decodes every datagram (untrusted: count and drop,
 * never throw), authenticates it (a JOIN through the handshake, trust/responder.ts; a
 * HEARTBEAT or LEAVE by its session tag and counter, trust/sessions.ts: what fails is counted
 * and never answered), dispatches to the handler of its message type, runs the liveness check
 * on a clock interval, and sends JOIN_ACK (signed) and ASSIGN (tagged). Deps are injected
 * (clock, transport, store, logger, control's key pair); whoever made them closes them.
 * start() / stop() is the lifecycle.
 *
 * Admission (issue 13, control/admission.ts, docs/control.md "Admission"): a HEARTBEAT or LEAVE
 * of an established session is handled as soon as it is read. A JOIN passes the cheap checks at
 * once (cookie, rate limits: trust/responder.ts checkAddress) and a RESUME its ticket and tag
 * (resumeAuthentic); then both wait in the bounded admission queue (RESUMEs first), handled in
 * slices on the injected clock with the socket read between slices. One that finds the queue
 * full, or a proven JOIN over the rate limits, is answered BUSY with a retry-after at once.
 * ASSIGNs go out through a pacer: a burst (a rebuild) is sent in slices of bounded bytes, a
 * node's newer ASSIGN replacing its queued older one, so that heartbeats are read in between.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { rawPublicKey } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { classifyDatagram } from "../protocol/data-codec.js";
import { EncodeError } from "../protocol/errors.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type JoinAckBody,
  type MessageOf,
  MsgType,
} from "../protocol/messages.js";
import { encodeAssign } from "../protocol/assign-parts.js";
import type { Clock, Timer } from "../seams/clock.js";
import type { Logger } from "../seams/log.js";
import { addressKey, type Address, type Transport } from "../seams/transport.js";
import { ClientManager, PROBATION_HEARTBEATS } from "./client-manager.js";
import { ContentDirectory } from "./content-directory.js";
import { CONTROL_DEFAULTS, type TopologyName } from "./defaults.js";
import { KeyedQueue } from "./keyed-queue.js";
import type { Dcm, OutgoingAssign } from "./dcm/dcm.js";
import type { ControlContext, HandlerConfig } from "./handlers/context.js";
import { checkFeeds, checkLiveness } from "./handlers/node-lost.js";
import { removeNodes } from "./handlers/remove-node.js";
import { onHeartbeat } from "./handlers/on-heartbeat.js";
import { onJoin } from "./handlers/on-join.js";
import { onLeave } from "./handlers/on-leave.js";
import { onResume } from "./handlers/on-resume.js";
import { ControlMetrics } from "./metrics.js";
import { defaultRegionPolicy, type RegionPolicy } from "./regions.js";
import type { EnrolmentTokenRow, NodeStore } from "./store.js";
import type { TopologyEngine } from "./topology/plan.js";
import { DEFAULT_POLICY, type AccessTech, type RegionInfo, type TierPolicy } from "./topology/tier-types.js";
import { checkCongestion } from "./handlers/congestion.js";
import { RegionQuality } from "./region-quality.js";
import { reviewEligibility } from "./handlers/eligibility.js";
import type { EligibilityPolicy } from "./eligibility.js";
import { HandshakeResponder, type Handshake } from "./trust/responder.js";
import { SessionTable } from "./trust/sessions.js";
import { newEnrolmentToken, OPEN_POLICY, type TrustPolicy } from "./trust/enrolment.js";
import { DEFAULT_JOIN_LIMITS, type JoinLimits } from "./trust/join-limiter.js";
import {
  AdmissionQueue,
  DEFAULT_ADMISSION,
  DEFAULT_SLICER,
  Slicer,
  type AdmissionConfig,
  type SlicerConfig,
} from "./admission.js";
import { systemClock } from "../seams/clock.js";

export interface ControlDeps {
  clock: Clock;
  transport: Transport;
  store: NodeStore;
  logger: Logger;
  /** The engine of the `tree` topology (default: the foundation's tree, buildTree). */
  topology?: TopologyEngine;
  /** Control's long-term Ed25519 key pair (main keeps it in the data folder); default: made for this run. */
  identity?: { publicKey: Uint8Array; privateKey: KeyObject };
  /** The RSL's view for this server (control/rsl/); absent: one server, every channel, epoch 0. */
  routing?: ChannelRouting;
  /**
   * CPU time for the admission and ASSIGN slices' budgets, ms (monotonic). Default: performance.now
   * on the system clock; on any other clock none (slices bounded by count and bytes alone: a
   * simulation stays deterministic). A simulator may inject its own.
   */
  cpuNow?: () => number;
}

/** What a control server asks the RSL (docs/resilience.md). */
export interface ChannelRouting {
  /**
   * The fencing epoch of this server's ownership of the channel's DCM (the RSL map's revision):
   * it goes out in every ASSIGN and HEARTBEAT_ACK; undefined while unknown.
   */
  epochOf(channel: string): number | undefined;
}

export interface TrustConfig {
  /** Enrolment policy and origin keys (default: open, origins bound on first use). */
  policy?: TrustPolicy;
  limits?: Partial<JoinLimits>;
  /** False only for the attack suite's negative controls (every check skipped). Default true. */
  verify?: boolean;
  /** Authenticated heartbeats a new key sends before it may relay (default PROBATION_HEARTBEATS; 0 = none). */
  probationHeartbeats?: number;
  /**
   * A JOIN's signature check and control's ephemerals on libuv's thread pool ahead of the JOIN's
   * turn (trust/off-thread.ts; default true). False where the event loop never turns (the
   * simulator): the pool's answers would never be taken, and its work would pile up.
   */
  offThread?: boolean;
}

export interface ControlConfig {
  /** Heartbeat interval the nodes are told to use (JOIN_ACK.heartbeatMs). */
  heartbeatMs: number;
  /** Missed heartbeats before a node is lost (default CONTROL_DEFAULTS.missedHeartbeats). */
  missedHeartbeats?: number;
  /** How often liveness is checked (default heartbeatMs). */
  livenessCheckMs?: number;
  /** Region policy (default: everything in region "default"). */
  regions?: RegionPolicy;
  /** Substreams per channel (default CONTROL_DEFAULTS.k; the region policy's `topology.k` wins). */
  k?: number;
  /** Children per node at most (default: the topology engine's). */
  maxChildren?: number;
  /**
   * "tiered": the three-tier engine (docs/topology.md); "tree": the foundation's tree. Default
   * CONTROL_DEFAULTS.topology (tiered), the same as `tiercast control`'s.
   */
  topology?: TopologyName;
  tierPolicy?: Partial<TierPolicy>;
  /** Preferred-node eligibility from history (control/eligibility.ts). */
  eligibility?: Partial<EligibilityPolicy>;
  /** How often eligibility is re-evaluated, ms (default 60 s). */
  eligibilityCheckMs?: number;
  trust?: TrustConfig;
  /** Admission queue and slices (control/admission.ts; defaults there). */
  admission?: Partial<AdmissionConfig> & { slice?: Partial<SlicerConfig> };
  /** ASSIGN pacing: bytes per slice (default 48 KiB), and the slice's budget and gap (the admission's). */
  assignPacing?: Partial<SlicerConfig>;
  /**
   * Planning in slices (docs/control.md "Admission"): each DCM repairs at most `changeSlice` changes (joins, leaves, moves),
   * does at most `planSlice` nodes of work of a full build (engine.ts buildSteps) and builds at most `rolloutSlice` of a rebuild's ASSIGNs per reconcile, and reconciles run
   * in slices of the admission's budget and gap, so that a flash crowd's placement never holds
   * the event loop for long. Defaults: PLANNING.
   */
  planning?: {
    changeSlice?: number;
    rolloutSlice?: number;
    planSlice?: number;
    slice?: Partial<SlicerConfig>;
  };
}

/**
 * Planning slices: 32 changes (joins, leaves, moves), 2,000 nodes of a full build's work (some
 * 20 ms) and 500 rebuilt ASSIGNs per DCM reconcile (each a few ms at 10^4 to 10^5 members: bench:join), one reconcile per slice
 * (a slice a ms: up to 32,000 joins a second; a reconcile alone can pass the CPU budget, and on a
 * simulated clock, which counts without a budget, several in one slice would add up). A full
 * build of 10^5 nodes (about a second) is then about 50 slices, between which control reads its socket.
 */
export const PLANNING = { changeSlice: 32, planSlice: 2000, rolloutSlice: 500, perSlice: 1 };

/** Bytes of ASSIGN a pacer slice sends at most (about 60 to 150 ASSIGNs). */
const ASSIGN_BYTES_PER_SLICE = 48 * 1024;

/** A JOIN or RESUME waiting for its turn. */
type Pending =
  | { kind: "join"; msg: MessageOf<MsgType.JOIN>; data: Buffer; from: Address }
  | { kind: "resume"; msg: MessageOf<MsgType.RESUME>; data: Buffer; from: Address };

const KNOWN_ACCESS = new Set<string>(["dsl", "cable", "fibre", "wireless"]);

/** Distinct senders whose unknown wire version is remembered (each is logged once). */
const MAX_VERSION_WARNINGS = 4096;

export class ControlCenter implements ControlContext {
  readonly clock: Clock;
  readonly store: NodeStore;
  readonly logger: Logger;
  readonly metrics = new ControlMetrics();
  readonly clients = new ClientManager();
  readonly directory: ContentDirectory;
  readonly quality = new RegionQuality();
  readonly config: HandlerConfig;
  readonly sessions = new SessionTable();
  readonly trust: HandshakeResponder;
  /** Control's public key (raw Ed25519), which nodes pin. */
  readonly publicKey: Uint8Array;
  readonly #transport: Transport;
  readonly #routing: ChannelRouting | undefined;
  readonly #livenessCheckMs: number;
  readonly #versionWarned = new Set<string>();
  #seq = 0;
  #timer: Timer | undefined;
  #eligibilityTimer: Timer | undefined;
  readonly #eligibilityCheckMs: number;
  #running = false;
  #lastTick = 0;
  /** Since when this server is fenced (setFenced), control's clock; undefined when serving. */
  #fencedAt: number | undefined;
  readonly #admission: AdmissionQueue<Pending>;
  readonly #admitter: Slicer;
  /** ASSIGNs waiting for the pacer, by node and channel (a newer one replaces the older in place). */
  readonly #assigns = new KeyedQueue<{ a: OutgoingAssign; resend: boolean }>();
  readonly #pacer: Slicer;
  readonly #assignBytesPerSlice: number;
  /** Bytes of ASSIGN sent outside the pacer in the current window of one gap. */
  #assignWindowAt = -Infinity;
  #assignWindowBytes = 0;
  #assignWindowTimer: Timer | undefined;
  readonly #assignGapMs: number;
  /** DCMs with planning to do (reconcile()), reconciled in the planner's slices in this order. */
  readonly #dirty = new Set<Dcm>();
  readonly #planner: Slicer;

  constructor(deps: ControlDeps, config: ControlConfig) {
    this.clock = deps.clock;
    this.store = deps.store;
    this.logger = deps.logger;
    this.#transport = deps.transport;
    this.#routing = deps.routing;
    const identity = deps.identity ?? newIdentity();
    this.publicKey = identity.publicKey;
    this.trust = new HandshakeResponder(
      {
        clock: deps.clock,
        logger: deps.logger,
        store: deps.store,
        metrics: this.metrics,
        sessions: this.sessions,
        identity,
        send: (buf, to) => this.#transport.send(buf, to),
        epochOf: (channel) => this.#epochOf(channel),
      },
      {
        policy: config.trust?.policy ?? OPEN_POLICY,
        limits: { ...DEFAULT_JOIN_LIMITS, ...config.trust?.limits },
        verify: config.trust?.verify ?? true,
        ...(config.trust?.offThread === undefined ? {} : { offThread: config.trust.offThread }),
      },
    );
    if (!this.trust.verify)
      deps.logger.warn("verification_off", { note: "every message is accepted unchecked" });
    this.config = {
      heartbeatMs: config.heartbeatMs,
      missedHeartbeats: config.missedHeartbeats ?? CONTROL_DEFAULTS.missedHeartbeats,
      regions: config.regions ?? defaultRegionPolicy(),
      topology: config.topology ?? CONTROL_DEFAULTS.topology,
      probationHeartbeats: config.trust?.probationHeartbeats ?? PROBATION_HEARTBEATS,
      ...(config.eligibility === undefined ? {} : { eligibility: config.eligibility }),
    };
    this.#eligibilityCheckMs = config.eligibilityCheckMs ?? 60_000;
    const regionInfo: Record<string, RegionInfo> = {};
    for (const r of this.config.regions.regions) {
      const info: RegionInfo = {};
      if (r.access !== undefined && KNOWN_ACCESS.has(r.access)) info.access = r.access as AccessTech;
      if (r.fecN !== undefined) info.fecN = r.fecN;
      if (Object.keys(info).length > 0) regionInfo[r.name] = info;
    }
    const t = this.config.regions.topology;
    const { k: _k, fecK, ...tier } = t ?? {};
    const tierPolicy: Partial<TierPolicy> = {
      ...config.tierPolicy,
      ...tier,
      ...(fecK === undefined ? {} : { fec: { ...DEFAULT_POLICY.fec, ...config.tierPolicy?.fec, k: fecK } }),
    };
    this.#livenessCheckMs = config.livenessCheckMs ?? config.heartbeatMs;
    const cpuNow = deps.cpuNow ?? (deps.clock === systemClock ? () => performance.now() : undefined);
    const { slice, ...queue } = config.admission ?? {};
    this.#admission = new AdmissionQueue<Pending>({ ...DEFAULT_ADMISSION, ...queue }, deps.clock.now());
    this.#admitter = new Slicer({ clock: deps.clock, cpuNow }, { ...DEFAULT_SLICER, ...slice }, () =>
      this.#admitOne(),
    );
    const pacing: SlicerConfig = {
      ...DEFAULT_SLICER,
      ...slice,
      perSlice: ASSIGN_BYTES_PER_SLICE,
      ...config.assignPacing,
    };
    this.#assignBytesPerSlice = pacing.perSlice;
    this.#assignGapMs = pacing.gapMs;
    this.#pacer = new Slicer({ clock: deps.clock, cpuNow }, pacing, () => this.#paceOne());
    const { slice: planSlice, ...planning } = config.planning ?? {};
    this.#planner = new Slicer(
      { clock: deps.clock, cpuNow },
      { ...DEFAULT_SLICER, perSlice: PLANNING.perSlice, ...slice, ...planSlice },
      () => this.#planOne(),
    );
    this.directory = new ContentDirectory(
      { store: deps.store, logger: deps.logger, ...(deps.topology ? { topology: deps.topology } : {}) },
      {
        k: t?.k ?? config.k ?? CONTROL_DEFAULTS.k,
        ...(config.maxChildren === undefined ? {} : { maxChildren: config.maxChildren }),
        topology: this.config.topology,
        regions: regionInfo,
        tierPolicy,
        changeSlice: planning.changeSlice ?? PLANNING.changeSlice,
        rolloutSlice: planning.rolloutSlice ?? PLANNING.rolloutSlice,
        planSlice: planning.planSlice ?? PLANNING.planSlice,
      },
    );
  }

  /** The UDP address nodes send to. */
  get local(): Address {
    return this.#transport.local;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const stale = this.store.closeOpenSessions(this.clock.now(), "control_restart");
    if (stale > 0) this.logger.info("stale_sessions_closed", { sessions: stale });
    this.#transport.onDatagram((data, from) => this.#onDatagram(data, from));
    this.#lastTick = this.clock.now();
    this.#timer = this.clock.setInterval(
      () =>
        this.#guard("liveness", () => {
          if (this.#fencedAt !== undefined) return void (this.#lastTick = this.clock.now());
          this.#creditStall();
          checkLiveness(this);
          // The watchdog and the congestion check follow as events of their own, so that the
          // socket is read between the three (each is O(members) at most; at 10^5 one tick
          // of all three held the loop for hundreds of ms).
          this.#later("watchdog", () => checkFeeds(this, (step) => this.#later("watchdog", step)));
          this.#later("congestion", () => checkCongestion(this, (step) => this.#later("congestion", step)));
        }),
      this.#livenessCheckMs,
    );
    if (this.config.topology === "tiered")
      this.#eligibilityTimer = this.clock.setInterval(
        () =>
          this.#guard("eligibility", () =>
            reviewEligibility(this, (step) => this.#later("eligibility", step)),
          ),
        this.#eligibilityCheckMs,
      );
  }

  /** Stops listening and closes every open session; the transport and store stay open (their owner closes them). */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.clock.clearInterval(this.#timer);
    if (this.#eligibilityTimer !== undefined) this.clock.clearInterval(this.#eligibilityTimer);
    this.#transport.onDatagram(() => {});
    this.#admitter.stop();
    this.#pacer.stop();
    this.#planner.stop();
    this.#dirty.clear();
    this.clock.clearTimeout(this.#assignWindowTimer);
    this.#assignWindowTimer = undefined;
    while (this.#admission.take(this.clock.now()) !== undefined);
    this.#assigns.clear();
    this.metrics.admissionDepth = 0;
    this.metrics.assignDepth = 0;
    const now = this.clock.now();
    for (const n of this.clients.all()) {
      this.store.closeSession(n.sessionId, {
        endedAt: now,
        reason: "control_stop",
        heartbeats: n.heartbeats,
        heartbeatBytes: n.heartbeatBytesTotal,
        uploadBytes: n.uploadBytes,
      });
    }
    this.store.closeOpenSessions(now, "control_stop");
  }

  sendJoinAck(to: Address, hs: Handshake, node: number | undefined, body: JoinAckBody): void {
    this.#encodeAndSend(MsgType.JOIN_ACK, to, () => this.trust.sendJoinAck(to, hs, node, body));
  }

  /** Encodes (tagged with the node's session) and sends; the bytes sent (0 when the encoder refused). */
  sendToNode<T extends MsgType>(node: number, to: Address, type: T, body: MessageOf<T>["body"]): number {
    const msg = {
      v: WIRE_VERSION,
      type,
      sender: 0,
      seq: this.#seq,
      ts: this.clock.now(),
      body,
    } as ControlMessage;
    this.#seq = (this.#seq + 1) >>> 0;
    const session = this.sessions.get(node);
    let bytes = 0;
    this.#encodeAndSend(type, to, () => {
      // Without a session (verification off and a JOIN without epk) the message goes untagged.
      const buf = session === undefined ? encodeControl(msg) : this.sessions.seal(session, msg);
      this.#transport.send(buf, to);
      bytes = buf.length;
    });
    return bytes;
  }

  #encodeAndSend(type: MsgType, to: Address, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.metrics.encodeErrors++;
      this.logger.error("encode_failed", { type: MsgType[type], to: addressKey(to), error: e.message });
    }
  }

  /**
   * Brings a DCM's plan up to date: soon, not now. The DCM is marked and the planner reconciles
   * it in its next slice (at once on the clock, after what was read with it: a burst of
   * heartbeats that end probation together is placed by one reconcile, not one each). A DCM
   * with joins or a rollout left after a reconcile (changeSlice, rolloutSlice) stays marked.
   */
  reconcile(dcm: Dcm): void {
    this.#dirty.add(dcm);
    this.metrics.planDepth = this.#dirty.size;
    this.#planner.kick();
  }

  /** The planner's step: reconcile the first marked DCM; 0 when none is left. */
  #planOne(): number {
    const next = this.#dirty.values().next();
    if (next.done === true) return 0;
    // A fenced server plans nothing: its DCMs stay marked until it is unfenced (setFenced).
    if (this.#fencedAt !== undefined) return 0;
    const dcm = next.value;
    this.#dirty.delete(dcm);
    this.metrics.planSlices++;
    this.#guard("reconcile", () => {
      for (const a of dcm.reconcile()) this.sendAssign(a, false);
    });
    if (dcm.needsReconcile) this.#dirty.add(dcm);
    this.metrics.planDepth = this.#dirty.size;
    return 1;
  }

  /**
   * An ASSIGN for a node: sent at once while the pacer is idle and this window's bytes allow,
   * queued otherwise (a newer one for the same node and channel replaces the queued one).
   */
  sendAssign(a: OutgoingAssign, resend: boolean): void {
    const key = `${a.node}/${a.body.channel}`;
    const queued = this.#assigns.get(key);
    if (queued !== undefined) {
      queued.a = a;
      queued.resend ||= resend;
      this.metrics.assignsReplaced++;
      return;
    }
    this.#openAssignWindow();
    if (this.#assigns.size === 0 && this.#assignWindowBytes < this.#assignBytesPerSlice) {
      this.#assignWindowBytes += this.#sendAssignNow(a, resend);
      return;
    }
    this.#assigns.set(key, { a, resend });
    this.metrics.assignsPaced++;
    this.metrics.assignDepth = this.#assigns.size;
    // The first slice comes when this window of bytes sent at once is over.
    this.#pacer.kick(Math.max(0, this.#assignWindowAt + this.#assignGapMs - this.clock.now()));
  }

  /**
   * The window of ASSIGN bytes sent at once: it opens with the first such send and closes on a
   * timer one gap later, so it spans at least one event-loop turn. A long synchronous run (a
   * reconcile that places many nodes) cannot reopen it by taking time: what it sends past the
   * window's bytes waits for the pacer.
   */
  #openAssignWindow(): void {
    if (this.#assignWindowTimer !== undefined) return;
    this.#assignWindowAt = this.clock.now();
    this.#assignWindowBytes = 0;
    this.#assignWindowTimer = this.clock.setTimeout(
      () => (this.#assignWindowTimer = undefined),
      this.#assignGapMs,
    );
  }

  /** The pacer's step: the oldest queued ASSIGN; its bytes (0: none left). */
  #paceOne(): number {
    const next = this.#assigns.shift();
    if (next === undefined) return 0;
    const [, { a, resend }] = next;
    this.metrics.assignDepth = this.#assigns.size;
    // A node gone meanwhile (lost, left) gets nothing; a fenced server sends nothing.
    if (this.#fencedAt !== undefined || this.clients.get(a.node) === undefined) return 1;
    let bytes = 1;
    this.#guard("assign", () => (bytes = Math.max(1, this.#sendAssignNow(a, resend))));
    // A slice starts a new window: what is sent outside the pacer counts from here.
    this.clock.clearTimeout(this.#assignWindowTimer);
    this.#assignWindowTimer = undefined;
    this.#openAssignWindow();
    this.#assignWindowBytes = this.#assignBytesPerSlice;
    return bytes;
  }

  #sendAssignNow(a: OutgoingAssign, resend: boolean): number {
    this.metrics.assignsSent++;
    if (resend) this.metrics.assignsResent++;
    this.logger.debug("assign_sent", {
      node: a.node,
      channel: a.body.channel,
      version: a.body.version,
      parents: a.body.parents.map((p) => p?.node ?? null),
      children: a.body.children.map((c) => c.node),
      resend,
    });
    const epoch = this.#epochOf(a.body.channel);
    // The epoch rides in every part, so parts are sized with it. Object.assign, not a spread with
    // the key added: on Node 20 that gives each copy a hidden class of its own (≈ 3 µs an ASSIGN).
    const body: AssignBody = epoch === undefined ? a.body : Object.assign({}, a.body, { epoch });
    const session = this.sessions.get(a.node);
    // Encoded (and tagged) once when the whole fits a datagram; large assignments (the origin's
    // children at scale) span several (protocol/assign-parts.ts). As sendToNode, untagged without a session.
    const encode = (part: AssignBody): Buffer => {
      const msg: ControlMessage = {
        v: WIRE_VERSION,
        type: MsgType.ASSIGN,
        sender: 0,
        seq: this.#seq,
        ts: this.clock.now(),
        body: part,
      };
      this.#seq = (this.#seq + 1) >>> 0;
      return session === undefined ? encodeControl(msg) : this.sessions.seal(session, msg);
    };
    let datagrams: Buffer[];
    try {
      datagrams = encodeAssign(body, encode);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      this.metrics.encodeErrors++;
      this.logger.error("encode_failed", { type: "ASSIGN", to: addressKey(a.to), error: e.message });
      return 0;
    }
    let bytes = 0;
    for (const buf of datagrams) {
      this.#transport.send(buf, a.to);
      bytes += buf.length;
    }
    return bytes;
  }

  #epochOf(channelId: number): number | undefined {
    const entry = this.#routing === undefined ? undefined : this.directory.byId(channelId);
    return entry === undefined ? undefined : this.#routing!.epochOf(entry.info.name);
  }

  /**
   * Fenced (docs/resilience.md): the server cannot confirm with the RSL that its DCMs are still
   * its own (the store unreachable for longer than its lease: another server may hold them now),
   * so it drops what arrives and sends nothing until unfenced; its liveness clock stops meanwhile,
   * so no node is lost for the time control could not act.
   */
  setFenced(fenced: boolean): void {
    const now = this.clock.now();
    if (fenced && this.#fencedAt === undefined) {
      this.#fencedAt = now;
      this.logger.warn("fenced", {});
    } else if (!fenced && this.#fencedAt !== undefined) {
      const ms = now - this.#fencedAt;
      for (const n of this.clients.all()) n.lastHeard = Math.min(now, n.lastHeard + ms);
      this.#fencedAt = undefined;
      this.#lastTick = now;
      if (this.#dirty.size > 0) this.#planner.kick();
      this.logger.info("unfenced", { fencedMs: ms });
    }
  }

  get fenced(): boolean {
    return this.#fencedAt !== undefined;
  }

  #onDatagram(data: Buffer, from: Address): void {
    if (this.#fencedAt !== undefined) {
      this.metrics.fencedDrops++;
      return;
    }
    this.#admitter.inbound();
    this.#pacer.inbound();
    this.#planner.inbound();
    this.#guard("datagram", () => this.#receive(data, from));
  }

  #receive(data: Buffer, from: Address): void {
    if (data.length > 0 && data.length <= MAX_CONTROL_BYTES && classifyDatagram(data) === "data") {
      this.metrics.dataDropped++;
      return;
    }
    const r = decodeControl(data);
    if (!r.ok) {
      ControlMetrics.bump(this.metrics.malformed, r.error.code);
      if (r.error.code === "E_BAD_VERSION") this.#warnVersion(from, r.error.message);
      else
        this.logger.debug("malformed", {
          from: addressKey(from),
          code: r.error.code,
          error: r.error.message,
        });
      return;
    }
    const msg = r.value;
    switch (msg.type) {
      case MsgType.JOIN: {
        const gate = this.trust.checkAddress(msg, data, from);
        if (gate === "busy")
          return this.#busy("join", "limited", from, data, msg, this.trust.limiterWaitMs(from));
        if (gate === "proceed") this.#defer({ kind: "join", msg, data, from });
        return;
      }
      case MsgType.HEARTBEAT:
        if (!this.#authentic(msg, data, from)) return;
        onHeartbeat(this, msg, from, data.length);
        this.#ackHeartbeat(msg.sender, msg.body.channel, from);
        return;
      case MsgType.RESUME:
        if (!this.trust.resumeAuthentic(msg, data, from)) return;
        this.#aliveByResume(msg);
        this.#defer({ kind: "resume", msg, data, from });
        return;
      case MsgType.LEAVE:
        if (this.#authentic(msg, data, from)) onLeave(this, msg, from);
        return;
      default:
        this.metrics.unexpected++;
        this.logger.debug("unexpected_message", { from: addressKey(from), type: MsgType[msg.type] });
    }
  }

  /**
   * An authentic RESUME from a node whose session here is live proves it alive, as a heartbeat
   * does: a node resumes when its heartbeats went unanswered for two ack deadlines (a fraction
   * of an interval), which a stalled control (a flash crowd, a big re-plan) can cause, and its
   * RESUME then waits in the admission queue; without this it would be declared lost while it
   * waits, and its subtree moved. Only a RESUME newer than the last one counted (its timestamp)
   * counts, so a replayed one keeps no dead node alive.
   */
  #aliveByResume(msg: MessageOf<MsgType.RESUME>): void {
    const node = this.clients.get(msg.sender);
    if (node === undefined || msg.ts <= (node.resumeTs ?? -Infinity)) return;
    node.resumeTs = msg.ts;
    node.lastHeard = Math.max(node.lastHeard, this.clock.now());
  }

  /**
   * A JOIN or RESUME past its cheap checks waits for its turn (one entry per requester: a JOIN's
   * source and key, a RESUME's node); BUSY when the queue is full.
   */
  #defer(p: Pending): void {
    const now = this.clock.now();
    const key =
      p.kind === "join"
        ? `${addressKey(p.from)}/${Buffer.from(p.msg.body.key).toString("hex")}`
        : String(p.msg.sender);
    // A node's resend is newer (its timestamp grows); a datagram no newer than the one waiting is
    // a replay (or a duplicate): dropped and counted, as its turn would find it.
    const waiting = this.#admission.waiting(p.kind, key);
    if (waiting !== undefined && this.trust.verify && p.msg.ts <= waiting.msg.ts)
      return void this.trust.fail(p.kind === "join" ? "join_replay" : "resume_replay", p.from);
    const offer = this.#admission.offer(p.kind, key, p, now);
    if (offer === "full") return this.#busy(p.kind, "full", p.from, p.data, p.msg, 0);
    ControlMetrics.bump(this.metrics.deferred, p.kind);
    this.metrics.admissionDepth = this.#admission.depth;
    this.metrics.admissionEvicted = this.#admission.evicted;
    this.#admitter.kick();
  }

  /** The admission slicer's step: the next JOIN or RESUME handled; 0 when none is waiting. */
  #admitOne(): number {
    const now = this.clock.now();
    const expiredBefore = this.#admission.expired;
    const p = this.#admission.take(now);
    this.metrics.admissionExpired += this.#admission.expired - expiredBefore;
    this.metrics.admissionDepth = this.#admission.depth;
    this.metrics.admittedPerSec = Math.round(this.#admission.ratePerSec(now));
    this.metrics.admissionSlicesDeferred = this.#admitter.deferred;
    if (p === undefined) return 0;
    // Fenced meanwhile: dropped, as what arrives while fenced is (the node resends).
    if (this.#fencedAt !== undefined) return 1;
    ControlMetrics.bump(this.metrics.admitted, p.kind);
    this.#guard(p.kind, () => {
      if (p.kind === "join") {
        const hs = this.trust.verifyJoin(p.msg, p.data, p.from);
        if (hs !== undefined) onJoin(this, p.msg, p.from, hs);
      } else {
        const hs = this.trust.onResume(p.msg, p.data, p.from);
        if (hs !== undefined) onResume(this, p.msg, p.from, hs);
      }
    });
    return 1;
  }

  /**
   * BUSY: not now, again after the retry-after (the queue's backlog at its recent rate, at least
   * `waitMs`). Unsigned and no larger than the request (trust/responder.ts; docs/security.md).
   */
  #busy(
    kind: "join" | "resume",
    reason: "full" | "limited",
    to: Address,
    data: Buffer,
    msg: ControlMessage,
    waitMs: number,
  ): void {
    const retryAfterMs = Math.max(waitMs, this.#admission.retryAfterMs(this.clock.now()));
    const sent =
      kind === "join"
        ? this.trust.sendJoinBusy(to, data, retryAfterMs)
        : msg.type === MsgType.RESUME && this.trust.sendResumeBusy(to, msg, data.length, retryAfterMs);
    ControlMetrics.bump(this.metrics.busy, `${kind}/${reason}`);
    if (sent && kind === "join") ControlMetrics.bump(this.metrics.joinAcks, "BUSY");
    this.logger.debug("admission_busy", { kind, reason, to: addressKey(to), retryAfterMs, sent });
  }

  /**
   * Every authenticated heartbeat is answered (tagged, a few dozen bytes): a node whose
   * heartbeats go unanswered knows its server is gone and resumes elsewhere (docs/resilience.md).
   */
  #ackHeartbeat(node: number, channel: number, to: Address): void {
    if (this.clients.get(node) === undefined) return;
    const epoch = this.#epochOf(channel);
    this.metrics.heartbeatAcks++;
    this.sendToNode(node, to, MsgType.HEARTBEAT_ACK, epoch === undefined ? {} : { epoch });
  }

  /** A new enrolment token (admin API): the token itself is returned once, only its hash is kept. */
  issueEnrolmentToken(
    roles: string[],
    uses: number,
    note: string,
  ): { token: string; row: EnrolmentTokenRow } {
    const t = newEnrolmentToken(roles, uses, this.clock.now(), note);
    this.store.addEnrolmentToken(t.row);
    return t;
  }

  enrolmentTokens(): EnrolmentTokenRow[] {
    return this.store.enrolmentTokens();
  }

  /**
   * Revokes a node key (admin API): it is refused from now on, and a live node with it loses its
   * session and its place at once (its children get other parents). True when one was live.
   */
  revokeKey(key: Uint8Array, reason: string): boolean {
    this.store.revokeKey(key, this.clock.now(), reason);
    this.metrics.revoked++;
    return this.endSessionsOf(key, reason);
  }

  /**
   * Ends the sessions of a key revoked in the store (revokeKey, or the RSL's main process for the
   * servers behind its front): its nodes lose their place at once. True when one was live.
   */
  endSessionsOf(key: Uint8Array, reason: string): boolean {
    const hex = Buffer.from(key).toString("hex");
    const live = this.clients.all().filter((n) => n.key === hex);
    this.logger.warn("key_revoked", { key: hex, reason, nodes: live.map((n) => n.id) });
    if (live.length > 0) removeNodes(this, live, "revoked");
    return live.length > 0;
  }

  /**
   * Control never declares a node lost because control itself was stalled: when the liveness
   * tick runs late (the event loop was busy: a flood, a big re-plan, the machine swapping), the
   * time it lost is added to every node's allowance. The heartbeats that arrived meanwhile are
   * still in the socket's buffer and are read after this tick.
   */
  #creditStall(): void {
    const now = this.clock.now();
    const lateMs = now - this.#lastTick - this.#livenessCheckMs;
    this.#lastTick = now;
    if (lateMs <= this.#livenessCheckMs / 2) return;
    this.metrics.stalls++;
    this.metrics.maxStallMs = Math.max(this.metrics.maxStallMs, lateMs);
    this.logger.warn("control_stalled", { lateMs });
    for (const n of this.clients.all()) n.lastHeard = Math.min(now, n.lastHeard + lateMs);
  }

  /**
   * A node's HEARTBEAT or LEAVE: its session's tag over the exact bytes, then its counter in the
   * replay window. An id without a session gets the REJOIN hint (no larger than what came);
   * anything that fails is counted and dropped unanswered.
   */
  #authentic(msg: ControlMessage, data: Uint8Array, from: Address): boolean {
    if (!this.trust.verify) return true;
    const session = this.sessions.get(msg.sender);
    if (session === undefined) {
      this.trust.fail("no_session", from);
      if (msg.type === MsgType.HEARTBEAT) {
        this.metrics.unknownSender++;
        ControlMetrics.bump(this.metrics.joinAcks, "REJOIN");
        this.trust.sendRejoinHint(from, data.length);
      }
      return false;
    }
    const verdict = this.sessions.open(session, data, msg.seq);
    if (verdict === "ok") return true;
    this.trust.fail(verdict, from);
    return false;
  }

  #warnVersion(from: Address, message: string): void {
    const key = addressKey(from);
    if (this.#versionWarned.has(key) || this.#versionWarned.size >= MAX_VERSION_WARNINGS) return;
    this.#versionWarned.add(key);
    this.logger.warn("unknown_version", { from: key, error: message });
  }

  /** Bad input never escapes as an exception: a handler bug is counted and logged, the server goes on. */
  /** Runs fn as an event of its own, next on the clock (not once stopped or while fenced). */
  #later(what: string, fn: () => void): void {
    // Named after `what` (a profile, and the simulator's stall figures, tell them apart).
    const event = {
      [what]: () =>
        this.#guard(what, () => {
          if (this.#running && this.#fencedAt === undefined) fn();
        }),
    }[what]!;
    this.clock.setTimeout(event, 0);
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.metrics.handlerErrors++;
      this.logger.error("handler_failed", {
        what,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
    }
  }
}

function newIdentity(): { publicKey: Uint8Array; privateKey: KeyObject } {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}
