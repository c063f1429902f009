/**
 * The agent's control-session handlers (agent/session/handlers/) as pure functions: a view of the
 * session (a plain object) and a message in, a decision out, one per case, the refusals included
 * (a deposed server's epoch, a stale version, a forged tag, a refusal repeated). What Session
 * does with the decisions is agent-session.test.ts's and agent-failover.test.ts's.
 */
import test from "ava";
import { onAssembled, onAssign, type AssignView } from "../agent/session/handlers/on-assign.js";
import { onHeartbeatAck, type HeartbeatAckView } from "../agent/session/handlers/on-heartbeat-ack.js";
import { onJoinAck, type JoinAckView } from "../agent/session/handlers/on-join-ack.js";
import { onRedirect, type RedirectView } from "../agent/session/handlers/on-redirect.js";
import { onResumeAck, onResumeVerdict, type ResumeAckView } from "../agent/session/handlers/on-resume-ack.js";
import type { SessionPhase } from "../agent/session/session-state.js";
import type { ResumeVerdict } from "../common/control-link.js";
import { DEMO_CHANNEL as LIVE } from "./helpers/demo-channel.js";
import {
  JoinError,
  MsgType,
  TierRole,
  type AssignBody,
  type ChannelInfo,
  type JoinAckBody,
  type MessageOf,
  type ResumeAckBody,
} from "../protocol/messages.js";

const MOVIE: ChannelInfo = { ...LIVE, name: "movie", id: 12 };
const ENV = { v: 1, sender: 0, seq: 1, ts: 0 };

/** An EpochFence's read side from a table of channel -> highest epoch. */
const fence = (highest: Record<number, number> = {}) => ({ highest: (c: number) => highest[c] ?? 0 });

const joinAck = (over: Partial<JoinAckBody> = {}): MessageOf<MsgType.JOIN_ACK> => ({
  ...ENV,
  type: MsgType.JOIN_ACK,
  body: { error: JoinError.NONE, node: 42, region: "r", heartbeatMs: 500, channels: [LIVE, MOVIE], ...over },
});
const assign = (over: Partial<AssignBody> = {}): MessageOf<MsgType.ASSIGN> => ({
  ...ENV,
  type: MsgType.ASSIGN,
  body: { channel: 9, version: 5, k: 1, tier: 1, parents: [null], children: [], ...over },
});
const resumeAck = (over: Partial<ResumeAckBody> = {}): MessageOf<MsgType.RESUME_ACK> => ({
  ...ENV,
  type: MsgType.RESUME_ACK,
  body: { error: JoinError.NONE, nonce: new Uint8Array(16), heartbeatMs: 500, ...over },
});

// --- JOIN_ACK -------------------------------------------------------------------------------

const joinView = (phase: SessionPhase, over: Partial<JoinAckView> = {}): JoinAckView => ({
  phase,
  nodeId: 0,
  config: { channel: "demo", extraChannels: [] },
  link: { ticket: undefined },
  ...over,
});

test("onJoinAck: the refusals by phase (REJOIN, UNKNOWN_CHANNEL, the others), each acted on once", (t) => {
  const cases: Array<[SessionPhase, JoinError, ReturnType<typeof onJoinAck>]> = [
    ["joined", JoinError.REJOIN, { kind: "rejoin" }],
    ["joining", JoinError.REJOIN, { kind: "ignore", reason: "not_joined" }],
    ["resuming", JoinError.REJOIN, { kind: "ignore", reason: "not_joined" }],
    ["joining", JoinError.UNKNOWN_CHANNEL, { kind: "unknown_channel" }],
    ["refused", JoinError.UNKNOWN_CHANNEL, { kind: "unknown_channel" }],
    ["waiting_channel", JoinError.UNKNOWN_CHANNEL, { kind: "ignore", reason: "waiting_already" }],
    ["joined", JoinError.UNKNOWN_CHANNEL, { kind: "ignore", reason: "waiting_already" }],
    ["resuming", JoinError.UNKNOWN_CHANNEL, { kind: "ignore", reason: "waiting_already" }],
    ["joining", JoinError.FULL, { kind: "refused", error: JoinError.FULL }],
    ["waiting_channel", JoinError.UNAUTHORIZED, { kind: "refused", error: JoinError.UNAUTHORIZED }],
    ["refused", JoinError.BAD_REQUEST, { kind: "ignore", reason: "refused_already" }],
    ["joined", JoinError.FULL, { kind: "ignore", reason: "refused_already" }],
  ];
  for (const [phase, error, want] of cases)
    t.deepEqual(
      onJoinAck(joinView(phase), joinAck({ error, node: 0 })),
      want,
      `${phase} ${JoinError[error]}`,
    );
});

test("onJoinAck: an accepting ack without our channel, with node 0 or no heartbeat interval is unusable", (t) => {
  const v = joinView("joining");
  t.deepEqual(onJoinAck(v, joinAck({ channels: [MOVIE] })), {
    kind: "unusable",
    node: 42,
    channels: ["movie"],
  });
  t.like(onJoinAck(v, joinAck({ node: 0 })), { kind: "unusable", node: 0 });
  t.like(onJoinAck(v, joinAck({ heartbeatMs: 0 })), { kind: "unusable" });
  // An idle box needs no channel.
  t.like(
    onJoinAck(joinView("joining", { config: { channel: "demo", idle: true } }), joinAck({ channels: [] })),
    {
      kind: "joined",
      channel: undefined,
    },
  );
});

test("onJoinAck: a new session with our channel and the downloads control offers; the missing ones named", (t) => {
  const v = joinView("joining", { config: { channel: "demo", extraChannels: ["movie", "gone"] } });
  const msg = joinAck();
  t.deepEqual(onJoinAck(v, msg), {
    kind: "joined",
    ack: msg.body,
    channel: LIVE,
    extras: [MOVIE],
    missing: ["gone"],
  });
  t.like(onJoinAck(joinView("refused"), msg), { kind: "joined" });
  t.like(onJoinAck(joinView("waiting_channel"), msg), { kind: "joined" });
  t.deepEqual(onJoinAck(joinView("stopped"), msg), { kind: "ignore", reason: "stopped" });
});

test("onJoinAck: a second answer while joined or resuming changes the node id only; armed with a ticket", (t) => {
  t.deepEqual(onJoinAck(joinView("joined", { nodeId: 42 }), joinAck()), {
    kind: "again",
    nodeId: 42,
    changed: false,
    arm: false,
  });
  t.deepEqual(
    onJoinAck(joinView("resuming", { nodeId: 7, link: { ticket: new Uint8Array(8) } }), joinAck()),
    {
      kind: "again",
      nodeId: 42,
      changed: true,
      arm: true,
    },
  );
});

// --- ASSIGN ---------------------------------------------------------------------------------

const assignView = (over: Partial<AssignView> = {}): AssignView => ({
  phase: "joined",
  fence: fence(),
  extras: [],
  extraVersions: new Map(),
  assignVersion: 4,
  assignEpoch: 2,
  channel: LIVE,
  ...over,
});

test("onAssign: fenced below the highest epoch, stale at or below the applied version, else reassembled", (t) => {
  const v = assignView({ fence: fence({ 9: 3 }) });
  t.deepEqual(onAssign(v, assign({ epoch: 2, version: 99 })), {
    kind: "fenced",
    channel: 9,
    version: 99,
    epoch: 2,
    highest: 3,
  });
  // An absent epoch is 0: fenced once any epoch was seen.
  t.like(onAssign(v, assign({ version: 99 })), { kind: "fenced", epoch: 0 });
  const w = assignView();
  t.deepEqual(onAssign(w, assign({ epoch: 2, version: 4 })), { kind: "stale", channel: 9, epoch: 2 });
  t.deepEqual(onAssign(w, assign({ epoch: 2, version: 3 })), { kind: "stale", channel: 9, epoch: 2 });
  t.deepEqual(onAssign(w, assign({ epoch: 1, version: 50 })), { kind: "stale", channel: 9, epoch: 1 });
  t.deepEqual(onAssign(w, assign({ epoch: 2, version: 5 })), {
    kind: "reassemble",
    channel: 9,
    epoch: 2,
    into: "live",
    restart: false,
  });
  // A new epoch may count its versions from 1; its parts start over (a lone datagram needs no restart).
  t.like(onAssign(w, assign({ epoch: 3, version: 1 })), { kind: "reassemble", epoch: 3, restart: false });
  t.like(onAssign(w, assign({ epoch: 3, version: 1, part: 0, parts: 2 })), {
    kind: "reassemble",
    restart: true,
  });
  t.deepEqual(onAssign(assignView({ phase: "stopped" }), assign({ epoch: 2, version: 9 })), {
    kind: "ignore",
    reason: "stopped",
  });
});

test("onAssign: an extra (VoD) channel has its own versions, and the live channel's epoch does not apply", (t) => {
  const v = assignView({ extras: [MOVIE], extraVersions: new Map([[12, 3]]) });
  t.deepEqual(onAssign(v, assign({ channel: 12, version: 3 })), { kind: "stale", channel: 12, epoch: 0 });
  t.deepEqual(onAssign(v, assign({ channel: 12, version: 1, epoch: 5 })), {
    kind: "stale",
    channel: 12,
    epoch: 5,
  });
  t.deepEqual(onAssign(v, assign({ channel: 12, version: 4 })), {
    kind: "reassemble",
    channel: 12,
    epoch: 0,
    into: "extra",
    restart: false,
  });
  // Fenced all the same below its own channel's highest epoch.
  t.like(
    onAssign(assignView({ extras: [MOVIE], fence: fence({ 12: 2 }) }), assign({ channel: 12, epoch: 1 })),
    {
      kind: "fenced",
    },
  );
});

test("onAssembled: applied when for our channel and newer; another channel's or an older whole is not", (t) => {
  const v = assignView();
  const a = assign({ version: 6, tier: 2, role: TierRole.TIER2, cluster: 3 }).body;
  t.deepEqual(onAssembled(v, a, 2, "live"), {
    kind: "assigned",
    assignment: a,
    epoch: 2,
    placement: { tier: 2, role: TierRole.TIER2, cluster: 3 },
  });
  t.deepEqual(onAssembled(v, { ...a, channel: 10 }, 2, "live"), { kind: "other_channel", channel: 10 });
  t.deepEqual(onAssembled(v, { ...a, version: 4 }, 2, "live"), { kind: "stale" });
  // A higher epoch applies whatever its version.
  t.like(onAssembled(v, { ...a, version: 1 }, 3, "live"), { kind: "assigned", epoch: 3 });
  // An idle box (no channel) takes any channel's.
  t.like(onAssembled(assignView({ channel: undefined }), { ...a, channel: 10 }, 2, "live"), {
    kind: "assigned",
  });
  const x = assignView({ extras: [MOVIE], extraVersions: new Map([[12, 3]]) });
  const m = assign({ channel: 12, version: 4 }).body;
  t.deepEqual(onAssembled(x, m, 0, "extra"), { kind: "assigned_extra", assignment: m });
  t.deepEqual(onAssembled(x, { ...m, version: 3 }, 0, "extra"), { kind: "stale" });
});

// --- HEARTBEAT_ACK --------------------------------------------------------------------------

test("onHeartbeatAck: an answer, its epoch to the fence; a deposed server's is not an answer", (t) => {
  const v: HeartbeatAckView = { phase: "joined", extras: [], liveChannelId: 9, fence: fence({ 9: 4 }) };
  const ack = (epoch?: number): MessageOf<MsgType.HEARTBEAT_ACK> => ({
    ...ENV,
    type: MsgType.HEARTBEAT_ACK,
    body: epoch === undefined ? {} : { epoch },
  });
  t.deepEqual(onHeartbeatAck(v, ack()), { kind: "answered" });
  t.deepEqual(onHeartbeatAck(v, ack(4)), { kind: "answered", fence: { channel: 9, epoch: 4 } });
  t.deepEqual(onHeartbeatAck(v, ack(5)), { kind: "answered", fence: { channel: 9, epoch: 5 } });
  t.deepEqual(onHeartbeatAck(v, ack(3)), { kind: "fenced", channel: 9, epoch: 3, highest: 4 });
  // With VoD channels the ack's epoch may be another DCM's: not used.
  t.deepEqual(onHeartbeatAck({ ...v, extras: [MOVIE] }, ack(3)), { kind: "answered" });
  t.deepEqual(onHeartbeatAck({ ...v, phase: "stopped" }, ack(5)), { kind: "ignore", reason: "stopped" });
});

// --- REDIRECT -------------------------------------------------------------------------------

test("onRedirect: followed for our channel (any before the first JOIN_ACK), counted for another", (t) => {
  const endpoints = [{ address: "127.0.0.2", port: 7700 }];
  const msg = (channel: number): MessageOf<MsgType.REDIRECT> => ({
    ...ENV,
    type: MsgType.REDIRECT,
    body: { channel, endpoints },
  });
  const v: RedirectView = { phase: "joined", liveChannelId: 9 };
  t.deepEqual(onRedirect(v, msg(9)), { kind: "redirect", channel: 9, endpoints });
  t.deepEqual(onRedirect(v, msg(10)), { kind: "not_ours", channel: 10, endpoints });
  t.deepEqual(onRedirect({ phase: "joining", liveChannelId: 0 }, msg(10)), {
    kind: "redirect",
    channel: 10,
    endpoints,
  });
  t.deepEqual(onRedirect({ ...v, phase: "idle" }, msg(9)), { kind: "ignore", reason: "idle" });
  t.deepEqual(onRedirect({ ...v, phase: "stopped" }, msg(9)), { kind: "ignore", reason: "stopped" });
});

// --- RESUME_ACK -----------------------------------------------------------------------------

test("onResumeAck: checked only while resuming and not from a deposed server", (t) => {
  const v: ResumeAckView = { phase: "resuming", liveChannelId: 9, fence: fence({ 9: 4 }) };
  t.deepEqual(onResumeAck(v, resumeAck({ epoch: 4 })), { kind: "authenticate" });
  t.deepEqual(onResumeAck(v, resumeAck({ epoch: 3 })), { kind: "fenced", epoch: 3, highest: 4 });
  t.deepEqual(onResumeAck(v, resumeAck()), { kind: "fenced", epoch: 0, highest: 4 });
  // A refusal has no epoch to fence: the link checks it.
  t.deepEqual(onResumeAck(v, resumeAck({ error: JoinError.UNAUTHORIZED })), { kind: "authenticate" });
  t.deepEqual(onResumeAck({ ...v, phase: "joined" }, resumeAck({ epoch: 4 })), { kind: "unexpected" });
});

test("onResumeVerdict: the link's verdict decides; a bad tag (forged) is dropped", (t) => {
  const v = { liveChannelId: 9 };
  const cases: Array<[ResumeVerdict, Partial<ResumeAckBody>, ReturnType<typeof onResumeVerdict>]> = [
    ["forged", {}, { kind: "ignore", reason: "forged" }],
    ["stale", {}, { kind: "ignore", reason: "stale" }],
    ["busy", { error: JoinError.BUSY }, { kind: "ignore", reason: "busy" }],
    ["refusal_hint", { error: JoinError.UNAUTHORIZED }, { kind: "refusal_hint" }],
    ["refused", { error: JoinError.UNAUTHORIZED }, { kind: "refused", error: JoinError.UNAUTHORIZED }],
    ["resumed", { epoch: 5, heartbeatMs: 250 }, { kind: "resumed", channel: 9, epoch: 5, heartbeatMs: 250 }],
    ["resumed", {}, { kind: "resumed", channel: 9, epoch: undefined, heartbeatMs: 500 }],
  ];
  for (const [verdict, body, want] of cases)
    t.deepEqual(onResumeVerdict(v, resumeAck(body), verdict), want, verdict);
});
