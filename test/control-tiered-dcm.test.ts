import test from "ava";
import { Dcm, type DcmMember } from "../control/dcm/dcm.js";
import { DEFAULT_ELIGIBILITY, eligibleFromHistory } from "../control/eligibility.js";
import { checkPlan } from "../control/topology/check.js";
import { splitAssign } from "../protocol/assign-parts.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { type AssignBody, LinkAlgorithm, MsgType, TierRole } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { linkHeartbeat } from "./helpers/link-heartbeat.js";

/** A heartbeat on this file's channel (3) with these links. */
const heartbeat = (...[parents, children]: Parameters<typeof linkHeartbeat>) =>
  linkHeartbeat(parents, children, 3);

const STREAM = 700;
const UPLOADS = [4000, 2000, 1000, 400]; // the demo's mix

function member(id: number, i = id): DcmMember {
  return {
    id,
    address: `127.0.${(i % 3) + 1}.${10 + i}`,
    port: 40_000 + i,
    region: `region-${"abc"[i % 3]}`,
    uploadKbps: UPLOADS[i % 4]!,
    joinedAt: i,
    eligible: true,
  };
}

function dcm(): Dcm {
  const d = new Dcm(
    { logger: new MemoryLogger() },
    {
      logicalId: "dcm:demo:all",
      channel: { name: "demo", id: 3, k: 1, streamKbps: STREAM, segmentMs: 2000, fallbackUrl: "http://o" },
      topology: "tiered",
    },
  );
  d.setOrigin({
    id: 1,
    address: "127.0.0.1",
    port: 39_000,
    region: "default",
    uploadKbps: 1750,
    joinedAt: 0,
  });
  return d;
}

function roundTrip(b: AssignBody): AssignBody {
  const parts = splitAssign(b).map((p) => {
    const r = decodeControl(
      encodeControl({ v: WIRE_VERSION, type: MsgType.ASSIGN, sender: 0, seq: 1, ts: 2, body: p }),
    );
    if (!r.ok || r.value.type !== MsgType.ASSIGN) throw new Error(r.ok ? "type" : r.error.message);
    return r.value.body;
  });
  return parts[0]!;
}

test("tiered DCM: the demo's 12 agents get tiers, roles, coded links and fec; every ASSIGN encodes", (t) => {
  const d = dcm();
  for (let i = 0; i < 12; i++) d.upsert(member(i + 2, i));
  const out = d.reconcile();
  t.is(d.topology, "tiered");
  t.deepEqual(checkPlan(d.plan, snapshotOf(d)), []);
  const byNode = new Map(out.map((a) => [a.node, a.body]));
  t.is(byNode.size, 13);
  const roles = [...byNode.values()].map((b) => b.role);
  t.true(roles.includes(TierRole.ORIGIN));
  t.true(roles.includes(TierRole.TIER1));
  t.true(roles.includes(TierRole.TIER2));
  t.true(roles.includes(TierRole.TIER3));
  for (const [id, b] of byNode) {
    t.deepEqual(roundTrip(b), b, `node ${id}`);
    if (b.role === TierRole.TIER2) {
      t.deepEqual(b.fec, { k: 12, n: 2 });
      t.is(b.parents.length, 14);
      t.true(b.parents.every((p) => p === null || p.algorithm === LinkAlgorithm.FEC_TREE));
      t.is(typeof b.cluster, "number");
    }
    const coded = b.children.filter((c) => c.algorithm === LinkAlgorithm.FEC_TREE);
    if (coded.length > 0) t.truthy(b.fec, `node ${id} feeds coded links`);
    t.is(b.k, 1);
  }
});

test("tiered DCM: an incremental join and leave send ASSIGN only to changed nodes", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  d.reconcile();
  const join = member(100, 47); // a weak node (400 kbit/s) in a region that has clusters
  d.upsert(join);
  const afterJoin = d.reconcile();
  t.true(afterJoin.some((a) => a.node === 100));
  t.true(afterJoin.length < 10, `${afterJoin.length} ASSIGNs`);
  t.false(d.plan.rebuilt);
  const parent = d.plan.nodes.get(100)!.parents[0]!;
  t.true(afterJoin.some((a) => a.node === parent));
  d.remove(100);
  const afterLeave = d.reconcile();
  t.deepEqual(
    afterLeave.map((a) => a.node),
    [parent],
  );
  t.deepEqual(checkPlan(d.plan, snapshotOf(d)), []);
});

test("tiered DCM: a congested link on successive heartbeats moves the child to another parent", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  d.reconcile();
  // A tier-3 child and its parent.
  const [child, np] = [...d.plan.nodes].find(([, n]) => n.role === "tier3" && n.parents[0] !== null)!;
  const parent = np.parents[0]!;
  const hb = (sent: number, recv: number): void => {
    d.onLinkReport(parent, heartbeat([], [{ node: child, ageMs: 0, lastSeq: sent }]));
    d.onLinkReport(child, heartbeat([{ node: parent, ageMs: 0, lastSeq: recv }], []));
  };
  hb(1000, 990);
  t.deepEqual(d.congestion(64, 0), { moved: [], held: [], pending: false });
  hb(1500, 1000); // 500 behind, not catching up, and the parent kept sending
  t.deepEqual(d.congestion(64, 1000), {
    moved: [{ parent, child, lag: 500, spare: false, moves: 1, backoffMs: 4000 }],
    held: [],
    pending: false,
  });
  const out = d.reconcile();
  t.true(out.some((a) => a.node === child));
  t.not(d.plan.nodes.get(child)!.parents[0], parent);
});

test("tiered DCM: a moved link whose replacement lags too is moved again only after the backoff", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  d.reconcile();
  const [child] = [...d.plan.nodes].find(([, n]) => n.role === "tier3" && n.parents[0] !== null)!;
  // The child's substream is dropped at its ingress: whoever feeds it, nothing arrives.
  const tick = (now: number): ReturnType<Dcm["congestion"]> => {
    const parent = d.plan.nodes.get(child)!.parents[0]!;
    d.onLinkReport(parent, heartbeat([], [{ node: child, ageMs: 0, lastSeq: 1 + now }]));
    d.onLinkReport(child, heartbeat([{ node: parent, ageMs: now, lastSeq: 0 }], []));
    const v = d.congestion(64, now);
    d.reconcile();
    return v;
  };
  const moves: Array<{ at: number; moves: number; backoffMs: number }> = [];
  let held = 0;
  for (let now = 0; now <= 45_000; now += 1000) {
    const v = tick(now);
    held += v.held.length;
    for (const m of v.moved) moves.push({ at: now, moves: m.moves, backoffMs: m.backoffMs });
  }
  t.deepEqual(moves, [
    { at: 1000, moves: 1, backoffMs: 4000 },
    { at: 5000, moves: 2, backoffMs: 8000 },
    { at: 13_000, moves: 3, backoffMs: 16_000 },
    { at: 29_000, moves: 4, backoffMs: 32_000 },
  ]);
  t.true(held > 20, `${held} held`);
  t.deepEqual(checkPlan(d.plan, snapshotOf(d)), []);
});

test("tiered DCM: a cut coded substream of a tier-2 node that still gets fec.k others is held, not moved", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  d.reconcile();
  // A tier-2 node and a parent feeding it one coded substream.
  const once = (ps: ReadonlyArray<number | null>, p: number): boolean =>
    ps.filter((x) => x === p).length === 1;
  const [child, np] = [...d.plan.nodes].find(
    ([, n]) =>
      n.fec !== undefined && n.parents.every((p) => p !== null) && n.parents.some((p) => once(n.parents, p!)),
  )!;
  const cut = np.parents.find((p) => once(np.parents, p!))!;
  t.true(np.parents.length - 1 >= np.fec!.k);
  const before = d.plan.nodes.get(child)!.parents.slice();
  const tick = (now: number, cutNode: number | null): ReturnType<Dcm["congestion"]> => {
    const parents = d.plan.nodes.get(child)!.parents;
    for (const p of new Set(parents))
      d.onLinkReport(p!, heartbeat([], [{ node: child, ageMs: 0, lastSeq: 1 + now }]));
    d.onLinkReport(
      child,
      heartbeat(
        parents.map((p) =>
          p === cutNode ? { node: p!, ageMs: now, lastSeq: 0 } : { node: p!, ageMs: 3, lastSeq: 1 + now },
        ),
        [],
      ),
    );
    return d.congestion(64, now);
  };
  for (let now = 0; now <= 45_000; now += 1000) {
    const v = tick(now, cut);
    t.deepEqual(v.moved, [], `${now} ms`);
    if (now > 0)
      t.deepEqual(
        v.held.map((h) => [h.parent, h.child, h.spare]),
        [[cut, child, true]],
      );
    t.deepEqual(d.reconcile(), [], "no ASSIGN");
  }
  t.deepEqual(d.plan.nodes.get(child)!.parents, before);
  // A minute after the lag was first seen the link is moved once, to restore the code's margin.
  let moved: ReturnType<Dcm["congestion"]>["moved"] = [];
  for (let now = 46_000; now <= 61_000 && moved.length === 0; now += 1000) moved = tick(now, cut).moved;
  t.deepEqual(
    moved.map((m) => [m.parent, m.spare, m.backoffMs]),
    [[cut, true, 60_000]],
  );
  t.true(d.reconcile().some((a) => a.node === child));
  t.false(d.plan.nodes.get(child)!.parents.includes(cut));
});

test("eligibility: history with hysteresis", (t) => {
  const ok = { reason: "left" as const, uptimeMs: 120_000 };
  const lost = { reason: "lost" as const, uptimeMs: 120_000 };
  t.true(eligibleFromHistory([], 0, undefined)); // no history: benefit of the doubt
  t.true(eligibleFromHistory([ok, ok, ok, ok, lost], 0, undefined)); // 20% failures
  t.false(eligibleFromHistory([ok, lost], 0, true)); // 50%: out
  t.false(eligibleFromHistory([ok, ok, lost], 0, false)); // 33%: between, stays out
  t.true(eligibleFromHistory([ok, ok, lost], 0, true)); // ... or stays in
  t.false(eligibleFromHistory([{ reason: "left", uptimeMs: 10_000 }], 0, true)); // short sessions
  t.true(eligibleFromHistory([lost, lost], DEFAULT_ELIGIBILITY.stableUptimeMs, false)); // up 10 min now
});

function snapshotOf(d: Dcm) {
  return {
    channel: { k: 1, streamKbps: STREAM },
    origin: { id: 1, uploadKbps: 1750, region: "default" },
    nodes: d.members().map((m) => ({
      id: m.id,
      region: m.region,
      uploadKbps: m.uploadKbps,
      nat: 0,
      role: "agent" as const,
      eligible: true,
      joinedAt: m.joinedAt,
      watching: true,
    })),
    regions: {},
    seed: 1,
  };
}

test("tiered DCM: a parent that shed children over its upload cap gets them moved to other parents", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  d.reconcile();
  const [child, np] = [...d.plan.nodes].find(([, n]) => n.role === "tier3" && n.parents[0] !== null)!;
  const parent = np.parents[0]!;
  const hb = heartbeat([], [{ node: child, ageMs: 5000, lastSeq: 10 }]);
  t.false(d.onLinkReport(parent, hb), "no shed reported: nothing moves");
  t.true(d.onLinkReport(parent, { ...hb, resources: { ...hb.resources, shed: 1 } }));
  const out = d.reconcile();
  t.true(out.some((a) => a.node === child));
  t.not(d.plan.nodes.get(child)!.parents[0], parent);
  // A child still fed (its link fresh) is not moved.
  const [c2, np2] = [...d.plan.nodes].find(([, n]) => n.role === "tier3" && n.parents[0] !== null)!;
  const fresh = heartbeat([], [{ node: c2, ageMs: 100, lastSeq: 10 }]);
  t.false(d.onLinkReport(np2.parents[0]!, { ...fresh, resources: { ...fresh.resources, shed: 1 } }));
});

test("tiered DCM: a member's new address goes to exactly the nodes whose ASSIGN names it", (t) => {
  const d = dcm();
  for (let i = 0; i < 40; i++) d.upsert(member(i + 2, i));
  while (d.needsReconcile) d.reconcile();
  // A node with parents and children (tier 1 or 2), and the nodes its links name.
  const [id, np] = [...d.plan.nodes].find(
    ([x, p]) => x !== 1 && p.children.length > 0 && p.parents.length > 0,
  )!;
  const linked = new Set<number>([
    ...np.parents.filter((p): p is number => p !== null),
    ...np.children.map((c) => c.node),
    ...(np.mesh ?? []),
  ]);
  t.true(linked.size >= 2, `node ${id} names ${linked.size} nodes`);
  const i = id - 2;
  d.upsert({ ...member(id, i), port: 50_000 + i });
  const out = d.reconcile();
  t.deepEqual(
    new Set(out.map((a) => a.node)),
    linked,
    "an ASSIGN to each node that names it, and to no other",
  );
  for (const a of out) {
    const named = [...a.body.parents, ...a.body.children, ...(a.body.mesh ?? [])].filter(
      (p) => p?.node === id,
    );
    t.true(
      named.length > 0 && named.every((p) => p!.port === 50_000 + i),
      `node ${a.node} names the new port`,
    );
  }
  t.false(d.needsReconcile);
});
