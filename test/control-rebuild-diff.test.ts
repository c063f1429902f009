import test from "ava";
import fc from "fast-check";
import { assignBodyFor } from "../control/assign-body.js";
import { clusterNames } from "../control/cluster-dcm.js";
import { Dcm, type DcmConfig, type DcmMember } from "../control/dcm/dcm.js";
import { assignDiff } from "../control/topology/diff.js";
import type { Plan } from "../control/topology/plan.js";
import { MemoryLogger } from "../seams/log.js";
import { canonicalAssignment as assignStateKey } from "./helpers/assign-canonical.js";

const STREAM = 600;
const REGIONS = ["east", "west", "north"];

function config(seed = 3): DcmConfig {
  return {
    logicalId: "dcm:live:all",
    channel: { name: "live", id: 1, k: 4, streamKbps: STREAM, segmentMs: 2000, fallbackUrl: "http://o" },
    topology: "tiered",
    seed,
  };
}

function tiered(seed = 3): Dcm {
  return new Dcm({ logger: new MemoryLogger() }, config(seed));
}

const ORIGIN: DcmMember = {
  id: 1,
  address: "127.0.0.1",
  port: 9000,
  region: "east",
  uploadKbps: 20 * STREAM,
  joinedAt: 0,
};

function member(id: number, region = REGIONS[id % 3]!): DcmMember {
  return {
    id,
    address: "127.0.0.2",
    port: 10_000 + id,
    region,
    uploadKbps: id % 5 === 0 ? 6000 : 1500,
    joinedAt: id,
    eligible: id % 7 === 0,
  };
}

/** 300 members in 3 regions, placed, then rebuilt once (the plan a full build gives). */
function built(): Dcm {
  const d = tiered();
  d.setOrigin(ORIGIN);
  for (let id = 2; id < 302; id++) d.upsert(member(id));
  d.reconcile();
  d.requestRebuild();
  d.reconcile();
  return d;
}

/**
 * The first node of the plan that does not hold the ASSIGN the plan gives it now (oracle: its
 * body built afresh and compared as ClusterDcm compares), else undefined.
 */
function outOfSync(d: Dcm): string | undefined {
  const members = new Map(d.members().map((m) => [m.id, m]));
  if (d.origin !== null) members.set(d.origin.id, d.origin);
  const peer = (id: number) => {
    const m = members.get(id);
    return m === undefined ? undefined : { node: m.id, address: m.address, port: m.port };
  };
  const plan = d.plan;
  for (const [id, np] of plan.nodes) {
    if (!members.has(id)) continue;
    const want = assignStateKey(assignBodyFor(plan, id, np, d.channel, peer, true));
    const held = d.assignment(id);
    if (held === undefined || assignStateKey(held) !== want)
      return `node ${id} holds ${held === undefined ? "nothing" : assignStateKey(held)}, the plan gives ${want}`;
  }
  // Each node's ASSIGN state sits with the cluster DCM its cluster is named for now.
  const names = clusterNames(d.logicalId, plan, true);
  const want = new Map<string, number>();
  for (const [id, np] of plan.nodes) if (members.has(id)) want.set(names(np), (want.get(names(np)) ?? 0) + 1);
  const got = d.clusterDcms();
  const expected = [...want].map(([logicalId, nodes]) => ({ logicalId, nodes }));
  expected.sort((a, b) => a.logicalId.localeCompare(b.logicalId));
  if (JSON.stringify(got) !== JSON.stringify(expected))
    return `cluster DCMs ${JSON.stringify(got)}, the plan names ${JSON.stringify(expected)}`;
  return undefined;
}

test("a rebuild that changes nothing sends nothing, and finds no candidate", (t) => {
  const d = built();
  const before = d.plan;
  d.requestRebuild();
  t.deepEqual(d.reconcile(), []);
  t.not(d.plan, before, "a new plan was built");
  // Only the origin is a candidate (its code comes from the clusters): one body compared, not 301.
  t.deepEqual(assignDiff(before, d.plan), [ORIGIN.id]);
  t.is(outOfSync(d), undefined);
});

test("a rebuild that changes one region's code sends only to that cluster, its feeders and the origin", (t) => {
  const d = built();
  const before: Plan = d.plan;
  const westCoded = new Set(
    (before.clusters ?? [])
      .filter((c) => c.region === "west" && c.fec !== undefined)
      .flatMap((c) => c.members),
  );
  t.true(westCoded.size > 50, "the west region has an erasure-coded cluster");
  t.true(d.setRegionQuality({ west: { loss: 0.05, jitterMs: 3 } }));
  const out = d.reconcile();
  const after = d.plan;
  const candidates = assignDiff(before, after);
  const tier1 = new Set([...after.nodes].filter(([, np]) => np.tier === 1).map(([id]) => id));
  for (const id of candidates)
    t.true(
      westCoded.has(id) || tier1.has(id) || id === ORIGIN.id,
      `candidate ${id} is west, tier 1 or origin`,
    );
  for (const a of out) t.true(candidates.includes(a.node), `ASSIGN to ${a.node} was a candidate`);
  t.true(
    out.filter((a) => westCoded.has(a.node)).length === westCoded.size,
    "every west coded node learns its new code",
  );
  t.false(
    out.some((a) => !westCoded.has(a.node) && !tier1.has(a.node) && a.node !== ORIGIN.id),
    "no other region's node gets an ASSIGN",
  );
  t.is(outOfSync(d), undefined);
});

test("rebuilds rolled out as diffs, whole or sliced, keep every node's ASSIGN equal to the plan's (random joins, leaves, rebuilds)", (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("join" as const), n: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant("leave" as const), pick: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant("rebuild" as const) }),
    fc.record({
      kind: fc.constant("quality" as const),
      region: fc.constantFrom(...REGIONS),
      loss: fc.constantFrom(0, 0.01, 0.05, 0.1),
    }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.constantFrom(undefined, 7),
      fc.constantFrom(undefined, 20),
      fc.array(op, { minLength: 1, maxLength: 12 }),
      (seed, rolloutSlice, planSlice, ops) => {
        // Sliced: the next change comes while the rollout waits, or while a build runs in
        // steps; checked once it is through (until then nodes hold the plan in force's).
        const d = new Dcm(
          { logger: new MemoryLogger() },
          {
            ...config(seed),
            ...(rolloutSlice === undefined ? {} : { rolloutSlice }),
            ...(planSlice === undefined ? {} : { planSlice }),
          },
        );
        d.setOrigin(ORIGIN);
        let next = 2;
        for (; next < 60; next++) d.upsert(member(next));
        d.reconcile();
        const quality: Record<string, { loss: number; jitterMs: number }> = {};
        for (const o of ops) {
          if (o.kind === "join") for (let i = 0; i < o.n; i++) d.upsert(member(next++));
          else if (o.kind === "leave") {
            const ids = d.members().map((m) => m.id);
            const id = ids[o.pick % ids.length];
            if (id !== undefined) d.remove(id);
          } else if (o.kind === "rebuild") d.requestRebuild();
          else {
            quality[o.region] = { loss: o.loss, jitterMs: 2 };
            d.setRegionQuality({ ...quality });
          }
          d.reconcile();
          const wrong = d.rolloutPending > 0 ? undefined : outOfSync(d);
          if (wrong !== undefined) throw new Error(wrong);
        }
        for (let i = 0; i < 1000 && (d.rolloutPending > 0 || d.needsReconcile); i++) d.reconcile();
        const wrong = outOfSync(d);
        if (wrong !== undefined) throw new Error(wrong);
      },
    ),
    { numRuns: 40, seed: 13 },
  );
  t.pass();
});

test("rolloutSlice: a rebuild's ASSIGNs come over several reconciles, joins go at once, the end is what one reconcile sends", (t) => {
  t.throws(() => new Dcm({ logger: new MemoryLogger() }, { ...config(), rolloutSlice: 0 }), {
    instanceOf: RangeError,
  });
  const whole = built();
  const sliced = new Dcm({ logger: new MemoryLogger() }, { ...config(), rolloutSlice: 20 });
  sliced.setOrigin(ORIGIN);
  for (let id = 2; id < 302; id++) sliced.upsert(member(id));
  // The first build (a rebuild) is sliced too: drain it.
  for (let i = 0; i < 100 && sliced.rolloutPending + sliced.reconcile().length > 0; i++);
  t.is(sliced.rolloutPending, 0);
  sliced.requestRebuild();
  sliced.reconcile();
  t.is(outOfSync(sliced), undefined);
  for (const d of [whole, sliced]) t.true(d.setRegionQuality({ west: { loss: 0.05, jitterMs: 3 } }));
  const all = whole.reconcile();
  t.true(all.length > 40);
  const first = sliced.reconcile();
  t.is(first.length, 20);
  t.is(sliced.rolloutPending, all.length - 20 + (all.length < 102 ? 102 - all.length : 0));
  // Nodes in the rollout hold an earlier plan's ASSIGN until their turn.
  t.not(outOfSync(sliced), undefined);
  // A join during the rollout is placed and told at once.
  const joiner = member(400, "east");
  sliced.upsert(joiner);
  whole.upsert(joiner);
  const withJoin = sliced.reconcile();
  t.true(withJoin.some((a) => a.node === joiner.id));
  // The watchdog asks for the rest while it waits.
  t.true(sliced.watchdog());
  const got = new Map<number, number>();
  for (const a of [...first, ...withJoin]) got.set(a.node, a.body.version);
  for (let i = 0; i < 100 && sliced.rolloutPending > 0; i++)
    for (const a of sliced.reconcile()) got.set(a.node, a.body.version);
  t.is(sliced.rolloutPending, 0);
  t.deepEqual(sliced.reconcile(), []);
  t.is(outOfSync(sliced), undefined);
  // The same plans, the same ASSIGNs in the end.
  const want = new Map<number, number>();
  for (const a of [...all, ...whole.reconcile()]) want.set(a.node, a.body.version);
  t.deepEqual(
    [...got.keys()].sort((a, b) => a - b),
    [...want.keys()].sort((a, b) => a - b),
  );
  for (const [id] of want) t.deepEqual(sliced.assignment(id), whole.assignment(id), `node ${id}`);
});

test("planSlice: a rebuild is built over several reconciles, the plan in force stays meanwhile, joins wait, the end is what one reconcile sends", (t) => {
  t.throws(() => new Dcm({ logger: new MemoryLogger() }, { ...config(), planSlice: 0 }), {
    instanceOf: RangeError,
  });
  const whole = built();
  const stepped = new Dcm({ logger: new MemoryLogger() }, { ...config(), planSlice: 50 });
  stepped.setOrigin(ORIGIN);
  for (let id = 2; id < 302; id++) stepped.upsert(member(id));
  const drain = (): Map<number, number> => {
    const got = new Map<number, number>();
    for (let i = 0; i < 1000 && stepped.needsReconcile; i++)
      for (const a of stepped.reconcile()) got.set(a.node, a.body.version);
    return got;
  };
  drain();
  stepped.requestRebuild();
  drain();
  t.false(stepped.needsReconcile);
  for (const id of whole.plan.nodes.keys())
    t.deepEqual(stepped.assignment(id), whole.assignment(id), `node ${id}`);

  for (const d of [whole, stepped]) t.true(d.setRegionQuality({ west: { loss: 0.05, jitterMs: 3 } }));
  const all = whole.reconcile();
  t.true(all.length > 40);
  const inForce = stepped.plan;
  t.deepEqual(stepped.reconcile(), []);
  t.true(stepped.needsReconcile);
  t.is(stepped.plan, inForce);
  // The watchdog sees no hole in a plan about to be replaced.
  stepped.watchdog();
  // A join while it builds is placed after it, on the new plan.
  const joiner = member(400, "east");
  stepped.upsert(joiner);
  whole.upsert(joiner);
  t.deepEqual(stepped.reconcile(), []);
  const got = drain();
  t.not(stepped.plan, inForce);
  t.is(outOfSync(stepped), undefined);
  const want = new Map<number, number>();
  for (const a of [...all, ...whole.reconcile()]) want.set(a.node, a.body.version);
  t.deepEqual(
    [...got.keys()].sort((a, b) => a - b),
    [...want.keys()].sort((a, b) => a - b),
  );
  for (const [id] of want) t.deepEqual(stepped.assignment(id), whole.assignment(id), `node ${id}`);
});
