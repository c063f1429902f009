/**
 * The delivery coordinator of one channel x cluster (multi-scale decomposition): it owns the
 * ASSIGN state of that cluster's nodes — the version each was sent, the body, whether a
 * heartbeat shows the node lagging — and nothing else. After a failover the replacement DCM
 * hands it what each node reported it applied (`carried`): numbering continues from there, and
 * a node whose adopted assignment is what it holds gets no ASSIGN. The channel's Dcm computes the plan
 * (tier 1 and the cluster boundaries) and hands every node's new assignment to the cluster DCM
 * that owns the node; a node that changes cluster takes its version with it, so versions stay
 * monotonic per node.
 *
 * Logical ids name what a cluster is, not where it sits in a plan's arrays, so they survive
 * rebuilds: `dcm:<channel>:t1` for tier 1 (with the origin), `dcm:<channel>:t<tier>:<regions>`
 * for a regional cluster, with `#<n>` for the second and later clusters of one tier and region.
 */
import type { AssignBody } from "../protocol/messages.js";
import type { Address } from "../seams/transport.js";
import { sameAssignment } from "./assign-body.js";
import type { NodePlan, Plan } from "./topology/plan.js";

export interface OutgoingAssign {
  node: number;
  to: Address;
  body: AssignBody;
}

/** What a node was last sent (or, adopted after a failover, what it reported it applied). */
export interface AssignState {
  version: number;
  /**
   * Whether the node holds `body`'s assignment (false: adopted after a failover, and what the
   * node reported did not match it, so its next assignment is sent whatever it is).
   */
  known: boolean;
  body: AssignBody;
}

const U32_MAX = 0xffffffff;

export class ClusterDcm {
  readonly logicalId: string;
  readonly #sent = new Map<number, AssignState>();

  constructor(logicalId: string) {
    this.logicalId = logicalId;
  }

  get size(): number {
    return this.#sent.size;
  }

  nodes(): number[] {
    return [...this.#sent.keys()];
  }

  has(id: number): boolean {
    return this.#sent.has(id);
  }

  assignment(id: number): AssignBody | undefined {
    return this.#sent.get(id)?.body;
  }

  /**
   * The node's assignment as the plan has it now: an ASSIGN with version + 1 when it differs
   * from the last one sent (or `carried`, the state the node had in its previous cluster).
   */
  issue(id: number, body: AssignBody, to: Address, carried?: AssignState): OutgoingAssign | undefined {
    const before = this.#sent.get(id) ?? carried;
    if (before !== undefined && !this.#sent.has(id)) this.#sent.set(id, before);
    if (before?.known === true && sameAssignment(before.body, body)) return undefined;
    body.version = Math.min(U32_MAX, (before?.version ?? 0) + 1);
    this.#sent.set(id, { version: body.version, known: true, body });
    return { node: id, to, body };
  }

  /** Takes a node's state from another cluster DCM as it is (its assignment did not change). */
  take(id: number, state: AssignState): void {
    this.#sent.set(id, state);
  }

  /** Hands a node's state over (it moved to another cluster). */
  release(id: number): AssignState | undefined {
    const s = this.#sent.get(id);
    this.#sent.delete(id);
    return s;
  }

  /**
   * A heartbeat reported the ASSIGN version a node applied: the ASSIGN to send again when the
   * node lags (UDP lost it), or, when it is ahead (this control center restarted and forgot),
   * the same ASSIGN with a version past the node's.
   */
  onAssignVersion(id: number, reported: number, to: Address): OutgoingAssign | undefined {
    const sent = this.#sent.get(id);
    if (sent === undefined || reported === sent.version) return undefined;
    if (reported > sent.version) {
      sent.version = Math.min(U32_MAX, reported + 1);
      sent.body = { ...sent.body, version: sent.version };
    }
    return { node: id, to, body: sent.body };
  }
}

/**
 * Logical id of the cluster DCM owning a node (see cluster-dcm.ts): tier 1 and the origin share
 * `<base>:t1`; a regional cluster is `<base>:t<tier>:<regions>`, `#<n>` from the second cluster
 * of the same tier and regions. The foundation's tree has one: `<base>`.
 */
export function clusterNames(channelId: string, plan: Plan, tiered: boolean): (np: NodePlan) => string {
  const base = channelId.replace(/:all$/, "");
  if (!tiered) return () => channelId;
  const names = new Map<number, string>();
  const seen = new Map<string, number>();
  for (const c of plan.clusters ?? []) {
    const key = `${base}:t${c.tier}:${c.region}`;
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    names.set(c.id, n === 0 ? key : `${key}#${n + 1}`);
  }
  return (np) => (np.cluster === undefined ? `${base}:t1` : (names.get(np.cluster) ?? `${base}:t${np.tier}`));
}
