/**
 * A DCM (distribution control module) runs the topology of one channel: it holds the
 * channel's members and the plan in force, asks the topology engine for a new plan when
 * membership or a capacity changes, and says which nodes need a new ASSIGN. It sends
 * nothing itself (it returns OutgoingAssign lists) and reads no clock, so it is tested
 * without a network.
 *
 * ASSIGN versions are monotonic per node: every changed assignment gets version + 1. A
 * heartbeat reporting an older version gets the current ASSIGN again (UDP may have lost it);
 * one reporting a newer version means this control center restarted and forgot, so the
 * version jumps past the node's and the ASSIGN goes out again.
 */
import type { AssignBody, ChannelInfo, ChildLink, Peer } from "../protocol/messages.js";
import type { Logger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";
import type { Plan, TopologyEngine } from "./topology/plan.js";
import { buildTree } from "./topology/tree.js";

/** A member (or the origin) as the DCM sees it. */
export interface DcmMember {
  id: number;
  address: string;
  port: number;
  region: string;
  uploadKbps: number;
  joinedAt: number;
}

export interface OutgoingAssign {
  node: number;
  to: Address;
  body: AssignBody;
}

export interface DcmDeps {
  logger: Logger;
  /** Default: the foundation's tree (buildTree). */
  topology?: TopologyEngine;
}

export interface DcmConfig {
  /** The content directory's name for this DCM (the RSL will map it to a server). */
  logicalId: string;
  channel: ChannelInfo;
  /** Upper bound on children per node, passed to the topology engine. */
  maxChildren?: number;
}

interface Sent {
  version: number;
  /** Canonical form of the assignment without its version, to see whether it changed. */
  key: string;
  body: AssignBody;
}

const U32_MAX = 0xffffffff;

export class Dcm {
  readonly logicalId: string;
  readonly #logger: Logger;
  readonly #engine: TopologyEngine;
  readonly #maxChildren: number | undefined;
  #channel: ChannelInfo;
  #origin: DcmMember | null = null;
  readonly #members = new Map<number, DcmMember>();
  readonly #sent = new Map<number, Sent>();
  #plan: Plan;
  #topologyDirty = false;
  #peersDirty = false;

  constructor(deps: DcmDeps, config: DcmConfig) {
    this.logicalId = config.logicalId;
    this.#logger = deps.logger.child({ dcm: config.logicalId });
    this.#engine = deps.topology ?? buildTree;
    this.#maxChildren = config.maxChildren;
    this.#channel = { ...config.channel };
    this.#plan = this.#compute(undefined);
  }

  get channel(): ChannelInfo {
    return this.#channel;
  }

  get origin(): DcmMember | null {
    return this.#origin;
  }

  get plan(): Plan {
    return this.#plan;
  }

  members(): DcmMember[] {
    return [...this.#members.values()];
  }

  /** True for a member or the origin. */
  has(id: number): boolean {
    return this.#members.has(id) || this.#origin?.id === id;
  }

  /** The ASSIGN last computed for a node (members and origin). */
  assignment(id: number): AssignBody | undefined {
    return this.#sent.get(id)?.body;
  }

  /** New stream parameters (an origin re-joined with other values). */
  setChannel(info: ChannelInfo): void {
    const c = this.#channel;
    if (c.k !== info.k || c.streamKbps !== info.streamKbps) this.#topologyDirty = true;
    else if (c.id !== info.id) this.#peersDirty = true;
    this.#channel = { ...info };
  }

  /** Sets (or with null, removes) the origin: the root of the channel's topology. */
  setOrigin(o: DcmMember | null): void {
    this.#note(this.#origin, o);
    if (o === null && this.#origin !== null) this.#sent.delete(this.#origin.id);
    this.#origin = o === null ? null : { ...o };
  }

  /** Adds a member or updates it (region, capacity, address). */
  upsert(m: DcmMember): void {
    this.#note(this.#members.get(m.id) ?? null, m);
    this.#members.set(m.id, { ...m });
  }

  /** Removes a member or the origin; returns false when it was neither. */
  remove(id: number): boolean {
    if (this.#origin?.id === id) {
      this.setOrigin(null);
      return true;
    }
    if (!this.#members.delete(id)) return false;
    this.#sent.delete(id);
    this.#topologyDirty = true;
    return true;
  }

  /**
   * Brings the plan up to date after changes and returns an ASSIGN (version + 1) for every
   * node whose assignment changed. Nothing changed: nothing to send.
   */
  reconcile(): OutgoingAssign[] {
    if (!this.#topologyDirty && !this.#peersDirty) return [];
    if (this.#topologyDirty) this.#plan = this.#compute(this.#plan);
    this.#topologyDirty = this.#peersDirty = false;

    const out: OutgoingAssign[] = [];
    for (const [id, np] of this.#plan.nodes) {
      const to = this.#member(id);
      if (to === undefined) continue;
      const body: AssignBody = {
        channel: this.#channel.id,
        version: 0,
        k: this.#plan.k,
        tier: np.tier,
        parents: np.parents.map((p) => (p === null ? null : (this.#peer(p) ?? null))),
        children: np.children.flatMap((c): ChildLink[] => {
          const peer = this.#peer(c.node);
          return peer === undefined ? [] : [{ ...peer, substreams: c.substreams }];
        }),
      };
      const key = JSON.stringify([body.channel, body.k, body.tier, body.parents, body.children]);
      const before = this.#sent.get(id);
      if (before?.key === key) continue;
      body.version = Math.min(U32_MAX, (before?.version ?? 0) + 1);
      this.#sent.set(id, { version: body.version, key, body });
      out.push({ node: id, to: { address: to.address, port: to.port }, body });
    }
    for (const id of this.#sent.keys()) if (!this.#plan.nodes.has(id)) this.#sent.delete(id);
    return out;
  }

  /**
   * A heartbeat reported the ASSIGN version a node applied. Returns the ASSIGN to send again
   * when the node lags (or is ahead after a control restart), else undefined.
   */
  onAssignVersion(id: number, reported: number): OutgoingAssign | undefined {
    const sent = this.#sent.get(id);
    const to = this.#member(id);
    if (sent === undefined || to === undefined || reported === sent.version) return undefined;
    if (reported > sent.version) {
      sent.version = Math.min(U32_MAX, reported + 1);
      sent.body = { ...sent.body, version: sent.version };
    }
    return { node: id, to: { address: to.address, port: to.port }, body: sent.body };
  }

  #compute(previous: Plan | undefined): Plan {
    const plan = this.#engine({
      k: this.#channel.k,
      streamKbps: this.#channel.streamKbps,
      origin:
        this.#origin === null
          ? null
          : { id: this.#origin.id, uploadKbps: this.#origin.uploadKbps, region: this.#origin.region },
      nodes: [...this.#members.values()].map(({ id, region, uploadKbps, joinedAt }) => ({
        id,
        region,
        uploadKbps,
        joinedAt,
      })),
      ...(previous === undefined ? {} : { previous }),
      ...(this.#maxChildren === undefined ? {} : { maxChildren: this.#maxChildren }),
    });
    if (previous !== undefined) {
      const fields = { channel: this.#channel.name, nodes: plan.nodes.size, depth: plan.depth };
      if (plan.rebuilt && plan.root !== null && previous.root !== null)
        this.#logger.info("plan_rebuilt", fields);
      if (plan.unplaced.length > 0 && plan.unplaced.join() !== previous.unplaced.join()) {
        this.#logger.warn("nodes_unplaced", {
          ...fields,
          unplaced: plan.unplaced.length,
          ids: plan.unplaced.slice(0, 20),
        });
      }
    }
    return plan;
  }

  #member(id: number): DcmMember | undefined {
    return this.#origin?.id === id ? this.#origin : this.#members.get(id);
  }

  #peer(id: number): Peer | undefined {
    const m = this.#member(id);
    return m === undefined ? undefined : { node: m.id, address: m.address, port: m.port };
  }

  #note(before: DcmMember | null, after: DcmMember | null): void {
    if (
      before === null ||
      after === null ||
      before.id !== after.id ||
      before.region !== after.region ||
      before.uploadKbps !== after.uploadKbps ||
      before.joinedAt !== after.joinedAt
    ) {
      if (before !== null || after !== null) this.#topologyDirty = true;
    } else if (before.address !== after.address || before.port !== after.port) {
      this.#peersDirty = true;
    }
  }
}
