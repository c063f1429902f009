/**
 * Growth without rebuilds (issue 13): joins open clusters where a region has none or its
 * clusters are full, count as no churn, and rebuild only when membership doubled (or the
 * origin's share grew, or a join finds no feed in a plan that fed everyone). Invariants
 * (checkPlan) hold after every join; `changed` lists every node whose assignment changed.
 */
import test from "ava";
import fc from "fast-check";
import { checkPlan } from "../control/topology/check.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import type { NodePlan, Plan } from "../control/topology/plan.js";
import { planJoin } from "../control/topology/plan-repair.js";
import type { TierSnapshot } from "../control/topology/tier-types.js";
import { mixNodes, mixSnapshot } from "../tools/topology-mix.js";
import { nodeArb, runs, snapshotArb } from "./topology-arbitraries.js";

const key = (np: NodePlan | undefined): string =>
  np === undefined ? "gone" : JSON.stringify([np.tier, np.parents, np.children]);

test("joins into new and full regions keep every invariant; clusters stay within maxClusterSize", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 6, max: 40 }),
      fc.integer({ min: 3, max: 12 }),
      snapshotArb({ maxNodes: 100, ampleOrigin: true }),
      fc.array(nodeArb(0, 7), { minLength: 20, maxLength: 160 }),
      (maxClusterSize, minClusterSize, s0, joins) => {
        const policy = {
          ...s0.policy,
          maxClusterSize,
          minClusterSize: Math.min(minClusterSize, maxClusterSize),
        };
        let s: TierSnapshot = { ...s0, policy };
        let plan: Plan = buildTieredPlan(s);
        let id = 50_000;
        for (const j of joins) {
          const node = { ...j, id: id++ };
          s = { ...s, nodes: [...s.nodes, node] };
          const before = new Map([...plan.nodes].map(([x, np]) => [x, key(np)]));
          const r = planJoin(plan, node, s);
          plan = r.plan;
          const v = checkPlan(plan, s);
          if (v.length > 0) throw new Error(`join ${node.id}: ${JSON.stringify(v.slice(0, 4))}`);
          if (plan.unplaced.length > 0)
            throw new Error(`join ${node.id}: unplaced ${plan.unplaced.join(",")}`);
          for (const c of plan.clusters ?? [])
            if (c.members.length > maxClusterSize)
              throw new Error(`cluster ${c.id}: ${c.members.length} members`);
          const changed = new Set(r.changed);
          for (const [x, np] of plan.nodes)
            if (key(np) !== (before.get(x) ?? "new") && !changed.has(x))
              throw new Error(`join ${node.id}: node ${x} changed but is not listed`);
        }
      },
    ),
    { numRuns: runs(60) },
  );
  t.pass();
});

test("a flash crowd of 6,000 joins: a few rebuilds (membership doublings), clusters opened locally", (t) => {
  const base = mixSnapshot(0, 3, 4);
  const s: TierSnapshot = { ...base, nodes: [], policy: { maxClusterSize: 400 } };
  let plan = buildTieredPlan(s);
  const nodes = mixNodes(6000, 3);
  const present = [];
  let rebuilds = 0;
  let changed = 0;
  for (const node of nodes) {
    present.push(node);
    const r = planJoin(plan, node, { ...s, nodes: present });
    plan = r.plan;
    if (r.rebuilt) rebuilds++;
    else changed += r.changed.length;
  }
  const final = { ...s, nodes: present };
  t.deepEqual(checkPlan(plan, final), []);
  t.deepEqual(plan.unplaced, []);
  // Before: a rebuild at every join while clusters were small, at +25 % and at every split.
  t.true(rebuilds <= 2 * Math.log2(6000), `${rebuilds} rebuilds`);
  t.true(changed / (nodes.length - rebuilds) < 8, `${changed} assignments changed by the joins`);
  t.true((plan.clusters ?? []).every((c) => c.members.length <= 400));
});
