/**
 * RESUME: a node whose DCM moved to this server (a failover: docs/resilience.md) resumes its
 * session from its ticket. It arrives checked (trust/responder.ts: ticket, tag, sender,
 * revocation, freshness); what the ticket holds is the node's JOIN, so the JOIN handler admits
 * it as it would the JOIN itself — with the ticket's node id, and answered by a RESUME_ACK
 * tagged with the resumed keys — and the channel's DCM adopts the place the node reports
 * rather than reshuffle a working tree.
 *
 * A node of a channel that no origin offers here yet gets no answer: it is resending with
 * back-off, and its origin (which fails over at the same time) usually resumes within one
 * resend. Refusing it would send it to a full JOIN, which is what a failover must not cost.
 */
import { type MessageOf, MsgType, Role } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";
import type { Handshake } from "../trust/responder.js";
import type { ControlContext } from "./context.js";
import { onJoin } from "./on-join.js";

export function onResume(
  ctx: ControlContext,
  msg: MessageOf<MsgType.RESUME>,
  from: Address,
  hs: Handshake,
): void {
  const join = hs.join;
  const first = join.channels[0];
  if (join.role !== Role.ORIGIN && first !== undefined) {
    const entry = ctx.directory.byName(first);
    if (entry === undefined || entry.origin === null) {
      ctx.metrics.resumesHeld++;
      ctx.logger.debug("resume_held", { node: msg.sender, channel: first });
      return;
    }
  }
  onJoin(
    ctx,
    { v: msg.v, type: MsgType.JOIN, sender: msg.sender, seq: msg.seq, ts: msg.ts, body: join },
    from,
    hs,
  );
}
