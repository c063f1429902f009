/**
 * Three-tier topology benchmark (docs/topology.md): full plans at 1k, 10k and 100k nodes,
 * incremental joins and leaves at 10k, and the origin's upload against the theoretical
 * minimum for the standard capacity mix (tools/topology-mix.ts). Bounded: a few seconds to
 * a minute on a slow machine. Prints a table, then as its last line one JSON object.
 *
 *   npm run bench:topology      (node --import tsx bench/topology.ts)
 */
import { performance } from "node:perf_hooks";
import { checkPlan, planUploadKbps } from "../control/topology/check.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import type { Plan } from "../control/topology/plan.js";
import { planJoin, planLeave } from "../control/topology/plan-repair.js";
import type { TierNode, TierSnapshot } from "../control/topology/tier-types.js";
import { mulberry32 } from "../seams/prng.js";
import { mixNodes, mixSnapshot, MIX_STREAM_KBPS as R } from "../tools/topology-mix.js";

const K = 16;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function timePlan(n: number, runs: number): { ms: number; plan: Plan; s: TierSnapshot } {
  const s = mixSnapshot(n, 7, K);
  let plan = buildTieredPlan(s);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    plan = buildTieredPlan(s);
    times.push(performance.now() - t0);
  }
  return { ms: median(times), plan, s };
}

function originRatio(plan: Plan, s: TierSnapshot): { ratio: number; granular: number; originKbps: number } {
  const originKbps = planUploadKbps(plan, s, s.origin!.id);
  const n = s.nodes.length;
  const sum = s.nodes.reduce((a, x) => a + x.uploadKbps, 0);
  // What k substreams can use at all: upload rounded down to whole substreams (R / k).
  const usable = s.nodes.reduce((a, x) => a + Math.floor((x.uploadKbps * K) / R) * (R / K), 0);
  return {
    originKbps,
    ratio: originKbps / Math.max(R, n * R - sum),
    granular: originKbps / Math.max(R, n * R - usable),
  };
}

/** Alternating joins (fresh nodes from the mix) and leaves (random present nodes) at ~n nodes. */
function churn(base: TierSnapshot, ops: number): { join: number[]; leave: number[]; rebuilds: number } {
  const nodes: TierNode[] = [...base.nodes];
  const at = new Map(nodes.map((x, i) => [x.id, i]));
  const s: TierSnapshot = { ...base, nodes };
  let plan = buildTieredPlan(s);
  const fresh = mixNodes(ops + 100, 99).filter((x) => x.role === "agent");
  const rng = mulberry32(5);
  const join: number[] = [];
  const leave: number[] = [];
  let rebuilds = 0;
  let nextId = 1_000_000;
  for (let i = 0; i < ops; i++) {
    if (i % 2 === 0) {
      const node = { ...fresh[i % fresh.length]!, id: nextId++ };
      at.set(node.id, nodes.length);
      nodes.push(node);
      const t0 = performance.now();
      const r = planJoin(plan, node, s);
      join.push((performance.now() - t0) * 1000);
      plan = r.plan;
      if (r.rebuilt) rebuilds++;
    } else {
      let id: number;
      do id = nodes[Math.floor(rng() * nodes.length)]!.id;
      while (plan.nodes.get(id)!.tier <= 1);
      const i = at.get(id)!;
      const last = nodes.pop()!;
      if (last.id !== id) {
        nodes[i] = last;
        at.set(last.id, i);
      }
      at.delete(id);
      const t0 = performance.now();
      const r = planLeave(plan, id, s);
      leave.push((performance.now() - t0) * 1000);
      plan = r.plan;
      if (r.rebuilt) rebuilds++;
    }
  }
  const v = checkPlan(plan, s);
  if (v.length > 0) throw new Error(`plan after churn is unsound: ${JSON.stringify(v.slice(0, 3))}`);
  return { join, leave, rebuilds };
}

const p1 = timePlan(1_000, 7);
const p10 = timePlan(10_000, 9);
const p100 = timePlan(100_000, 3);
for (const p of [p1, p10]) {
  const v = checkPlan(p.plan, p.s);
  if (v.length > 0 || p.plan.unplaced.length > 0)
    throw new Error(`unsound plan: ${JSON.stringify(v.slice(0, 3))}`);
}
const c = churn(p10.s, 4000);
const o10 = originRatio(p10.plan, p10.s);
const o100 = originRatio(p100.plan, p100.s);

const results = {
  plan1kMs: +p1.ms.toFixed(1),
  plan10kMs: +p10.ms.toFixed(1),
  plan100kMs: +p100.ms.toFixed(1),
  joinP50Us: +quantile(c.join, 0.5).toFixed(1),
  joinP99Us: +quantile(c.join, 0.99).toFixed(1),
  leaveP50Us: +quantile(c.leave, 0.5).toFixed(1),
  leaveP99Us: +quantile(c.leave, 0.99).toFixed(1),
  originRatio: +o10.ratio.toFixed(3),
  originRatioGranular: +o10.granular.toFixed(3),
  originRatio100k: +o100.ratio.toFixed(3),
  repairRebuilds: c.rebuilds,
};

const row = (name: string, value: string): string => `${name.padEnd(44)}${value.padStart(14)}`;
console.log(`three-tier topology on node ${process.version}; standard mix, k = ${K}, R = ${R} kbit/s`);
console.log(row("full plan, 1k nodes (median of 7)", `${results.plan1kMs} ms`));
console.log(row("full plan, 10k nodes (median of 9)", `${results.plan10kMs} ms`));
console.log(row("full plan, 100k nodes (median of 3)", `${results.plan100kMs} ms`));
console.log(row("join at 10k, p50 / p99 (2000 ops)", `${results.joinP50Us} / ${results.joinP99Us} µs`));
console.log(row("leave at 10k, p50 / p99 (2000 ops)", `${results.leaveP50Us} / ${results.leaveP99Us} µs`));
console.log(row("full rebuilds during the 4000 changes", `${results.repairRebuilds}`));
console.log(row("origin upload, 10k (plan)", `${(o10.originKbps / R).toFixed(1)} R`));
console.log(row("originRatio, 10k (vs max(R, NR - sum u))", `${results.originRatio}`));
console.log(row("originRatioGranular, 10k (vs whole R/k)", `${results.originRatioGranular}`));
console.log(row("originRatio, 100k", `${results.originRatio100k}`));
console.log(JSON.stringify(results));
