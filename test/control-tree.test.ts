import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import type { Plan, TopologyNode, TopologySnapshot } from "../control/topology/plan.js";
import { planEdges } from "../control/topology/plan.js";
import { buildTree, DEFAULT_MAX_CHILDREN, treeCapacity } from "../control/topology/tree.js";

const STREAM = 1000;
const ORIGIN = 1000;

function node(id: number, children: number, region = "r", joinedAt = id): TopologyNode {
  return { id, region, uploadKbps: children * STREAM, joinedAt };
}

function snap(originChildren: number, nodes: TopologyNode[], previous?: Plan, k = 1): TopologySnapshot {
  return {
    k,
    streamKbps: STREAM,
    origin: { id: ORIGIN, uploadKbps: originChildren * STREAM },
    nodes,
    ...(previous ? { previous } : {}),
  };
}

const parentOf = (p: Plan, id: number): number | null | undefined => p.nodes.get(id)?.parents[0];
const childrenOf = (p: Plan, id: number): number[] => p.nodes.get(id)?.children.map((c) => c.node) ?? [];

test("capacity-aware: higher-capacity nodes go nearer the origin", (t) => {
  const p = buildTree(snap(2, [node(1, 0), node(2, 3), node(3, 1), node(4, 2), node(5, 0)]));
  t.deepEqual(childrenOf(p, ORIGIN), [2, 4]);
  t.deepEqual(childrenOf(p, 2), [3, 1, 5]); // capacity 1 first, then the oldest
  t.deepEqual(childrenOf(p, 4), []);
  t.is(p.depth, 2);
  t.deepEqual(p.unplaced, []);
  t.is(p.nodes.get(ORIGIN)?.depth, 0);
  t.is(p.nodes.get(5)?.depth, 2);
  t.deepEqual(p.nodes.get(ORIGIN)?.parents, [null]);
});

test("a parent in the node's own region is preferred at equal depth", (t) => {
  const first = buildTree(snap(2, [node(1, 1, "east"), node(2, 1, "west")]));
  const p = buildTree(snap(2, [node(1, 1, "east"), node(2, 1, "west"), node(3, 0, "west", 10)], first));
  t.is(parentOf(p, 3), 2);
  const q = buildTree(snap(2, [node(1, 1, "east"), node(2, 1, "west"), node(3, 0, "east", 10)], first));
  t.is(parentOf(q, 3), 1);
});

test("shallowness beats region: a free slot nearer the origin wins", (t) => {
  const p = buildTree(snap(3, [node(1, 2, "east"), node(3, 0, "west")]));
  t.is(parentOf(p, 3), ORIGIN);
});

test("a node with no free slot anywhere gets no parent, visibly", (t) => {
  const p = buildTree(snap(1, [node(1, 0), node(2, 0)]));
  t.deepEqual(p.unplaced, [2]);
  t.deepEqual(p.nodes.get(2), { parents: [null], children: [], depth: null, tier: 0 });
  t.is(parentOf(p, 1), ORIGIN);
});

test("no origin: every node is unplaced", (t) => {
  const p = buildTree({ k: 1, streamKbps: STREAM, origin: null, nodes: [node(1, 3), node(2, 1)] });
  t.deepEqual(p.unplaced, [1, 2]);
  t.is(p.root, null);
});

test("k substreams: a tree parent feeds all k, the bitmask has k bits", (t) => {
  const p = buildTree(snap(1, [node(1, 1), node(2, 0)], undefined, 4));
  t.deepEqual(p.nodes.get(2)?.parents, [1, 1, 1, 1]);
  t.deepEqual(p.nodes.get(1)?.children, [{ node: 2, substreams: 0b1111 }]);
  const k16 = buildTree(snap(1, [node(1, 0)], undefined, 16));
  t.is(k16.nodes.get(ORIGIN)?.children[0]?.substreams, 0xffff);
});

test("fan-out is capped by maxChildren", (t) => {
  const nodes = Array.from({ length: 40 }, (_, i) => node(i + 1, 0));
  const p = buildTree({ ...snap(100, nodes), maxChildren: 5 });
  t.is(childrenOf(p, ORIGIN).length, 5);
  t.is(treeCapacity(1e9, 1), DEFAULT_MAX_CHILDREN);
});

test("incremental: a leaving leaf changes nothing else", (t) => {
  const nodes = [node(1, 2), node(2, 2), node(3, 0), node(4, 0), node(5, 0)];
  const before = buildTree(snap(2, nodes));
  const after = buildTree(
    snap(
      2,
      nodes.filter((n) => n.id !== 4),
      before,
    ),
  );
  t.false(after.rebuilt);
  const edges = (p: Plan) => planEdges(p).filter((e) => e.child !== 4);
  t.deepEqual(edges(after), edges(before));
});

test("incremental: an orphaned subtree moves whole under a free slot", (t) => {
  // Joined one by one: origin(1) -> 1(cap 1) -> 2(cap 2) -> {3, 4}. 1 leaves: 2 takes its place with 3 and 4.
  const nodes = [node(1, 1), node(2, 2), node(3, 0), node(4, 0)];
  let before: Plan | undefined;
  for (let i = 1; i <= nodes.length; i++) before = buildTree(snap(1, nodes.slice(0, i), before));
  t.deepEqual(childrenOf(before!, ORIGIN), [1]);
  t.deepEqual(childrenOf(before!, 1), [2]);
  t.deepEqual(childrenOf(before!, 2), [3, 4]);
  const after = buildTree(snap(1, nodes.slice(1), before));
  t.false(after.rebuilt);
  t.deepEqual(childrenOf(after, ORIGIN), [2]);
  t.deepEqual(childrenOf(after, 2), [3, 4]);
});

test("incremental: a parent whose capacity drops keeps its earliest children", (t) => {
  const before = buildTree(snap(1, [node(1, 3), node(2, 0), node(3, 0), node(4, 0)]));
  t.deepEqual(childrenOf(before, 1), [2, 3, 4]);
  const after = buildTree(snap(1, [node(1, 1), node(2, 0), node(3, 0), node(4, 0)], before));
  t.deepEqual(childrenOf(after, 1), [2]);
  t.deepEqual(after.unplaced, [3, 4]);
});

test("full rebuild when the incremental plan is more than one level too deep", (t) => {
  // A chain origin -> 1 -> 2 -> 3 -> 4, then a node that could feed them all joins.
  let plan: Plan | undefined;
  const chain: TopologyNode[] = [];
  for (let id = 1; id <= 4; id++) {
    chain.push(node(id, 1));
    plan = buildTree(snap(1, chain, plan));
  }
  t.is(plan!.depth, 4);
  const big = { ...node(9, 10), joinedAt: 100 };
  const after = buildTree(snap(1, [...chain, big], plan));
  t.true(after.rebuilt);
  t.deepEqual(childrenOf(after, ORIGIN), [9]);
  t.is(after.depth, 2);
});

test("duplicate ids and the origin's own id in nodes are ignored", (t) => {
  const p = buildTree(snap(2, [node(1, 0), node(1, 5), { ...node(ORIGIN, 9) }]));
  t.deepEqual([...p.nodes.keys()], [ORIGIN, 1]);
});

test("bad snapshots are programming errors", (t) => {
  t.throws(() => buildTree({ ...snap(1, []), k: 0 }), { instanceOf: RangeError });
  t.throws(() => buildTree({ ...snap(1, []), k: 17 }), { instanceOf: RangeError });
  t.throws(() => buildTree({ ...snap(1, []), streamKbps: 0 }), { instanceOf: RangeError });
});

test("a corrupt previous plan with a cycle does not hang or keep the cycle", (t) => {
  const cyc: Plan = {
    k: 1,
    root: ORIGIN,
    rebuilt: false,
    depth: 0,
    unplaced: [],
    nodes: new Map([
      [ORIGIN, { parents: [null], children: [], depth: 0, tier: 0 }],
      [1, { parents: [2], children: [{ node: 2, substreams: 1 }], depth: 1, tier: 0 }],
      [2, { parents: [1], children: [{ node: 1, substreams: 1 }], depth: 2, tier: 0 }],
    ]),
  };
  const p = buildTree(snap(2, [node(1, 1), node(2, 1)], cyc));
  checkTree(t, snap(2, [node(1, 1), node(2, 1)]), p);
  t.deepEqual(p.unplaced, []);
});

// ---------------------------------------------------------------- properties

const arbNodes = fc
  .uniqueArray(
    fc.record({
      id: fc.integer({ min: 1, max: 500 }),
      region: fc.constantFrom("a", "b", "c"),
      uploadKbps: fc.oneof(
        fc.integer({ min: 0, max: 5 }).map((c) => c * STREAM),
        fc.integer({ min: 0, max: 6000 }),
      ),
      joinedAt: fc.integer({ min: 0, max: 50 }),
    }),
    { selector: (n) => n.id, maxLength: 40 },
  )
  .map((ns) => ns.filter((n) => n.id !== ORIGIN));

const arbSnapshot = fc.record({
  k: fc.integer({ min: 1, max: 4 }),
  streamKbps: fc.constant(STREAM),
  origin: fc.record({ id: fc.constant(ORIGIN), uploadKbps: fc.integer({ min: 0, max: 6000 }) }),
  nodes: arbNodes,
  maxChildren: fc.integer({ min: 1, max: 30 }),
});

type T = ExecutionContext;

/** Structural checks that hold for every plan: capacities, consistency, no cycles, depths. */
function checkTree(t: T, s: TopologySnapshot, p: Plan): void {
  const cap = (id: number) =>
    treeCapacity(
      id === ORIGIN ? s.origin!.uploadKbps : s.nodes.find((n) => n.id === id)!.uploadKbps,
      s.streamKbps,
      s.maxChildren,
    );
  const ids = [ORIGIN, ...s.nodes.map((n) => n.id)];
  t.is(p.nodes.size, new Set(ids).size);
  for (const [id, np] of p.nodes) {
    t.true(
      np.children.length <= cap(id),
      `node ${id} has ${np.children.length} children, capacity ${cap(id)}`,
    );
    t.is(np.parents.length, s.k);
    for (const c of np.children) {
      t.is(c.substreams, 2 ** s.k - 1);
      t.is(p.nodes.get(c.node)?.parents[0], id);
      t.is(p.nodes.get(c.node)?.depth, np.depth! + 1);
    }
    if (id === ORIGIN || np.depth === null) continue;
    // Walk up: must reach the origin in fewer steps than there are nodes (no cycle).
    let at: number | null | undefined = id;
    let steps = 0;
    while (at !== ORIGIN && at !== null && at !== undefined && steps <= p.nodes.size) {
      const here: number = at;
      const parent: number | null | undefined = p.nodes.get(here)?.parents[0];
      t.true(parent === null || parent === undefined || childrenOf(p, parent).includes(here));
      at = parent;
      steps++;
    }
    t.is(at, ORIGIN, `node ${id} does not reach the origin`);
    t.is(steps, np.depth!);
  }
  for (const id of p.unplaced) t.is(p.nodes.get(id)?.depth, null);
  const placed = [...p.nodes.values()].filter((n) => n.depth !== null).length;
  t.is(placed + p.unplaced.length, p.nodes.size);
}

/** Greedy by descending capacity places everyone iff the origin has a slot and all but the smallest offer n slots. */
function capacitySuffices(s: TopologySnapshot): boolean {
  const n = s.nodes.length;
  if (n === 0) return true;
  const caps = s.nodes.map((x) => treeCapacity(x.uploadKbps, s.streamKbps, s.maxChildren));
  const origin = treeCapacity(s.origin!.uploadKbps, s.streamKbps, s.maxChildren);
  return origin >= 1 && origin + caps.reduce((a, b) => a + b, 0) - Math.min(...caps) >= n;
}

test("property: capacities hold, no cycles, everyone placed when capacity suffices", (t) => {
  fc.assert(
    fc.property(arbSnapshot, (s) => {
      const p = buildTree(s);
      checkTree(t, s, p);
      if (capacitySuffices(s)) t.deepEqual(p.unplaced, []);
      else t.true(p.unplaced.length > 0);
    }),
    { numRuns: 300 },
  );
});

test("property: deterministic, whatever the order of the nodes", (t) => {
  fc.assert(
    fc.property(arbSnapshot, fc.integer(), (s, seed) => {
      const shuffled = [...s.nodes].sort(
        (a, b) => ((a.id * 7919 + seed) % 101) - ((b.id * 7919 + seed) % 101),
      );
      t.deepEqual(buildTree({ ...s, nodes: shuffled }), buildTree(s));
    }),
    { numRuns: 200 },
  );
});

test("property: incremental plans keep every still-valid old edge and stay within one level of a rebuild", (t) => {
  fc.assert(
    fc.property(arbSnapshot, arbNodes, fc.array(fc.boolean(), { maxLength: 40 }), (s, extra, keep) => {
      const before = buildTree(s);
      const survivors = s.nodes.filter((_, i) => keep[i] ?? true);
      const added = extra.filter((n) => !s.nodes.some((m) => m.id === n.id)).slice(0, 5);
      const next: TopologySnapshot = { ...s, nodes: [...survivors, ...added], previous: before };
      const after = buildTree(next);
      checkTree(t, next, after);
      const fresh = buildTree({ ...next, previous: undefined });
      t.true(after.depth <= fresh.depth + 1);
      t.true(after.unplaced.length <= fresh.unplaced.length);
      if (capacitySuffices(next)) t.deepEqual(after.unplaced, []);
      if (after.rebuilt) return;
      const present = new Set([ORIGIN, ...next.nodes.map((n) => n.id)]);
      for (const [p, np] of before.nodes) {
        if (!present.has(p)) continue;
        const cap = treeCapacity(
          p === ORIGIN ? next.origin!.uploadKbps : next.nodes.find((n) => n.id === p)!.uploadKbps,
          STREAM,
          next.maxChildren,
        );
        const eligible = np.children
          .map((c) => c.node)
          .filter((c) => present.has(c))
          .slice(0, cap);
        for (const c of eligible) {
          t.true(parentOf(after, c) === p || after.unplaced.includes(c), `old edge ${p} -> ${c} was dropped`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
