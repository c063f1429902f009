/**
 * What a message handler may touch. The ControlCenter implements it; handlers stay plain
 * functions (one file per message type) that tests can drive through the ControlCenter.
 */
import type { MessageOf, MsgType } from "../../protocol/messages.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import type { ClientManager } from "../client-manager.js";
import type { ContentDirectory } from "../content-directory.js";
import type { Dcm, OutgoingAssign } from "../dcm/dcm.js";
import type { ControlMetrics } from "../metrics.js";
import type { TopologyName } from "../defaults.js";
import type { RegionPolicy } from "../regions.js";
import type { NodeStore } from "../store.js";
import type { EligibilityPolicy } from "../eligibility.js";
import type { RegionQuality } from "../region-quality.js";
import type { JoinAckBody } from "../../protocol/messages.js";
import type { Handshake, HandshakeResponder } from "../trust/responder.js";
import type { SessionTable } from "../trust/sessions.js";

export interface HandlerConfig {
  heartbeatMs: number;
  /** A node is lost after this many heartbeat intervals without a word. */
  missedHeartbeats: number;
  regions: RegionPolicy;
  topology: TopologyName;
  eligibility?: Partial<EligibilityPolicy>;
  /** Authenticated heartbeats a new key sends before it may relay (0: no probation). */
  probationHeartbeats: number;
}

export interface ControlContext {
  readonly clock: Clock;
  readonly store: NodeStore;
  readonly logger: Logger;
  readonly metrics: ControlMetrics;
  readonly clients: ClientManager;
  readonly directory: ContentDirectory;
  /** Loss and jitter per region, from heartbeats. */
  readonly quality: RegionQuality;
  readonly config: HandlerConfig;
  /** The nodes' authenticated sessions (trust/sessions.ts). */
  readonly sessions: SessionTable;
  /** The handshake: enrolment policy and origin keys (trust/responder.ts). */
  readonly trust: HandshakeResponder;
  /** Sends a signed JOIN_ACK answering the JOIN of `hs`; with `node`, it opens (or keeps) the node's session. */
  sendJoinAck(to: Address, hs: Handshake, node: number | undefined, body: JoinAckBody): void;
  /** Sends an ASSIGN-like message to a node over its session (tagged). */
  sendToNode<T extends MsgType>(node: number, to: Address, type: T, body: MessageOf<T>["body"]): void;
  /** Brings a DCM's plan up to date and sends the ASSIGNs that changed. */
  reconcile(dcm: Dcm): void;
  /** Sends one ASSIGN (`resend`: again, after a stale heartbeat). */
  sendAssign(a: OutgoingAssign, resend: boolean): void;
}
