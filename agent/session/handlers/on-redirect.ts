/**
 * REDIRECT from a control endpoint: an unauthenticated hint that the server does not serve our
 * channel and which servers may. Only endpoints the agent was configured with are tried (a
 * spoofed REDIRECT cannot send it anywhere new); what follows is ControlFailover.redirect's.
 *
 * Pure: Session applies the decision (ControlFailover.redirect, the counter, the log line).
 */
import type { MessageOf, MsgType } from "../../../protocol/messages.js";
import type { Address } from "../../../seams/transport.js";
import type { SessionView } from "../session-state.js";

export type RedirectDecision =
  | { kind: "ignore"; reason: "stopped" | "idle" }
  /** For another channel than ours: counted (redirectsIgnored) and logged, not followed. */
  | { kind: "not_ours"; channel: number; endpoints: readonly Address[] }
  /** For our channel: `endpoints` (the configured ones among them) are tried next. */
  | { kind: "redirect"; channel: number; endpoints: readonly Address[] };

export type RedirectView = Pick<SessionView, "phase" | "liveChannelId">;

export function onRedirect(s: RedirectView, msg: MessageOf<MsgType.REDIRECT>): RedirectDecision {
  if (s.phase === "stopped" || s.phase === "idle") return { kind: "ignore", reason: s.phase };
  const { channel, endpoints } = msg.body;
  // Before the first JOIN_ACK the channel's id is not known: any REDIRECT may steer the JOIN.
  const ours = s.liveChannelId === 0 || channel === s.liveChannelId;
  return { kind: ours ? "redirect" : "not_ours", channel, endpoints };
}
