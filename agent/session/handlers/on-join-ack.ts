/**
 * JOIN_ACK from the control center: the answer to JOIN, or (error REJOIN) to a HEARTBEAT from a
 * node id control does not know, e.g. after control restarted. A REJOIN hint reaches this
 * handler only when the session holds no ticket (with one, session.ts RESUMEs). Its signature,
 * BUSY and the hint's rate were dealt with before (session.ts, common/control-link.ts).
 *
 * Pure: what to do follows from the session's phase, config and node id and the ack alone;
 * Session applies the decision (its fields, timers, logs and the `joined` hook).
 */
import {
  JoinError,
  type ChannelInfo,
  type JoinAckBody,
  type MessageOf,
  type MsgType,
} from "../../../protocol/messages.js";
import type { SessionView } from "../session-state.js";

export type JoinAckDecision =
  /** Nothing to do in this phase (e.g. a refusal repeated while already waiting it out). */
  | { kind: "ignore"; reason: "stopped" | "not_joined" | "waiting_already" | "refused_already" }
  /** REJOIN and we hold no ticket: JOIN again; the data plane keeps running on its last assignment. */
  | { kind: "rejoin" }
  /** The origin has not joined our channel yet: JOIN again every unknownChannelRetryMs. */
  | { kind: "unknown_channel" }
  /** Any other refusal (BAD_REQUEST, FULL, ...): JOIN again every refusedRetryMs. */
  | { kind: "refused"; error: JoinError }
  /** Accepted but unusable (our channel missing, node 0, no heartbeat interval): dropped, logged. */
  | { kind: "unusable"; node: number; channels: string[] }
  /** A second answer to a resent JOIN while joined: the node id only (and the detector armed). */
  | { kind: "again"; nodeId: number; changed: boolean; arm: boolean }
  /** A new session: `channel` undefined for an idle box; `missing`: downloads control left out. */
  | {
      kind: "joined";
      ack: JoinAckBody;
      channel: ChannelInfo | undefined;
      extras: ChannelInfo[];
      missing: string[];
    };

export type JoinAckView = Pick<SessionView, "phase" | "nodeId" | "config" | "link">;

export function onJoinAck(s: JoinAckView, msg: MessageOf<MsgType.JOIN_ACK>): JoinAckDecision {
  const ack = msg.body;
  switch (ack.error) {
    case JoinError.NONE:
      break;
    case JoinError.REJOIN:
      return s.phase === "joined" ? { kind: "rejoin" } : { kind: "ignore", reason: "not_joined" };
    case JoinError.UNKNOWN_CHANNEL:
      if (s.phase !== "waiting_channel" && s.phase !== "joined" && s.phase !== "resuming")
        return { kind: "unknown_channel" };
      return { kind: "ignore", reason: "waiting_already" };
    default:
      if (s.phase !== "refused" && s.phase !== "joined" && s.phase !== "resuming")
        return { kind: "refused", error: ack.error };
      return { kind: "ignore", reason: "refused_already" };
  }
  const idle = s.config.idle === true;
  const channel = idle ? undefined : ack.channels.find((c) => c.name === s.config.channel);
  if ((channel === undefined && !idle) || ack.node === 0 || ack.heartbeatMs <= 0)
    return { kind: "unusable", node: ack.node, channels: ack.channels.map((c) => c.name) };
  if (s.phase === "joined" || s.phase === "resuming") {
    // Nothing changes unless control says otherwise; a control that gives tickets answers every heartbeat.
    return {
      kind: "again",
      nodeId: ack.node,
      changed: ack.node !== s.nodeId,
      arm: s.link.ticket !== undefined,
    };
  }
  if (s.phase === "stopped") return { kind: "ignore", reason: "stopped" };
  const wanted = s.config.extraChannels ?? [];
  const extras = wanted.flatMap((name) => ack.channels.filter((c) => c.name === name));
  // Control leaves out a download no origin offers (live goes on); a later JOIN may bring it.
  const missing = wanted.filter((n) => !extras.some((c) => c.name === n));
  return { kind: "joined", ack, channel, extras, missing };
}
