/**
 * Adoption after a failover (issue 12): a replacement DCM takes the topology from what the nodes
 * report (their RESUME and heartbeats: reports.ts) instead of planning afresh. Here: what a node
 * reports when it resumes (ResumeReport), the adopted plan of either engine (the three-tier one
 * through topology/adopt.ts, the foundation's tree from each member's slot-0 parent), what
 * finishAdoption() did (AdoptionSummary), the canonical view two DCMs compare (DcmView,
 * viewDigest), and the members that resumed after the adoption and wait for their first
 * heartbeat to be adopted (LateResumers, which owns that wait). Pure functions besides
 * LateResumers; the Dcm applies what they return.
 */
import { createHash } from "node:crypto";
import { parentAt } from "../heartbeat-report.js";
import { adoptPlan, type ReportedPlacement, settleAdoption } from "../topology/adopt.js";
import type { NodePlan, Plan } from "../topology/plan.js";
import type { TierSnapshot } from "../topology/tier-types.js";
import type { NodeReports } from "./reports.js";

/** What a node says of itself when it resumes its session with a replacement DCM (RESUME). */
export interface ResumeReport {
  /** Where its last applied ASSIGN put it (protocol Placement). */
  placement?: ReportedPlacement;
  /** The version of the last ASSIGN it applied for the channel. */
  assignVersion: number;
}

/** What finishAdoption() did. */
export interface AdoptionSummary {
  /** False: no origin yet, still adopting (call again). */
  done: boolean;
  members: number;
  /** Members placed where they reported. */
  adopted: number;
  /** Members that were placed afresh (no placement, or one that no longer fits). */
  joined: number;
  /** Reported links left out (parent gone, no room, cycle, ...). */
  droppedLinks: number;
  /** Nodes the repairs changed (they get an ASSIGN at the next reconcile). */
  changed: number;
  /** The adopted plan could not be repaired locally: it was built afresh. */
  rebuilt: boolean;
  /** checkPlan codes still violated after the repairs (e.g. `unfed` for a node no upload can feed). */
  violations: string[];
}

/**
 * The topology in a canonical, JSON-able form, for equality checks (the view before a failure
 * equals the one adopted after it).
 */
export interface DcmView {
  /** Member ids (the origin is not a member), ascending. */
  members: number[];
  /**
   * Every planned link per slot: `substream` is the index in the child's parents, a channel
   * substream (seq mod k), or on an erasure-coded tier a coded substream (0..fec.k + fec.n - 1);
   * coded slots are included, and tier-1 nodes list their BFS parent in every slot. Sorted by
   * child, then substream.
   */
  links: Array<{ parent: number; child: number; substream: number }>;
}

/** SHA-256 (first 16 hex digits) of a view's canonical JSON (view() sorts it): two DCMs compare views by it. */
export function viewDigest(view: DcmView): string {
  return createHash("sha256").update(JSON.stringify(view)).digest("hex").slice(0, 16);
}

/** A canonical view of `plan`: `members` and every link per slot (DcmView). */
export function planView(plan: Plan, members: Iterable<number>): DcmView {
  const links: DcmView["links"] = [];
  for (const [child, np] of plan.nodes)
    np.parents.forEach((parent, substream) => {
      if (parent !== null) links.push({ parent, child, substream });
    });
  links.sort((a, b) => a.child - b.child || a.substream - b.substream || a.parent - b.parent);
  return { members: [...members].sort((a, b) => a - b), links };
}

/** The three-tier engine's adopted plan, settled (topology/adopt.ts), and the summary's counts. */
export function adoptTiered(
  s: TierSnapshot,
  reports: NodeReports,
): { plan: Plan; counts: Omit<AdoptionSummary, "done" | "members"> } {
  const byNode = new Map(reports.ids().map((id) => [id, reports.nodeReport(id)!]));
  const a = adoptPlan(s, byNode);
  const settled = settleAdoption(a, s);
  return {
    plan: settled.plan,
    counts: {
      adopted: a.adopted.length,
      joined: a.fresh.length,
      droppedLinks: a.dropped,
      changed: settled.changed.length,
      rebuilt: settled.rebuilt,
      violations: [...new Set(settled.violations.map((v) => v.code))].sort(),
    },
  };
}

/**
 * The foundation's tree as the nodes report it: each member under its slot-0 parent (`has`: a
 * member or the origin), each parent's children in the order its own heartbeat lists them, the
 * others after.
 */
export function reportedTree(
  k: number,
  origin: number,
  members: ReadonlyMap<number, unknown>,
  reports: NodeReports,
  has: (id: number) => boolean,
): Plan {
  const nodes = new Map<number, NodePlan>();
  const at = (id: number): NodePlan => {
    let np = nodes.get(id);
    if (np === undefined) nodes.set(id, (np = { parents: [], children: [], depth: null, tier: 0 }));
    return np;
  };
  const all = 2 ** k - 1;
  const parentOf = new Map<number, number>();
  for (const id of members.keys()) {
    const hb = reports.hb(id);
    const p = hb === undefined ? null : parentAt(hb, 0);
    if (p !== null && p !== id && has(p)) parentOf.set(id, p);
  }
  for (const p of [origin, ...members.keys()]) {
    const listed = reports.nodeReport(p)?.children ?? [];
    const mine = [...parentOf].filter(([, q]) => q === p).map(([c]) => c);
    const order = [...listed.filter((c) => mine.includes(c)), ...mine.filter((c) => !listed.includes(c))];
    for (const c of order) at(p).children.push({ node: c, substreams: all });
  }
  return { k, root: origin, nodes, unplaced: [], depth: 0, rebuilt: false };
}

/**
 * Members that resumed after the adoption ended (tiered), by watchdog ticks waited for their
 * first heartbeat: it shows their links, so they can be adopted where they say; after two ticks
 * without one they are adopted from their placement alone.
 */
export class LateResumers {
  readonly #waited = new Map<number, number>();

  /** `id` resumed late: it waits for its first heartbeat. */
  wait(id: number): void {
    this.#waited.set(id, 0);
  }

  has(id: number): boolean {
    return this.#waited.has(id);
  }

  delete(id: number): void {
    this.#waited.delete(id);
  }

  /**
   * A watchdog tick: the members to adopt now (they leave the wait). One that is placed already
   * or no member any more leaves it too; one not `heard` yet waits up to two ticks.
   */
  due(
    placed: (id: number) => boolean,
    member: (id: number) => boolean,
    heard: (id: number) => boolean,
  ): number[] {
    const out: number[] = [];
    for (const [id, waited] of this.#waited) {
      if (placed(id) || !member(id)) {
        this.#waited.delete(id);
        continue;
      }
      if (!heard(id) && waited < 2) {
        this.#waited.set(id, waited + 1);
        continue;
      }
      this.#waited.delete(id);
      out.push(id);
    }
    return out;
  }
}
