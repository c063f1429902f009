/**
 * A node's ASSIGN body from a plan (pure): the plan knows node ids, the DCM knows addresses
 * (`peer`). With the three-tier engine it adds role, cluster, each link's algorithm, the FEC
 * parameters and the mesh; with the foundation's tree it is the foundation's body.
 */
import {
  type AssignBody,
  type ChildLink,
  type FecParams,
  LinkAlgorithm,
  type Peer,
  TierRole,
} from "../protocol/messages.js";
import type { LinkAlgorithm as PlanAlgorithm, NodePlan, NodeRole, Plan } from "./topology/plan.js";

const ROLES: Record<NodeRole, TierRole> = {
  origin: TierRole.ORIGIN,
  tier1: TierRole.TIER1,
  waypoint: TierRole.WAYPOINT,
  tier2: TierRole.TIER2,
  tier3: TierRole.TIER3,
  tier4: TierRole.TIER4,
};

const ALGORITHMS: Record<PlanAlgorithm, LinkAlgorithm> = {
  tree: LinkAlgorithm.TREE,
  flood: LinkAlgorithm.FLOOD,
  "fec-tree": LinkAlgorithm.FEC_TREE,
};

export function wireAlgorithm(a: PlanAlgorithm | undefined): LinkAlgorithm {
  return a === undefined ? LinkAlgorithm.TREE : ALGORITHMS[a];
}

/**
 * Whether two bodies make the same assignment: everything but the version, the parts, the
 * parents' HTTP ports and the epoch, children in any order (a plan that lists the same links in
 * another order — a repair that unlinks and links again, a plan adopted from heartbeats — sends
 * no ASSIGN). Exact, and it allocates nothing unless the children are listed in another order:
 * a DCM compares every changed node's new body with the one it holds, on every reconcile
 * (issue 13).
 */
export function sameAssignment(a: AssignBody, b: AssignBody): boolean {
  return (
    a.channel === b.channel &&
    a.k === b.k &&
    a.tier === b.tier &&
    a.role === b.role &&
    a.cluster === b.cluster &&
    a.fec?.k === b.fec?.k &&
    a.fec?.n === b.fec?.n &&
    samePeers(a.parents, b.parents) &&
    samePeers(a.mesh, b.mesh) &&
    sameChildren(a.children, b.children)
  );
}

function samePeer(a: Peer | null, b: Peer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.node === b.node && a.address === b.address && a.port === b.port && a.algorithm === b.algorithm;
}

function samePeers(
  a: ReadonlyArray<Peer | null> | undefined,
  b: ReadonlyArray<Peer | null> | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!samePeer(a[i]!, b[i]!)) return false;
  return true;
}

function sameChild(a: ChildLink, b: ChildLink): boolean {
  return samePeer(a, b) && a.substreams === b.substreams;
}

function sameChildren(a: readonly ChildLink[], b: readonly ChildLink[]): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && sameChild(a[i]!, b[i]!)) i++;
  if (i === a.length) return true;
  // Another order (or another set): compared in node order.
  const byNode = (x: ChildLink, y: ChildLink): number => x.node - y.node;
  const sa = a.slice(i).sort(byNode);
  const sb = b.slice(i).sort(byNode);
  for (let j = 0; j < sa.length; j++) if (!sameChild(sa[j]!, sb[j]!)) return false;
  return true;
}

/**
 * The body (version 0: the DCM numbers it) for node `id`; `peer` resolves a node id to its
 * address (undefined: unknown, the link is left out).
 */
export function assignBodyFor(
  plan: Plan,
  id: number,
  np: NodePlan,
  channel: { id: number; k: number },
  peer: (id: number) => Peer | undefined,
  tiered: boolean,
): AssignBody {
  // One parent often feeds several substreams (entries in a row): its entry is built once.
  let lastParent: number | null = null;
  let lastEntry: Peer | null = null;
  const parents = np.parents.map((p) => {
    if (p === null) return null;
    if (p === lastParent) return lastEntry;
    lastParent = p;
    const base = peer(p);
    const a = base === undefined ? LinkAlgorithm.TREE : wireAlgorithm(linkAlgorithm(plan, p, id));
    // Object literals with their fields written out, not `{ ...base, ... }`: on Node 20 a spread
    // copy with fields added gets a hidden class of its own, about 230 B more per link kept in a
    // DCM's saved ASSIGN bodies (docs/performance.md "Memory per node").
    lastEntry =
      base === undefined
        ? null
        : a === LinkAlgorithm.TREE
          ? base
          : { node: base.node, address: base.address, port: base.port, algorithm: a };
    return lastEntry;
  });
  const body: AssignBody = {
    channel: channel.id,
    version: 0,
    k: plan.k,
    tier: np.tier,
    parents,
    children: np.children.flatMap((c): ChildLink[] => {
      const base = peer(c.node);
      if (base === undefined) return [];
      const a = wireAlgorithm(c.algorithm);
      return [
        a === LinkAlgorithm.TREE
          ? { node: base.node, address: base.address, port: base.port, substreams: c.substreams }
          : {
              node: base.node,
              address: base.address,
              port: base.port,
              substreams: c.substreams,
              algorithm: a,
            },
      ];
    }),
  };
  if (!tiered) return body;
  if (np.role !== undefined) body.role = ROLES[np.role];
  if (np.cluster !== undefined) body.cluster = np.cluster;
  // The origin learns the channel's code too: its segments end on a group boundary.
  const fec = fecOf(plan, np) ?? (id === plan.root ? plan.clusters?.find((c) => c.fec)?.fec : undefined);
  if (fec !== undefined) body.fec = fec;
  if (np.mesh !== undefined && np.mesh.length > 0)
    body.mesh = np.mesh.flatMap((m) => {
      const p = peer(m);
      return p === undefined ? [] : [p];
    });
  return body;
}

/** The algorithm of the link `parent` -> `child` as the parent's plan has it. */
function linkAlgorithm(plan: Plan, parent: number, child: number): PlanAlgorithm | undefined {
  const children = plan.nodes.get(parent)?.children;
  if (children === undefined) return undefined;
  for (const c of children) if (c.node === child) return c.algorithm;
  return undefined;
}

/** The node's own code (tier 2), else the widest code among its coded children (a tier-1 feeder). */
function fecOf(plan: Plan, np: NodePlan): FecParams | undefined {
  if (np.fec !== undefined) return { ...np.fec };
  let out: FecParams | undefined;
  for (const c of np.children) {
    if (c.algorithm !== "fec-tree") continue;
    const f = plan.nodes.get(c.node)?.fec;
    if (f === undefined) continue;
    if (out === undefined || f.k + f.n > out.k + out.n) out = { ...f };
  }
  return out;
}
