/**
 * HEARTBEAT (FIG. 9): a node reports its links, buffers and resources every heartbeatMs.
 * Control records it (liveness, sizes, the last body packed for the admin API and the DCM), follows a node
 * whose source address changed (NAT rebinding: its parent and children get a new ASSIGN),
 * and resends the ASSIGN when the reported assignVersion is not the current one.
 * It arrives here authenticated (control-center.ts checked its session tag and counter), so
 * only the node itself can move its address. A heartbeat from an id without a session gets
 * JOIN_ACK error REJOIN there.
 */
import type { MsgType } from "../../protocol/messages.js";
import { type HeartbeatBody, JoinError, type MessageOf, Role } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";
import { ControlMetrics } from "../metrics.js";
import { recruit } from "./recruit.js";
import type { ControlContext } from "./context.js";
import { dcmMember, MARK_AFTER_REPORTS, type NodeRecord } from "../client-manager.js";
import type { Dcm } from "../dcm/dcm.js";
import { type HeartbeatReport, packHeartbeat } from "../heartbeat-report.js";

export function onHeartbeat(
  ctx: ControlContext,
  msg: MessageOf<MsgType.HEARTBEAT>,
  from: Address,
  bytes: number,
): void {
  ctx.metrics.heartbeats++;
  ctx.metrics.heartbeatBytes += bytes;
  const node = ctx.clients.get(msg.sender);
  if (node === undefined) {
    // Only with verification off: otherwise a sender without a session never gets here.
    ctx.metrics.unknownSender++;
    ControlMetrics.bump(ctx.metrics.joinAcks, JoinError[JoinError.REJOIN]);
    ctx.logger.debug("rejoin_requested", { node: msg.sender, address: from.address, port: from.port });
    ctx.trust.sendRejoinHint(from, bytes);
    return;
  }

  const b = msg.body;
  const now = ctx.clock.now();
  if (node.channels.length > 1 && ctx.directory.byName(node.channels[0]!)?.info.id !== b.channel) {
    // A node in several channels (an agent with VoD downloads) heartbeats once per channel: each
    // keeps it alive and reports its channel's links and ASSIGN version; the node-level figures
    // (upload, region quality, the admin's last heartbeat) come from its first channel's only.
    node.lastHeard = now;
    return channelReport(ctx, node, b);
  }
  if (node.lastHeartbeat !== null) {
    // Measured upload (kbit/s) over the time since the last heartbeat, at most the liveness window.
    const dtMs = Math.min(now - node.lastHeartbeat, ctx.config.missedHeartbeats * ctx.config.heartbeatMs);
    node.uploadBytes += (b.resources.uploadKbps * Math.max(0, dtMs)) / 8;
    ctx.quality.onArrival(node.region, now - node.lastHeartbeat, ctx.config.heartbeatMs);
  }
  if (b.resources.loss !== undefined) ctx.quality.onLoss(node.region, b.resources.loss);
  node.lastHeard = now;
  node.lastHeartbeat = now;
  // Kept packed, one array the channel's DCM shares (heartbeat-report.ts), written over by the
  // node's next heartbeat of the channel when its length is the same; `b` is let go.
  const packed = packHeartbeat(b, node.heartbeat);
  node.heartbeat = packed;
  node.heartbeatSeq = msg.seq;
  node.heartbeats++;
  node.heartbeatBytesTotal += bytes;
  node.heartbeatBytesMax = Math.max(node.heartbeatBytesMax, bytes);
  node.assignVersionAcked = b.assignVersion;

  if (node.address !== from.address || node.port !== from.port) {
    ctx.logger.info("node_moved", {
      node: node.id,
      from: `${node.address}:${node.port}`,
      to: `${from.address}:${from.port}`,
    });
    node.address = from.address;
    node.port = from.port;
    for (const name of node.channels) {
      const entry = ctx.directory.byName(name);
      if (entry === undefined || !entry.dcm.has(node.id)) continue;
      if (entry.origin === node.id) entry.dcm.setOrigin(dcmMember(node));
      else entry.dcm.upsert(dcmMember(node));
      ctx.reconcile(entry.dcm);
    }
  }

  channelReport(ctx, node, b, packed);
  // After the report: the ASSIGN that placement sends is not taken for a stale one.
  if (node.probation && node.heartbeats >= ctx.config.probationHeartbeats) endProbation(ctx, node);
}

/**
 * A child says its parent sent a META that failed the origin's signature: the child moves to
 * another parent at once, and a parent reported by MARK_AFTER_REPORTS distinct children is
 * marked: it relays nothing for the rest of its session (docs/security.md).
 */
function suspectParent(ctx: ControlContext, dcm: Dcm, child: NodeRecord, parentId: number): void {
  const parent = ctx.clients.get(parentId);
  if (parent === undefined || parent.role === Role.ORIGIN) return;
  (parent.suspectBy ??= new Set()).add(child.id);
  ctx.metrics.suspectReports++;
  ctx.logger.warn("parent_suspect", { parent: parentId, child: child.id, reports: parent.suspectBy.size });
  if (dcm.moveAway(parentId, child.id)) ctx.reconcile(dcm);
  if (parent.marked === true || parent.suspectBy.size < MARK_AFTER_REPORTS) return;
  parent.marked = true;
  ctx.metrics.parentsMarked++;
  ctx.logger.warn("parent_marked", { node: parentId, reportedBy: [...parent.suspectBy] });
  for (const name of parent.channels) {
    const d = ctx.directory.dcmFor(name, parent.region);
    if (d === undefined || !d.has(parentId)) continue;
    d.upsert(dcmMember(parent));
    d.requestRebuild();
    ctx.reconcile(d);
  }
}

/** The node has a history now: it joins its channels' DCMs (or is offered as a relay). */
function endProbation(ctx: ControlContext, node: NodeRecord): void {
  node.probation = false;
  ctx.logger.debug("probation_ended", { node: node.id, heartbeats: node.heartbeats });
  if (node.recruit === true) return recruit(ctx, node);
  for (const name of node.channels) {
    const dcm = ctx.directory.dcmFor(name, node.region);
    if (dcm === undefined) continue;
    dcm.upsert(dcmMember(node));
    ctx.reconcile(dcm);
  }
}

/** The per-channel part: the link report and the ASSIGN version for the channel's DCM. */
function channelReport(
  ctx: ControlContext,
  node: NodeRecord,
  b: HeartbeatBody,
  packed?: HeartbeatReport,
): void {
  const entry = ctx.directory.byId(b.channel);
  if (entry === undefined || !node.channels.includes(entry.info.name)) return;
  for (const p of b.parents) if (p?.suspect === true) suspectParent(ctx, entry.dcm, node, p.node);
  if (entry.dcm.onLinkReport(node.id, b, packed)) {
    ctx.logger.info("shed_children_moved", {
      node: node.id,
      channel: entry.info.name,
      shed: b.resources.shed,
    });
    ctx.reconcile(entry.dcm);
  }
  const again = entry.dcm.onAssignVersion(node.id, b.assignVersion);
  if (again !== undefined) ctx.sendAssign(again, true);
}
