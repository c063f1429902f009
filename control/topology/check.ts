/**
 * checkPlan: every invariant of a three-tier plan (docs/topology.md), recomputed from the
 * plan and the snapshot alone (not from the engine's working state), so it can judge a plan
 * from any source: tests, incremental repairs, and the DCM at runtime. Returns every
 * violation found; an empty list means the plan is sound.
 */
import { NatType } from "../../protocol/messages.js";
import { checkLastResort, type Room } from "./check-origin.js";
import { isVertexConnected } from "./connectivity.js";
import type { NodePlan, Plan } from "./plan.js";
import { gcd } from "./state.js";
import { linkLimit, natCompatible, resolvePolicy, type TierSnapshot } from "./tier-types.js";

export interface Violation {
  code:
    | "node-set"
    | "unfed"
    | "unexplained"
    | "edge-mismatch"
    | "upload"
    | "children"
    | "connectivity"
    | "interior"
    | "depth"
    | "nat"
    | "region"
    | "feeders"
    | "fragile"
    | "recruit"
    | "origin-spare"
    | "unfed-spare";
  node?: number;
  detail: string;
}

export function checkPlan(plan: Plan, s: TierSnapshot): Violation[] {
  const out: Violation[] = [];
  const bad = (code: Violation["code"], detail: string, node?: number): void => {
    if (out.length < 200) out.push(node === undefined ? { code, detail } : { code, node, detail });
  };
  const policy = resolvePolicy(s.policy);
  const { k, streamKbps: R } = s.channel;
  const U = (k * policy.fec.k) / gcd(k, policy.fec.k);
  const info = new Map(s.nodes.map((n) => [n.id, n]));
  const get = (id: number): NodePlan | undefined => plan.nodes.get(id);
  const origin = s.origin;
  const expected = new Set(info.keys());
  if (origin !== null) expected.add(origin.id);
  for (const id of expected)
    if (!plan.nodes.has(id) && !isRecruit(info.get(id))) bad("node-set", "missing from the plan", id);
  for (const id of plan.nodes.keys()) if (!expected.has(id)) bad("node-set", "not in the snapshot", id);
  if (origin === null) return out;
  const unplaced = new Set(plan.unplaced);
  for (const id of plan.unplaced)
    if (!plan.unplacedReasons?.has(id)) bad("unexplained", "unplaced without a reason", id);
  const upload = (id: number): number =>
    id === origin.id ? origin.uploadKbps : (info.get(id)?.uploadKbps ?? 0);
  const nat = (id: number): NatType =>
    id === origin.id ? (origin.nat ?? NatType.OPEN) : (info.get(id)?.nat ?? 0);
  const cost = (alg: string | undefined): number =>
    alg === "flood" ? 0 : alg === "fec-tree" ? U / policy.fec.k : U / k;
  const clusters = plan.clusters ?? [];
  const room = new Map<number, Room>();

  for (const [id, np] of plan.nodes) {
    if (isRecruit(info.get(id)) && np.tier !== 1) bad("recruit", `a recruit in tier ${np.tier}`, id);
    // Feeding: substream j arrives when its chain of same-tier parents reaches a placed node of the tier above.
    let fed = 0;
    if (np.tier >= 2) {
      np.parents.forEach((_, j) => {
        let at: number | null | undefined = np.parents[j];
        for (let hops = 0; at !== null && at !== undefined && hops < 64; hops++) {
          const cur = get(at);
          if (cur === undefined) break;
          if (cur.tier < np.tier || at === origin.id) {
            if (!unplaced.has(at)) fed++;
            break;
          }
          at = cur.parents[j];
        }
      });
    }
    const need = np.fec !== undefined ? np.fec.k : np.tier === 1 || id === origin.id ? 0 : k;
    if (np.tier >= 2 && fed < need && !unplaced.has(id))
      bad("unfed", `${fed} of ${need} substreams arrive`, id);
    if (np.tier === 1 && np.depth === null && !unplaced.has(id)) bad("unfed", "tier 1 unreachable", id);
    // Parent <-> child consistency.
    np.parents.forEach((p, j) => {
      if (p === null) return;
      const e = get(p)?.children.find((c) => c.node === id);
      if (e === undefined || (e.substreams & (1 << j)) === 0)
        bad("edge-mismatch", `parent ${p} lacks bit ${j}`, id);
    });
    let used = np.mesh === undefined ? 0 : (id === origin.id ? np.mesh.length : np.mesh.length - 1) * U;
    for (const e of np.children) {
      const c = get(e.node);
      for (let j = 0; j < 16; j++) {
        if ((e.substreams & (1 << j)) === 0) continue;
        used += cost(e.algorithm);
        if (c?.parents[j] !== id && e.algorithm !== "flood")
          bad("edge-mismatch", `child ${e.node} bit ${j}`, id);
      }
      if (!natCompatible(nat(id), nat(e.node)))
        bad("nat", `symmetric NAT on both ends of ${id} -> ${e.node}`, id);
      if (bottom(np) && c?.tier === np.tier && !clusters[np.cluster ?? -1]?.merged) {
        if (info.get(e.node)?.region !== info.get(id)?.region)
          bad("region", `bottom-tier link to ${e.node}`, id);
      }
    }
    const units = Math.floor((upload(id) * U) / R + 1e-9);
    if (used > units) bad("upload", `needs ${(used * R) / U} kbit/s`, id);
    const links =
      np.children.length + (np.mesh?.filter((m) => !np.children.some((c) => c.node === m)).length ?? 0);
    if (id !== origin.id && links > linkLimit(policy, np.role)) bad("children", `${links} links`, id);
    room.set(id, { spare: units - used, freeLink: id === origin.id || links < linkLimit(policy, np.role) });
    if (bottom(np)) {
      let interior = 0;
      for (const e of np.children) if (get(e.node)?.tier === np.tier) interior |= e.substreams;
      if ((interior & (interior - 1)) !== 0) bad("interior", "interior in more than one sub-tree", id);
    }
  }
  for (const x of checkLastResort(plan, s, room, cost)) bad(x.code, x.detail, x.node);
  checkDepthAndEntries(plan, policy.c, bad);
  checkMesh(
    plan,
    origin.id,
    { c: policy.c, tier1Algorithm: plan.tier1Algorithm ?? policy.tier1Algorithm },
    bad,
  );
  const uppers = [...plan.nodes].filter(
    ([id, n]) => (n.tier === 1 || n.fec !== undefined) && !unplaced.has(id),
  ).length;
  for (const cl of clusters) {
    const short = cl.members.some((id) => unplaced.has(id));
    const want = Math.min(2, uppers, cl.members.length * k);
    const onlyOrigin = cl.feeders.length === 1 && cl.feeders[0] === origin.id;
    if (cl.fec === undefined && !short && !onlyOrigin && cl.feeders.length < want)
      bad("feeders", `cluster ${cl.id} has ${cl.feeders.length} feeders`);
  }
  return out;
}

/** A member of the bottom tier (the plain multi-tree). */
function bottom(np: NodePlan): boolean {
  return np.tier >= 2 && np.fec === undefined;
}

type Bad = (code: Violation["code"], detail: string, node?: number) => void;

function checkMesh(
  plan: Plan,
  originId: number,
  policy: { c: number; tier1Algorithm: string },
  bad: Bad,
): void {
  if (policy.tier1Algorithm !== "mesh") return;
  const adj = new Map<number, number[]>();
  for (const [id, np] of plan.nodes) if (np.tier === 1 || id === originId) adj.set(id, np.mesh ?? []);
  for (const [id, list] of adj)
    for (const v of list)
      if (!adj.get(v)?.includes(id)) bad("connectivity", `mesh link ${id}-${v} one-way`, id);
  if (!isVertexConnected(adj, policy.c)) bad("connectivity", `tier 1 is not ${policy.c}-vertex-connected`);
}

/**
 * Per substream: hops below the nearest upper-tier node stay within the cluster's bound (no
 * cycles). Robustness: a node's upward paths enter tier 1 at the origin or at >= c distinct
 * tier-1 nodes, so removing any c - 1 of them (the mesh being c-connected) leaves a path.
 */
function checkDepthAndEntries(plan: Plan, c: number, bad: Bad): void {
  const bound = new Map((plan.clusters ?? []).map((cl) => [cl.id, cl.depthBound]));
  const SAFE = "safe";
  const entries = new Map<number, Set<number> | typeof SAFE>();
  /** Where the path of substream j leaves the node's own tier (its nearest upper-tier ancestor). */
  const exitOf = (id: number, j: number, tier: number): number | null => {
    let at: number | null | undefined = plan.nodes.get(id)?.parents[j];
    for (let hops = 0; at !== null && at !== undefined && hops < 64; hops++) {
      const cur = plan.nodes.get(at);
      if (cur === undefined) return null;
      if (cur.tier < tier || at === plan.root) return at;
      at = cur.parents[j];
    }
    return null;
  };
  const entryOf = (id: number): Set<number> | typeof SAFE => {
    const known = entries.get(id);
    if (known !== undefined) return known;
    const np = plan.nodes.get(id);
    if (np === undefined) return new Set();
    if (id === plan.root) return SAFE;
    if (np.tier <= 1) return new Set([id]);
    const set = new Set<number>();
    let result: Set<number> | typeof SAFE = set;
    for (let j = 0; j < np.parents.length && result !== SAFE; j++) {
      const up = exitOf(id, j, np.tier);
      if (up === null) continue;
      const e = entryOf(up);
      if (e === SAFE) result = SAFE;
      else for (const x of e) set.add(x);
      if (set.size >= c) result = SAFE;
    }
    entries.set(id, result);
    return result;
  };
  for (const [id, np] of plan.nodes) {
    if (np.tier < 2 || id === plan.root) continue;
    const limit = bound.get(np.cluster ?? -1) ?? 64;
    np.parents.forEach((_, j) => {
      let hops = 0;
      let at: number | null | undefined = id;
      while (at !== null && at !== undefined) {
        const cur = plan.nodes.get(at);
        if (cur === undefined || cur.tier < np.tier || at === plan.root) break;
        at = cur.parents[j];
        hops++;
        if (hops > limit) {
          bad("depth", `substream ${j}: more than ${limit} hops below the tier above`, id);
          break;
        }
      }
    });
    const e = entryOf(id);
    if (e !== SAFE && np.parents.some((p) => p !== null)) {
      bad("fragile", `enters tier 1 only at ${[...e].join(",")}`, id);
    }
  }
}

/** Upload (kbit/s) a node spends in a plan: flooding to its mesh neighbours plus its child links. */
export function planUploadKbps(plan: Plan, s: TierSnapshot, id: number): number {
  const policy = resolvePolicy(s.policy);
  const { k, streamKbps: R } = s.channel;
  const np = plan.nodes.get(id);
  if (np === undefined) return 0;
  let streams = np.mesh === undefined ? 0 : id === plan.root ? np.mesh.length : np.mesh.length - 1;
  for (const e of np.children) {
    if (e.algorithm === "flood") continue;
    let bits = 0;
    for (let x = e.substreams; x !== 0; x &= x - 1) bits++;
    streams += bits / (e.algorithm === "fec-tree" ? policy.fec.k : k);
  }
  return streams * R;
}

/** An agent that does not watch the channel: it may only relay in tier 1 (or stay out). */
function isRecruit(n: { role: string; watching: boolean } | undefined): boolean {
  return n !== undefined && n.role === "agent" && !n.watching;
}
