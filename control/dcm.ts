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
import {
  type AssignBody,
  type ChannelInfo,
  type HeartbeatBody,
  NatType,
  type Peer,
} from "../protocol/messages.js";
import type { Logger } from "../seams/log.js";
import { assignBodyFor } from "./assign-body.js";
import { ClusterDcm, clusterNames, type OutgoingAssign } from "./cluster-dcm.js";

export type { OutgoingAssign };
import {
  CongestionMonitor,
  type CongestionMonitorPolicy,
  type CongestionVerdict,
} from "./congestion-monitor.js";
import { buildTieredPlan } from "./topology/engine.js";
import type { Plan, TopologyEngine } from "./topology/plan.js";
import { planJoin, planLeave, planMove, planRebuild, type RepairResult } from "./topology/repair.js";
import {
  fecNFor,
  resolvePolicy,
  type RegionInfo,
  type TierNode,
  type TierPolicy,
  type TierSnapshot,
} from "./topology/tier-types.js";
import { buildTree } from "./topology/tree.js";

/** A member (or the origin) as the DCM sees it. */
export interface DcmMember {
  id: number;
  address: string;
  port: number;
  region: string;
  uploadKbps: number;
  joinedAt: number;
  /** Three-tier engine: NAT type (default UNKNOWN), waypoint box, preferred-eligible (default false). */
  nat?: NatType;
  waypoint?: boolean;
  eligible?: boolean;
  /** LAN HTTP port: children repair missing segments from it. */
  httpPort?: number;
  /** False for a recruit: an idle box offered to relay a channel it does not watch (default true). */
  watching?: boolean;
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
  /**
   * "tree" (default): the foundation's engine (deps.topology), a full plan on every change.
   * "tiered": the three-tier engine (control/topology/engine.ts): a full plan at start and on
   * rebuilds, incremental planJoin / planLeave / planMove otherwise; ASSIGN only to changed nodes.
   */
  topology?: "tree" | "tiered";
  /** Tiered: policy overrides, region info (access technology...), PRNG seed. */
  tierPolicy?: Partial<TierPolicy>;
  regions?: Readonly<Record<string, RegionInfo>>;
  seed?: number;
  /** Tiered: congestion move backoff and what counts as a received coded substream (congestion-monitor.ts). */
  congestion?: Partial<CongestionMonitorPolicy>;
}

type Change = { kind: "join" | "leave"; id: number } | { kind: "move"; parent: number; child: number };

/** A shed child's link is this idle before it is moved, ms. */
const SHED_IDLE_MS = 2000;

export class Dcm {
  readonly logicalId: string;
  readonly #logger: Logger;
  readonly #engine: TopologyEngine;
  readonly #maxChildren: number | undefined;
  #channel: ChannelInfo;
  #origin: DcmMember | null = null;
  readonly #members = new Map<number, DcmMember>();
  /** One ClusterDcm per channel x cluster, by logical id; which one owns each node. */
  readonly #clusters = new Map<string, ClusterDcm>();
  readonly #owner = new Map<number, ClusterDcm>();
  #plan: Plan;
  #topologyDirty = false;
  #peersDirty = false;
  readonly #tiered: boolean;
  readonly #config: DcmConfig;
  /** Tiered: incremental changes since the last reconcile, in order; a rebuild replaces them. */
  #changes: Change[] = [];
  #rebuild = true;
  /** Tiered congestion (FIG. 9): the link reports and the move backoff. */
  readonly #links: CongestionMonitor;
  #quality: Readonly<Record<string, { loss: number; jitterMs: number }>> = {};

  constructor(deps: DcmDeps, config: DcmConfig) {
    this.logicalId = config.logicalId;
    this.#logger = deps.logger.child({ dcm: config.logicalId });
    this.#engine = deps.topology ?? buildTree;
    this.#maxChildren = config.maxChildren;
    this.#channel = { ...config.channel };
    this.#config = config;
    this.#tiered = config.topology === "tiered";
    this.#links = new CongestionMonitor(config.congestion);
    this.#plan = this.#tiered ? buildTieredPlan(this.#snapshot()) : this.#compute(undefined);
  }

  /** "tree" or "tiered". */
  get topology(): "tree" | "tiered" {
    return this.#tiered ? "tiered" : "tree";
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
    return this.#owner.get(id)?.assignment(id);
  }

  /** The cluster DCMs of this channel (multi-scale decomposition), by logical id. */
  clusterDcms(): Array<{ logicalId: string; nodes: number }> {
    return [...this.#clusters.values()]
      .filter((c) => c.size > 0)
      .map((c) => ({ logicalId: c.logicalId, nodes: c.size }))
      .sort((a, b) => a.logicalId.localeCompare(b.logicalId));
  }

  /** New stream parameters (an origin re-joined with other values). */
  setChannel(info: ChannelInfo): void {
    const c = this.#channel;
    if (c.k !== info.k || c.streamKbps !== info.streamKbps) this.#topologyDirty = this.#rebuild = true;
    else if (c.id !== info.id) this.#peersDirty = true;
    this.#channel = { ...info };
  }

  /** Sets (or with null, removes) the origin: the root of the channel's topology. */
  setOrigin(o: DcmMember | null): void {
    if (this.#note(this.#origin, o)) this.#rebuild = true;
    if (o === null && this.#origin !== null) this.#forget(this.#origin.id);
    this.#origin = o === null ? null : { ...o };
  }

  /** Adds a member or updates it (region, capacity, address). */
  upsert(m: DcmMember): void {
    const before = this.#members.get(m.id) ?? null;
    if (this.#note(before, m)) {
      if (before !== null) this.#changes.push({ kind: "leave", id: m.id });
      this.#changes.push({ kind: "join", id: m.id });
    }
    this.#members.set(m.id, { ...m });
  }

  /** Removes a member or the origin; returns false when it was neither. */
  remove(id: number): boolean {
    if (this.#origin?.id === id) {
      this.setOrigin(null);
      return true;
    }
    if (!this.#members.delete(id)) return false;
    this.#forget(id);
    this.#topologyDirty = true;
    this.#changes.push({ kind: "leave", id });
    return true;
  }

  /**
   * Brings the plan up to date after changes and returns an ASSIGN (version + 1) for every
   * node whose assignment changed. Nothing changed: nothing to send.
   */
  reconcile(): OutgoingAssign[] {
    if (!this.#topologyDirty && !this.#peersDirty) return [];
    let only: Iterable<number> | undefined;
    if (this.#topologyDirty) {
      if (this.#tiered) {
        const changed = this.#repair();
        if (!this.#peersDirty) only = changed;
      } else this.#plan = this.#compute(this.#plan);
    }
    this.#topologyDirty = this.#peersDirty = false;

    const out: OutgoingAssign[] = [];
    const names = clusterNames(this.logicalId, this.#plan, this.#tiered);
    for (const id of only ?? this.#plan.nodes.keys()) {
      const np = this.#plan.nodes.get(id);
      const to = this.#member(id);
      if (np === undefined || to === undefined) continue;
      const body = assignBodyFor(this.#plan, id, np, this.#channel, (p) => this.#peer(p), this.#tiered);
      // Repair goes to parents, then to the origin's fallback: the origin is no parent to ask.
      const ports = body.parents.map((p) =>
        p === null || p.node === this.#origin?.id ? 0 : (this.#member(p.node)?.httpPort ?? 0),
      );
      if (ports.some((x) => x > 0)) body.parentHttpPorts = ports;
      const owner = this.#clusterFor(names(np));
      const was = this.#owner.get(id);
      const carried = was !== undefined && was !== owner ? was.release(id) : undefined;
      this.#owner.set(id, owner);
      const a = owner.issue(id, body, { address: to.address, port: to.port }, carried);
      if (a !== undefined) out.push(a);
    }
    for (const [id, owner] of [...this.#owner]) {
      if (this.#plan.nodes.has(id)) continue;
      // A member the plan no longer uses (a recruit not needed now) is told to relay nothing.
      const to = this.#members.get(id);
      const idle: AssignBody = {
        channel: this.#channel.id,
        version: 0,
        k: this.#channel.k,
        tier: 0,
        parents: [],
        children: [],
      };
      const a = to === undefined ? undefined : owner.issue(id, idle, { address: to.address, port: to.port });
      if (a !== undefined) out.push(a);
      this.#forget(id);
    }
    return out;
  }

  /**
   * Tiered: a heartbeat's link report (FIG. 9). Children give the last seq this node sent,
   * parents the last seq it received; congestion() joins both ends.
   */
  onLinkReport(id: number, hb: HeartbeatBody): boolean {
    if (!this.#tiered) return false;
    this.#links.report(id, hb);
    return this.#onShed(id, hb);
  }

  /**
   * A node over its upload cap shed children (resources.shed): the children it stopped sending
   * to (their link idle for SHED_IDLE_MS) get their substreams from another parent now.
   */
  #onShed(id: number, hb: HeartbeatBody): boolean {
    if ((hb.resources.shed ?? 0) === 0) return false;
    const np = this.#plan.nodes.get(id);
    let moved = false;
    for (const c of hb.children) {
      if (c.ageMs < SHED_IDLE_MS || !np?.children.some((e) => e.node === c.node)) continue;
      this.#changes.push({ kind: "move", parent: id, child: c.node });
      this.#topologyDirty = moved = true;
    }
    return moved;
  }

  /**
   * Tiered: a child reported its parent for a META that failed verification: the child's
   * substreams from that parent move to another parent at the next reconcile. False when the
   * link is not in the plan (or the engine is the tree, which has no moves).
   */
  moveAway(parent: number, child: number): boolean {
    if (!this.#tiered || !(this.#plan.nodes.get(child)?.parents.includes(parent) ?? false)) return false;
    this.#changes.push({ kind: "move", parent, child });
    this.#topologyDirty = true;
    return true;
  }

  /**
   * Tiered, once per heartbeat interval (`now` from the injected Clock): links whose child lags
   * `lagPackets` behind its parent and did not catch up since the last interval get their
   * substreams moved (planMove) at the next reconcile, unless the move backoff or the spare
   * coded link rule (congestion-monitor.ts) holds them. Returns the links moved and held.
   */
  congestion(lagPackets: number, now: number): CongestionVerdict {
    if (!this.#tiered) return { moved: [], held: [] };
    const v = this.#links.tick(this.#plan, lagPackets, now);
    for (const l of v.moved) this.#changes.push({ kind: "move", parent: l.parent, child: l.child });
    if (v.moved.length > 0) this.#topologyDirty = true;
    return v;
  }

  /**
   * Tiered: the measured quality of the regions (region-quality.ts). Returns true, and rebuilds
   * at the next reconcile, when a region of this channel's plan gets another tier-2 redundancy.
   */
  setRegionQuality(q: Readonly<Record<string, { loss: number; jitterMs: number }>>): boolean {
    if (!this.#tiered) return false;
    const before = this.#regions();
    this.#quality = q;
    const after = this.#regions();
    const fec = resolvePolicy(this.#config.tierPolicy).fec;
    const regions = new Set([...this.#members.values()].map((m) => m.region));
    for (const r of regions) {
      if (fecNFor(before[r], fec) === fecNFor(after[r], fec)) continue;
      this.requestRebuild();
      return true;
    }
    return false;
  }

  /** Policy region info (access technology) merged with the measured quality. */
  #regions(): Record<string, RegionInfo> {
    const out: Record<string, RegionInfo> = { ...this.#config.regions };
    for (const [r, q] of Object.entries(this.#quality))
      out[r] = { ...out[r], loss: q.loss, jitterMs: q.jitterMs };
    return out;
  }

  /** Tiered: a full rebuild at the next reconcile (policy or eligibility changed, schedule). */
  requestRebuild(): void {
    if (!this.#tiered) return;
    this.#rebuild = this.#topologyDirty = true;
  }

  /** Tiered: applies the pending changes; returns the nodes whose assignment may have changed. */
  #repair(): Set<number> {
    const s = this.#snapshot();
    const changed = new Set<number>();
    let rebuiltAny = false;
    const take = (r: RepairResult): boolean => {
      this.#plan = r.plan;
      for (const id of r.changed) changed.add(id);
      rebuiltAny ||= r.rebuilt;
      return r.rebuilt;
    };
    const before = this.#plan;
    if (this.#rebuild) {
      take(planRebuild(this.#plan, s));
    } else {
      for (const c of this.#changes) {
        let rebuilt: boolean;
        if (c.kind === "move") rebuilt = take(planMove(this.#plan, c.parent, c.child, s));
        else if (c.kind === "leave") rebuilt = take(planLeave(this.#plan, c.id, s));
        else {
          const node = s.nodes.find((n) => n.id === c.id);
          if (node === undefined) continue; // joined and left again before this reconcile
          rebuilt = take(planJoin(this.#plan, node, s));
        }
        // A rebuild used the snapshot after every pending change: the rest is in it already.
        if (rebuilt) break;
      }
    }
    this.#changes = [];
    this.#rebuild = false;
    this.#logPlan(before, this.#plan, changed.size);
    // After a rebuild every node is compared (role, cluster or fec may change alone).
    return rebuiltAny ? new Set(this.#plan.nodes.keys()) : changed;
  }

  #snapshot(): TierSnapshot {
    const o = this.#origin;
    return {
      channel: { k: this.#channel.k, streamKbps: this.#channel.streamKbps },
      origin: o === null ? null : { id: o.id, uploadKbps: o.uploadKbps, region: o.region },
      nodes: [...this.#members.values()].map((m): TierNode => ({
        id: m.id,
        region: m.region,
        uploadKbps: m.uploadKbps,
        nat: m.nat ?? NatType.UNKNOWN,
        role: m.waypoint === true ? "waypoint" : "agent",
        eligible: m.waypoint === true || m.eligible === true,
        joinedAt: m.joinedAt,
        watching: m.watching !== false,
      })),
      regions: this.#regions(),
      policy: {
        ...(this.#maxChildren === undefined ? {} : { maxChildren: this.#maxChildren }),
        ...this.#config.tierPolicy,
      },
      seed: this.#config.seed ?? 1,
    };
  }

  #logPlan(before: Plan, plan: Plan, changed: number): void {
    const fields = { channel: this.#channel.name, nodes: plan.nodes.size, depth: plan.depth, changed };
    if (plan.rebuilt && plan.root !== null) this.#logger.info("plan_rebuilt", fields);
    if (plan.unplaced.length > 0 && plan.unplaced.join() !== before.unplaced.join()) {
      this.#logger.warn("nodes_unplaced", {
        ...fields,
        unplaced: plan.unplaced.length,
        ids: plan.unplaced.slice(0, 20),
      });
    }
  }

  /**
   * A heartbeat reported the ASSIGN version a node applied. Returns the ASSIGN to send again
   * when the node lags (or is ahead after a control restart), else undefined.
   */
  onAssignVersion(id: number, reported: number): OutgoingAssign | undefined {
    const to = this.#member(id);
    if (to === undefined) return undefined;
    return this.#owner.get(id)?.onAssignVersion(id, reported, { address: to.address, port: to.port });
  }

  #clusterFor(logicalId: string): ClusterDcm {
    let c = this.#clusters.get(logicalId);
    if (c === undefined) {
      c = new ClusterDcm(logicalId);
      this.#clusters.set(logicalId, c);
    }
    return c;
  }

  #forget(id: number): void {
    const c = this.#owner.get(id);
    c?.release(id);
    this.#owner.delete(id);
    if (c !== undefined && c.size === 0) this.#clusters.delete(c.logicalId);
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

  /** Marks what a member change dirties; true when the topology is affected. */
  #note(before: DcmMember | null, after: DcmMember | null): boolean {
    if (
      before === null ||
      after === null ||
      before.id !== after.id ||
      before.region !== after.region ||
      before.uploadKbps !== after.uploadKbps ||
      before.joinedAt !== after.joinedAt ||
      before.nat !== after.nat ||
      before.waypoint !== after.waypoint ||
      before.eligible !== after.eligible ||
      before.watching !== after.watching
    ) {
      if (before !== null || after !== null) {
        this.#topologyDirty = true;
        return true;
      }
    } else if (before.address !== after.address || before.port !== after.port) {
      this.#peersDirty = true;
    }
    return false;
  }
}
