/**
 * Adoption (issue 12, DCM failover): a replacement DCM starts empty and rebuilds its plan from
 * what the nodes report, with no state from the DCM that died — each node's placement (its
 * RESUME: tier, role, cluster, fec, mesh, as its last ASSIGN said) and its links (its HEARTBEAT:
 * the parent of every substream slot, its children). It adopts that topology rather than
 * computing a new one, so a working tree is not reshuffled, and only then repairs what is
 * incomplete with the incremental repairs (plan-repair.ts). Pure: reports in, plan out.
 *
 * - `adoptPlan`: the plan as reported, with the engine's working state (state.ts) rebuilt under
 *   it, so that repairs continue from it as from a full build. What cannot be adopted is left
 *   out: a reported link whose parent is not in the plan, that the parent has no upload or link
 *   left for, that joins two symmetric NATs, climbs a tier or crosses clusters, closes a cycle,
 *   or puts a node interior in a second sub-tree; a member with no placement, a cluster id out of
 *   range, or a placement that does not fit the policy (tier, erasure code) is joined afresh.
 *   Tier 1 is the reported mesh (both ends' lists, the nodes present) with its BFS tree, as the
 *   engine builds it; a tier-1 node the mesh no longer reaches is joined afresh.
 * - `settleAdoption`: empty slots are filled (planFill, upper tiers first, so a tier-2 node fed
 *   again can feed tier 3), members not adopted join (planJoin), and the result is judged by
 *   checkPlan: a violation no repair makes (a mesh no longer c-connected, say) rebuilds.
 * - `planAdoptNode`: a member that resumes after the adoption: adopted when every parent it
 *   reports still fits the plan, else joined.
 * - `matchesReport`: whether an ASSIGN body is what the node reported it applied (then the
 *   node needs no ASSIGN: versions continue from its own).
 */
import { MAX_CHILDREN } from "../../protocol/limits.js";
import type { AssignBody, TierRole } from "../../protocol/messages.js";
import { buildTieredPlan } from "./engine.js";
import { attachState, finishPlan, trackedState } from "./plan-from-state.js";
import { homeFanout } from "./multitree.js";
import { bfs } from "./mesh.js";
import type { NodePlan, Plan } from "./plan.js";
import { addCluster, addOrigin, addRec, canonical } from "./records.js";
import { planFill, planJoin, planRebuild, type RepairResult } from "./plan-repair.js";
import { State, type ClusterState, type Rec } from "./state.js";
import { checkPlan, type Violation } from "./check.js";
import {
  clusterDepthBound,
  linkLimit,
  natCompatible,
  resolvePolicy,
  type TierNode,
  type TierPolicy,
  type TierSnapshot,
} from "./tier-types.js";

/** Where a node sits, as its last applied ASSIGN said (protocol Placement). */
export interface ReportedPlacement {
  tier: number;
  role?: TierRole;
  cluster?: number;
  fec?: { k: number; n: number };
  /** Tier-1 mesh neighbours' ids. */
  mesh?: readonly number[];
}

/** What one node reported: its placement (RESUME) and its last heartbeat's links. */
export interface NodeReport {
  placement?: ReportedPlacement;
  /** Parent id per substream slot (coded slots on an erasure-coded tier); absent: no heartbeat yet. */
  parents?: ReadonlyArray<number | null>;
  /** Child ids (absent: no heartbeat yet). */
  children?: readonly number[];
}

export interface Adoption {
  /** The plan as reported, repairable (plan-repair.ts continues from it). */
  plan: Plan;
  /** Members placed where they reported (some slots may be empty). */
  adopted: number[];
  /** Members that were not adopted and must join (settleAdoption joins them). */
  fresh: number[];
  /** Reported links left out. */
  dropped: number;
}

export interface Settled extends RepairResult {
  /** checkPlan of the adopted plan after repair; a violation no repair fixes made it rebuild. */
  violations: Violation[];
}

/** Cluster ids above the number of nodes plus this are not believed (a wild id would allocate). */
const CLUSTER_ID_SLACK = 64;

/** Violations of the adopted plan that no local repair makes: the plan is rebuilt. */
const FATAL: ReadonlySet<Violation["code"]> = new Set([
  "node-set",
  "edge-mismatch",
  "upload",
  "children",
  "connectivity",
  "interior",
  "depth",
  "nat",
  "region",
  "recruit",
]);

/** The plan the nodes report (module doc). `s.origin` must be set (else every node is unplaced). */
export function adoptPlan(s: TierSnapshot, reports: ReadonlyMap<number, NodeReport>): Adoption {
  const nodes = canonical(s.nodes, s.origin?.id);
  if (s.origin === null) return { plan: buildTieredPlan(s), adopted: [], fresh: [], dropped: 0 };
  const policy = resolvePolicy(s.policy);
  const st = new State(s.channel.k, s.channel.streamKbps, policy);
  const origin = addOrigin(st, s);
  const bottom = policy.levels === 4 ? 4 : 3;
  const fresh: number[] = [];
  const tier1: TierNode[] = [];
  const byCluster = new Map<number, Array<{ n: TierNode; pl: ReportedPlacement }>>();
  for (const n of nodes) {
    const pl = reports.get(n.id)?.placement;
    const recruit = n.role === "agent" && !n.watching;
    if (pl === undefined || pl.tier < 1) {
      // A recruit the old plan did not use stays out of this one too (it does not watch).
      if (!(recruit && pl !== undefined)) fresh.push(n.id);
      continue;
    }
    if (pl.tier === 1) {
      tier1.push(n);
      continue;
    }
    const cid = pl.cluster;
    if (recruit || cid === undefined || !fits(pl, policy, bottom) || cid > nodes.length + CLUSTER_ID_SLACK) {
      fresh.push(n.id);
      continue;
    }
    push(byCluster, cid, { n, pl });
  }

  // Clusters keep their ids (the ASSIGN carries them); ids nobody reports stay as empty clusters.
  const clusters: Array<{ cs: ClusterState; members: TierNode[] }> = [];
  const maxId = Math.max(-1, ...byCluster.keys());
  for (let id = 0; id <= maxId; id++) {
    const reported = byCluster.get(id) ?? [];
    // Members agree on the cluster's tier and code; a minority that does not is joined afresh.
    const sig = (pl: ReportedPlacement): string => `${pl.tier}/${pl.fec?.n ?? -1}`;
    const votes = new Map<string, number>();
    for (const { pl } of reported) votes.set(sig(pl), (votes.get(sig(pl)) ?? 0) + 1);
    let best: string | undefined;
    for (const [k, v] of votes) if (best === undefined || v > votes.get(best)!) best = k;
    const members: TierNode[] = [];
    let tier = bottom;
    let fecN: number | undefined;
    for (const { n, pl } of reported) {
      if (sig(pl) !== best) {
        fresh.push(n.id);
        continue;
      }
      members.push(n);
      tier = pl.tier;
      fecN = pl.fec?.n;
    }
    const regions = [...new Set(members.map((n) => n.region))].sort();
    const m = fecN === undefined ? s.channel.k : policy.fec.k + fecN;
    const cs = addCluster(
      st,
      { tier, fec: fecN !== undefined, regions, merged: regions.length > 1, members },
      tier,
      m,
      fecN,
    );
    cs.homes = Array.from({ length: m }, () => []);
    cs.free = new Array<number>(m).fill(0);
    clusters.push({ cs, members });
  }

  const t1 = tier1.map((n) => addRec(st, n, 1, -1));
  const meshOf = (id: number): readonly number[] | undefined => reports.get(id)?.placement?.mesh;
  const mesh = [origin, ...t1].some((r) => (meshOf(r.id)?.length ?? 0) > 0);
  st.tier1Algorithm = mesh || (t1.length === 0 && policy.tier1Algorithm === "mesh") ? "mesh" : "tree";
  let dropped = 0;
  if (st.tier1Algorithm === "mesh")
    adoptMesh(st, origin, t1, meshOf, (id) => {
      const p = reports.get(id)?.parents?.find((x) => x !== null);
      return p ?? undefined;
    });
  else dropped += adoptTier1Tree(st, origin, t1, reports);
  for (const r of t1) {
    if (r.np.depth !== null) continue;
    // Not reached from the origin: joined afresh below tier 1 (its mesh links go with it).
    dropTier1(st, r);
    fresh.push(r.id);
  }

  const lower: Rec[] = [];
  for (const { cs, members } of clusters)
    for (const n of members) {
      const r = addRec(st, n, cs.plan.tier, cs.plan.id, cs.m);
      if (cs.plan.fec !== undefined) r.np.fec = { ...cs.plan.fec };
      lower.push(r);
    }
  dropped += adoptLinks(st, lower, reports);
  for (const { cs } of clusters) settleCluster(st, cs);
  const plan = attachState(finishPlan(st, s, false), st, s);
  return { plan, adopted: [...st.recs.keys()].filter((id) => id !== origin.id), fresh, dropped };
}

/**
 * Repairs an adopted plan (module doc) and joins the members that were not adopted. The plan
 * passed in is consumed, as with every repair.
 */
export function settleAdoption(a: Adoption, s: TierSnapshot): Settled {
  let plan = a.plan;
  const changed = new Set<number>();
  let rebuilt = false;
  const take = (r: RepairResult): boolean => {
    plan = r.plan;
    for (const id of r.changed) changed.add(id);
    rebuilt ||= r.rebuilt;
    return r.rebuilt;
  };
  const tierOf = (id: number): number => plan.nodes.get(id)?.tier ?? 99;
  const holes = a.adopted
    .filter((id) => plan.nodes.get(id)?.parents.some((p) => p === null) ?? false)
    .sort((x, y) => tierOf(x) - tierOf(y) || x - y);
  const byId = new Map(s.nodes.map((n) => [n.id, n]));
  done: {
    for (const id of holes) if (take(planFill(plan, id, s))) break done;
    for (const id of a.fresh) {
      const node = byId.get(id);
      if (node !== undefined && !plan.nodes.has(id) && take(planJoin(plan, node, s))) break done;
    }
  }
  let violations = checkPlan(plan, s);
  if (!rebuilt && violations.some((v) => FATAL.has(v.code))) {
    take(planRebuild(plan, s));
    violations = checkPlan(plan, s);
  }
  const out = rebuilt ? [...plan.nodes.keys()] : [...changed].filter((id) => plan.nodes.has(id));
  return { plan, changed: out.sort((x, y) => x - y), rebuilt, violations };
}

/**
 * A member that resumed after the adoption: placed where it says when its cluster is in the
 * plan and every parent it reports can still feed it there (its empty slots are then filled);
 * otherwise it joins like a new node. `adopted` says which happened.
 */
export function planAdoptNode(
  plan: Plan,
  node: TierNode,
  report: NodeReport,
  s: TierSnapshot,
): { result: RepairResult; adopted: boolean } {
  const join = (): { result: RepairResult; adopted: boolean } => ({
    result: planJoin(plan, node, s),
    adopted: false,
  });
  const t = trackedState(plan);
  const pl = report.placement;
  const parents = report.parents;
  if (t === undefined || t.rebuildDue || t.st.originId === null || t.st.recs.has(node.id)) return join();
  if (pl === undefined || parents === undefined || pl.tier < 2 || pl.cluster === undefined) return join();
  if (node.role === "agent" && !node.watching) return join();
  const st = t.st;
  const cs = st.clusters[pl.cluster];
  if (cs === undefined || cs.plan.tier !== pl.tier || cs.plan.fec?.n !== pl.fec?.n) return join();
  if (cs.plan.region !== node.region && !(cs.plan.merged && cs.plan.region.split("+").includes(node.region)))
    return join();
  if (parents.length !== cs.m) return join();
  const r = addRec(st, node, cs.plan.tier, cs.plan.id, cs.m);
  if (cs.plan.fec !== undefined) r.np.fec = { ...cs.plan.fec };
  const alg = cs.alg === "fec-tree" ? "fec-tree" : "tree";
  const ok = parents.every((p, j) => {
    if (p === null) return true;
    const q = st.recs.get(p);
    if (q === undefined || q === r || !feedable(st, q, r, alg)) return false;
    if (q.tier !== r.tier) return q.tier < r.tier || q.tier === 0;
    return q.cluster === r.cluster && q.home === j && q.fan > 0 && q.tlocal[j]! + 1 <= cs.plan.depthBound;
  });
  if (!ok) {
    st.recs.delete(node.id);
    return join();
  }
  cs.plan.members.push(r.id);
  r.fan = homeFanout(st, r, alg, cs.plan.fec !== undefined ? st.policy.tier2FeedLinks : 0);
  if (r.fan > 0) {
    let home = 0;
    for (let j = 1; j < cs.m; j++) if (cs.free[j]! < cs.free[home]!) home = j;
    r.home = home;
    cs.homes[home]!.push(r.id);
    cs.free[home]! += r.fan;
  }
  const touched = new Set<number>([r.id]);
  parents.forEach((p, j) => {
    if (p === null) return;
    // Checked above; capacity is checked again, as one parent may feed several slots.
    const q = st.get(p);
    if (!feedable(st, q, r, alg)) return;
    st.link(q, r, j, alg);
    touched.add(p);
  });
  st.refreshDepth(r);
  (plan.nodes as Map<number, NodePlan>).set(r.id, r.np);
  return { result: planFill(plan, r.id, s, touched), adopted: true };
}

/** Whether `body` is the assignment the node reported it holds (placement and links). */
export function matchesReport(body: AssignBody, report: NodeReport | undefined): boolean {
  const pl = report?.placement;
  if (
    report === undefined ||
    pl === undefined ||
    report.parents === undefined ||
    report.children === undefined
  )
    return false;
  if (body.tier !== pl.tier || body.role !== pl.role || body.cluster !== pl.cluster) return false;
  if (body.fec?.k !== pl.fec?.k || body.fec?.n !== pl.fec?.n) return false;
  const mesh = (body.mesh ?? []).map((p) => p.node).sort((a, b) => a - b);
  const theirs = [...(pl.mesh ?? [])].sort((a, b) => a - b);
  if (mesh.join() !== theirs.join()) return false;
  // Slots past the end of a report are empty (the origin reports no parent slot at all).
  const reported = report.parents;
  const slots = Math.max(body.parents.length, reported.length);
  for (let j = 0; j < slots; j++) if ((body.parents[j]?.node ?? null) !== (reported[j] ?? null)) return false;
  const kids = body.children.map((c) => c.node).sort((a, b) => a - b);
  // A heartbeat lists at most MAX_CHILDREN children (the origin may have thousands): those must be planned.
  if (report.children.length >= MAX_CHILDREN && kids.length > report.children.length) {
    const planned = new Set(kids);
    return report.children.every((c) => planned.has(c));
  }
  return kids.join() === [...report.children].sort((a, b) => a - b).join();
}

function fits(pl: ReportedPlacement, policy: TierPolicy, bottom: number): boolean {
  if (!Number.isInteger(pl.tier) || pl.tier < 2 || pl.tier > bottom) return false;
  if (policy.levels === 2 && pl.tier !== 3) return false;
  if (!Number.isInteger(pl.cluster) || pl.cluster! < 0) return false;
  const coded = pl.tier < bottom;
  if (coded !== (pl.fec !== undefined)) return false;
  return pl.fec === undefined || (pl.fec.k === policy.fec.k && pl.fec.n >= 0 && pl.fec.k + pl.fec.n <= 16);
}

/**
 * Tier 1 as a mesh (tier1.ts): the reported neighbour lists, flooding costs, the BFS tree. A node
 * floods to and from every neighbour; its tree parent is a label (the plan's depth and the view):
 * the one it reports keeps it when that neighbour is one hop nearer the origin, as any BFS
 * parent is, so the adopted tree is the one the engine built, whatever order it searched in.
 */
function adoptMesh(
  st: State,
  origin: Rec,
  t1: Rec[],
  meshOf: (id: number) => readonly number[] | undefined,
  reportedParent: (id: number) => number | undefined,
): void {
  const all = (1 << st.k) - 1;
  const order = [origin, ...t1];
  const adj = new Map<number, number[]>(order.map((r) => [r.id, []]));
  for (const r of order)
    for (const v of meshOf(r.id) ?? []) {
      const a = adj.get(r.id)!;
      const b = adj.get(v);
      if (b === undefined || v === r.id || a.includes(v)) continue;
      a.push(v);
      b.push(r.id);
    }
  for (const list of adj.values()) list.sort((x, y) => x - y);
  const { parent, depth } = bfs(adj, origin.id);
  for (const r of order) {
    const nb = adj.get(r.id)!;
    r.np.mesh = nb;
    r.used += (r === origin ? nb.length : Math.max(0, nb.length - 1)) * st.U;
    if (r === origin) continue;
    r.np.depth = depth.get(r.id) ?? null;
    r.np.sources = [origin.id];
    const reported = reportedParent(r.id);
    const d = depth.get(r.id);
    const p =
      reported !== undefined && d !== undefined && nb.includes(reported) && depth.get(reported) === d - 1
        ? reported
        : parent.get(r.id);
    if (p === undefined || p === null) continue;
    r.np.parents.fill(p);
    st.get(p).np.children.push({ node: r.id, substreams: all, algorithm: "flood" });
  }
  for (const r of t1)
    r.maxKids = Math.max(0, linkLimit(st.policy, r.role) - r.np.mesh!.length + r.np.children.length);
}

/** Tier 1 as a tree (tier1.ts): each node's one reported parent (the origin or tier 1) for all k. */
function adoptTier1Tree(st: State, origin: Rec, t1: Rec[], reports: ReadonlyMap<number, NodeReport>): number {
  let dropped = 0;
  const state = new Map<number, "busy" | "done">();
  const place = (r: Rec): void => {
    if (state.has(r.id)) return;
    state.set(r.id, "busy");
    const ps = reports.get(r.id)?.parents ?? [];
    const p = ps[0];
    const q = p === null || p === undefined ? undefined : st.recs.get(p);
    const same = ps.length === st.k && ps.every((x) => x === p);
    if (q !== undefined && q !== r && same && q.tier <= 1) {
      if (q.tier === 1) place(q);
      if (state.get(q.id) !== "busy" && q.np.depth !== null && feedable(st, q, r, "tree", st.k)) {
        for (let j = 0; j < st.k; j++) st.link(q, r, j, "tree");
        r.np.depth = (q.np.depth ?? 0) + 1;
        r.np.sources = [origin.id];
      } else dropped++;
    } else if (p !== null && p !== undefined) dropped++;
    if (r.np.parents[0] === null) r.np.depth = null;
    state.set(r.id, "done");
  };
  for (const r of t1) place(r);
  return dropped;
}

/** Takes an unreachable tier-1 node back out of the state (it joins afresh). */
function dropTier1(st: State, r: Rec): void {
  for (const e of [...r.np.children]) {
    const c = st.get(e.node);
    for (let j = 0; j < 16; j++) if ((e.substreams & (1 << j)) !== 0) st.unlink(r, c, j);
  }
  r.np.parents.forEach((p, j) => {
    if (p !== null) st.unlink(st.get(p), r, j);
  });
  for (const v of r.np.mesh ?? []) {
    const other = st.recs.get(v);
    if (other?.np.mesh !== undefined) other.np.mesh = other.np.mesh.filter((x) => x !== r.id);
  }
  st.recs.delete(r.id);
}

/**
 * The reported links below tier 1, tier by tier (an upper parent's depth is known before its
 * children are linked) and, within a tier, parents before children in each sub-tree.
 */
function adoptLinks(st: State, lower: Rec[], reports: ReadonlyMap<number, NodeReport>): number {
  let dropped = 0;
  // Homes: a node is interior in the one sub-tree where most of its same-tier children are.
  const counts = new Map<number, number[]>();
  for (const c of lower) {
    (reports.get(c.id)?.parents ?? []).forEach((p, j) => {
      const q = p === null ? undefined : st.recs.get(p);
      if (q === undefined || q === c || q.tier !== c.tier || q.cluster !== c.cluster) return;
      let list = counts.get(q.id);
      if (list === undefined) counts.set(q.id, (list = new Array<number>(q.np.parents.length).fill(0)));
      if (j < list.length) list[j]!++;
    });
  }
  for (const [id, list] of counts) {
    const r = st.get(id);
    let home = 0;
    for (let j = 1; j < list.length; j++) if (list[j]! > list[home]!) home = j;
    r.home = home;
    st.clusters[r.cluster]!.homes[home]!.push(id);
  }
  const state = new Map<string, "busy" | "done">();
  const resolve = (c: Rec, j: number): void => {
    const key = `${c.id}/${j}`;
    if (state.has(key)) return;
    state.set(key, "busy");
    const p = reports.get(c.id)?.parents?.[j];
    if (p !== null && p !== undefined && j < c.np.parents.length) {
      const q = st.recs.get(p);
      const alg = st.clusters[c.cluster]!.alg === "fec-tree" ? "fec-tree" : "tree";
      let ok = q !== undefined && q !== c && (q.tier < c.tier || q.tier === 0);
      if (q !== undefined && q.tier === c.tier && q !== c) {
        ok = q.cluster === c.cluster && q.home === j;
        if (ok) resolve(q, j);
        // A cycle: q's slot j waits on this one.
        if (state.get(`${q.id}/${j}`) === "busy") ok = false;
      }
      if (ok && q!.tier === 1 && q!.np.depth === null) ok = false;
      if (ok && feedable(st, q!, c, alg)) st.link(q!, c, j, alg);
      else dropped++;
    }
    state.set(key, "done");
  };
  const tiers = [...new Set(lower.map((r) => r.tier))].sort((a, b) => a - b);
  for (const tier of tiers) {
    const level = lower.filter((r) => r.tier === tier);
    for (const c of level) for (let j = 0; j < c.np.parents.length; j++) resolve(c, j);
    for (const c of level) st.refreshDepth(c);
  }
  return dropped;
}

/** Capacity, link room and NAT for `bits` more substreams of p to c. */
function feedable(st: State, p: Rec, c: Rec, alg: "tree" | "fec-tree", bits = 1): boolean {
  if (!natCompatible(p.nat, c.nat)) return false;
  if (p.cap - p.used < bits * st.bitCost(alg)) return false;
  return p.np.children.length < p.maxKids || st.edge(p, c.id) !== undefined;
}

/**
 * A cluster's working figures once its links are in: free home slots (a node with room and no
 * home yet gets the sub-tree with the fewest, as a join does), and a depth bound no smaller than
 * the depth the adopted sub-trees have.
 */
function settleCluster(st: State, cs: ClusterState): void {
  const alg = cs.alg === "fec-tree" ? "fec-tree" : "tree";
  const keep = cs.plan.fec !== undefined ? st.policy.tier2FeedLinks : 0;
  const members = cs.plan.members.map((id) => st.recs.get(id)).filter((r): r is Rec => r !== undefined);
  cs.plan.members = members.map((r) => r.id);
  cs.free = new Array<number>(cs.m).fill(0);
  for (const r of members) {
    r.fan = homeFanout(st, r, alg, keep);
    if (r.home >= 0) cs.free[r.home]! += r.fan;
  }
  for (const r of members) {
    if (r.home >= 0 || r.fan <= 0) continue;
    let home = 0;
    for (let j = 1; j < cs.m; j++) if (cs.free[j]! < cs.free[home]!) home = j;
    r.home = home;
    cs.homes[home]!.push(r.id);
    cs.free[home]! += r.fan;
  }
  let local = 0;
  for (const r of members)
    r.np.parents.forEach((p, j) => {
      if (p !== null) local = Math.max(local, r.tlocal[j] ?? 0);
    });
  cs.plan.depthBound = Math.max(clusterDepthBound(members.length), local);
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}
