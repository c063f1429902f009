/** LEAVE: a node says goodbye; it is removed at once and its children get new parents. */
import type { MessageOf, MsgType } from "../../protocol/messages.js";
import { LeaveReason } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";
import { roleName } from "../client-manager.js";
import type { ControlContext } from "./context.js";
import { removeNodes } from "./remove-node.js";

export function onLeave(ctx: ControlContext, msg: MessageOf<MsgType.LEAVE>, from: Address): void {
  const node = ctx.clients.get(msg.sender);
  if (node === undefined) {
    ctx.metrics.unknownSender++;
    ctx.logger.debug("leave_unknown", { node: msg.sender, address: from.address, port: from.port });
    return;
  }
  ctx.metrics.leaves++;
  ctx.logger.info("node_left", {
    node: node.id,
    role: roleName(node.role),
    region: node.region,
    reason: LeaveReason[msg.body.reason] ?? msg.body.reason,
    uptimeMs: ctx.clock.now() - node.joinedAt,
  });
  removeNodes(ctx, [node], "left");
}
