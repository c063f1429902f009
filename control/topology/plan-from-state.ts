/**
 * Turns the working State into a Plan (depths, unplaced nodes with reasons, cluster
 * feeders, sources) and remembers the State next to the plan so that incremental repairs
 * (plan-repair.ts) can continue from it without rebuilding.
 */
import type { NodePlan, Plan } from "./plan.js";
import type { Rec, State } from "./state.js";
import type { TierSnapshot } from "./tier-types.js";
import type { UpperPools } from "./upper-pool.js";
import { StepMeter } from "./step-meter.js";

export interface Tracked {
  st: State;
  /** Nodes present at the last full build, incremental changes since, origin units then. */
  builtNodes: number;
  churn: number;
  /** Joins since the last full build (growth; churn counts leaves and moves). */
  joins?: number;
  originUnitsAtBuild: number;
  seed: number;
  /** Unplaced nodes and why. */
  unplaced: Map<number, string>;
  /** Repair caches: fed upper-tier nodes per region and tier, live tier-1 nodes. */
  upper?: UpperPools;
  tier1?: Rec[];
  /** Drift was seen after the last repair: the next change rebuilds. */
  rebuildDue: boolean;
}

const states = new WeakMap<Plan, Tracked>();

export function trackedState(plan: Plan): Tracked | undefined {
  return states.get(plan);
}

export function attachState(plan: Plan, st: State, s: TierSnapshot, base?: Tracked): Plan {
  const origin = st.originId === null ? undefined : st.recs.get(st.originId);
  states.set(
    plan,
    base ?? {
      st,
      builtNodes: st.recs.size,
      churn: 0,
      originUnitsAtBuild: origin?.used ?? 0,
      seed: s.seed,
      unplaced: new Map(plan.unplacedReasons ?? []),
      rebuildDue: false,
    },
  );
  return plan;
}

/** How many substreams a node needs: tier 3 all k, tier 2 the code's k of k + n. */
export function needed(r: Rec): number {
  return r.np.fec !== undefined ? r.np.fec.k : r.np.parents.length;
}

/** A record's work in finishSteps, in nodes of a build's work (it is about a tenth of placing one). */
const FINISH_WEIGHT = 0.1;

export function fedCount(r: Rec): number {
  let n = 0;
  for (const p of r.np.parents) if (p !== null && p !== undefined) n++;
  return n;
}

export function finishPlan(st: State, s: TierSnapshot, rebuilt: boolean): Plan {
  const steps = finishSteps(st, s, rebuilt);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** finishPlan in steps of FINISH_STEP records (engine.ts buildSteps). */
export function* finishSteps(
  st: State,
  s: TierSnapshot,
  rebuilt: boolean,
  work = new StepMeter(Infinity),
): Generator<void, Plan, void> {
  const nodes = new Map<number, NodePlan>();
  const unplaced: number[] = [];
  const reasons = new Map<number, string>();
  let depth = 0;
  for (const r of st.recs.values()) {
    if (work.add(FINISH_WEIGHT)) yield;
    if (r.tier >= 2) st.refreshDepth(r);
    nodes.set(r.id, r.np);
    if (r.tier === 0) continue;
    if (st.originId === null) {
      unplaced.push(r.id);
      reasons.set(r.id, "no origin");
      continue;
    }
    if (r.tier === 1 ? r.np.depth === null : fedCount(r) < needed(r)) {
      unplaced.push(r.id);
      reasons.set(r.id, "upload exhausted: no feeder and no origin upload left for its substreams");
    }
    if (r.np.depth !== null) depth = Math.max(depth, r.np.depth);
  }
  for (const cl of st.clusters) {
    cl.plan.feeders = [...cl.feeds.keys()].sort((a, b) => a - b);
    for (const id of cl.plan.members) st.get(id).np.sources = cl.plan.feeders;
  }
  unplaced.sort((a, b) => a - b);
  return {
    k: s.channel.k,
    root: st.originId,
    nodes,
    unplaced,
    depth,
    rebuilt,
    clusters: st.clusters.map((c) => c.plan),
    tier1Algorithm: st.tier1Algorithm,
    unplacedReasons: reasons,
  };
}
