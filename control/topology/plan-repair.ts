/**
 * Plan repair, incremental: a join, a leave (or failure) or a congested link changes the plan
 * locally, in its cluster, without rebuilding the topology. Each returns the new plan and
 * the nodes whose assignment (tier, parents, children) changed: the DCM sends ASSIGN to
 * those only.
 *
 * Ownership: the plan passed in is consumed (its NodePlans are updated in place and shared
 * with the plan returned); keep using the returned one.
 *
 * Growth is incremental: a join into a region with no cluster of its tier, or whose clusters
 * are all full (maxClusterSize), opens a new cluster there (nobody else's assignment changes;
 * a full build would split the region's group round-robin instead), and joins count as no churn.
 *
 * Full rebuild (buildTieredPlan on the snapshot given) instead, when:
 * - the plan carries no working state (built elsewhere, or deserialised);
 * - a tier-1 node or the origin leaves, a node joins with the id of one present, or a recruit
 *   joins a region tier 1 does not cover;
 * - drift: leaves and fills (not congestion moves) since the last full build exceed rebuildChurn x the nodes present
 *   then, or membership grew by more than rebuildGrowth (x 2 by default: a flash crowd of N
 *   joins makes about log2 N rebuilds), or the origin runs short (90 % used) and its upload
 *   grew by more than rebuildOriginGrowth (+ one stream) since then, or a cluster is above maxClusterSize (an
 *   adopted plan), or bottom-tier clusters below minClusterSize / 2 hold at least
 *   max(minClusterSize, rebuildChurn x the nodes at the last build) nodes while another small
 *   or merged bottom-tier group exists to merge them with;
 * Drift is measured after every repair; when it is seen, the next change rebuilds (before
 * touching the plan, so `changed` is always relative to the plan the DCM holds). `planRebuild`
 * does it on demand (e.g. on a schedule). `plan.depth` after a repair is an upper bound.
 */
import { assignDiff } from "./diff.js";
import { buildTieredPlan } from "./engine.js";
import { addCluster, addRec } from "./records.js";
import { attach, ensureFeeders, type AttachContext } from "./attach.js";
import { attachState, fedCount, needed, trackedState, type Tracked } from "./plan-from-state.js";
import { homeFanout } from "./multitree.js";
import type { NodePlan, Plan } from "./plan.js";
import { ensureRobust } from "./robust-exits.js";
import type { ClusterState, Rec, State } from "./state.js";
import { fecNFor, type TierNode, type TierSnapshot } from "./tier-types.js";
import { UpperPools } from "./upper-pool.js";

export interface RepairResult {
  /** The plan (the one passed in, unchanged, when `due`). */
  plan: Plan;
  /**
   * Nodes whose ASSIGN content changed (ascending ids). After a rebuild: the candidates of
   * assignDiff (diff.ts), a superset that includes nodes the new plan dropped.
   */
  changed: number[];
  rebuilt: boolean;
  /**
   * With RepairOptions.deferRebuild: a full build is due and nothing was changed (the caller
   * builds, e.g. in steps with engine.ts buildSteps, from a snapshot that includes this change).
   */
  due?: boolean;
}

export interface RepairOptions {
  /** Report a full build that is due (RepairResult.due) instead of running it here. */
  deferRebuild?: boolean;
}

/**
 * A node joins: it becomes a tier-2 or tier-3 member of a cluster of its region. A
 * high-capacity node that the tier above cannot feed in its region's erasure-coded cluster is
 * relegated to the bottom tier instead (as a full build does, engine.ts).
 */
export function planJoin(plan: Plan, node: TierNode, s: TierSnapshot, o?: RepairOptions): RepairResult {
  const t = trackedState(plan);
  if (t === undefined || t.rebuildDue || t.st.originId === null || t.st.recs.has(node.id))
    return rebuild(plan, s, o);
  const st = t.st;
  // A recruit only ever serves tier 1: needed when its region has no live tier-1 node.
  if (node.role === "agent" && !node.watching) {
    context(t);
    const covered = (t.tier1 ?? []).some((r) => r.region === node.region);
    return covered ? { plan, changed: [], rebuilt: false } : rebuild(plan, s, o);
  }
  const high = st.policy.levels >= 3 && node.uploadKbps >= st.policy.highCapacity * st.streamKbps;
  const ctx = context(t);
  // A tiny plan rebuilds for a region with no cluster yet (cheap, and a full build merges small
  // regions and finds them two feeders); from MIN_GROW nodes on, the cluster opens incrementally.
  const grow = st.recs.size >= MIN_GROW;
  const coded = high ? clusterFor(plan, t, s, node.region, true, grow) : undefined;
  // An erasure-coded cluster takes a join when it has free slots in fec.k of its sub-trees (or
  // is young: fewer members than sub-trees): otherwise the tier above, and at last the origin,
  // would feed most of its sub-trees, while in the bottom tier the node is a strong interior node
  // (the relegated variant, as a full build does with what tier 1 cannot feed). The next
  // rebuild tiers it again.
  if (coded !== undefined && roomFor(st.clusters[coded.cl]!)) {
    const joined = joinCluster(t, ctx, node, coded.cl);
    if (fedCount(joined.r) >= needed(joined.r)) return finishJoin(plan, t, s, ctx, joined);
    undoJoin(t, joined.r);
  }
  if (coded?.opened === true) closeCluster(plan, t, ctx, coded.cl);
  const cl = clusterFor(plan, t, s, node.region, false, grow);
  if (cl === undefined) return rebuild(plan, s, o);
  const joined = joinCluster(t, ctx, node, cl.cl);
  return finishJoin(plan, t, s, ctx, joined);
}

/** Nodes from which a join opens a region's first cluster instead of rebuilding. */
const MIN_GROW = 16;

/**
 * The cluster a join goes to: the region's smallest of that kind (erasure-coded or bottom tier),
 * or a merged bottom-tier cluster holding the region; a new one when it is full, or when there
 * is none and `open`; else undefined.
 */
function clusterFor(
  plan: Plan,
  t: Tracked,
  s: TierSnapshot,
  region: string,
  fec: boolean,
  open: boolean,
): { cl: number; opened: boolean } | undefined {
  const st = t.st;
  const cl = pickCluster(st, region, fec);
  if (cl !== undefined && st.clusters[cl]!.plan.members.length < st.policy.maxClusterSize)
    return { cl, opened: false };
  return open || cl !== undefined ? { cl: openCluster(plan, t, s, region, fec), opened: true } : undefined;
}

/** An erasure-coded cluster a join may go to: young, or with free home slots in fec.k sub-trees. */
function roomFor(cs: ClusterState): boolean {
  if (cs.plan.members.length < cs.m) return true;
  let n = 0;
  for (const f of cs.free) if (f > 0) n++;
  return n >= (cs.plan.fec?.k ?? cs.m);
}

/** A new empty cluster of the region (its members come one join at a time). */
function openCluster(plan: Plan, t: Tracked, s: TierSnapshot, region: string, fec: boolean): number {
  const st = t.st;
  const p = st.policy;
  const tier = fec ? 2 : p.levels === 4 ? 4 : 3;
  const n = fec ? fecNFor(s.regions[region], p.fec) : undefined;
  const m = n !== undefined ? p.fec.k + n : st.k;
  const cs = addCluster(st, { tier, fec, regions: [region], merged: false, members: [] }, tier, m, n);
  cs.homes = Array.from({ length: m }, () => []);
  cs.free = new Array<number>(m).fill(0);
  plan.clusters?.push(cs.plan);
  return cs.plan.id;
}

/** Takes back the cluster openCluster just made (still empty: its one join was undone). */
function closeCluster(plan: Plan, t: Tracked, ctx: AttachContext, cl: number): void {
  const st = t.st;
  if (st.clusters.length - 1 !== cl || st.clusters[cl]!.plan.members.length > 0) return;
  st.clusters.pop();
  if (plan.clusters?.[cl] !== undefined && plan.clusters.length - 1 === cl) plan.clusters.pop();
  ctx.primaries?.delete(cl);
}

/** Adds the node to cluster `cl` with a home sub-tree and one parent per sub-tree where one can. */
function joinCluster(
  t: Tracked,
  ctx: AttachContext,
  node: TierNode,
  cl: number,
): { r: Rec; changed: Set<number> } {
  const st = t.st;
  const cs = st.clusters[cl]!;
  const m = cs.m;
  const r = addRec(st, node, cs.plan.tier, cl, m);
  if (cs.plan.fec !== undefined) r.np.fec = cs.plan.fec;
  cs.plan.members.push(r.id);
  const alg = cs.alg === "fec-tree" ? "fec-tree" : "tree";
  r.fan = homeFanout(st, r, alg, cs.plan.fec !== undefined ? st.policy.tier2FeedLinks : 0);
  if (r.fan > 0) {
    // Home: the sub-tree with the fewest free slots.
    let home = 0;
    for (let j = 1; j < m; j++) if (cs.free[j]! < cs.free[home]!) home = j;
    r.home = home;
    cs.homes[home]!.push(r.id);
    cs.free[home]! += r.fan;
  }
  const changed = new Set<number>([r.id]);
  for (let j = 0; j < m; j++) {
    if (attach(ctx, r, j)) changed.add(r.np.parents[j]!);
  }
  st.refreshDepth(r);
  return { r, changed };
}

/** Takes back a joinCluster whose node got no feed (it has no children yet). */
function undoJoin(t: Tracked, r: Rec): void {
  const st = t.st;
  r.np.parents.forEach((p, j) => {
    if (p !== null) st.unlink(st.get(p), r, j);
  });
  const cs = st.clusters[r.cluster]!;
  remove(cs.plan.members, r.id);
  if (r.home >= 0) {
    remove(cs.homes[r.home]!, r.id);
    cs.free[r.home]! -= r.fan;
  }
  st.recs.delete(r.id);
}

function finishJoin(
  plan: Plan,
  t: Tracked,
  s: TierSnapshot,
  ctx: AttachContext,
  joined: { r: Rec; changed: Set<number> },
): RepairResult {
  const { r, changed } = joined;
  const cs = t.st.clusters[r.cluster]!;
  (plan.nodes as Map<number, NodePlan>).set(r.id, r.np);
  if (r.np.fec !== undefined && fedCount(r) >= needed(r)) ctx.pools.add(r);
  cs.plan.depthBound = Math.max(cs.plan.depthBound, clusterBound(cs.plan.members.length));
  return finish(plan, t, s, changed, undefined, ctx, "join");
}

/** A node leaves or fails: its parents drop it, its children get new parents. */
export function planLeave(plan: Plan, id: number, s: TierSnapshot, o?: RepairOptions): RepairResult {
  const t = trackedState(plan);
  if (t === undefined || t.rebuildDue) return rebuild(plan, s, o);
  const st = t.st;
  const r = st.recs.get(id);
  if (r === undefined) return { plan, changed: [], rebuilt: false };
  if (st.originId === null) return leaveUnrooted(plan, t, r, s);
  if (r.tier <= 1) return rebuild(plan, s, o);
  const ctx = context(t);
  if (r.np.fec !== undefined) ctx.pools.remove(r);
  const changed = new Set<number>();
  r.np.parents.forEach((p, j) => {
    if (p === null) return;
    st.unlink(st.get(p), r, j);
    changed.add(p);
  });
  const orphans: Array<[Rec, number]> = [];
  for (const e of [...r.np.children]) {
    const c = st.get(e.node);
    for (let j = 0; j < 16; j++) {
      if ((e.substreams & (1 << j)) === 0) continue;
      st.unlink(r, c, j);
      orphans.push([c, j]);
    }
    changed.add(c.id);
  }
  const cs = st.clusters[r.cluster]!;
  remove(cs.plan.members, id);
  if (r.home >= 0) {
    remove(cs.homes[r.home]!, id);
    cs.free[r.home]! -= r.fan;
  }
  st.recs.delete(id);
  (plan.nodes as Map<number, NodePlan>).delete(id);
  t.unplaced.delete(id);
  const moved = new Set<number>();
  for (const [c, j] of orphans) {
    if (attach(ctx, c, j, undefined, moved, r.tier < c.tier)) changed.add(c.np.parents[j]!);
  }
  for (const [c] of orphans) st.refreshDepth(c);
  return finish(plan, t, s, changed, moved, ctx);
}

/**
 * A leave from a plan with no origin (lost, or not joined yet): nobody has links, every node is
 * unplaced ("no origin"); the node just goes. (Repairing would look the origin up: it has none.)
 */
function leaveUnrooted(plan: Plan, t: Tracked, r: Rec, s: TierSnapshot): RepairResult {
  const st = t.st;
  const cs = st.clusters[r.cluster];
  if (cs !== undefined) remove(cs.plan.members, r.id);
  st.recs.delete(r.id);
  (plan.nodes as Map<number, NodePlan>).delete(r.id);
  t.unplaced.delete(r.id);
  const next: Plan = {
    ...plan,
    unplaced: plan.unplaced.filter((x) => x !== r.id),
    unplacedReasons: new Map([...(plan.unplacedReasons ?? [])].filter(([x]) => x !== r.id)),
    rebuilt: false,
  };
  attachState(next, st, s, t);
  return { plan: next, changed: [], rebuilt: false };
}

/**
 * A node already in the plan gets a parent for each of its empty slots where one can
 * (adoption after a failover, the DCM's feed watchdog). `touched`: nodes whose assignment the
 * caller already changed (adopt.ts linked them); with none and no slot filled, nothing changed
 * and nothing is counted as churn. A tier-1 node the mesh does not reach rebuilds.
 */
export function planFill(
  plan: Plan,
  id: number,
  s: TierSnapshot,
  touched: Iterable<number> = [],
  o?: RepairOptions,
): RepairResult {
  const t = trackedState(plan);
  if (t === undefined || t.rebuildDue) return rebuild(plan, s, o);
  const st = t.st;
  const r = st.recs.get(id);
  if (r === undefined || r.tier === 0 || st.originId === null) return { plan, changed: [], rebuilt: false };
  if (r.tier === 1) return r.np.depth === null ? rebuild(plan, s, o) : { plan, changed: [], rebuilt: false };
  const ctx = context(t);
  const changed = new Set<number>(touched);
  const moved = new Set<number>();
  const wasFed = fedCount(r) >= needed(r);
  for (let j = 0; j < r.np.parents.length; j++) {
    if (r.np.parents[j] !== null) continue;
    if (attach(ctx, r, j, undefined, moved)) changed.add(r.np.parents[j]!);
  }
  if (changed.size === 0) return { plan, changed: [], rebuilt: false };
  changed.add(id);
  st.refreshDepth(r);
  // A coded node fed now can feed the tier below: the repair caches list it.
  if (r.np.fec !== undefined && !wasFed && fedCount(r) >= needed(r)) ctx.pools.add(r);
  return finish(plan, t, s, changed, moved, ctx);
}

/** planLeave under the name the DCM uses for a node that missed its heartbeats. */
export const planFail = planLeave;

/** Moves what `parent` sends `child` (a congested link) to other parents. */
export function planMove(
  plan: Plan,
  parent: number,
  child: number,
  s: TierSnapshot,
  o?: RepairOptions,
): RepairResult {
  const t = trackedState(plan);
  if (t === undefined || t.rebuildDue) return rebuild(plan, s, o);
  const st = t.st;
  const p = st.recs.get(parent);
  const c = st.recs.get(child);
  const e = p === undefined || c === undefined ? undefined : st.edge(p, child);
  if (p === undefined || c === undefined || e === undefined || c.tier <= 1 || st.originId === null)
    return { plan, changed: [], rebuilt: false };
  const changed = new Set<number>([parent, child]);
  const ctx = context(t);
  const moved = new Set<number>();
  for (let j = 0; j < 16; j++) {
    if ((e.substreams & (1 << j)) === 0) continue;
    st.unlink(p, c, j);
    if (attach(ctx, c, j, parent, moved)) changed.add(c.np.parents[j]!);
    else if (st.canFeed(p, c, st.clusters[c.cluster]!.alg)) st.link(p, c, j, st.clusters[c.cluster]!.alg);
  }
  st.refreshDepth(c);
  return finish(plan, t, s, changed, moved, ctx, "move");
}

function clusterBound(size: number): number {
  return Math.ceil(Math.log2(Math.max(2, size))) + 2;
}

function remove<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

/** Rebuilds from scratch now (the drift measure says when; a schedule may too). */
export function planRebuild(plan: Plan, s: TierSnapshot): RepairResult {
  return rebuild(plan, s);
}

/** The smallest cluster of the region in an erasure-coded tier (fec) or the bottom tier. */
function pickCluster(st: State, region: string, fec: boolean): number | undefined {
  let best: number | undefined;
  let merged: number | undefined;
  for (const cs of st.clusters) {
    if ((cs.plan.fec !== undefined) !== fec) continue;
    const size = cs.plan.members.length;
    if (cs.plan.region === region) {
      if (best === undefined || size < st.clusters[best]!.plan.members.length) best = cs.plan.id;
    } else if (cs.plan.merged && cs.plan.region.split("+").includes(region)) merged = cs.plan.id;
  }
  return best ?? merged;
}

/** Repair caches, built on first use after a full build and then kept up to date. */
function context(t: Tracked): AttachContext {
  const st = t.st;
  st.reserveHomeRoom = true;
  if (t.upper === undefined) {
    // After a full build: a home slot whose link or upload the tier below took is no free slot
    // (joins into the cluster would count on it).
    for (const r of st.recs.values()) {
      if (r.home < 0 || r.fan <= 0) continue;
      const cs = st.clusters[r.cluster];
      const cost = st.bitCost(cs?.alg === "fec-tree" ? "fec-tree" : "tree");
      const room = Math.min(r.maxKids - r.np.children.length, Math.floor((r.cap - r.used) / cost));
      const fan = Math.max(0, Math.min(r.fan, room));
      if (cs !== undefined) cs.free[r.home]! -= r.fan - fan;
      r.fan = fan;
    }
    const candidates: Rec[] = [];
    for (const r of st.recs.values()) {
      if (r.tier !== 1 && r.np.fec === undefined) continue;
      if (r.tier === 1 ? r.np.depth === null : fedCount(r) < needed(r)) continue;
      candidates.push(r);
    }
    candidates.sort((a, b) => b.cap - b.used - (a.cap - a.used));
    const pools = new UpperPools(st);
    for (const r of candidates) pools.add(r);
    st.onFreed = (p) => pools.freed(p);
    t.upper = pools;
    t.tier1 = [...st.recs.values()].filter((r) => r.tier === 1 && r.np.depth !== null);
  }
  return { st, pools: t.upper, origin: st.get(st.originId!) };
}

function finish(
  plan: Plan,
  t: Tracked,
  s: TierSnapshot,
  changed: Set<number>,
  moved = new Set<number>(),
  ctx = context(t),
  kind: "join" | "move" | "repair" = "repair",
): RepairResult {
  const st = t.st;
  const origin = st.get(st.originId!);
  const t1 = t.tier1 ?? [];
  let depth = plan.depth;
  const touched = new Set<number>();
  // Robustness for every node whose paths moved; feeders for every cluster touched.
  const check = (id: number): void => {
    const r = st.recs.get(id);
    if (r === undefined || r.tier < 2) return;
    touched.add(r.cluster);
    const before = r.np.parents.slice();
    ensureRobust(st, [r], t1, origin);
    r.np.parents.forEach((p, j) => {
      if (p === before[j]) return;
      changed.add(r.id);
      if (p !== null) changed.add(p);
      if (before[j] !== null && before[j] !== undefined) changed.add(before[j]!);
    });
  };
  for (const id of [...changed, ...moved]) check(id);
  for (const c of touched) {
    const cs = st.clusters[c]!;
    for (const id of ensureFeeders(ctx, cs, moved)) changed.add(id);
  }
  for (const id of moved) check(id);
  for (const id of [...changed]) {
    const r = st.recs.get(id);
    if (r === undefined) {
      changed.delete(id);
      continue;
    }
    if (r.tier < 2) continue;
    st.refreshDepth(r);
    if (r.np.depth !== null) depth = Math.max(depth, r.np.depth);
    if (fedCount(r) < needed(r))
      t.unplaced.set(id, "upload exhausted: no feeder and no origin upload left for its substreams");
    else t.unplaced.delete(id);
  }
  for (const c of touched) {
    const cs = st.clusters[c]!;
    cs.plan.feeders = [...cs.feeds.keys()].sort((a, b) => a - b);
  }
  const next: Plan = {
    ...plan,
    unplaced: t.unplaced.size === 0 ? [] : [...t.unplaced.keys()].sort((a, b) => a - b),
    unplacedReasons: t.unplaced.size === 0 ? new Map() : new Map(t.unplaced),
    depth,
    rebuilt: false,
  };
  // A join is growth, not churn: the growth rules of the drift measure count it. A congestion
  // move is no churn either: it corrects the plan for what a build cannot see (a bad path), and
  // a rebuild it triggered would put the moved children back on their bad paths.
  if (kind === "join") t.joins = (t.joins ?? 0) + 1;
  else if (kind === "repair") t.churn++;
  t.rebuildDue = drifted(t);
  attachState(next, st, s, t);
  return { plan: next, changed: [...changed].sort((a, b) => a - b), rebuilt: false };
}

/** The drift measure (module doc): true when a full rebuild is due. */
export function drifted(t: Tracked): boolean {
  const st = t.st;
  const p = st.policy;
  if (t.churn > p.rebuildChurn * Math.max(16, t.builtNodes)) return true;
  if (st.recs.size > (1 + p.rebuildGrowth) * Math.max(16, t.builtNodes)) return true;
  const origin = st.originId === null ? undefined : st.recs.get(st.originId);
  // The origin's share grew and its upload runs short (90 % used): worth a rebuild (relieve-origin.ts)
  // after rebuildChurn x the nodes at the last build changed (joins included), so that rebuilds
  // stay O(log N) in a flash crowd. While the origin has room, its growing share is no drift: a
  // rebuild moves nearly every node (a whole rollout of ASSIGNs, and every viewer's parents
  // changing): every +50 % of membership it made 19 rebuilds in 20,000 joins of the topology
  // mix, all this rule's; 13 now (a Dcm joining them one by one, reconciling every 8).
  const changes = t.churn + (t.joins ?? 0);
  const short = origin !== undefined && origin.used * 10 >= origin.cap * 9;
  if (
    short &&
    origin.used > t.originUnitsAtBuild * (1 + p.rebuildOriginGrowth) + st.U &&
    changes >= p.rebuildChurn * Math.max(16, t.builtNodes)
  )
    return true;
  // A cluster above the maximum is split by a rebuild; one below half the minimum is merged, but
  // only a bottom-tier one, and only with another small or merged bottom-tier group (tiers.ts):
  // erasure-coded clusters and a lone small region are built the same way again, so they are no
  // drift (they made every other repair of a small deployment, or of an adopted plan, a rebuild).
  // Tiny clusters are merged only once enough nodes sit in them to be worth a rebuild (each new
  // region starts with one: a rebuild per join until it reached minClusterSize / 2, before).
  const small = (cs: (typeof st.clusters)[number]): boolean =>
    cs.plan.fec === undefined && cs.plan.members.length > 0 && cs.plan.members.length < p.minClusterSize;
  let tiny = 0;
  let groups = 0;
  for (const cs of st.clusters) {
    const n = cs.plan.members.length;
    if (n > p.maxClusterSize) return true;
    if (small(cs) || (cs.plan.merged && cs.plan.fec === undefined)) groups++;
    if (small(cs) && !cs.plan.merged && n < Math.floor(p.minClusterSize / 2)) tiny += n;
  }
  return groups >= 2 && tiny > 0 && tiny >= Math.max(p.minClusterSize, p.rebuildChurn * t.builtNodes);
}

function rebuild(old: Plan, s: TierSnapshot, o?: RepairOptions): RepairResult {
  if (o?.deferRebuild === true) return { plan: old, changed: [], rebuilt: false, due: true };
  const plan = buildTieredPlan(s);
  // Structural (diff.ts): only the nodes whose ASSIGN may differ, the dropped ones included.
  return { plan, changed: assignDiff(old, plan), rebuilt: true };
}
