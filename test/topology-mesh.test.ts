import test from "ava";
import fc from "fast-check";
import { checkPlan } from "../control/topology/check.js";
import { isVertexConnected, localConnectivity } from "../control/topology/connectivity.js";
import { buildTieredPlan, threeTierEngine } from "../control/topology/engine.js";
import { addShortcuts, bfs, buildMesh, hararyEdges } from "../control/topology/mesh.js";
import type { NodePlan, Plan } from "../control/topology/plan.js";
import { clusterDepthBound } from "../control/topology/tier-types.js";
import { mixSnapshot } from "../tools/topology-mix.js";

const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

test("Harary H(c, T) is exactly c-vertex-connected with ceil(cT/2) edges", (t) => {
  for (let c = 2; c <= 5; c++) {
    for (let T = c + 2; T <= 14; T++) {
      const mesh = buildMesh(ids(T), c);
      t.true(isVertexConnected(mesh, c), `H(${c},${T})`);
      t.false(isVertexConnected(mesh, c + 1), `H(${c},${T}) is not ${c + 1}-connected`);
      t.is(hararyEdges(T, c).length, Math.ceil((c * T) / 2));
    }
  }
});

test("small meshes are complete; c = 1 is built as a ring", (t) => {
  t.true(isVertexConnected(buildMesh(ids(3), 4), 2));
  t.is(hararyEdges(3, 4).length, 3);
  t.true(isVertexConnected(buildMesh(ids(6), 1), 2));
});

test("local connectivity counts vertex-disjoint paths (Menger)", (t) => {
  // Two triangles sharing vertex 3: 3 is a cut vertex.
  const g = new Map<number, number[]>([
    [1, [2, 3]],
    [2, [1, 3]],
    [3, [1, 2, 4, 5]],
    [4, [3, 5]],
    [5, [3, 4]],
  ]);
  t.is(localConnectivity(g, 1, 5, 3), 1);
  t.is(localConnectivity(g, 1, 2, 3), 2);
  t.false(isVertexConnected(g, 2));
});

test("shortcuts bring the mesh depth down and never lower connectivity", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 60 }), fc.integer({ min: 2, max: 4 }), (T, c) => {
      const mesh = buildMesh(ids(T), c);
      const target = Math.ceil(Math.log2(T)) + 1;
      addShortcuts(mesh, 1, target, () => true);
      const { depth } = bfs(mesh, 1);
      t.true(Math.max(...depth.values()) <= target);
      t.true(isVertexConnected(mesh, c));
    }),
    { numRuns: 30 },
  );
});

test("the standard mix: mesh depth within ceil(log2 T) + 1, cluster depth within its bound", (t) => {
  const s = mixSnapshot(6000, 2);
  const plan = buildTieredPlan(s);
  const t1 = [...plan.nodes.values()].filter((n) => n.tier === 1);
  const meshDepth = Math.max(...t1.map((n) => n.depth!));
  t.true(meshDepth <= Math.ceil(Math.log2(t1.length)) + 1, `mesh depth ${meshDepth}`);
  for (const cl of plan.clusters!) t.true(cl.depthBound <= clusterDepthBound(cl.members.length));
  // Overall: mesh + tier 2 + tier 3, each within its bound.
  const bound2 = Math.max(...plan.clusters!.filter((c) => c.tier === 2).map((c) => c.depthBound));
  const bound3 = Math.max(...plan.clusters!.filter((c) => c.tier === 3).map((c) => c.depthBound));
  t.true(plan.depth <= meshDepth + bound2 + bound3, `depth ${plan.depth}`);
});

/** A deep copy of a plan, for breaking it on purpose. */
function clone(p: Plan): Plan {
  const nodes = new Map<number, NodePlan>();
  for (const [id, np] of p.nodes) {
    nodes.set(id, {
      ...np,
      parents: [...np.parents],
      children: np.children.map((c) => ({ ...c })),
      ...(np.mesh ? { mesh: [...np.mesh] } : {}),
    });
  }
  return { ...p, nodes };
}

test("checkPlan catches broken plans", (t) => {
  const s = mixSnapshot(800, 6);
  const good = buildTieredPlan(s);
  t.deepEqual(checkPlan(good, s), []);
  const codes = (p: Plan): string[] => [...new Set(checkPlan(p, s).map((v) => v.code))].sort();

  // A tier-3 node loses a substream.
  const unfed = clone(good);
  const [id3, np3] = [...unfed.nodes].find(([, n]) => n.tier === 3)!;
  const p3 = np3.parents[0]!;
  np3.parents[0] = null;
  const e = unfed.nodes.get(p3)!.children.find((c) => c.node === id3)!;
  e.substreams &= ~1;
  t.true(codes(unfed).includes("unfed"));

  // A node claims more upload than it has.
  const greedy = clone(good);
  const small = [...greedy.nodes].find(([, n]) => n.tier === 3 && n.children.length === 0)![0];
  const victims = [...greedy.nodes].filter(([, n]) => n.tier === 3).slice(0, 20);
  for (const [vid, vnp] of victims) {
    if (vid === small) continue;
    const old = vnp.parents[1]!;
    const oe = greedy.nodes.get(old)!.children.find((c) => c.node === vid)!;
    oe.substreams &= ~2;
    vnp.parents[1] = small;
    const se = greedy.nodes.get(small)!.children.find((c) => c.node === vid);
    if (se) se.substreams |= 2;
    else greedy.nodes.get(small)!.children.push({ node: vid, substreams: 2, algorithm: "tree" });
  }
  t.true(codes(greedy).includes("upload"));

  // A tier-3 node becomes interior in a second sub-tree.
  const twice = clone(good);
  const tier3 = (id: number): boolean => twice.nodes.get(id)?.tier === 3;
  const [x, xnp] = [...twice.nodes].find(([, n]) => n.tier === 3 && n.children.some((c) => tier3(c.node)))!;
  const home = Math.log2(xnp.children.find((c) => tier3(c.node))!.substreams);
  const j = home === 0 ? 1 : 0;
  const [y, ynp] = [...twice.nodes].find(
    ([id, n]) => n.cluster === xnp.cluster && id !== x && n.parents[j] !== x,
  )!;
  const z = ynp.parents[j]!;
  twice.nodes.get(z)!.children.find((c) => c.node === y)!.substreams &= ~(1 << j);
  ynp.parents[j] = x;
  xnp.children.push({ node: y, substreams: 1 << j, algorithm: "tree" });
  t.true(codes(twice).includes("interior"));

  // The mesh loses edges: no longer c-connected.
  const thin = clone(good);
  for (const np of thin.nodes.values()) if (np.mesh) np.mesh = np.mesh.slice(0, 1);
  t.true(codes(thin).includes("connectivity"));
});

test("threeTierEngine implements the foundation's TopologyEngine type", (t) => {
  const engine = threeTierEngine({ c: 2 });
  const plan = engine({
    k: 4,
    streamKbps: 1000,
    origin: { id: 100, uploadKbps: 50_000, region: "a" },
    nodes: ids(40).map((id) => ({
      id,
      region: id % 2 ? "a" : "b",
      uploadKbps: (id % 7) * 600,
      joinedAt: id,
    })),
  });
  t.deepEqual(plan.unplaced, []);
  t.is(plan.nodes.size, 41);
  t.is(plan.root, 100);
});
