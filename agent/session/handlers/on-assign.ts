/**
 * ASSIGN from the control center (its tag and counter already checked): applied when it is for
 * our channel (or one of the extra VoD channels, each with its own versions) and newer than the
 * last applied; an assignment in several parts is applied once all of them arrived.
 *
 * Newer means a higher DCM epoch (a replacement DCM numbers its versions as it likes), or the
 * same epoch and a higher version. An ASSIGN whose epoch is below the highest seen for its
 * channel comes from a deposed server: dropped, logged and counted (fencing, issue 12).
 *
 * Two pure steps around the one stateful one, reassembly (AssignParts), which Session owns:
 * onAssign decides on the datagram (fenced, stale, or "reassemble": into which buffer, started
 * over or not); once the parts make a whole, onAssembled decides on the assignment.
 */
import { placementOf } from "../../../common/control-failover.js";
import type { AssignBody, MessageOf, MsgType, Placement } from "../../../protocol/messages.js";
import type { SessionView } from "../session-state.js";

/** Which reassembly buffer a part goes to: the live channel's, or its extra (VoD) channel's. */
export type AssignTarget = "live" | "extra";

export type AssignDecision =
  | { kind: "ignore"; reason: "stopped" }
  /** A deposed server's: its epoch is below the highest seen for its channel. Not an answer. */
  | { kind: "fenced"; channel: number; version: number; epoch: number; highest: number }
  /**
   * Believed (the fence takes its epoch, the failure detector counts it as an answer) but no
   * newer than the last applied: nothing more.
   */
  | { kind: "stale"; channel: number; epoch: number }
  /** Believed, and newer: its part goes to `into`'s buffer, emptied first when `restart`. */
  | { kind: "reassemble"; channel: number; epoch: number; into: AssignTarget; restart: boolean };

export type AssembledDecision =
  /** Complete, but not newer than the last applied after all (a whole older version). */
  | { kind: "stale" }
  /** For a channel we do not watch (an idle box takes any). */
  | { kind: "other_channel"; channel: number }
  /** Apply to the live channel: its version, epoch and where it places us (sent in a RESUME). */
  | { kind: "assigned"; assignment: AssignBody; epoch: number; placement: Placement }
  /** Apply to an extra (VoD) channel: its own version count. */
  | { kind: "assigned_extra"; assignment: AssignBody };

export type AssignView = Pick<
  SessionView,
  "phase" | "fence" | "extras" | "extraVersions" | "assignVersion" | "assignEpoch" | "channel"
>;

export function onAssign(s: AssignView, msg: MessageOf<MsgType.ASSIGN>): AssignDecision {
  if (s.phase === "stopped") return { kind: "ignore", reason: "stopped" };
  const body = msg.body;
  const channel = body.channel;
  const epoch = body.epoch ?? 0;
  const highest = s.fence.highest(channel);
  if (epoch < highest) return { kind: "fenced", channel, version: body.version, epoch, highest };
  if (s.extras.some((c) => c.id === channel)) {
    if (body.version <= (s.extraVersions.get(channel) ?? 0)) return { kind: "stale", channel, epoch };
    return { kind: "reassemble", channel, epoch, into: "extra", restart: false };
  }
  if (epoch < s.assignEpoch || (epoch === s.assignEpoch && body.version <= s.assignVersion))
    return { kind: "stale", channel, epoch };
  // A new epoch starts the parts over: its versions need not continue the old DCM's.
  const restart = epoch > s.assignEpoch && (body.parts ?? 1) > 1;
  return { kind: "reassemble", channel, epoch, into: "live", restart };
}

/** The whole assignment `a` (from parts of epoch `epoch`, reassembled in `into`'s buffer). */
export function onAssembled(
  s: AssignView,
  a: AssignBody,
  epoch: number,
  into: AssignTarget,
): AssembledDecision {
  if (into === "extra") {
    if (a.version <= (s.extraVersions.get(a.channel) ?? 0)) return { kind: "stale" };
    return { kind: "assigned_extra", assignment: a };
  }
  if (s.channel !== undefined && a.channel !== s.channel.id)
    return { kind: "other_channel", channel: a.channel };
  if (epoch === s.assignEpoch && a.version <= s.assignVersion) return { kind: "stale" };
  return { kind: "assigned", assignment: a, epoch, placement: placementOf(a) };
}
