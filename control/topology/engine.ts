/**
 * The three-tier engine (US 10,091,285 FIG. 3-7): snapshot in, plan out, pure and
 * deterministic for a seed. It always builds from scratch (`previous` is not used): the
 * incremental path is plan-repair.ts. Tier 1 (mesh.ts), tier 2 (erasure-coded multi-tree) and tier 3
 * (multi-tree) are built top-down on one State so that each tier spends what the tier above
 * left: tier 1 pays the mesh, tier 2 its coded sub-trees, tier 3 uses its own upload first and
 * its feeders (tier 2 of the region, then tier 1, then anyone with spare, then the origin)
 * for the rest. The origin is the last resort: a final pass (relieve-origin.ts) hands what it sends
 * below tier 1 to upper-tier nodes left with room. See docs/topology.md.
 */
import { mulberry32 } from "../../seams/prng.js";
import { NatType } from "../../protocol/messages.js";
import { bySpare, Cursor, Feeders, pickPrimaries } from "./feeders.js";
import { attachState, fedCount, finishPlan, finishSteps, needed } from "./plan-from-state.js";
import { buildMultitree } from "./multitree.js";
import type { Plan, TopologyEngine } from "./plan.js";
import { addCluster, addOrigin, addRec, canonical } from "./records.js";
import { relieveOrigin } from "./relieve-origin.js";
import { ensureRobust } from "./robust-exits.js";
import { State, type Rec } from "./state.js";
import { StepMeter } from "./step-meter.js";
import { buildTier1 } from "./tier1.js";
import { fecNFor, resolvePolicy, type TierNode, type TierPolicy, type TierSnapshot } from "./tier-types.js";
import { assignTiers, type Group } from "./tiers.js";

export { addRec, canonical };

export function buildTieredPlan(s: TierSnapshot): Plan {
  const steps = buildSteps(s);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * buildTieredPlan in steps: the generator pauses (yields) about every BUILD_STEP nodes of work,
 * and returns the plan. A DCM runs a full build a few steps per reconcile, so that a rebuild of
 * 10^5 nodes (about a second) never holds the event loop at once (issue 13). The snapshot is read
 * in the first step; nothing else is shared, and the plan is the one buildTieredPlan returns.
 */
export function* buildSteps(s: TierSnapshot, work = new StepMeter(BUILD_STEP)): Generator<void, Plan, void> {
  const policy = resolvePolicy(s.policy);
  checkChannel(s);
  // An erasure-coded node the tiers above cannot feed (tier 1 is the origin alone, say, when no
  // agent is eligible) would stay unplaced beside fed tier-2 nodes with upload to spare: it is
  // relegated to the bottom tier, which they may feed, and the plan is built again (a few rounds
  // at most: each round relegates at least one node; only starved plans take a second one).
  const relegated = new Set<number>();
  const nodes = canonical(s.nodes, s.origin?.id);
  // Reading the snapshot's nodes and sorting them is a step of its own at 10^5.
  if (work.add(nodes.length)) yield;
  for (let round = 0; ; round++) {
    const { plan, unfedCoded } = yield* buildOnce(s, nodes, policy, relegated, work);
    if (unfedCoded.length === 0 || round >= MAX_RELEGATION_ROUNDS) return plan;
    for (const id of unfedCoded) relegated.add(id);
  }
}

/** Nodes of work (records added, members placed, primaries picked) between two steps of buildSteps. */
export const BUILD_STEP = 1000;

/** Builds after relegating more unfed erasure-coded nodes (buildTieredPlan) at most this often. */
const MAX_RELEGATION_ROUNDS = 3;

function* buildOnce(
  s: TierSnapshot,
  nodes: readonly TierNode[],
  policy: TierPolicy,
  relegated: ReadonlySet<number>,
  work: StepMeter,
): Generator<void, { plan: Plan; unfedCoded: number[] }, void> {
  const st = new State(s.channel.k, s.channel.streamKbps, policy);
  const step = (n: number): boolean => work.add(n);
  if (s.origin === null) {
    for (const n of nodes) addRec(st, n, 3, -1);
    return { plan: attachState(finishPlan(st, s, true), st, s), unfedCoded: [] };
  }
  const rng = mulberry32(s.seed);
  const key = new Map<number, number>();
  for (const n of nodes) key.set(n.id, rng());
  const origin = addOrigin(st, s);
  if (step(nodes.length)) yield;
  const { tier1, groups } = yield* assignTiers(nodes, policy, s.channel.streamKbps, key, relegated, work);
  const t1 = tier1.map((n) => addRec(st, n, 1, -1));
  st.tier1Algorithm = buildTier1(st, origin, t1);
  if (step(t1.length)) yield;
  const regionT1 = new Map<string, Rec[]>();
  for (const r of t1) push(regionT1, r.region, r);
  // Erasure-coded tiers, top down: tier 2 fed by tier 1, tier 3 (four levels) by tier 2.
  const regionT2 = new Map<string, Rec[]>();
  const fecTiers = [...new Set(groups.filter((g) => g.fec).map((g) => g.tier))].sort((a, b) => a - b);
  for (const tier of fecTiers) {
    const above = new Map<string, Rec[]>();
    if (tier === 2) for (const [r, list] of regionT1) above.set(r, list);
    else
      for (const [r, list] of regionT2)
        above.set(
          r,
          list.filter((x) => x.tier === tier - 1),
        );
    const all = [...above.values()].flat();
    const fresh = new Map<string, Rec[]>();
    const keep = feedLinks(groups, tier, policy, s.channel.k);
    if (step(nodes.length)) yield;
    for (const g of groups) {
      if (!g.fec || g.tier !== tier) continue;
      yield* buildFec(st, s, g, above, all, t1, origin, fresh, keep(g.regions[0]!), work);
      if (step(all.length)) yield;
    }
    // A node the tier above could not feed (the origin ran out) feeds nobody. The depth of a fed
    // one is known now: the tier below counts its own from it.
    for (const [r, list] of fresh)
      for (const x of list) {
        if (fedCount(x) < needed(x)) continue;
        st.refreshDepth(x);
        push(regionT2, r, x);
      }
  }
  const liveT1 = bySpare(t1.filter((r) => r.np.depth !== null));
  const upper = bySpare([...liveT1, ...[...regionT2.values()].flat()]);
  const global = new Cursor(upper);
  const originCursor = new Cursor([origin]);
  const regionCursors = new Map<string, Cursor[]>();
  // Every cluster gets >= 2 distinct primary feeders; their room for it is reserved before
  // any cluster is built, so the early clusters cannot use it all up.
  const count = Math.max(2, policy.c);
  const share = Math.ceil(s.channel.k / count) * st.bitCost("tree");
  const planned: Array<{ g: Group; primaries: Rec[] }> = [];
  for (const g of groups) {
    if (g.fec) continue;
    const local = [
      ...g.regions.flatMap((r) => regionT2.get(r) ?? []),
      ...g.regions.flatMap((r) => (regionT1.get(r) ?? []).filter((x) => x.np.depth !== null)),
    ];
    const primaries = robustFirst(
      pickPrimaries(st, [local, upper, [origin]], count, planned.length, "tree"),
      origin,
      s.channel.k,
      policy.c,
    );
    for (const p of primaries) reserve(p, share, 1);
    planned.push({ g, primaries });
    if (step(local.length)) yield;
  }
  for (const { g, primaries } of planned) {
    for (const p of primaries) reserve(p, -share, -1);
    const cursors = g.regions.flatMap((r) => {
      let c = regionCursors.get(r);
      if (c === undefined) {
        const t1r = (regionT1.get(r) ?? []).filter((x) => x.np.depth !== null);
        c = [new Cursor(bySpare([...(regionT2.get(r) ?? [])])), new Cursor(bySpare(t1r))];
        regionCursors.set(r, c);
      }
      return c;
    });
    const cl = addCluster(st, g, g.tier, s.channel.k);
    const members = g.members.map((n) => addRec(st, n, g.tier, cl.plan.id));
    const feeders = new Feeders(st, "tree", primaries, [...cursors, global, originCursor]);
    yield* buildMultitree(st, cl, members, feeders, 0, work);
    if ([...feeders.handed].some((id) => st.get(id).tier === 1)) ensureRobust(st, members, liveT1, origin);
    if (step(members.length)) yield;
  }
  yield* relieveOrigin(st, origin, work);
  const unfedCoded: number[] = [];
  for (const r of st.recs.values())
    if (r.tier >= 2 && r.np.fec !== undefined && fedCount(r) < needed(r)) unfedCoded.push(r.id);
  return { plan: attachState(yield* finishSteps(st, s, true, work), st, s), unfedCoded };
}

/**
 * The three-tier engine behind the foundation's `TopologyEngine` type, for the DCM as it is
 * today. What that snapshot lacks gets defaults: NAT unknown (compatible with everyone),
 * every node an eligible agent that watches (so the biggest uploads of each region can
 * reach tier 1), no region quality (fec.defaultN).
 */
export function threeTierEngine(policy?: Partial<TierPolicy>, seed = 1): TopologyEngine {
  return (s) =>
    buildTieredPlan({
      channel: { k: s.k, streamKbps: s.streamKbps },
      origin:
        s.origin === null
          ? null
          : { id: s.origin.id, uploadKbps: s.origin.uploadKbps, region: s.origin.region ?? "" },
      nodes: s.nodes.map((n) => ({
        ...n,
        nat: NatType.UNKNOWN,
        role: "agent" as const,
        eligible: true,
        watching: true,
      })),
      regions: {},
      policy: { ...(s.maxChildren === undefined ? {} : { maxChildren: s.maxChildren }), ...policy },
      seed,
    });
}

/**
 * Sub-tree j starts at primaries[j mod P]. Roots must be robust: a tier-2 node (its own
 * coded sub-trees enter tier 1 at >= c nodes) or the origin, or else >= c distinct tier-1
 * nodes over the m sub-trees. When neither holds the origin joins the primaries (it only
 * pays for the sub-tree roots).
 */
function robustFirst(primaries: Rec[], origin: Rec, m: number, c: number): Rec[] {
  const safe = primaries.filter((r) => r.tier !== 1);
  if (safe.length >= 2) return safe;
  const tier1 = primaries.filter((r) => r.tier === 1);
  if (safe.length === 0 && m >= c && tier1.length >= c) return primaries;
  return safe.includes(origin) ? safe : [...safe, origin];
}

/** Holds back upload and links of a primary feeder for its cluster (negative: releases them). */
function reserve(r: Rec, units: number, links: number): void {
  if (r.tier === 0) return;
  r.used += units;
  r.maxKids -= links;
}

/**
 * Child links an erasure-coded node of tier `tier` keeps free for the bottom tier of its region:
 * tier2FeedLinks, but no more than the bottom tier there can use (its members x k over the
 * coded members, + 1). A region of high-capacity viewers has (almost) no bottom tier: keeping
 * 8 of 24 links for it left 16 per node, which m = fec.k + n = 16 coded sub-trees (n = 4, a
 * lossy region) need for themselves with no slack at all, so the origin fed the shortfall until
 * it ran out and whole clusters were relegated, unfed (issue 13: 2,989 of 5,000 unplaced).
 * Four levels keep the policy's value (tier 2 also feeds the coded tier 3).
 */
function feedLinks(groups: Group[], tier: number, policy: TierPolicy, k: number): (region: string) => number {
  if (policy.levels !== 3 || tier !== 2) return () => policy.tier2FeedLinks;
  const coded = new Map<string, number>();
  const bottom = new Map<string, number>();
  for (const g of groups) {
    const m = g.fec ? coded : bottom;
    for (const n of g.members) m.set(n.region, (m.get(n.region) ?? 0) + 1);
  }
  return (region) => {
    const up = coded.get(region) ?? 0;
    const need = up === 0 ? 0 : Math.ceil(((bottom.get(region) ?? 0) * k) / up) + 1;
    return Math.min(policy.tier2FeedLinks, need);
  };
}

function checkChannel(s: TierSnapshot): void {
  const { k, streamKbps } = s.channel;
  if (!Number.isInteger(k) || k < 1 || k > 16) throw new RangeError(`k must be 1..16, got ${k}`);
  if (!Number.isFinite(streamKbps) || streamKbps <= 0)
    throw new RangeError(`streamKbps must be > 0, got ${streamKbps}`);
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

/**
 * One erasure-coded cluster, fed by the tier above (`above`: its nodes per region, the
 * region's own first; `all`: every one of them).
 */
function* buildFec(
  st: State,
  s: TierSnapshot,
  g: Group,
  above: Map<string, Rec[]>,
  all: Rec[],
  t1: Rec[],
  origin: Rec,
  out: Map<string, Rec[]>,
  keepLinks: number,
  work: StepMeter,
): Generator<void, void, void> {
  const region = g.regions[0]!;
  const n = fecNFor(s.regions[region], st.policy.fec);
  const m = st.policy.fec.k + n;
  const cl = addCluster(st, g, g.tier, m, n);
  const members = g.members.map((x) => {
    const r = addRec(st, x, g.tier, cl.plan.id, m);
    r.np.fec = { k: st.policy.fec.k, n };
    push(out, region, r);
    return r;
  });
  // Tier 1: reached by the mesh. The erasure-coded tier above (levels 4) lists fed nodes only:
  // all live (testing their depth here once left tier 3 to the origin alone).
  const live = (list: Rec[]): Rec[] => list.filter((r) => r.tier !== 1 || r.np.depth !== null);
  const local = live(above.get(region) ?? []);
  const everyone = live(all);
  // Robust roots: >= c distinct tier-1 nodes, or tier-2 nodes, or the origin among them.
  const primaries = robustFirst(
    pickPrimaries(st, [local, everyone, [origin]], Math.max(2, st.policy.c), 0, "fec-tree"),
    origin,
    m,
    st.policy.c,
  );
  const lists = [new Cursor(bySpare([...local])), new Cursor(bySpare([...everyone])), new Cursor([origin])];
  yield* buildMultitree(st, cl, members, new Feeders(st, "fec-tree", primaries, lists), keepLinks, work);
  if (work.add(members.length)) yield;
  ensureRobust(st, members, bySpare(live(t1)), origin);
}
