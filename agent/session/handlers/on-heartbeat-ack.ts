/**
 * HEARTBEAT_ACK from the control center (its tag and counter already checked): the server the
 * session is on is alive and serves us (failover's detector, common/control-link.ts). Its epoch,
 * when present, is the DCM's fencing epoch for our live channel: one below the highest seen is a
 * deposed server's answer, which does not count as an answer. The ack does not name a channel,
 * so with VoD channels (other DCMs, other epochs) its epoch is not used.
 *
 * Pure: Session applies the decision (the fence, the failure detector, the fenced counter).
 */
import type { MessageOf, MsgType } from "../../../protocol/messages.js";
import type { SessionView } from "../session-state.js";

export type HeartbeatAckDecision =
  | { kind: "ignore"; reason: "stopped" }
  /** A deposed server's answer: not an answer. */
  | { kind: "fenced"; channel: number; epoch: number; highest: number }
  /** An answer (the detector is armed and hears it); `fence`: the epoch the fence takes, if any. */
  | { kind: "answered"; fence?: { channel: number; epoch: number } };

export type HeartbeatAckView = Pick<SessionView, "phase" | "extras" | "liveChannelId" | "fence">;

export function onHeartbeatAck(
  s: HeartbeatAckView,
  msg: MessageOf<MsgType.HEARTBEAT_ACK>,
): HeartbeatAckDecision {
  if (s.phase === "stopped") return { kind: "ignore", reason: "stopped" };
  const epoch = msg.body.epoch;
  if (epoch === undefined || s.extras.length > 0) return { kind: "answered" };
  const channel = s.liveChannelId;
  const highest = s.fence.highest(channel);
  if (epoch < highest) return { kind: "fenced", channel, epoch, highest };
  return { kind: "answered", fence: { channel, epoch } };
}
