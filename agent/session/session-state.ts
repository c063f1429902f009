/**
 * What the control session's message handlers (handlers/, one file per message type) read of the
 * session: SessionView, read-only; and the types around the session (its deps, config, hooks,
 * phases and counters). Session (session.ts) implements the view with getters and owns every
 * field behind it (#private); a handler is a pure function of the view and the message that
 * returns a decision, which Session applies. The handlers import only this module (and
 * session.ts imports them), so session.ts and handlers/ do not import each other.
 */
import type { KeyObject } from "node:crypto";
import type { EpochFence, FailoverStats } from "../../common/control-failover.js";
import type { ControlLink } from "../../common/control-link.js";
import type {
  AssignBody,
  ChannelInfo,
  HeartbeatBody,
  JoinAckBody,
  NatType,
  Role,
} from "../../protocol/messages.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address, Transport } from "../../seams/transport.js";

export type SessionPhase =
  "idle" | "joining" | "waiting_channel" | "refused" | "joined" | "resuming" | "stopped";

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
  /** Jitter of the JOIN back-off and the RESUME schedule, [0, 1) (default Math.random). */
  random?: () => number;
}

export interface SessionConfig {
  /** The control endpoints (one, or several: failover); the first is JOINed first. */
  control: Address | readonly Address[];
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
  /** JOIN back-off base until JOIN_ACK, ms: the first resend after 0.5-1 x this (JoinBackoff). */
  joinRetryMs: number;
  /** The back-off's ceiling, ms (default JOIN_BACKOFF.capMs, 30 s). */
  joinRetryCapMs?: number;
  /** JOIN interval after JOIN_ACK UNKNOWN_CHANNEL (the origin may not have joined yet), ms. */
  unknownChannelRetryMs: number;
  /** JOIN interval after any other refusal (BAD_REQUEST, FULL), ms. */
  refusedRetryMs: number;
}

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
  /** JOIN_ACK BUSY answers honoured (the next JOIN waited for their retry-after), and ignored (one per JOIN). */
  busy: number;
  busyIgnored: number;
  rejoins: number;
  /** Control datagrams dropped for a DCM epoch below one already seen (a deposed server), by type. */
  fenced: { assign: number; heartbeatAck: number; resumeAck: number };
  /** Reassociation (ControlFailover): failovers started, RESUME outcomes, early re-sends, REDIRECTs ignored. */
  failover: FailoverStats;
}

/** Why the session JOINs (again). */
export type RejoinReason = "start" | "rejoin" | "unknown_channel" | "refused";

/** `T` read-only all the way down: the session's counters as others see them (only Session counts). */
export type DeepReadonly<T> = { readonly [K in keyof T]: DeepReadonly<T[K]> };

/**
 * The session as its message handlers see it (Session implements it with getters): what they
 * read to decide, nothing they could write. Each handler takes the part it reads (a Pick), so a
 * test hands it a plain object.
 */
export interface SessionView {
  readonly phase: SessionPhase;
  /** The node id control gave us (0: none yet). */
  readonly nodeId: number;
  readonly config: Readonly<Pick<SessionConfig, "channel" | "idle" | "extraChannels">>;
  /** The live channel as control acknowledged it (undefined: not joined yet, or an idle box). */
  readonly channel: ChannelInfo | undefined;
  /** The live channel's id as control knows it (an idle box: the channel it was recruited for). */
  readonly liveChannelId: number;
  /** Version of the last ASSIGN applied in this session (0: none yet). */
  readonly assignVersion: number;
  /** DCM epoch of the last ASSIGN applied (absent: 0): a higher epoch starts a new version count. */
  readonly assignEpoch: number;
  /** The extra (VoD) channels control acknowledged, and their last applied ASSIGN versions. */
  readonly extras: readonly ChannelInfo[];
  readonly extraVersions: ReadonlyMap<number, number>;
  /** The highest DCM epoch seen per channel. */
  readonly fence: Pick<EpochFence, "highest">;
  /** The session ticket, when control gave one (then it answers every heartbeat). */
  readonly link: Pick<ControlLink, "ticket">;
}
