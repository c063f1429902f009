/**
 * The origin is the last resort (control/topology/check-origin.ts, relieve-origin.ts), on the shape of
 * test/integration.test.ts: 6 agents in 3 regions with the demo's uploads as the agents declare
 * them (payload only: cap x 1160 / 1230, agent/relay/upload-budget.ts declaredUploadKbps), an origin with
 * upload for 2.5 streams (fanout 2: ceil(2 x 671 x 1.25) = 1678 kbit/s), k = 1 and the
 * default policy (c = 3, fec.k = 12), as the control center runs it. Tier 1 is the origin and
 * two agents with ~5.6 R each; the engine once made the origin a coded root of a tier-2 node
 * as well and gave it all of its spare upload (6 coded substreams), which left the other
 * tier-2 node unfed (its tier-1 feeders held back by the robustness rule), and the origin's
 * pacer permanently backlogged once it counted wire overhead.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { Dcm } from "../control/dcm/dcm.js";
import { checkPlan, planUploadKbps } from "../control/topology/check.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import type { NodePlan, Plan } from "../control/topology/plan.js";
import type { RegionInfo, TierSnapshot } from "../control/topology/tier-types.js";
import { NatType } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";

const R = 671;
const ORIGIN = { id: 1, uploadKbps: 1678, region: "default" };
/** demoUploadKbps(0..5) (cli/demo.ts), as declared to control. */
const UPLOADS = [4000, 2000, 1000, 400, 4000, 2000].map((cap) => Math.floor((cap * 1160) / 1230));
/** Agent i: node i + 2, region i mod 3 (cli/demo/cluster.ts agentAddress), joined in order. */
const region = (i: number): string => `region-${"abc"[i % 3]}`;

function snapshot(regions: Record<string, RegionInfo> = {}): TierSnapshot {
  return {
    channel: { k: 1, streamKbps: R },
    origin: ORIGIN,
    nodes: UPLOADS.map((uploadKbps, i) => ({
      id: i + 2,
      region: region(i),
      uploadKbps,
      nat: NatType.UNKNOWN,
      role: "agent" as const,
      eligible: true,
      joinedAt: i,
      watching: true,
    })),
    regions,
    seed: 1,
  };
}

const bits = (x: number): number => (x === 0 ? 0 : 1 + bits(x & (x - 1)));

/** The origin's links below tier 1: node -> substreams. */
function originFeeds(plan: Plan): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of plan.nodes.get(ORIGIN.id)!.children)
    if (plan.nodes.get(e.node)!.tier >= 2) out.set(e.node, e.substreams);
  return out;
}

// As configured (no region info), and with the losses control measured in a run (region-b
// clean: n = 1; region-c lossy: n = 4).
for (const [name, regions] of [
  ["no region info", {}],
  ["measured losses", { "region-b": { loss: 0.001 }, "region-c": { loss: 0.08 } }],
] as const) {
  test(`integration shape (${name}): tier 1 feeds tier 2, the origin pays its mesh and one anchor per tier-2 node`, (t) => {
    const s = snapshot(regions);
    const plan = buildTieredPlan(s);
    t.deepEqual(checkPlan(plan, s), []);
    t.deepEqual(plan.unplaced, [], "every agent is fed");
    const tier = (n: number): number[] =>
      [...plan.nodes].filter(([id, np]) => np.tier === n && id !== ORIGIN.id).map(([id]) => id);
    t.deepEqual(tier(1).sort(), [2, 6]);
    t.deepEqual(tier(2).sort(), [3, 7]);
    t.is(plan.tier1Algorithm, "mesh");
    // Below tier 1 the origin sends each node one coded substream (what makes it robust with
    // fewer than c tier-1 nodes), and nothing to tier 3.
    const feeds = originFeeds(plan);
    t.deepEqual([...feeds.keys()].sort(), [3, 7]);
    for (const [id, mask] of feeds) t.is(bits(mask), 1, `origin -> ${id}`);
    // Every other coded substream of a tier-2 node comes from tier 1.
    for (const id of [3, 7]) {
      const np: NodePlan = plan.nodes.get(id)!;
      const fromTier1 = np.parents.filter((p) => p !== null && plan.nodes.get(p)!.tier === 1 && p !== 1);
      t.is(fromTier1.length, np.parents.length - 1, `node ${id}: ${np.parents.join(",")}`);
    }
    // Mesh 2 R plus R / 12 per tier-2 node: ~87% of the declared 2.5 R (the origin was at 100%).
    const originKbps = planUploadKbps(plan, s, ORIGIN.id);
    t.true(originKbps <= 2 * R + (2 * R) / 12 + 1e-6, `origin plans ${originKbps} kbit/s`);
    t.true(originKbps <= 0.9 * ORIGIN.uploadKbps);
  });
}

test("integration shape through the DCM: agents join one by one, the origin never plans beyond its upload", (t) => {
  const d = new Dcm(
    { logger: new MemoryLogger() },
    {
      logicalId: "dcm:demo:all",
      channel: { name: "demo", id: 1, k: 1, streamKbps: R, segmentMs: 2000, fallbackUrl: "http://o" },
      topology: "tiered",
    },
  );
  d.setOrigin({ ...ORIGIN, address: "127.0.0.1", port: 39_000, joinedAt: 0 });
  d.reconcile();
  const full = snapshot();
  for (const [i, node] of full.nodes.entries()) {
    d.upsert({
      id: node.id,
      address: `127.0.${(i % 3) + 1}.${10 + Math.floor(i / 3)}`,
      port: 40_000 + i,
      region: node.region,
      uploadKbps: node.uploadKbps,
      joinedAt: node.joinedAt,
      eligible: true,
    });
    d.reconcile();
    const s = { ...full, nodes: full.nodes.slice(0, i + 1) };
    const plan = d.plan;
    t.deepEqual(checkPlan(plan, s), [], `after node ${node.id} joined`);
    t.deepEqual(plan.unplaced, [], `after node ${node.id} joined`);
    t.true(planUploadKbps(plan, s, ORIGIN.id) <= ORIGIN.uploadKbps);
  }
  const feeds = originFeeds(d.plan);
  t.true(feeds.size > 0);
  for (const [id, mask] of feeds) t.is(bits(mask), 1, `origin -> ${id}`);
});

/** A deep copy of a plan, for breaking it on purpose. */
function clone(p: Plan): Plan {
  const nodes = new Map<number, NodePlan>();
  for (const [id, np] of p.nodes)
    nodes.set(id, { ...np, parents: [...np.parents], children: np.children.map((c) => ({ ...c })) });
  return { ...p, nodes };
}

/** Moves substream j of `child` from its parent to `to` (null: nobody). */
function reparent(p: Plan, child: number, j: number, to: number | null): void {
  const np = p.nodes.get(child)!;
  const from = p.nodes.get(np.parents[j]!)!;
  const e = from.children.find((c) => c.node === child)!;
  e.substreams &= ~(1 << j);
  if (e.substreams === 0) from.children.splice(from.children.indexOf(e), 1);
  np.parents[j] = to;
  if (to === null) return;
  const tp = p.nodes.get(to)!;
  const te = tp.children.find((c) => c.node === child);
  if (te !== undefined) te.substreams |= 1 << j;
  else tp.children.push({ node: child, substreams: 1 << j, algorithm: "fec-tree" });
}

test("checkPlan: the origin carrying what tier 1 has room for, or a node unfed beside room, is reported", (t) => {
  const s = snapshot();
  const good = buildTieredPlan(s);
  t.deepEqual(checkPlan(good, s), []);
  const codes = (p: Plan): string[] => [...new Set(checkPlan(p, s).map((v) => v.code))].sort();

  // The old plan's shape: the origin sends node 3 several coded substreams, within its upload.
  const greedy = clone(good);
  const three = greedy.nodes.get(3)!;
  for (let j = 0, moved = 0; j < three.parents.length && moved < 3; j++)
    if (three.parents[j] !== ORIGIN.id) {
      reparent(greedy, 3, j, ORIGIN.id);
      moved++;
    }
  t.deepEqual(codes(greedy), ["origin-spare"]);
  t.true(planUploadKbps(greedy, s, ORIGIN.id) <= ORIGIN.uploadKbps, "within the origin's upload");
  // An incremental repair searches locally: exempt (the drift measure rebuilds).
  t.deepEqual(codes({ ...greedy, rebuilt: false }), []);

  // Node 7 left unfed (and listed so) while tier 1 has ~4 R to spare.
  const starved = clone(good);
  const seven = starved.nodes.get(7)!;
  for (let j = 0; j < seven.parents.length; j++)
    if (seven.parents[j] !== ORIGIN.id) reparent(starved, 7, j, null);
  const listed = {
    ...starved,
    unplaced: [7],
    unplacedReasons: new Map([[7, "upload exhausted"]]),
  };
  t.true(codes(listed).includes("unfed-spare"));
});

/**
 * Found by the property test in CI (fast-check seed 1967, shrunk): 87 nodes, k = 14, c = 2. The
 * tier-1 node 84 had used all its child links but had upload left, and was already linked to the
 * tier-3 nodes the origin sent 7-9 substreams each. The last pass skipped moving substreams off
 * the origin when no upper node had a free link, though a node already linked to the child
 * needs none.
 */
test("relieve: an upper node at its link limit takes the origin's substreams over links it already has", (t) => {
  const file = new URL("fixtures/topology-origin-link-limit.json", import.meta.url);
  const s = JSON.parse(readFileSync(file, "utf8")) as TierSnapshot;
  const plan = buildTieredPlan(s);
  t.deepEqual(
    checkPlan(plan, s).filter((v) => v.code === "origin-spare" || v.code === "unfed-spare"),
    [],
  );
  // Node 79 had 9 substreams from the origin; those where it is a leaf moved, until no room was left.
  const onOrigin = plan.nodes.get(s.origin!.id)!.children.find((e) => e.node === 79)?.substreams ?? 0;
  t.true(
    onOrigin.toString(2).replaceAll("0", "").length < 9,
    "substreams moved off the origin's link to node 79",
  );
  t.true(planUploadKbps(plan, s, 84) <= 4000 + 1e-6, "node 84 stays within its upload");
});
