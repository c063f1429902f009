import test from "ava";
import fc from "fast-check";
import { checkPlan } from "../control/topology/check.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import type { NodePlan, Plan } from "../control/topology/plan.js";
import { planJoin, planLeave, planMove, type RepairResult } from "../control/topology/plan-repair.js";
import type { TierNode, TierSnapshot } from "../control/topology/tier-types.js";
import { mixSnapshot } from "../tools/topology-mix.js";
import { nodeArb, planData, runs, snapshotArb, survivesTier1Failures } from "./topology-arbitraries.js";

fc.configureGlobal({ includeErrorInReport: true });

type Op = { kind: "join"; node: TierNode } | { kind: "leave"; pick: number } | { kind: "move"; pick: number };

const opArb = (regions: number): fc.Arbitrary<Op> =>
  fc.oneof(
    nodeArb(0, regions).map((node): Op => ({ kind: "join", node })),
    fc.nat().map((pick): Op => ({ kind: "leave", pick })),
    fc.nat().map((pick): Op => ({ kind: "move", pick })),
  );

const key = (np: NodePlan | undefined): string =>
  np === undefined ? "gone" : JSON.stringify([np.tier, np.parents, np.children]);

/** Applies one op to plan + snapshot; returns the result and the next snapshot. */
function apply(
  plan: Plan,
  s: TierSnapshot,
  op: Op,
  nextId: number,
): { r: RepairResult; s: TierSnapshot } | undefined {
  if (op.kind === "join") {
    const node = { ...op.node, id: nextId };
    const next = { ...s, nodes: [...s.nodes, node] };
    return { r: planJoin(plan, node, next), s: next };
  }
  const ids = [...plan.nodes.keys()].filter((id) => id !== plan.root).sort((a, b) => a - b);
  if (ids.length === 0) return undefined;
  const id = ids[op.pick % ids.length]!;
  if (op.kind === "leave") {
    const next = { ...s, nodes: s.nodes.filter((n) => n.id !== id) };
    return { r: planLeave(plan, id, next), s: next };
  }
  const np = plan.nodes.get(id)!;
  const parent = np.parents.find((p) => p !== null);
  if (parent === undefined || parent === null) return undefined;
  return { r: planMove(plan, parent, id, s), s };
}

test("incremental joins, leaves and moves keep every invariant; `changed` covers every changed node", (t) => {
  fc.assert(
    fc.property(
      snapshotArb({ maxNodes: 80, ampleOrigin: true }),
      fc.array(opArb(4), { minLength: 1, maxLength: 25 }),
      (s0, ops) => {
        let s = s0;
        let plan = buildTieredPlan(s);
        let nextId = 10_000;
        for (const op of ops) {
          const before = new Map([...plan.nodes].map(([id, np]) => [id, key(np)]));
          const step = apply(plan, s, op, nextId++);
          if (step === undefined) continue;
          const { r } = step;
          s = step.s;
          plan = r.plan;
          const v = checkPlan(plan, s);
          if (v.length > 0) throw new Error(`${op.kind}: ${JSON.stringify(v.slice(0, 4))}`);
          if (plan.unplaced.length > 0) throw new Error(`${op.kind}: unplaced ${plan.unplaced.join(",")}`);
          if (plan.tier1Algorithm === "mesh") {
            const why = survivesTier1Failures(plan, s.policy?.c ?? 3);
            if (why !== undefined) throw new Error(`${op.kind}: ${why}`);
          }
          const changed = new Set(r.changed);
          for (const [id, np] of plan.nodes) {
            if (key(np) !== (before.get(id) ?? "new") && !changed.has(id))
              throw new Error(`${op.kind}: node ${id} changed but is not listed`);
          }
        }
      },
    ),
    { numRuns: runs(120) },
  );
  t.pass();
});

test("a leave at 2000 nodes repairs locally: few ASSIGNs, no rebuild", (t) => {
  const s = mixSnapshot(2000, 4);
  const plan = buildTieredPlan(s);
  const victim = [...plan.nodes].find(([, np]) => np.tier === 3 && np.children.length > 2)![0];
  const next = { ...s, nodes: s.nodes.filter((n) => n.id !== victim) };
  const r = planLeave(plan, victim, next);
  t.false(r.rebuilt);
  t.true(r.changed.length < 60, `${r.changed.length} changed`);
  t.deepEqual(checkPlan(r.plan, next), []);
  t.false(r.plan.nodes.has(victim));
});

test("a tier-1 leave rebuilds, and says which nodes changed", (t) => {
  const s = mixSnapshot(1500, 4);
  const plan = buildTieredPlan(s);
  const wp = [...plan.nodes].find(([, np]) => np.role === "waypoint")![0];
  const next = { ...s, nodes: s.nodes.filter((n) => n.id !== wp) };
  const r = planLeave(plan, wp, next);
  t.true(r.rebuilt);
  t.true(r.changed.length > 0);
  t.deepEqual(checkPlan(r.plan, next), []);
});

test("churn past the drift limit triggers a rebuild", (t) => {
  const s = mixSnapshot(300, 9);
  let plan = buildTieredPlan({ ...s, policy: { rebuildChurn: 0.05 } });
  let snap: TierSnapshot = { ...s, policy: { rebuildChurn: 0.05 } };
  let rebuilt = false;
  for (let i = 0; i < 40 && !rebuilt; i++) {
    const id = [...plan.nodes.keys()].filter((x) => plan.nodes.get(x)!.tier === 3)[0]!;
    snap = { ...snap, nodes: snap.nodes.filter((n) => n.id !== id) };
    const r = planLeave(plan, id, snap);
    plan = r.plan;
    rebuilt = r.rebuilt;
  }
  t.true(rebuilt);
});

test("repairs are deterministic: the same changes on the same plan give the same plan", (t) => {
  fc.assert(
    fc.property(
      snapshotArb({ maxNodes: 60, ampleOrigin: true }),
      fc.array(opArb(4), { minLength: 1, maxLength: 12 }),
      (s0, ops) => {
        const run = (): unknown => {
          let s = s0;
          let plan = buildTieredPlan(s);
          let nextId = 10_000;
          for (const op of ops) {
            const step = apply(plan, s, op, nextId++);
            if (step === undefined) continue;
            s = step.s;
            plan = step.r.plan;
          }
          return planData(plan);
        };
        t.deepEqual(run(), run());
      },
    ),
    { numRuns: runs(40) },
  );
});
