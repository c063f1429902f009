/**
 * Where a cluster's sub-trees get data from the tier above ("feeders"). A request for
 * sub-tree j of a child is served, in this order, by:
 *   1. an upper-tier node that already feeds this child another substream (one link carries
 *      several substreams: fewer child links, and the ASSIGN stays small) - except for the
 *      first feed of a sub-tree, its root;
 *   2. the cluster's primary feeder for j (primaries[j mod P], P >= 2 distinct nodes, so
 *      different substreams come from different feeders);
 *   3. the preference lists in order (same region first, then anyone with spare upload);
 *   4. the origin, which covers whatever deficit is left: it feeds the missing substreams
 *      directly.
 *   5. when even the origin is out of upload: a tier-1 node that the robustness rule (below)
 *      held back. The child is then fragile (checkPlan says so) rather than unfed. Only when
 *      nobody has upload left does a child stay unfed.
 * The origin is the last resort: it never bundles (step 1), and as a primary (step 2) it only
 * roots a sub-tree for a child it does not feed yet - one origin substream makes a child robust,
 * more would spend the origin's upload where the tiers above have room (a one-member
 * erasure-coded cluster, whose member roots every sub-tree, once took all of the origin's spare).
 * Capacity only shrinks while a plan is built, so each list keeps a cursor past the nodes
 * that are full.
 */
import type { LinkAlgorithm } from "./plan.js";
import type { Rec, State } from "./state.js";

export class Cursor {
  constructor(
    readonly items: readonly Rec[],
    /** Items before it have no room (a start past them, or the cursor's own skipping). */
    public at = 0,
  ) {}
}

export interface FeedSource {
  /**
   * An upper-tier node that can send `child` sub-tree j now (capacity, links, NAT), or
   * undefined. `root`: the sub-tree's first feed, which goes to primaries[j mod P] first.
   */
  take(j: number, child: Rec, root?: boolean): Rec | undefined;
}

export class Feeders implements FeedSource {
  constructor(
    private readonly st: State,
    private readonly alg: LinkAlgorithm,
    private readonly primaries: readonly Rec[],
    private readonly lists: readonly Cursor[],
    /** A node never handed out (a congested link's parent, moving its child away). */
    private readonly avoid?: number,
  ) {}

  /** Feeders this source has handed out (for the >= 2 distinct feeders rule). */
  readonly handed = new Set<number>();

  take(j: number, child: Rec, root = false): Rec | undefined {
    // A sub-tree root goes to a feeder the cluster does not use yet when there is one. Step 5
    // is not for roots: the caller tries a slot in the cluster, then asks again as a non-root.
    const r =
      (root ? this.#find(j, child, true, true, true) : undefined) ??
      this.#find(j, child, false, root, true) ??
      (root ? undefined : this.#find(j, child, false, false, false));
    if (r !== undefined) this.handed.add(r.id);
    return r;
  }

  /** `strict`: apply the robustness rule to tier-1 feeders (off only for the last pass, step 5). */
  #find(j: number, child: Rec, fresh: boolean, root: boolean, strict: boolean): Rec | undefined {
    const st = this.st;
    if (!fresh) for (const r of child.ups) if (r.tier !== 0 && this.#ok(r, child, false, strict)) return r;
    const P = this.primaries.length;
    for (let i = 0; i < P; i++) {
      const r = this.primaries[(j + i) % P]!;
      if (r.tier === 0 && (!root || child.ups.includes(r))) continue;
      if (this.#ok(r, child, fresh, strict)) return r;
    }
    const cost = st.bitCost(this.alg);
    for (const c of this.lists) {
      const items = c.items;
      while (c.at < items.length) {
        const r = items[c.at]!;
        if (r.cap - r.used >= cost && r.np.children.length < r.maxKids) break;
        c.at++;
      }
      for (let i = c.at; i < items.length; i++) {
        // Fresh roots beyond the primaries: only robust ones (tier 2, the origin).
        const r = items[i]!;
        if ((!fresh || r.tier !== 1) && this.#ok(r, child, fresh, strict)) return r;
      }
    }
    return undefined;
  }

  #ok(r: Rec, child: Rec, fresh: boolean, strict: boolean): boolean {
    return (
      r.id !== this.avoid &&
      (!fresh || !this.handed.has(r.id)) &&
      this.st.canFeed(r, child, this.alg) &&
      (!strict || this.diverse(r, child))
    );
  }

  /**
   * Robustness rule: a child fed straight from tier 1 must enter tier 1 at >= c distinct
   * nodes (or have the origin or a tier-2 node above it, which are robust themselves), so
   * a tier-1 node that already feeds it may feed it more only once that holds.
   */
  private diverse(r: Rec, child: Rec): boolean {
    if (r.tier !== 1) return true;
    let tier1 = 0;
    let again = false;
    for (const p of child.ups) {
      if (p.tier !== 1) return true;
      if (p === r) again = true;
      tier1++;
    }
    return !again || tier1 >= this.st.policy.c;
  }
}

/** Picks `count` distinct nodes with the most spare upload (and a free link) from the lists in order. */
export function pickPrimaries(
  st: State,
  lists: readonly Rec[][],
  count: number,
  skip: number,
  alg: LinkAlgorithm,
): Rec[] {
  const out: Rec[] = [];
  const seen = new Set<number>();
  const cost = st.bitCost(alg);
  for (const list of lists) {
    const sorted = list
      .filter((r) => !seen.has(r.id) && r.cap - r.used >= cost && r.np.children.length < r.maxKids)
      .sort((a, b) => b.cap - b.used - (a.cap - a.used) || a.id - b.id);
    // Rotate so that neighbouring clusters of one region start on different feeders.
    const start = sorted.length === 0 ? 0 : (skip * count) % sorted.length;
    for (let i = 0; i < sorted.length && out.length < count; i++) {
      const r = sorted[(start + i) % sorted.length]!;
      seen.add(r.id);
      out.push(r);
    }
    if (out.length >= count) break;
  }
  return out;
}

/** Sorts upper-tier records by spare upload, most first (the order a cursor walks). */
export function bySpare(list: Rec[]): Rec[] {
  return list.sort((a, b) => b.cap - b.used - (a.cap - a.used) || a.id - b.id);
}
