/** Taking a node out (LEAVE or lost): registry, DCMs (origin or member), store session. */
import { Role } from "../../protocol/messages.js";
import type { NodeRecord } from "../client-manager.js";
import type { Dcm } from "../dcm/dcm.js";
import type { SessionEndReason } from "../store.js";
import type { ControlContext } from "./context.js";

/**
 * Removes a node everywhere and closes its session. Returns the DCMs it was in: the caller
 * reconciles them (once, after removing a batch).
 */
export function removeNode(ctx: ControlContext, node: NodeRecord, reason: SessionEndReason): Dcm[] {
  ctx.clients.remove(node.id);
  ctx.sessions.drop(node.id);
  const touched: Dcm[] = [];
  for (const name of node.channels) {
    const entry = ctx.directory.byName(name);
    if (entry === undefined) continue;
    if (node.role === Role.ORIGIN) {
      if (ctx.directory.withdraw(name, node.id) !== undefined) {
        touched.push(entry.dcm);
        ctx.logger.warn("channel_withdrawn", { channel: name, id: entry.info.id, origin: node.id, reason });
      }
    } else if (entry.dcm.remove(node.id)) {
      touched.push(entry.dcm);
    }
  }
  const now = ctx.clock.now();
  ctx.store.closeSession(node.sessionId, {
    endedAt: now,
    reason,
    heartbeats: node.heartbeats,
    heartbeatBytes: node.heartbeatBytesTotal,
    uploadBytes: node.uploadBytes,
  });
  return touched;
}

/** Removes a batch and reconciles every DCM they were in once. */
export function removeNodes(ctx: ControlContext, nodes: NodeRecord[], reason: SessionEndReason): void {
  const touched = new Set<Dcm>();
  for (const n of nodes) for (const d of removeNode(ctx, n, reason)) touched.add(d);
  for (const d of touched) ctx.reconcile(d);
}
