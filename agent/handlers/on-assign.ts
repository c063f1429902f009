/**
 * ASSIGN from the control center: applied when it is for our channel (or one of the extra VoD
 * channels, each with its own versions) and newer than the last applied; an assignment in
 * several parts is applied once all of them arrived.
 */
import { AssignParts } from "../../protocol/assign-parts.js";
import type { AssignBody, MessageOf, MsgType } from "../../protocol/messages.js";
import type { Session } from "../session.js";

export function onAssign(s: Session, msg: MessageOf<MsgType.ASSIGN>): void {
  if (s.phase === "stopped") return;
  if (s.extras.some((c) => c.id === msg.body.channel)) return onExtraAssign(s, msg.body);
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

function onExtraAssign(s: Session, body: AssignBody): void {
  const last = s.extraVersions.get(body.channel) ?? 0;
  if (body.version <= last) return;
  let parts = s.extraParts.get(body.channel);
  if (parts === undefined) s.extraParts.set(body.channel, (parts = new AssignParts()));
  const a = parts.accept(body);
  if (a === undefined || a.version <= last) return;
  s.extraVersions.set(a.channel, a.version);
  s.deps.logger.info("assigned", {
    channel: a.channel,
    version: a.version,
    k: a.k,
    tier: a.tier,
    parents: a.parents.map((p) => p?.node ?? null),
    children: a.children.map((c) => c.node),
  });
  s.deps.hooks.assigned(a);
}
