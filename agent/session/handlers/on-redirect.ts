/**
 * REDIRECT from a control endpoint: an unauthenticated hint that the server does not serve our
 * channel and which servers may. Only endpoints the agent was configured with are tried (a
 * spoofed REDIRECT cannot send it anywhere new); what follows is ControlFailover.redirect's.
 */
import type { MessageOf, MsgType } from "../../../protocol/messages.js";
import type { SessionState } from "../session-state.js";

export function onRedirect(s: SessionState, msg: MessageOf<MsgType.REDIRECT>): void {
  if (s.phase === "stopped" || s.phase === "idle") return;
  const { channel, endpoints } = msg.body;
  // Before the first JOIN_ACK the channel's id is not known: any REDIRECT may steer the JOIN.
  const ours = s.liveChannelId === 0 || channel === s.liveChannelId;
  const followed = ours && s.redirect(endpoints);
  if (!ours) s.stats.failover.redirectsIgnored++;
  s.deps.logger.debug("control_redirect", {
    channel,
    endpoints: endpoints.map((e) => `${e.address}:${e.port}`),
    followed,
  });
}
