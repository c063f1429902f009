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
 *
 * Full rebuilds (issue 13) are rolled out as diffs: the repairs return, after a rebuild, the
 * nodes whose NodePlan or what their ASSIGN reads of other nodes changed (topology/diff.ts), and
 * only those get a body built and compared; with `rolloutSlice` a rebuild's bodies are built a
 * slice per reconcile (the rest wait in the rollout). Decided against for now: a worker-thread
 * planner — the repairs call a full build from inside planJoin / planLeave (drift, a tier-1
 * leave), so computing it elsewhere needs them to report "rebuild due" instead, and a plan
 * that comes back as data has no working state for the next incremental repair (topology/plan-from-state.ts).
 *
 * Failover (issue 12): a replacement DCM made with `adopting: true` starts empty and rebuilds
 * its plan from what the nodes report — adopt() (their RESUME: member facts, placement, ASSIGN
 * version) and their heartbeats (links) — then finishAdoption() adopts that topology
 * (control/topology/adopt.ts) and repairs only what is incomplete; numbering continues from each
 * node's version, and a node whose adopted assignment is what it holds gets no ASSIGN.
 * watchdog(), on the liveness tick, checks that every member has a complete feed (the plan's
 * side, and the links its heartbeats say are dead) and repairs the plan where one has not.
 *
 * This file is the owner, and the DCM's whole public API: the members and the origin, the
 * cluster DCMs that hold each node's ASSIGN state, what changed since the last reconcile, and
 * reconcile(), which turns it into ASSIGNs. Every other responsibility is a file of this folder
 * that keeps its state private and returns decisions the Dcm applies (changes it queues, plans
 * it takes), reading what it needs from arguments the Dcm passes, never the Dcm itself:
 *   planning.ts    the plan in force, the queue of changes, incremental repairs, full builds in steps
 *   rollout.ts     the nodes whose ASSIGN a rebuild changed and a later reconcile builds
 *   watchdog.ts    the feed watchdog: incomplete feeds, dead links
 *   adoption.ts    adoption after a failover, late resumers, the canonical view
 *   congestion.ts  shed children, the regions' measured quality and redundancy
 *   reports.ts     what the nodes report: placement, last heartbeat, carried ASSIGN versions
 *   member.ts      DcmMember and what an update of one changed
 * Only this file imports the others' classes; none of them imports it (no-circular would fail).
 */
import { type AssignBody, type ChannelInfo, type HeartbeatBody, type Peer } from "../../protocol/messages.js";
import type { Logger } from "../../seams/log.js";
import { assignBodyFor } from "../assign-body.js";
import { type HeartbeatReport, packHeartbeat, reportedVersion } from "../heartbeat-report.js";
import { type AssignState, ClusterDcm, clusterNames, type OutgoingAssign } from "../cluster-dcm.js";
import {
  CongestionMonitor,
  type CongestionMonitorPolicy,
  type CongestionVerdict,
} from "../congestion-monitor.js";
import { matchesReport } from "../topology/adopt.js";
import { buildTieredPlan } from "../topology/engine.js";
import type { NodePlan, Plan, TopologyEngine } from "../topology/plan.js";
import {
  resolvePolicy,
  type RegionInfo,
  type TierNode,
  type TierPolicy,
  type TierSnapshot,
} from "../topology/tier-types.js";
import { buildTree } from "../topology/tree.js";
import { CONTROL_DEFAULTS, type TopologyName } from "../defaults.js";
import { type DcmMember, memberChange, toTierNode } from "./member.js";
import { NodeReports } from "./reports.js";
import { logPlan, Planner, type PlanningInput, treeInput } from "./planning.js";
import { Rollout } from "./rollout.js";
import { type Quality, RegionQuality, shedMoves } from "./congestion.js";
import {
  type AdoptionSummary,
  adoptTiered,
  type DcmView,
  LateResumers,
  planView,
  reportedTree,
  type ResumeReport,
  viewDigest,
} from "./adoption.js";
import { DEFAULT_WATCHDOG, REBUILD_TICKS_FULL_AT, Watchdog, type WatchdogPolicy } from "./watchdog.js";

export type { AdoptionSummary, DcmMember, DcmView, OutgoingAssign, ResumeReport };
export { viewDigest };
export { DEFAULT_WATCHDOG, REBUILD_TICKS_FULL_AT, type WatchdogPolicy };

export interface DcmDeps {
  logger: Logger;
  /** The engine of the `tree` topology (default: the foundation's tree, buildTree). */
  topology?: TopologyEngine;
}

export interface DcmConfig {
  /** The content directory's name for this DCM (the RSL will map it to a server). */
  logicalId: string;
  channel: ChannelInfo;
  /** Upper bound on children per node, passed to the topology engine. */
  maxChildren?: number;
  /**
   * "tiered" (default, CONTROL_DEFAULTS.topology): the three-tier engine
   * (control/topology/engine.ts): a full plan at start and on rebuilds, incremental planJoin /
   * planLeave / planMove otherwise; ASSIGN only to changed nodes.
   * "tree": the foundation's engine (deps.topology), a full plan on every change.
   */
  topology?: TopologyName;
  /** Tiered: policy overrides, region info (access technology...), PRNG seed. */
  tierPolicy?: Partial<TierPolicy>;
  regions?: Readonly<Record<string, RegionInfo>>;
  seed?: number;
  /** Tiered: congestion move backoff and what counts as a received coded substream (congestion-monitor.ts). */
  congestion?: Partial<CongestionMonitorPolicy>;
  /**
   * A replacement DCM (failover): it starts empty, takes what resumed nodes report (adopt(),
   * onLinkReport, onAssignVersion) and computes and sends nothing until finishAdoption().
   */
  adopting?: boolean;
  /** The feed watchdog (watchdog()). */
  watchdog?: Partial<WatchdogPolicy>;
  /**
   * Tiered: at most this many ASSIGN bodies built per reconcile() for the nodes a full rebuild
   * changed; the rest wait in the rollout (rolloutPending) for the next reconcile(), which the
   * caller makes soon (on a later event-loop turn). Default: unbounded (all in one reconcile).
   * Incremental changes are never held back.
   */
  rolloutSlice?: number;
  /**
   * Tiered: at most this many changes (joins, leaves, moves, fills) repaired per reconcile(); the
   * rest wait in order for the next reconcile(), which the caller makes soon (needsReconcile). A
   * flash crowd, or a region's nodes lost at once, is then repaired in bounded slices between
   * which control reads its socket. Default: unbounded.
   */
  changeSlice?: number;
  /**
   * Tiered: a full build (a rebuild: engine.ts buildSteps, then its diff) does about this many
   * nodes of work per reconcile() (a node placed is one; step-meter.ts); until it is done the
   * plan in force stays, changes wait, and the caller reconciles again soon (needsReconcile).
   * Default: unbounded (a rebuild is done in the reconcile that needs it).
   */
  planSlice?: number;
}

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
  #topologyDirty = false;
  /** Every node's ASSIGN is to be compared again (a channel id change, an adoption). */
  #peersDirty = false;
  /**
   * Members whose address or port changed since the last reconcile: only the ASSIGNs that name
   * them (their parents', children's and mesh neighbours') change. It was every node's: at 10^5
   * one moved member cost a reconcile building 10^5 bodies at once.
   */
  readonly #peersMoved = new Set<number>();
  readonly #tiered: boolean;
  readonly #config: DcmConfig;
  /** The plan in force, the changes waiting for it and a full build in progress. */
  readonly #planner: Planner;
  /** Tiered congestion (FIG. 9): the link reports and the move backoff. */
  readonly #links: CongestionMonitor;
  /** The regions' measured quality and members per region (setRegionQuality). */
  readonly #quality: RegionQuality;
  /** Failover: adopting what the nodes report (until finishAdoption). */
  #adopting: boolean;
  /** Per node: its placement and its last heartbeat (adoption, the watchdog), and carried ASSIGN versions. */
  readonly #reports = new NodeReports();
  /** Members that resumed after the adoption, waiting for their first heartbeat (adoption.ts). */
  readonly #lateResumers = new LateResumers();
  /** The feed watchdog (watchdog.ts): its ticks, its pass, the feeds it found incomplete, dead links. */
  readonly #watchdog: Watchdog;
  #namesCache: { clusters: Plan["clusters"]; key: number; names: (np: NodePlan) => string } | undefined;
  /**
   * Nodes a full rebuild changed whose ASSIGN is not built yet (rolloutSlice): they hold one of
   * an earlier plan. Every other node holds the plan in force's.
   */
  readonly #rollout: Rollout;

  constructor(deps: DcmDeps, config: DcmConfig) {
    this.logicalId = config.logicalId;
    this.#logger = deps.logger.child({ dcm: config.logicalId });
    this.#engine = deps.topology ?? buildTree;
    this.#maxChildren = config.maxChildren;
    this.#channel = { ...config.channel };
    this.#config = config;
    this.#tiered = (config.topology ?? CONTROL_DEFAULTS.topology) === "tiered";
    this.#links = new CongestionMonitor(config.congestion);
    this.#quality = new RegionQuality(config.regions);
    this.#adopting = config.adopting === true;
    this.#watchdog = new Watchdog(this.#logger, config.watchdog);
    this.#rollout = new Rollout(config.rolloutSlice ?? Infinity);
    const plan = this.#tiered ? buildTieredPlan(this.#snapshot()) : this.#compute(undefined);
    const input: PlanningInput = {
      members: this.#members,
      channelName: () => this.#channel.name,
      snapshot: () => this.#snapshot(),
      tierNode: (id) => this.#tierNode(id),
      nodeReport: (id) => this.#reports.nodeReport(id),
    };
    this.#planner = new Planner(plan, input, this.#logger, config);
  }

  /** The plan in force (the planner's). */
  get #plan(): Plan {
    return this.#planner.plan;
  }

  /** True until finishAdoption() (a replacement DCM: see DcmConfig.adopting). */
  get adopting(): boolean {
    return this.#adopting;
  }

  /** "tree" or "tiered". */
  get topology(): TopologyName {
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

  /**
   * The ASSIGN last computed for a node (members and origin); a node still in the rollout
   * (rolloutPending) holds one of an earlier plan.
   */
  assignment(id: number): AssignBody | undefined {
    return this.#owner.get(id)?.assignment(id);
  }

  /** Nodes a full rebuild changed whose ASSIGN a later reconcile() builds (rolloutSlice). */
  get rolloutPending(): number {
    return this.#rollout.size;
  }

  /** True when reconcile() has work: changes not planned yet (changeSlice) or a rollout waiting. */
  get needsReconcile(): boolean {
    return (
      !this.#adopting &&
      (this.#topologyDirty || this.#peersDirty || this.#peersMoved.size > 0 || this.#rollout.size > 0)
    );
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
    if (c.k !== info.k || c.streamKbps !== info.streamKbps) {
      this.#topologyDirty = true;
      this.#planner.requestRebuild();
    } else if (c.id !== info.id) this.#peersDirty = true;
    this.#channel = { ...info };
  }

  /** Sets (or with null, removes) the origin: the root of the channel's topology. */
  setOrigin(o: DcmMember | null): void {
    if (this.#note(this.#origin, o)) this.#planner.requestRebuild();
    if (o === null && this.#origin !== null) this.#forget(this.#origin.id);
    this.#origin = o === null ? null : { ...o };
  }

  /** Adds a member or updates it (region, capacity, address). */
  upsert(m: DcmMember): void {
    const before = this.#members.get(m.id) ?? null;
    if (this.#note(before, m)) {
      if (before !== null) this.#planner.queue({ kind: "leave", id: m.id });
      this.#planner.queue({ kind: "join", id: m.id });
    }
    this.#putMember(m);
  }

  /** Removes a member or the origin; returns false when it was neither. */
  remove(id: number): boolean {
    this.#reports.delete(id);
    this.#lateResumers.delete(id);
    this.#watchdog.forget(id);
    this.#rollout.delete(id);
    if (this.#origin?.id === id) {
      this.setOrigin(null);
      return true;
    }
    if (!this.#dropMember(id)) return false;
    this.#watchdog.membershipChanged();
    this.#forget(id);
    this.#topologyDirty = true;
    this.#planner.queue({ kind: "leave", id });
    return true;
  }

  /**
   * Brings the plan up to date after changes and returns an ASSIGN (version + 1) for every
   * node whose assignment changed (after a full rebuild, with rolloutSlice, up to that many of
   * them and the rest at the next calls). Nothing changed: nothing to send.
   */
  reconcile(): OutgoingAssign[] {
    if (!this.needsReconcile) return [];
    // Incremental: only the nodes the repairs changed are compared (O(changed), not O(N)).
    // After a full rebuild too: the repairs return assignDiff's candidates (topology/diff.ts),
    // found by comparing NodePlans, so only those get a body built and compared.
    let only: Set<number> | undefined;
    if (this.#topologyDirty) {
      if (this.#tiered) {
        const { changed, rebuilt, before } = this.#planner.repair();
        if (!this.#peersDirty) only = changed;
        if (rebuilt) this.#rehome(before, changed);
        // A sliced rollout: what the rebuild changed waits its turn; a repair's nodes go now.
        if (rebuilt) this.#rollout.hold(changed);
      } else {
        // The tree is recomputed whole: the changes are all in it.
        this.#planner.replace(this.#compute(this.#plan));
      }
    }
    if (!this.#topologyDirty && !this.#peersDirty) only = new Set();
    if (this.#peersMoved.size > 0) {
      // The tree is compared whole anyway; tiered, the nodes that name a moved member.
      if (!this.#tiered) only = undefined;
      else if (only !== undefined) for (const id of this.#peersMoved) this.#addLinked(only, id);
      this.#peersMoved.clear();
    }
    if (only === undefined) this.#rollout.clear();
    else only = this.#rollout.slice(only);
    // Changes held back by changeSlice, or a build in steps, keep the plan dirty: the next reconcile() goes on.
    this.#topologyDirty = this.#planner.busy;
    this.#peersDirty = false;

    const out: OutgoingAssign[] = [];
    const names = this.#names();
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
      const carried =
        was === undefined ? this.#carriedFor(id, body) : was !== owner ? was.release(id) : undefined;
      this.#owner.set(id, owner);
      const a = owner.issue(id, body, { address: to.address, port: to.port }, carried);
      if (a !== undefined) out.push(a);
    }
    // Members the plan dropped: after an incremental repair only a changed node can be one.
    const dropped = only === undefined ? [...this.#owner.keys()] : only;
    for (const id of dropped) {
      const owner = this.#owner.get(id);
      if (owner === undefined || this.#plan.nodes.has(id)) continue;
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

  /** The nodes whose ASSIGN names `id` in the plan in force: its parents, children and mesh neighbours (links are symmetric). */
  #addLinked(into: Set<number>, id: number): void {
    const np = this.#plan.nodes.get(id);
    if (np === undefined) return;
    for (const p of np.parents) if (p !== null) into.add(p);
    for (const c of np.children) into.add(c.node);
    for (const m of np.mesh ?? []) into.add(m);
  }

  /**
   * The ASSIGN state a node brings from before this DCM (adoption): its reported version, and
   * whether `body` is what it holds (then it gets no ASSIGN: the same assignment).
   */
  #carriedFor(id: number, body: AssignBody): AssignState | undefined {
    const version = this.#reports.takeCarried(id);
    if (version === undefined) return undefined;
    const same = matchesReport(body, this.#reports.nodeReport(id));
    return { version, known: same, body: { ...body, version } };
  }

  /**
   * A heartbeat's link report (FIG. 9). Tiered: children give the last seq this node sent,
   * parents the last seq it received; congestion() joins both ends. Both engines keep the last
   * report for adoption and the watchdog, packed (`packed`: the body packed already, which the
   * node's record holds too). Returns true when shed children were moved (reconcile).
   */
  onLinkReport(id: number, hb: HeartbeatBody, packed?: HeartbeatReport): boolean {
    if (this.#adopting || this.has(id)) this.#reports.heartbeat(id, packed ?? packHeartbeat(hb));
    if (!this.#tiered || this.#adopting) return false;
    this.#links.report(id, hb);
    const moves = shedMoves(this.#plan, id, hb);
    for (const c of moves) this.#planner.queue(c);
    if (moves.length > 0) this.#topologyDirty = true;
    return moves.length > 0;
  }

  /**
   * A node resumed its session with this DCM (failover): `m` its member facts (as for upsert),
   * `report` its placement and the ASSIGN version it applied. While adopting, the node is
   * registered and nothing is computed; its heartbeats (onLinkReport) give its links. After
   * finishAdoption(), a node the DCM does not know yet is adopted where it says once its first
   * heartbeat shows its links and they fit the plan, else placed as a join (at the watchdog's
   * next tick, which returns true then). The origin: setOrigin(m) first, then adopt(m, report).
   */
  adopt(m: DcmMember, report: ResumeReport): void {
    this.#reports.resumed(m.id, report.placement);
    const placed = this.#owner.get(m.id)?.assignment(m.id) !== undefined;
    if (!placed) this.#reports.carry(m.id, report.assignVersion);
    if (this.#origin?.id === m.id) {
      this.setOrigin(m);
      return;
    }
    if (this.#adopting || this.#members.has(m.id)) {
      if (this.#adopting) this.#putMember(m);
      else this.upsert(m);
      return;
    }
    this.#putMember(m);
    if (this.#tiered) this.#lateResumers.wait(m.id);
    else {
      this.#planner.queue({ kind: "join", id: m.id });
      this.#topologyDirty = true;
    }
  }

  /**
   * While adopting: the nodes the reports name (parents, children, mesh neighbours) that have
   * not resumed here yet. The control center waits for them a little longer before it ends the
   * adoption, as completing a plan around a missing tier-1 node can take a rebuild.
   */
  awaitedNodes(): number[] {
    if (!this.#adopting) return [];
    return [...this.#reports.named()]
      .filter((id) => !this.#members.has(id) && this.#origin?.id !== id)
      .sort((a, b) => a - b);
  }

  /**
   * Ends adoption (call it one heartbeat interval, plus a margin, after the DCM started, so every
   * live node resumed and heartbeated): the plan is what the nodes reported (links per slot,
   * tiers, roles, clusters from their placements), then completed — empty slots filled, members
   * with no usable report placed as joins, a rebuild only when the adopted plan cannot be
   * repaired. The next reconcile() sends an ASSIGN (version: the node's + 1) only to nodes whose
   * assignment differs from what they reported. Without an origin nothing can be placed: it
   * returns done: false and stays adopting, unless `force`.
   */
  finishAdoption(options: { force?: boolean } = {}): AdoptionSummary {
    const summary: AdoptionSummary = {
      done: true,
      members: this.#members.size,
      adopted: 0,
      joined: 0,
      droppedLinks: 0,
      changed: 0,
      rebuilt: false,
      violations: [],
    };
    if (!this.#adopting) return summary;
    if (this.#origin === null && options.force !== true) return { ...summary, done: false };
    this.#adopting = false;
    this.#reports.retain((id) => this.has(id));
    const s = this.#snapshot();
    const before = this.#plan;
    if (this.#tiered) {
      const { plan, counts } = adoptTiered(s, this.#reports);
      this.#planner.replace(plan);
      Object.assign(summary, counts);
    } else {
      const o = this.#origin;
      const reported =
        o === null
          ? undefined
          : reportedTree(this.#channel.k, o.id, this.#members, this.#reports, (id) => this.has(id));
      this.#planner.replace(this.#compute(reported));
      summary.adopted = [...this.#members.keys()].filter((id) => this.#plan.nodes.has(id)).length;
    }
    this.#topologyDirty = false;
    // Every node is compared with what it reported at the next reconcile.
    this.#peersDirty = true;
    const { done: _done, ...fields } = summary;
    this.#logger.info("plan_adopted", { channel: this.#channel.name, ...fields });
    logPlan(this.#logger, before, this.#plan, this.#channel.name, summary.changed, true);
    return summary;
  }

  /** A canonical view of the plan: members and every link per slot (DcmView). */
  view(): DcmView {
    return planView(this.#plan, this.#members.keys());
  }

  /**
   * The feed watchdog, once per liveness tick. Plan side: every member has a complete feed —
   * every slot's parent a member or the origin, at least fec.k of its k + n coded slots on an
   * erasure-coded tier, tier 1 reached by the mesh — else its empty slots are filled (or it is
   * placed) at once; when that could not complete it, a rebuild is tried at the next tick (at
   * most once per `rebuildTicks`, fewer in proportion below REBUILD_TICKS_FULL_AT members, kept
   * only when it leaves fewer members unfed, and not tried again for the same members until
   * membership or capacities change); logs `feed_incomplete`.
   * Reported side (tiered, live channels): a planned link that the child's last two heartbeats
   * say brought nothing for `staleMs`, and on which the parent says it sent nothing either, while
   * the stream flows around it (the child hears on its other slots, or the parent sends to
   * other children or hears from its own parents), is moved (planMove); logs `feed_stale`. Both
   * ends must have applied their current ASSIGN; a parent that shed children is the shed rule's
   * and a parent that says it sends is the congestion monitor's. Also places late resumers
   * (adopt()). Returns true when the plan must be reconciled (the caller calls reconcile()),
   * and while a sliced rollout (rolloutSlice) waits.
   */
  watchdog(): boolean {
    if (this.#adopting) return false;
    this.#watchdog.tick();
    let acted = false;
    const late = this.#lateResumers.due(
      (id) => this.#plan.nodes.has(id),
      (id) => this.#members.has(id),
      (id) => this.#reports.hb(id) !== undefined,
    );
    for (const id of late) {
      this.#planner.queue({ kind: "adopt", id });
      acted = true;
    }
    if (this.#checkChunk()) acted = true;
    if (acted) this.#topologyDirty = true;
    // A sliced rollout left waiting continues at least once per tick.
    return acted || this.#rollout.size > 0;
  }

  /** The watchdog's pass over the members is not through (watchdogStep() goes on with it). */
  get watchdogPending(): boolean {
    return this.#watchdog.pending;
  }

  /**
   * Goes on with the watchdog's pass in progress: the next chunk of members, without a tick
   * (control runs these as events of their own after watchdog(), so that a tick is one pass).
   * True when the plan must be reconciled.
   */
  watchdogStep(): boolean {
    if (this.#adopting || !this.watchdogPending) return false;
    return this.#checkChunk();
  }

  /** Both sides of the watchdog over the next chunk of members; queues what it wants changed. */
  #checkChunk(): boolean {
    const { acted, changes } = this.#watchdog.check(
      {
        plan: this.#plan,
        members: this.#members,
        hasOrigin: this.#origin !== null,
        tiered: this.#tiered,
        live: this.#channel.vod === undefined,
        channelName: this.#channel.name,
        reports: this.#reports,
        has: (id) => this.has(id),
        resuming: (id) => this.#lateResumers.has(id),
        applied: (id, hb) => this.#applied(id, hb),
      },
      // Changes still queued (changeSlice) leave no holes to judge: the plan is catching up with
      // them; nor does a full build running in steps (the plan in force is about to be replaced).
      this.#planner.busy,
    );
    for (const c of changes) this.#planner.queue(c);
    if (acted) this.#topologyDirty = true;
    return acted;
  }

  /** The node applied the ASSIGN this DCM holds for it (its heartbeat says so). */
  #applied(id: number, hb: HeartbeatReport): boolean {
    // A node still in the rollout applied an earlier plan's ASSIGN: its links are not judged.
    const v = this.#owner.get(id)?.assignment(id)?.version;
    return v !== undefined && v === reportedVersion(hb) && !this.#rollout.has(id);
  }

  /**
   * Tiered: a child reported its parent for a META that failed verification: the child's
   * substreams from that parent move to another parent at the next reconcile. False when the
   * link is not in the plan (or the engine is the tree, which has no moves).
   */
  moveAway(parent: number, child: number): boolean {
    if (!this.#tiered || this.#adopting || !(this.#plan.nodes.get(child)?.parents.includes(parent) ?? false))
      return false;
    this.#planner.queue({ kind: "move", parent, child });
    this.#topologyDirty = true;
    return true;
  }

  /**
   * Tiered, once per heartbeat interval (`now` from the injected Clock): links whose child lags
   * `lagPackets` behind its parent and did not catch up since the last interval get their
   * substreams moved (planMove) at the next reconcile, unless the move backoff or the spare
   * coded link rule (congestion-monitor.ts) holds them. Returns the links moved and held. Over
   * more members than the monitor's chunk the tick takes several calls: `pending` until the
   * last, which the caller makes soon (control: as events of their own).
   */
  congestion(lagPackets: number, now: number): CongestionVerdict & { pending: boolean } {
    if (!this.#tiered || this.#adopting) return { moved: [], held: [], pending: false };
    // A step of the monitor's tick (congestion-monitor.ts chunk): the verdict comes with the last.
    const step = this.#links.tickStep(this.#plan, lagPackets, now);
    if (step === undefined) return { moved: [], held: [], pending: true };
    const v = { ...step, pending: false };
    for (const l of v.moved) this.#planner.queue({ kind: "move", parent: l.parent, child: l.child });
    if (v.moved.length > 0) this.#topologyDirty = true;
    return v;
  }

  /** A congestion tick is in progress (congestion() goes on with it). */
  get congestionPending(): boolean {
    return this.#links.ticking;
  }

  /**
   * Tiered: the measured quality of the regions (region-quality.ts). Returns true, and rebuilds
   * at the next reconcile, when a region of this channel's plan gets another tier-2 redundancy.
   */
  setRegionQuality(q: Quality): boolean {
    if (!this.#tiered) return false;
    const changed = this.#quality.measure(q, this.#plan, resolvePolicy(this.#config.tierPolicy).fec);
    if (this.#adopting || !changed) return false;
    this.requestRebuild();
    return true;
  }

  /** Tiered: a full rebuild at the next reconcile (policy or eligibility changed, schedule). */
  requestRebuild(): void {
    // While adopting, a rebuild would undo what adoption is for: the request is dropped.
    if (!this.#tiered || this.#adopting) return;
    this.#planner.requestRebuild();
    this.#topologyDirty = true;
  }

  /**
   * After a rebuild, a node whose assignment did not change can still belong to a cluster DCM
   * of another name (cluster names follow the order of the plan's clusters): its ASSIGN state
   * moves there, and nothing is sent. Only nodes of clusters whose name changed are visited.
   */
  #rehome(before: Plan, skip: ReadonlySet<number>): void {
    const was = clusterNames(this.logicalId, before, true);
    const now = this.#names();
    const renamed = new Set<number>();
    for (const c of this.#plan.clusters ?? []) {
      const probe: NodePlan = { parents: [], children: [], depth: null, tier: c.tier, cluster: c.id };
      if (was(probe) !== now(probe)) renamed.add(c.id);
    }
    if (renamed.size === 0) return;
    for (const [id, np] of this.#plan.nodes) {
      if (np.cluster === undefined || !renamed.has(np.cluster) || skip.has(id)) continue;
      const from = this.#owner.get(id);
      const to = this.#clusterFor(now(np));
      if (from === undefined || from === to) continue;
      const state = from.release(id);
      if (state !== undefined) to.take(id, state);
      this.#owner.set(id, to);
    }
  }

  /**
   * The engine's input. `nodes` (O(N)) is built only when read — a full build or an adoption;
   * incremental repairs never read it — and once per snapshot.
   */
  #snapshot(): TierSnapshot {
    const o = this.#origin;
    let nodes: TierNode[] | undefined;
    const members = this.#members;
    return {
      channel: { k: this.#channel.k, streamKbps: this.#channel.streamKbps },
      origin: o === null ? null : { id: o.id, uploadKbps: o.uploadKbps, region: o.region },
      get nodes(): TierNode[] {
        nodes ??= [...members.values()].map(toTierNode);
        return nodes;
      },
      regions: this.#quality.regions(),
      policy: {
        ...(this.#maxChildren === undefined ? {} : { maxChildren: this.#maxChildren }),
        ...this.#config.tierPolicy,
      },
      seed: this.#config.seed ?? 1,
    };
  }

  #putMember(m: DcmMember): void {
    const before = this.#members.get(m.id);
    if (before !== undefined) this.#quality.count(before.region, -1);
    this.#quality.count(m.region, 1);
    this.#members.set(m.id, { ...m });
  }

  #dropMember(id: number): boolean {
    const m = this.#members.get(id);
    if (m === undefined) return false;
    this.#quality.count(m.region, -1);
    return this.#members.delete(id);
  }

  /** A member as the engine sees it, by id (O(1)). */
  #tierNode(id: number): TierNode | undefined {
    const m = this.#members.get(id);
    return m === undefined ? undefined : toTierNode(m);
  }

  /** Cluster DCM names for the plan in force, kept while its clusters stay the same. */
  #names(): (np: NodePlan) => string {
    const clusters = this.#plan.clusters;
    // Repairs only ever add clusters to a plan's list (a rebuild makes a new list).
    const key = clusters?.length ?? 0;
    const cached = this.#namesCache;
    if (cached !== undefined && cached.clusters === clusters && cached.key === key) return cached.names;
    const names = clusterNames(this.logicalId, this.#plan, this.#tiered);
    this.#namesCache = { clusters, key, names };
    return names;
  }

  /**
   * A heartbeat reported the ASSIGN version a node applied. Returns the ASSIGN to send again
   * when the node lags (or is ahead after a control restart), else undefined.
   */
  onAssignVersion(id: number, reported: number): OutgoingAssign | undefined {
    const to = this.#member(id);
    if (to === undefined) return undefined;
    const owner = this.#owner.get(id);
    // Adopting, or resumed and not placed yet: numbering will continue from the latest version.
    if (this.#adopting || (owner === undefined && this.#reports.carried(id) !== undefined)) {
      this.#reports.carry(id, reported);
      return undefined;
    }
    return owner?.onAssignVersion(id, reported, { address: to.address, port: to.port });
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
    const plan = this.#engine(
      treeInput(this.#channel, this.#origin, this.#members, this.#maxChildren, previous),
    );
    if (previous !== undefined)
      logPlan(this.#logger, previous, plan, this.#channel.name, undefined, previous.root !== null);
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
    const change = memberChange(before, after);
    if (change === "topology") {
      this.#topologyDirty = true;
      this.#watchdog.membershipChanged();
      return true;
    }
    if (change === "address") this.#peersMoved.add(after!.id);
    return false;
  }
}
