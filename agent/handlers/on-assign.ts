/**
 * ASSIGN from the control center: applied when it is for our channel and newer than the last
 * applied; an assignment in several parts is applied once all of them arrived.
 */
import type { MessageOf, MsgType } from "../../protocol/messages.js";
import type { Session } from "../session.js";

export function onAssign(s: Session, msg: MessageOf<MsgType.ASSIGN>): void {
  if (s.phase === "stopped") return;
  if (msg.body.version <= s.assignVersion) return;
  const a = s.assignParts.accept(msg.body);
  if (a === undefined) return; // more parts to come
  if (s.channel !== undefined && a.channel !== s.channel.id) {
    s.deps.logger.debug("assign_other_channel", { channel: a.channel });
    return;
  }
  if (a.version <= s.assignVersion) return;
  s.assignVersion = a.version;
  s.deps.logger.info("assigned", {
    version: a.version,
    k: a.k,
    tier: a.tier,
    role: a.role ?? null,
    parents: a.parents.map((p) => p?.node ?? null),
    children: a.children.map((c) => c.node),
  });
  s.deps.hooks.assigned(a);
}
