/**
 * RESUME_ACK from a control endpoint (`from`): the answer to our RESUME (failover, docs/agent.md).
 * ControlLink checks its tag with the resumed keys before anything in it is believed. Resumed: the
 * session runs at `from` on the new keys and heartbeats at once (the data plane never noticed).
 * A refusal that authenticates: full JOIN. An unauthenticated refusal is a hint (at most once per
 * REJOIN_HINT_MS). An accepting answer whose epoch is below the highest seen for our channel
 * comes from a deposed server: ignored (the attempt goes on at the other endpoints).
 */
import { JoinError, type MessageOf, type MsgType } from "../../../protocol/messages.js";
import { addressKey, type Address } from "../../../seams/transport.js";
import type { SessionState } from "../session-state.js";

export function onResumeAck(
  s: SessionState,
  buf: Uint8Array,
  msg: MessageOf<MsgType.RESUME_ACK>,
  from: Address,
): void {
  const log = s.deps.logger;
  if (s.phase !== "resuming") {
    log.debug("resume_ack_unexpected", { from: addressKey(from) });
    return;
  }
  const ack = msg.body;
  const channel = s.liveChannelId;
  if (ack.error === JoinError.NONE && (ack.epoch ?? 0) < s.fence.highest(channel)) {
    s.stats.fenced.resumeAck++;
    log.warn("resume_ack_fenced", {
      from: addressKey(from),
      epoch: ack.epoch ?? 0,
      highest: s.fence.highest(channel),
    });
    return;
  }
  const verdict = s.link.onResumeAck(buf, ack, msg.seq, msg.auth !== undefined);
  switch (verdict) {
    case "forged":
    case "stale":
      return;
    case "refusal_hint":
      s.refusalHint(from);
      return;
    case "refused":
      log.warn("resume_refused", {
        from: addressKey(from),
        error: ack.error,
        errorName: JoinError[ack.error] ?? "unknown",
      });
      s.failover.refused(from);
      return;
    case "resumed":
      s.fence.admit(channel, ack.epoch);
      log.info("resumed", {
        node: s.nodeId,
        control: addressKey(from),
        heartbeatMs: ack.heartbeatMs,
        epoch: ack.epoch ?? null,
        trigger: s.failover.trigger ?? null,
      });
      s.enterResumed(from, ack.heartbeatMs);
  }
}
