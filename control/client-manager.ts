/**
 * The client manager's registry: one record per live node, with what its JOIN said and
 * what its heartbeats report. Liveness: a node is gone when nothing was heard from it for
 * missedHeartbeats x heartbeatMs (node-lost.ts acts on that).
 */
import { type NatType, Role } from "../protocol/messages.js";
import type { DcmMember } from "./dcm/dcm.js";
import type { HeartbeatReport } from "./heartbeat-report.js";

export interface NodeRecord {
  /**
   * An idle box (an agent that joined watching nothing): control may recruit it to relay a live
   * channel (`channels` then names that one channel); it is a DCM member with watching: false.
   */
  recruit?: boolean;
  id: number;
  /** Identity key, hex. */
  key: string;
  role: Role;
  region: string;
  /** How the region was found: a policy prefix, the node's hint, or the default. */
  regionSource: "prefix" | "hint" | "default";
  /** Where its datagrams come from (the address peers send data to). */
  address: string;
  port: number;
  /** Agent: the one channel it watches. Origin: the channels it offers. */
  channels: string[];
  uploadKbps: number;
  nat: NatType;
  httpPort: number;
  joinedAt: number;
  /** Last JOIN, HEARTBEAT or authentic RESUME (liveness). */
  lastHeard: number;
  /** The newest authentic RESUME's timestamp that counted for liveness (control-center.ts). */
  resumeTs?: number;
  lastHeartbeat: number | null;
  /**
   * The last heartbeat's body of the node's first channel, packed (heartbeat-report.ts): the
   * channel's DCM holds the same array; unpackHeartbeat gives the body back (the admin API).
   */
  heartbeat: HeartbeatReport | null;
  heartbeatSeq: number;
  heartbeats: number;
  heartbeatBytesMax: number;
  heartbeatBytesTotal: number;
  /** Sum of measured upload x interval, bytes (session history). */
  uploadBytes: number;
  /** The ASSIGN version the node's last heartbeat reported. */
  assignVersionAcked: number;
  /** Store session row. */
  sessionId: number;
  /** Preferred-eligible by history (handlers/eligibility.ts); waypoints and origins always. */
  eligible: boolean;
  /**
   * A key with no history (no earlier session) enters no DCM until control has heard
   * PROBATION_HEARTBEATS authenticated heartbeats from it; meanwhile it plays from the origin's
   * HTTP fallback. A Sybil that joins and goes quiet costs no topology work, takes no upload of
   * established nodes and never becomes their parent (docs/security.md).
   */
  probation: boolean;
  /**
   * Children that reported this node for a META that failed verification (this session). From
   * MARK_AFTER_REPORTS distinct children on it is marked: it relays nothing any more.
   */
  suspectBy?: Set<number>;
  marked?: boolean;
}

/** Distinct children whose reports mark a parent (one child alone could be fooled by a spoofer). */
export const MARK_AFTER_REPORTS = 2;

/** Authenticated heartbeats a new key sends before it may be given children. */
export const PROBATION_HEARTBEATS = 2;

export class ClientManager {
  readonly #nodes = new Map<number, NodeRecord>();

  get size(): number {
    return this.#nodes.size;
  }

  get(id: number): NodeRecord | undefined {
    return this.#nodes.get(id);
  }

  add(r: NodeRecord): void {
    this.#nodes.set(r.id, r);
  }

  remove(id: number): boolean {
    return this.#nodes.delete(id);
  }

  all(): NodeRecord[] {
    return [...this.#nodes.values()];
  }

  /** Nodes not heard from for more than `timeoutMs` at `now`, oldest silence first. */
  silent(now: number, timeoutMs: number): NodeRecord[] {
    // One pass over the records, no copy of them all (a liveness tick at 10^5 nodes).
    const out: NodeRecord[] = [];
    for (const r of this.#nodes.values()) if (now - r.lastHeard > timeoutMs) out.push(r);
    return out.sort((a, b) => a.lastHeard - b.lastHeard || a.id - b.id);
  }
}

export function heartbeatBytesMean(r: NodeRecord): number {
  return r.heartbeats === 0 ? 0 : r.heartbeatBytesTotal / r.heartbeats;
}

/** What a DCM needs to know of a node. */
export function dcmMember(n: NodeRecord): DcmMember {
  return {
    id: n.id,
    address: n.address,
    port: n.port,
    region: n.region,
    uploadKbps: n.marked === true ? 0 : n.uploadKbps,
    joinedAt: n.joinedAt,
    nat: n.nat,
    waypoint: n.role === Role.WAYPOINT,
    eligible: n.eligible && n.marked !== true,
    httpPort: n.httpPort,
    ...(n.recruit === true ? { watching: false } : {}),
  };
}

/** "agent", "waypoint", "origin". */
export function roleName(role: Role): string {
  return (Role[role] ?? `role${role}`).toLowerCase();
}
