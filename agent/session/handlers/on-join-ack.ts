/**
 * JOIN_ACK from the control center (endpoint `from`): the answer to JOIN, or (error REJOIN) to a
 * HEARTBEAT from a node id control does not know, e.g. after control restarted. A REJOIN hint
 * reaches this handler only when the session holds no ticket (with one, session.ts RESUMEs).
 */
import { JoinError, type MessageOf, type MsgType } from "../../../protocol/messages.js";
import type { Address } from "../../../seams/transport.js";
import type { SessionState } from "../session-state.js";

export function onJoinAck(s: SessionState, msg: MessageOf<MsgType.JOIN_ACK>, from: Address): void {
  const ack = msg.body;
  const log = s.deps.logger;
  switch (ack.error) {
    case JoinError.NONE:
      break;
    case JoinError.REJOIN:
      // Control forgot us and we hold no ticket. JOIN again; the data plane keeps running on its last assignment.
      if (s.phase === "joined") {
        log.warn("rejoin", { node: s.nodeId });
        s.rejoin("rejoin");
      }
      return;
    case JoinError.UNKNOWN_CHANNEL:
      if (s.phase !== "waiting_channel" && s.phase !== "joined" && s.phase !== "resuming") {
        log.info("join_unknown_channel", { channel: s.config.channel });
        s.rejoin("unknown_channel");
      }
      return;
    default:
      if (s.phase !== "refused" && s.phase !== "joined" && s.phase !== "resuming") {
        log.warn("join_refused", { error: ack.error, errorName: JoinError[ack.error] ?? "unknown" });
        s.rejoin("refused");
      }
      return;
  }
  const idle = s.config.idle === true;
  const channel = idle ? undefined : ack.channels.find((c) => c.name === s.config.channel);
  if ((channel === undefined && !idle) || ack.node === 0 || ack.heartbeatMs <= 0) {
    log.warn("join_ack_unusable", { node: ack.node, channels: ack.channels.map((c) => c.name) });
    return;
  }
  if (s.phase === "joined" || s.phase === "resuming") {
    // A second answer to a resent JOIN: nothing changes unless control says otherwise.
    if (ack.node !== s.nodeId) log.warn("node_id_changed", { from: s.nodeId, to: ack.node });
    s.nodeId = ack.node;
    if (s.link.ticket !== undefined) s.failover.arm();
    return;
  }
  if (s.phase === "stopped") return;
  s.nodeId = ack.node;
  s.region = ack.region;
  s.heartbeatMs = ack.heartbeatMs;
  s.channel = channel;
  // A new session: a restarted control center may count versions (and epochs) from the start again.
  s.assignVersion = 0;
  s.assignEpoch = 0;
  s.fence.clear();
  s.extras = (s.config.extraChannels ?? []).flatMap((name) => ack.channels.filter((c) => c.name === name));
  // Control leaves out a download no origin offers (live goes on); a later JOIN may bring it.
  const missing = (s.config.extraChannels ?? []).filter((n) => !s.extras.some((c) => c.name === n));
  if (missing.length > 0) log.warn("vod_unavailable", { channels: missing });
  s.extraVersions.clear();
  s.extraParts.clear();
  log.info("joined", {
    node: ack.node,
    region: ack.region,
    heartbeatMs: ack.heartbeatMs,
    channelId: channel?.id ?? null,
  });
  s.deps.hooks.joined(ack, channel);
  s.enterJoined(from);
}
