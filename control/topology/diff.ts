/**
 * Which nodes' ASSIGN a new plan may change, found structurally (issue 13: a full rebuild is
 * rolled out as a diff). Comparing NodePlans field by field is cheap; building and comparing an
 * ASSIGN body for every node after a rebuild was most of a rebuild's event-loop stall.
 *
 * A node is a candidate when its own NodePlan differs in what its ASSIGN carries (tier, role,
 * cluster, fec, parents, children with substreams and algorithm, mesh) or when something its
 * ASSIGN reads from other nodes changed: the algorithm its parent's edge gives it (carried on its
 * parent links), the code of its coded children (a tier-1 feeder learns the widest), and, for the
 * origin, the channel's first code. A node of either plan missing from the other is a candidate
 * (a member the plan dropped is told to relay nothing). The list is a superset: the DCM still
 * compares each candidate's body with what the node holds (ClusterDcm.issue), so a candidate
 * whose ASSIGN did not change gets nothing. A different `k` or origin makes every node one.
 *
 * Pure: both plans are read, neither is changed. The DCM relies on `before` being the plan its
 * ASSIGNs were computed from (NodePlans are updated in place by incremental repairs: take the
 * diff only across a full build, whose NodePlans are all new).
 */
import type { ChildEdge, NodePlan, Plan } from "./plan.js";
import { StepMeter } from "./step-meter.js";

/** Candidate node ids (ascending) whose ASSIGN may differ between `before` and `after`. */
export function assignDiff(before: Plan, after: Plan): number[] {
  const steps = assignDiffSteps(before, after);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** A node's work in assignDiffSteps, in nodes of a build's work (about a tenth of placing one). */
const DIFF_WEIGHT = 0.1;

/**
 * assignDiff in steps of DIFF_STEP nodes (a DCM diffs a rebuild of 10^5 nodes between
 * reconciles: dcm/planning.ts). Neither plan may change until it is done.
 */
export function* assignDiffSteps(
  before: Plan,
  after: Plan,
  work = new StepMeter(Infinity),
): Generator<void, number[], void> {
  if (before.k !== after.k || before.root !== after.root) {
    const all = new Set<number>([...before.nodes.keys(), ...after.nodes.keys()]);
    return [...all].sort((a, b) => a - b);
  }
  const out = new Set<number>();
  for (const [id, np] of after.nodes) {
    if (work.add(DIFF_WEIGHT)) yield;
    const old = before.nodes.get(id);
    if (old === undefined) {
      out.add(id);
      continue;
    }
    if (sameNode(old, np)) continue;
    out.add(id);
    // A child whose edge from this parent changed algorithm reads it on its parent link.
    if (!sameChildren(old.children, np.children)) {
      const was = new Map<number, ChildEdge>();
      for (const c of old.children) was.set(c.node, c);
      for (const c of np.children) if (was.get(c.node)?.algorithm !== c.algorithm) out.add(c.node);
    }
    // A feeder's ASSIGN carries its coded children's widest code.
    if (!sameFec(old.fec, np.fec)) {
      for (const p of np.parents) if (p !== null) out.add(p);
      for (const p of old.parents) if (p !== null) out.add(p);
    }
  }
  for (const id of before.nodes.keys()) {
    if (work.add(DIFF_WEIGHT)) yield;
    if (!after.nodes.has(id)) out.add(id);
  }
  // The origin learns the channel's code from the clusters: one node, compared by the DCM.
  if (after.root !== null) out.add(after.root);
  // The sort is a step of its own at 10^5 (a typed array's: numeric, native, ≈ 10x a comparator's speed).
  if (work.add(DIFF_WEIGHT * out.size)) yield;
  return Array.from(Float64Array.from(out).sort());
}

/** Equal in everything an ASSIGN carries of the node's own plan (depth and sources are not sent). */
export function sameNode(a: NodePlan, b: NodePlan): boolean {
  return (
    a.tier === b.tier &&
    a.role === b.role &&
    a.cluster === b.cluster &&
    sameFec(a.fec, b.fec) &&
    sameIds(a.parents, b.parents) &&
    sameChildren(a.children, b.children) &&
    sameIds(a.mesh ?? [], b.mesh ?? [])
  );
}

function sameFec(a: NodePlan["fec"], b: NodePlan["fec"]): boolean {
  return a === b || (a !== undefined && b !== undefined && a.k === b.k && a.n === b.n);
}

function sameIds(a: ReadonlyArray<number | null>, b: ReadonlyArray<number | null>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameChildren(a: readonly ChildEdge[], b: readonly ChildEdge[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.node !== y.node || x.substreams !== y.substreams || x.algorithm !== y.algorithm) return false;
  }
  return true;
}
