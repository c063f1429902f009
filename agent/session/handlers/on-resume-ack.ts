/**
 * RESUME_ACK from a control endpoint: the answer to our RESUME (failover, docs/agent.md).
 * ControlLink checks its tag with the resumed keys before anything in it is believed. Resumed: the
 * session runs at the endpoint that answered on the new keys and heartbeats at once (the data
 * plane never noticed). A refusal that authenticates: full JOIN. An unauthenticated refusal is a
 * hint (at most once per REJOIN_HINT_MS). An accepting answer whose epoch is below the highest
 * seen for our channel comes from a deposed server: ignored (the attempt goes on at the other
 * endpoints). An unauthenticated BUSY was dealt with before (session.ts, ControlFailover.busy).
 *
 * Two pure steps around the one stateful one, the link's check (which takes the resumed keys):
 * onResumeAck decides whether the answer is worth checking; onResumeVerdict decides on the
 * link's verdict. Session applies both.
 */
import type { ResumeVerdict } from "../../../common/control-link.js";
import { JoinError, type MessageOf, type MsgType } from "../../../protocol/messages.js";
import type { SessionView } from "../session-state.js";

export type ResumeAckDecision =
  /** No RESUME under way (a late duplicate): logged, dropped. */
  | { kind: "unexpected" }
  /** Accepting, but from a deposed server (epoch below the highest seen): counted, logged, dropped. */
  | { kind: "fenced"; epoch: number; highest: number }
  /** Worth checking: the link checks its tag (ControlLink.onResumeAck), then onResumeVerdict. */
  | { kind: "authenticate" };

export type ResumeVerdictDecision =
  /** Forged (counted by the link), an answer to no RESUME of ours, or BUSY: nothing. */
  | { kind: "ignore"; reason: "forged" | "stale" | "busy" }
  /** An unauthenticated refusal: a hint to JOIN (rate-limited by Session). */
  | { kind: "refusal_hint" }
  /** A refusal that authenticates: this endpoint will not resume us (ControlFailover.refused). */
  | { kind: "refused"; error: JoinError }
  /** Resumed: the fence takes `epoch` for `channel`; heartbeats every `heartbeatMs` (0: as before). */
  | { kind: "resumed"; channel: number; epoch: number | undefined; heartbeatMs: number };

export type ResumeAckView = Pick<SessionView, "phase" | "liveChannelId" | "fence">;

export function onResumeAck(s: ResumeAckView, msg: MessageOf<MsgType.RESUME_ACK>): ResumeAckDecision {
  if (s.phase !== "resuming") return { kind: "unexpected" };
  const ack = msg.body;
  const epoch = ack.epoch ?? 0;
  const highest = s.fence.highest(s.liveChannelId);
  if (ack.error === JoinError.NONE && epoch < highest) return { kind: "fenced", epoch, highest };
  return { kind: "authenticate" };
}

export function onResumeVerdict(
  s: Pick<SessionView, "liveChannelId">,
  msg: MessageOf<MsgType.RESUME_ACK>,
  verdict: ResumeVerdict,
): ResumeVerdictDecision {
  const ack = msg.body;
  switch (verdict) {
    case "forged":
    case "stale":
    case "busy":
      return { kind: "ignore", reason: verdict };
    case "refusal_hint":
      return { kind: "refusal_hint" };
    case "refused":
      return { kind: "refused", error: ack.error };
    case "resumed":
      return { kind: "resumed", channel: s.liveChannelId, epoch: ack.epoch, heartbeatMs: ack.heartbeatMs };
  }
}
