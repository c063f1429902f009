/**
 * A channel's plan in force and the work waiting on it: the changes queued since the last
 * reconcile (joins, leaves, moves, fills, placements, adoptions, the watchdog's rebuild-if-better),
 * repaired incrementally (topology/plan-repair.ts) a changeSlice at a time, and a full build
 * (a rebuild) run a planSlice of work at a time with its diff against the plan in force
 * (topology/diff.ts). Owns the plan, the queue and the build in progress (Planner); reads the
 * members, the engine's snapshot and the nodes' reports through PlanningInput, which the Dcm
 * gives it; returns what changed, which the Dcm turns into ASSIGNs. Also the foundation's tree
 * engine's input (treeInput) and the log lines a new plan makes (logPlan).
 */
import type { ChannelInfo } from "../../protocol/messages.js";
import type { Logger } from "../../seams/log.js";
import { type NodeReport, planAdoptNode } from "../topology/adopt.js";
import { assignDiffSteps } from "../topology/diff.js";
import { buildSteps } from "../topology/engine.js";
import type { Plan, TopologySnapshot } from "../topology/plan.js";
import { planFill, planJoin, planLeave, planMove, type RepairResult } from "../topology/plan-repair.js";
import { StepMeter } from "../topology/step-meter.js";
import type { TierNode, TierSnapshot } from "../topology/tier-types.js";
import type { DcmMember } from "./member.js";

/** A change waiting for the next reconcile (tiered). */
export type Change =
  | { kind: "join" | "leave"; id: number }
  | { kind: "move"; parent: number; child: number }
  /** Watchdog and adoption: fill a node's empty slots; place a member the plan lacks; adopt a late resumer. */
  | { kind: "fill" | "place" | "adopt"; id: number }
  /** Watchdog: a full rebuild, taken only when it leaves fewer members without a complete feed. */
  | { kind: "rebuild-if-better" };

/** What the planner reads of its Dcm (the Dcm's own state, read when needed). */
export interface PlanningInput {
  readonly members: ReadonlyMap<number, DcmMember>;
  channelName(): string;
  /** The engine's input (its `nodes` built only when read). */
  snapshot(): TierSnapshot;
  /** A member as the engine sees it, by id. */
  tierNode(id: number): TierNode | undefined;
  /** What adoption reads of a node's reports. */
  nodeReport(id: number): NodeReport | undefined;
}

/** What a repair did: the nodes whose assignment may have changed, and whether it was a rebuild. */
export interface Repaired {
  changed: Set<number>;
  rebuilt: boolean;
  /** The plan in force before it. */
  before: Plan;
}

type BuildSteps = Generator<void, { plan: Plan; changed: number[] } | undefined, void>;

export class Planner {
  #plan: Plan;
  readonly #input: PlanningInput;
  readonly #logger: Logger;
  readonly #changeSlice: number;
  readonly #planSlice: number;
  /** Incremental changes since the last reconcile, in order; a rebuild replaces them. */
  #changes: Change[] = [];
  #rebuild = true;
  /**
   * A full build in progress (planSlice): its steps; `ifBetter`: the watchdog's (kept only when
   * it leaves fewer members unfed), which keeps the changes that were waiting behind it, `held`
   * of them being in its snapshot already.
   */
  #build: { steps: BuildSteps; ifBetter: boolean; held: number } | undefined;

  constructor(
    plan: Plan,
    input: PlanningInput,
    logger: Logger,
    slices: { changeSlice?: number | undefined; planSlice?: number | undefined },
  ) {
    const changes = slices.changeSlice ?? Infinity;
    if (!(changes >= 1)) throw new RangeError(`changeSlice must be >= 1, got ${changes}`);
    const work = slices.planSlice ?? Infinity;
    if (!(work >= 1)) throw new RangeError(`planSlice must be >= 1, got ${work}`);
    this.#plan = plan;
    this.#input = input;
    this.#logger = logger;
    this.#changeSlice = changes;
    this.#planSlice = work;
  }

  /** The plan in force. */
  get plan(): Plan {
    return this.#plan;
  }

  /** Changes wait, or a full build runs in steps: the next reconcile() goes on with them. */
  get busy(): boolean {
    return this.#changes.length > 0 || this.#build !== undefined;
  }

  /** Queues a change for the next repair. */
  queue(c: Change): void {
    this.#changes.push(c);
  }

  /** A full rebuild at the next repair (it replaces the changes waiting). */
  requestRebuild(): void {
    this.#rebuild = true;
  }

  /** A plan made whole elsewhere (the tree engine, an adoption) replaces the plan in force and what waited on it. */
  replace(plan: Plan): void {
    this.#plan = plan;
    this.#changes = [];
    this.#build = undefined;
    this.#rebuild = false;
  }

  /**
   * Tiered: applies the pending changes; returns the nodes whose assignment may have changed
   * (every node after a rebuild: role, cluster or fec may change alone).
   */
  repair(): Repaired {
    const changed = new Set<number>();
    const before = this.#plan;
    // A rebuild asked for while one runs (new stream parameters, a policy): that one is stale.
    if (this.#build !== undefined && this.#rebuild) this.#build = undefined;
    if (this.#build !== undefined) return this.#stepBuild(changed, before);
    const s = this.#input.snapshot();
    const defer = { deferRebuild: true };
    // A repair that built in place (an adoption's): the rest of the changes are in its snapshot.
    let rebuilt = false;
    const take = (r: RepairResult): boolean => {
      this.#plan = r.plan;
      for (const id of r.changed) changed.add(id);
      rebuilt ||= r.rebuilt;
      return r.due === true;
    };
    let done = 0;
    let due = this.#rebuild;
    let ifBetter = false;
    if (!due) {
      for (const c of this.#changes) {
        // changeSlice: the changes after this many wait, in order, for the next reconcile.
        if (done >= this.#changeSlice) break;
        done++;
        if (c.kind === "move") due = take(planMove(this.#plan, c.parent, c.child, s, defer));
        else if (c.kind === "leave") due = take(planLeave(this.#plan, c.id, s, defer));
        else if (c.kind === "fill") due = take(planFill(this.#plan, c.id, s, [], defer));
        else if (c.kind === "rebuild-if-better") due = ifBetter = true;
        else if (c.kind === "place" || c.kind === "adopt") {
          const node = this.#input.tierNode(c.id);
          if (node === undefined || this.#plan.nodes.has(c.id)) continue;
          if (c.kind === "place") due = take(planJoin(this.#plan, node, s, defer));
          else {
            const report = this.#input.nodeReport(c.id) ?? {};
            const r = planAdoptNode(this.#plan, node, report, s);
            this.#logger.info("node_adopted", {
              channel: this.#input.channelName(),
              node: c.id,
              asReported: r.adopted,
            });
            due = take(r.result);
          }
        } else {
          const node = this.#input.tierNode(c.id);
          if (node === undefined) continue; // joined and left again before this reconcile
          due = take(planJoin(this.#plan, node, s, defer));
        }
        if (due) break;
        if (rebuilt) {
          done = this.#changes.length;
          break;
        }
      }
    }
    this.#changes = this.#changes.slice(done);
    this.#rebuild = false;
    if (!due) {
      this.#logPlan(before, this.#plan, changed.size);
      return { changed, rebuilt, before };
    }
    // A full build, from a snapshot taken now: it holds every change still waiting, which the
    // plan it makes replaces (the watchdog's keeps them, for when its plan is not kept). Its
    // first step, now, reads the snapshot's nodes.
    this.#build = { steps: this.#rebuildSteps(s, ifBetter), ifBetter, held: this.#changes.length };
    if (!ifBetter) this.#changes = [];
    return this.#stepBuild(changed, before);
  }

  /**
   * A full build and its diff against the plan in force, in steps (the plan in force does not
   * change meanwhile: changes wait). Undefined: the watchdog's build, not kept because it is no
   * better (it leaves the plan in force untouched).
   */
  *#rebuildSteps(s: TierSnapshot, ifBetter: boolean): BuildSteps {
    const work = new StepMeter(this.#planSlice);
    const plan = yield* buildSteps(s, work);
    const members = this.#input.members;
    if (ifBetter && !(starved(plan, members) < starved(this.#plan, members))) return undefined;
    if (work.add(members.size * 0.1)) yield;
    return { plan, changed: yield* assignDiffSteps(this.#plan, plan, work) };
  }

  /**
   * Runs the next step (planSlice nodes of work) of the full build in progress; when it is done,
   * its plan replaces the one in force and `changed` gets assignDiff's candidates (topology/diff.ts).
   */
  #stepBuild(changed: Set<number>, before: Plan): Repaired {
    const b = this.#build!;
    const r = b.steps.next();
    if (r.done !== true) return { changed, rebuilt: false, before };
    this.#build = undefined;
    if (r.value === undefined) {
      this.#logger.info("watchdog_rebuild_discarded", { channel: this.#input.channelName() });
      return { changed, rebuilt: false, before };
    }
    const { plan } = r.value;
    if (b.ifBetter) this.#changes = this.#changes.slice(b.held);
    // Moves and fills queued meanwhile were judged on the plan replaced now (a congested link
    // there may be no link here): dropped, as a one-piece rebuild drops those after it. The next
    // congestion tick and watchdog judge the new links. Joins and leaves are kept: the build's
    // snapshot predates them.
    this.#changes = this.#changes.filter((c) => c.kind !== "move" && c.kind !== "fill");
    for (const id of r.value.changed) changed.add(id);
    this.#plan = plan;
    this.#logPlan(before, plan, changed.size);
    return { changed, rebuilt: true, before };
  }

  #logPlan(before: Plan, plan: Plan, changed: number): void {
    logPlan(this.#logger, before, plan, this.#input.channelName(), changed, true);
  }
}

/** Watching members without a complete feed in `plan` (the origin's upload ran out, ...). */
function starved(plan: Plan, members: ReadonlyMap<number, DcmMember>): number {
  const unplaced = new Set(plan.unplaced);
  let n = 0;
  for (const m of members.values()) {
    const np = plan.nodes.get(m.id);
    if (np === undefined ? m.watching !== false : unplaced.has(m.id)) n++;
  }
  return n;
}

/**
 * Logs what a new plan did: `plan_rebuilt` when it is a rebuild with a root (and `rootBefore`,
 * the plan before had one too), `nodes_unplaced` when the members it could not place changed;
 * with `changed`, the nodes whose assignment may have changed.
 */
export function logPlan(
  logger: Logger,
  before: Plan,
  plan: Plan,
  channel: string,
  changed: number | undefined,
  rootBefore: boolean,
): void {
  const fields = {
    channel,
    nodes: plan.nodes.size,
    depth: plan.depth,
    ...(changed === undefined ? {} : { changed }),
  };
  if (plan.rebuilt && plan.root !== null && rootBefore) logger.info("plan_rebuilt", fields);
  if (plan.unplaced.length > 0 && plan.unplaced.join() !== before.unplaced.join()) {
    logger.warn("nodes_unplaced", {
      ...fields,
      unplaced: plan.unplaced.length,
      ids: plan.unplaced.slice(0, 20),
    });
  }
}

/** The foundation's tree engine's input: the channel, the origin and the members, with the plan before. */
export function treeInput(
  channel: ChannelInfo,
  origin: DcmMember | null,
  members: ReadonlyMap<number, DcmMember>,
  maxChildren: number | undefined,
  previous: Plan | undefined,
): TopologySnapshot {
  return {
    k: channel.k,
    streamKbps: channel.streamKbps,
    origin: origin === null ? null : { id: origin.id, uploadKbps: origin.uploadKbps, region: origin.region },
    nodes: [...members.values()].map(({ id, region, uploadKbps, joinedAt }) => ({
      id,
      region,
      uploadKbps,
      joinedAt,
    })),
    ...(previous === undefined ? {} : { previous }),
    ...(maxChildren === undefined ? {} : { maxChildren }),
  };
}
