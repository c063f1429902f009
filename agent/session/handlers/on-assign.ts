/**
 * ASSIGN from the control center (its tag and counter already checked): applied when it is for
 * our channel (or one of the extra VoD channels, each with its own versions) and newer than the
 * last applied; an assignment in several parts is applied once all of them arrived.
 *
 * Newer means a higher DCM epoch (a replacement DCM numbers its versions as it likes), or the
 * same epoch and a higher version. An ASSIGN whose epoch is below the highest seen for its
 * channel comes from a deposed server: dropped, logged and counted (fencing, issue 12).
 */
import { AssignParts } from "../../../protocol/assign-parts.js";
import { placementOf } from "../../../common/control-failover.js";
import type { AssignBody, MessageOf, MsgType } from "../../../protocol/messages.js";
import type { SessionState } from "../session-state.js";

export function onAssign(s: SessionState, msg: MessageOf<MsgType.ASSIGN>): void {
  if (s.phase === "stopped") return;
  const body = msg.body;
  const epoch = body.epoch ?? 0;
  if (!s.fence.admit(body.channel, epoch)) {
    s.stats.fenced.assign++;
    s.deps.logger.warn("assign_fenced", {
      channel: body.channel,
      version: body.version,
      epoch,
      highest: s.fence.highest(body.channel),
    });
    return;
  }
  s.failover.answered();
  if (s.extras.some((c) => c.id === body.channel)) return onExtraAssign(s, body);
  if (epoch < s.assignEpoch || (epoch === s.assignEpoch && body.version <= s.assignVersion)) return;
  // A new epoch starts the parts over: its versions need not continue the old DCM's.
  if (epoch > s.assignEpoch && (body.parts ?? 1) > 1) s.assignParts = new AssignParts();
  const a = s.assignParts.accept(body);
  if (a === undefined) return; // more parts to come
  if (s.channel !== undefined && a.channel !== s.channel.id) {
    s.deps.logger.debug("assign_other_channel", { channel: a.channel });
    return;
  }
  if (epoch === s.assignEpoch && a.version <= s.assignVersion) return;
  s.assignVersion = a.version;
  s.assignEpoch = epoch;
  s.assignChannel = a.channel;
  s.placement = placementOf(a);
  s.deps.logger.info("assigned", {
    version: a.version,
    k: a.k,
    tier: a.tier,
    role: a.role ?? null,
    ...(epoch === 0 ? {} : { epoch }),
    parents: a.parents.map((p) => p?.node ?? null),
    children: a.children.map((c) => c.node),
  });
  s.deps.hooks.assigned(a);
}

function onExtraAssign(s: SessionState, body: AssignBody): void {
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
