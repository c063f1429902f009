/**
 * JOIN: a node (agent, waypoint or origin) asks to take part. Control maps its identity key
 * to a stable compact id, finds its region from the source address, answers JOIN_ACK and
 * hands it to the channel's DCM, which sends ASSIGNs. A JOIN is resent until acknowledged,
 * so a repeated JOIN is answered again and only updates what changed.
 *
 * - Origin: offers 1..8 channels with streamKbps, segmentMs and fallbackUrl; it becomes the
 *   root of each channel's topology. A channel offered by another live origin is refused.
 * - Agent / waypoint: joins one live channel and any number of VoD channels (downloads carried
 *   at the same time; at most 8 in all, each once, one of them live). The first must be offered
 *   by a live origin (else UNKNOWN_CHANNEL: the node retries); a later one no origin offers is
 *   left out (JOIN_ACK lists what was joined), so a missing download never holds back live. The
 *   node is a member of each channel's DCM, gets an ASSIGN and heartbeats per channel.
 * - A VoD origin (JOIN with `vod`) offers exactly one channel: the file's.
 */
import type { MsgType } from "../../protocol/messages.js";
import { type ChannelInfo, JoinError, type MessageOf, Role } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";
import { dcmMember, roleName, type NodeRecord } from "../client-manager.js";
import type { Dcm, ResumeReport } from "../dcm/dcm.js";
import type { ChannelEntry } from "../content-directory.js";
import { ControlMetrics } from "../metrics.js";
import { regionFor } from "../regions.js";
import type { ControlContext } from "./context.js";
import { recruit } from "./recruit.js";
import { removeNode } from "./remove-node.js";
import { eligibilitySessions, evaluateEligibility } from "./eligibility.js";
import type { SessionHistory } from "../store.js";
import type { Handshake } from "../trust/responder.js";
import { mayOffer } from "../trust/enrolment.js";

type Join = MessageOf<MsgType.JOIN>;

export function onJoin(ctx: ControlContext, msg: Join, from: Address, hs: Handshake): void {
  ctx.metrics.joins++;
  const b = msg.body;
  if (b.key.length === 0) return reject(ctx, hs, from, b.role, JoinError.BAD_REQUEST, "empty identity key");
  if (b.role === Role.ORIGIN) joinOrigin(ctx, msg, from, hs);
  else joinAgent(ctx, msg, from, hs);
}

function joinAgent(ctx: ControlContext, msg: Join, from: Address, hs: Handshake): void {
  const b = msg.body;
  if (b.channels.length === 0 && b.role === Role.AGENT) return joinIdle(ctx, msg, from, hs);
  if (b.channels.length === 0 || new Set(b.channels).size !== b.channels.length) {
    return reject(
      ctx,
      hs,
      from,
      b.role,
      JoinError.BAD_REQUEST,
      `an agent joins one channel (and VoD channels), each once; got [${b.channels.join(", ")}]`,
    );
  }
  const offered = (name: string): ChannelEntry[] => {
    const entry = ctx.directory.byName(name);
    return entry === undefined || entry.origin === null ? [] : [entry];
  };
  const first = b.channels[0]!;
  if (offered(first).length === 0) {
    return reject(ctx, hs, from, b.role, JoinError.UNKNOWN_CHANNEL, `no origin offers channel "${first}"`);
  }
  const entries = b.channels.flatMap(offered);
  if (entries.filter((e) => e.info.vod === undefined).length > 1) {
    return reject(
      ctx,
      hs,
      from,
      b.role,
      JoinError.BAD_REQUEST,
      "an agent watches one live channel at a time",
    );
  }
  const names = entries.map((e) => e.info.name);
  const node = admit(ctx, msg, from, names, hs);
  // A new key on probation is acknowledged but placed only once it has heartbeated (on-heartbeat.ts).
  const dcms = node.probation ? [] : entries.map((e) => ctx.directory.dcmFor(e.info.name, node.region)!);
  for (const dcm of dcms) {
    // A resumed node (failover): the DCM adopts where it says it is instead of placing it anew.
    const report = resumeReport(hs, dcm);
    if (report === undefined) dcm.upsert(dcmMember(node));
    else dcm.adopt(dcmMember(node), report);
  }
  const infos = entries.map((e) => e.info);
  acknowledge(ctx, hs, from, node, infos);
  for (const dcm of dcms) ctx.reconcile(dcm);
}

/**
 * An idle box: an agent that watches nothing offers itself as a relay. It is acknowledged with
 * no channel and recruited (handlers/recruit.ts) into a live channel's DCM, whose plan uses it
 * in tier 1 where a region lacks a capable viewer or waypoint, and tells it to relay nothing
 * otherwise. A repeated JOIN keeps the channel it was recruited for.
 */
function joinIdle(ctx: ControlContext, msg: Join, from: Address, hs: Handshake): void {
  const prev = ctx.clients.get(nodeId(ctx, msg, hs));
  const node = admit(ctx, msg, from, prev?.recruit === true ? prev.channels : [], hs);
  node.recruit = true;
  acknowledge(ctx, hs, from, node, []);
  if (!node.probation) recruit(ctx, node);
}

function joinOrigin(ctx: ControlContext, msg: Join, from: Address, hs: Handshake): void {
  const b = msg.body;
  const problem = originProblem(msg);
  if (problem !== undefined) return reject(ctx, hs, from, b.role, JoinError.BAD_REQUEST, problem);
  const keyHex = Buffer.from(b.key).toString("hex");
  const binding = new Map<string, "configured" | "bound" | "first">();
  for (const name of new Set(b.channels)) {
    // The ORIGIN role of a channel belongs to its origin keys (docs/security.md).
    const may = ctx.trust.verify ? mayOffer(ctx.store, ctx.trust.policy, name, keyHex) : "bound";
    if (may === false) {
      ControlMetrics.bump(ctx.metrics.authFailed, "origin_key");
      return reject(ctx, hs, from, b.role, JoinError.UNAUTHORIZED, `key may not offer channel "${name}"`);
    }
    binding.set(name, may);
  }
  const id = nodeId(ctx, msg, hs);
  for (const name of b.channels) {
    const other = ctx.directory.byName(name)?.origin;
    if (other !== undefined && other !== null && other !== id && ctx.clients.get(other) !== undefined) {
      return reject(
        ctx,
        hs,
        from,
        b.role,
        JoinError.BAD_REQUEST,
        `channel "${name}" is offered by node ${other}`,
      );
    }
  }
  for (const [name, may] of binding) {
    if (may !== "first") continue;
    ctx.store.bindChannelOrigin(name, keyHex, ctx.clock.now());
    ctx.logger.info("channel_origin_bound", { channel: name, key: keyHex });
  }
  const before = ctx.clients.get(id)?.channels ?? [];
  const node = admit(ctx, msg, from, [...new Set(b.channels)], hs);
  const touched = new Set<Dcm>();
  for (const name of before) {
    if (node.channels.includes(name)) continue;
    const entry = ctx.directory.withdraw(name, node.id);
    if (entry !== undefined) touched.add(entry.dcm);
  }
  const infos: ChannelInfo[] = [];
  for (const name of node.channels) {
    const known = ctx.directory.byName(name);
    const fresh = known === undefined || known.origin !== node.id;
    const entry = ctx.directory.offer(name, {
      id: node.id,
      streamKbps: b.streamKbps!,
      segmentMs: b.segmentMs!,
      fallbackUrl: b.fallbackUrl!,
      ...(b.vod === undefined ? {} : { vod: b.vod }),
      key: node.key,
      ...(hs.resume === undefined ? {} : { adoptFrom: ctx.clock.now() }),
    });
    entry.dcm.setOrigin(dcmMember(node));
    const report = resumeReport(hs, entry.dcm);
    if (report !== undefined) entry.dcm.adopt(dcmMember(node), report);
    touched.add(entry.dcm);
    infos.push(entry.info);
    if (fresh) ctx.logger.info("channel_offered", { ...entry.info, channel: name, origin: node.id });
  }
  acknowledge(ctx, hs, from, node, infos);
  for (const dcm of touched) ctx.reconcile(dcm);
}

function originProblem(msg: Join): string | undefined {
  const b = msg.body;
  if (b.channels.length === 0) return "an origin offers at least one channel";
  if (b.channels.some((c) => c === "")) return "empty channel name";
  if (b.streamKbps === undefined || b.streamKbps <= 0) return "an origin gives streamKbps > 0";
  if (b.segmentMs === undefined || b.segmentMs <= 0) return "an origin gives segmentMs > 0";
  if (b.fallbackUrl === undefined || !isHttpUrl(b.fallbackUrl))
    return "an origin gives an http(s) fallbackUrl";
  if (b.vod !== undefined && b.channels.length !== 1) return "a VoD origin offers exactly one channel";
  return undefined;
}

/** Registers the node (or updates the record of a repeated JOIN); returns its record. */
/**
 * The node's compact id: the store's for its key, or, for a RESUME, the id its ticket carries
 * (the session moved here from another server, whose store may have given it: docs/resilience.md).
 */
function nodeId(ctx: ControlContext, msg: Join, hs: Handshake): number {
  return nodeKey(ctx, msg, hs).id;
}

/** nodeId, and whether the key is new to the store (no history to read: store.ts nodeForKey). */
function nodeKey(ctx: ControlContext, msg: Join, hs: Handshake): { id: number; fresh: boolean } {
  if (hs.resume !== undefined) return { id: hs.resume.node, fresh: false };
  return ctx.store.nodeForKey(msg.body.key, ctx.clock.now());
}

function admit(ctx: ControlContext, msg: Join, from: Address, channels: string[], hs: Handshake): NodeRecord {
  const b = msg.body;
  const now = ctx.clock.now();
  const { id, fresh } = nodeKey(ctx, msg, hs);
  const match = regionFor(ctx.config.regions, from.address, b.regionHint);
  let node = ctx.clients.get(id);
  if (node !== undefined && (node.role !== b.role || node.channels.join("\n") !== channels.join("\n"))) {
    // A role or channel change: the node leaves what it was in and joins afresh.
    if (node.role !== Role.ORIGIN || b.role !== Role.ORIGIN) {
      for (const dcm of removeNode(ctx, node, "left")) ctx.reconcile(dcm);
      node = undefined;
    }
  }
  // What every JOIN (re)states about the node.
  const stated = {
    region: match.region,
    regionSource: match.source,
    address: from.address,
    port: from.port,
    channels,
    uploadKbps: b.uploadKbps,
    nat: b.nat,
    httpPort: b.httpPort,
    lastHeard: now,
  };
  if (node !== undefined) {
    if (node.address !== from.address || node.port !== from.port) {
      ctx.logger.info("node_moved", {
        node: id,
        from: `${node.address}:${node.port}`,
        to: `${from.address}:${from.port}`,
      });
    }
    Object.assign(node, stated);
    return node;
  }
  const role = roleName(b.role);
  node = {
    id,
    key: Buffer.from(b.key).toString("hex"),
    role: b.role,
    ...stated,
    joinedAt: now,
    lastHeartbeat: null,
    heartbeat: null,
    heartbeatSeq: 0,
    heartbeats: 0,
    heartbeatBytesMax: 0,
    heartbeatBytesTotal: 0,
    uploadBytes: 0,
    assignVersionAcked: 0,
    // A resumed node's session at the server it left is still open in a shared store: it ended
    // because control failed over, which never counts against the node (eligibility.ts).
    sessionId: openSession(ctx, hs, id, {
      node: id,
      role,
      region: match.region,
      channel: channels[0] ?? "",
      address: from.address,
      port: from.port,
      joinedAt: now,
    }),
    eligible: false,
    probation: false,
  };
  // One read of the node's sessions (the one just opened among them) for both verdicts below;
  // none for a new key, which has no session that ended (only open ones, which both skip).
  const sessions = fresh ? [] : ctx.store.history(id, Math.max(HISTORY_SESSIONS, eligibilitySessions(ctx)));
  // A key without a history (no earlier session in which it heartbeated) must show one before
  // it is placed: a JOIN, LEAVE, JOIN does not make one, and a WAYPOINT claim (any key can make
  // it under open enrolment) does not skip it. Origins are bound by their keys instead.
  node.probation = b.role !== Role.ORIGIN && !hasHistory(ctx, sessions) && !provenByTicket(ctx, hs);
  node.eligible = evaluateEligibility(ctx, node, sessions);
  ctx.clients.add(node);
  ctx.logger.info("node_joined", {
    node: id,
    role,
    region: match.region,
    regionSource: match.source,
    address: from.address,
    port: from.port,
    channels,
    uploadKbps: b.uploadKbps,
  });
  return node;
}

/** How many of a node's newest sessions (the current one included) probation looks at. */
const HISTORY_SESSIONS = 20;

/**
 * Whether the node heartbeated enough in an earlier, closed session to skip probation.
 * `sessions`: the node's newest first, at least HISTORY_SESSIONS of them when it has that many.
 */
function hasHistory(ctx: ControlContext, sessions: readonly SessionHistory[]): boolean {
  const need = ctx.config.probationHeartbeats;
  if (need <= 0) return true;
  return sessions.slice(0, HISTORY_SESSIONS).some((s) => s.endedAt !== null && s.heartbeats >= need);
}

function openSession(
  ctx: ControlContext,
  hs: Handshake,
  id: number,
  start: Parameters<ControlContext["store"]["openSession"]>[0],
): number {
  if (hs.resume !== undefined) ctx.store.closeNodeSessions(id, ctx.clock.now(), "control_failover");
  return ctx.store.openSession(start);
}

/**
 * What a RESUME reported for the DCM of its channel (its placement and ASSIGN version); only the
 * channel the RESUME names gets the placement. Undefined for a JOIN.
 */
function resumeReport(hs: Handshake, dcm: Dcm): ResumeReport | undefined {
  const r = hs.resume;
  if (r === undefined) return undefined;
  if (dcm.channel.id !== r.channel) return { assignVersion: 0 };
  return { assignVersion: r.assignVersion, ...(r.placement === undefined ? {} : { placement: r.placement }) };
}

/**
 * A resumed session old enough to have sent the probation's heartbeats at its first server:
 * the failover does not put it on probation again (its history may be in that server's store).
 */
function provenByTicket(ctx: ControlContext, hs: Handshake): boolean {
  const need = ctx.config.probationHeartbeats * ctx.config.heartbeatMs;
  return hs.resume !== undefined && hs.resume.ticketAgeMs >= need;
}

function acknowledge(
  ctx: ControlContext,
  hs: Handshake,
  to: Address,
  node: NodeRecord,
  channels: ChannelInfo[],
): void {
  ControlMetrics.bump(ctx.metrics.joinAcks, JoinError[JoinError.NONE]);
  ctx.sendJoinAck(to, hs, node.id, {
    error: JoinError.NONE,
    node: node.id,
    region: node.region,
    heartbeatMs: ctx.config.heartbeatMs,
    channels,
  });
}

function reject(
  ctx: ControlContext,
  hs: Handshake,
  to: Address,
  role: Role,
  error: JoinError,
  reason: string,
): void {
  ControlMetrics.bump(ctx.metrics.joinAcks, JoinError[error]);
  // A node waiting for its channel retries every 2 s: that is routine, not a warning.
  const log = error === JoinError.UNKNOWN_CHANNEL ? ctx.logger.debug : ctx.logger.warn;
  log.call(ctx.logger, "join_rejected", {
    error: JoinError[error],
    reason,
    role: roleName(role),
    address: to.address,
    port: to.port,
  });
  ctx.sendJoinAck(to, hs, undefined, {
    error,
    node: 0,
    region: "",
    heartbeatMs: ctx.config.heartbeatMs,
    channels: [],
  });
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}
