/**
 * The origin-as-last-resort invariants of checkPlan. The origin's upload is the scarcest in
 * the network (every byte of it leaves the broadcaster), so in a full build:
 *
 * - `origin-spare`: the origin feeds a node below tier 1 only what the tiers above cannot. Its
 *   link to such a node may carry one substream whatever the others have (one exit at the
 *   origin makes a node robust, robust-exits.ts), and the substreams in which that node is interior
 *   (moving those would move the sub-tree below it); any other substream on the link is a
 *   violation while a node that may feed the child (`feedsFromAbove`: placed, fed) has the
 *   upload, a link and a compatible NAT to carry it.
 * - `unfed-spare`: a node is left unfed (unplaced) only when neither such a node nor the
 *   origin has room for one of its missing substreams: the origin is planned up to its
 *   declared upload and never beyond, and when that is not enough the plan says so by its
 *   unplaced nodes (the DCM logs `nodes_unplaced`).
 *
 * Incremental repairs search the cluster's own feeders and regions only (plan-repair.ts), so a
 * repaired plan (`rebuilt: false`) is exempt: the drift measure rebuilds when the origin's
 * share grows. The builder's last pass (relieve-origin.ts) establishes both.
 */
import { NatType } from "../../protocol/messages.js";
import type { NodePlan, Plan } from "./plan.js";
import { natCompatible, type TierSnapshot } from "./tier-types.js";

/**
 * Who may feed a node from the tier above (tiers.ts): tier 2 (erasure-coded) is fed by tier 1,
 * an erasure-coded tier 3 (levels 4) by tier 2, the bottom tier by tier 1 and every
 * erasure-coded tier.
 */
export function feedsFromAbove(up: NodePlan, child: NodePlan): boolean {
  if (up.tier >= child.tier || up.tier < 1) return false;
  if (child.fec === undefined || child.tier <= 2) return true;
  return up.fec !== undefined && up.tier === child.tier - 1;
}

/** What a node has left, in the units of checkPlan: upload, and whether a new child link fits. */
export interface Room {
  spare: number;
  freeLink: boolean;
}

export interface LastResortViolation {
  code: "origin-spare" | "unfed-spare";
  node: number;
  detail: string;
}

function popcount(x: number): number {
  let n = 0;
  for (let b = x; b !== 0; b &= b - 1) n++;
  return n;
}

/** `room`: per node (the origin included); `cost`: units of one substream bit of a link algorithm. */
export function checkLastResort(
  plan: Plan,
  s: TierSnapshot,
  room: ReadonlyMap<number, Room>,
  cost: (alg: string | undefined) => number,
): LastResortViolation[] {
  const origin = s.origin;
  const out: LastResortViolation[] = [];
  if (origin === null || !plan.rebuilt) return out;
  const root = plan.nodes.get(origin.id);
  if (root === undefined) return out;
  const nat = new Map(s.nodes.map((n) => [n.id, n.nat]));
  nat.set(origin.id, origin.nat ?? NatType.OPEN);
  const unplaced = new Set(plan.unplaced);
  const placed = (id: number, np: NodePlan): boolean =>
    id !== origin.id && np.tier >= 1 && !unplaced.has(id) && (np.tier !== 1 || np.depth !== null);
  // Upper-tier nodes with upload and a link to spare: few once a plan is built, so a plain scan.
  const open: Array<[number, NodePlan]> = [];
  for (const [id, np] of plan.nodes) {
    const r = room.get(id);
    if (placed(id, np) && r !== undefined && r.freeLink && r.spare > 0) open.push([id, np]);
  }
  const fits = (id: number, child: number, alg: string | undefined): boolean =>
    (room.get(id)?.spare ?? 0) >= cost(alg) &&
    natCompatible(nat.get(id) ?? NatType.UNKNOWN, nat.get(child) ?? NatType.UNKNOWN);
  /** A node other than the origin that could send `child` one more substream. */
  const could = (child: number, c: NodePlan, alg: string | undefined): number | undefined => {
    // An upper node that already has a link to the child needs no free link.
    for (const p of c.parents) {
      if (p === null || p === origin.id) continue;
      const np = plan.nodes.get(p);
      if (np !== undefined && feedsFromAbove(np, c) && placed(p, np) && fits(p, child, alg)) return p;
    }
    return open.find(([id, np]) => feedsFromAbove(np, c) && fits(id, child, alg))?.[0];
  };
  for (const e of root.children) {
    const c = plan.nodes.get(e.node);
    if (c === undefined || c.tier < 2 || e.algorithm === "flood") continue;
    let interior = 0;
    for (const x of c.children) if (plan.nodes.get(x.node)?.tier === c.tier) interior |= x.substreams;
    const movable = Math.min(popcount(e.substreams & ~interior), popcount(e.substreams) - 1);
    if (movable <= 0) continue;
    const by = could(e.node, c, e.algorithm);
    if (by !== undefined)
      out.push({
        code: "origin-spare",
        node: e.node,
        detail: `the origin sends ${movable} substreams that node ${by} has room for`,
      });
  }
  for (const id of plan.unplaced) {
    const c = plan.nodes.get(id);
    if (c === undefined || c.tier < 2 || c.parents.every((p) => p !== null)) continue;
    const alg = c.fec === undefined ? "tree" : "fec-tree";
    const by = could(id, c, alg) ?? (fits(origin.id, id, alg) ? origin.id : undefined);
    if (by !== undefined)
      out.push({ code: "unfed-spare", node: id, detail: `unfed while node ${by} has room for a substream` });
  }
  return out;
}
