/**
 * HEARTBEAT_ACK from the control center (its tag and counter already checked): the server the
 * session is on is alive and serves us (failover's detector, common/control-link.ts). Its epoch,
 * when present, is the DCM's fencing epoch for our live channel: one below the highest seen is a
 * deposed server's answer, which does not count as an answer. The ack does not name a channel,
 * so with VoD channels (other DCMs, other epochs) its epoch is not used.
 */
import type { MessageOf, MsgType } from "../../../protocol/messages.js";
import type { SessionState } from "../session-state.js";

export function onHeartbeatAck(s: SessionState, msg: MessageOf<MsgType.HEARTBEAT_ACK>): void {
  if (s.phase === "stopped") return;
  const epoch = msg.body.epoch;
  if (epoch !== undefined && s.extras.length === 0) {
    const channel = s.liveChannelId;
    if (!s.fence.admit(channel, epoch)) {
      s.stats.fenced.heartbeatAck++;
      s.deps.logger.debug("heartbeat_ack_fenced", { channel, epoch, highest: s.fence.highest(channel) });
      return;
    }
  }
  s.failover.arm();
  s.failover.answered();
}
