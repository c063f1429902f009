/**
 * The upper-tier nodes that incremental repairs (plan-repair.ts, attach.ts) take feeds from: per
 * region and tier, the fed erasure-coded nodes and the live tier-1 nodes, in preference order
 * (most spare upload first after a full build, then in the order they became able to feed).
 *
 * Every join asks for a feeder, and a scan of the region's list from its start passed every node
 * that had filled up since: quadratic, 98 s of CPU over a flash crowd of 10^5 nodes. A pool skips
 * the nodes it found without room (less than the cheapest substream, or no free link: a
 * necessary condition for feeding anyone, so a node with room is never skipped) and brings a node
 * back when one of its links goes (State.onFreed): O(1) amortised per request.
 */
import { Cursor } from "./feeders.js";
import type { Rec, State } from "./state.js";

/** One region's nodes of one tier. */
export class UpperPool {
  readonly #items: Rec[] = [];
  /** Position of each node in #items. */
  readonly #index = new Map<number, number>();
  /** #items before it had no room when last looked at. */
  #at = 0;

  constructor(private readonly hasRoom: (r: Rec) => boolean) {}

  get size(): number {
    return this.#items.length;
  }

  has(r: Rec): boolean {
    return this.#index.has(r.id);
  }

  /** Appends r (no-op when present). */
  add(r: Rec): void {
    if (this.#index.has(r.id)) return;
    this.#index.set(r.id, this.#items.length);
    this.#items.push(r);
  }

  remove(r: Rec): void {
    const i = this.#index.get(r.id);
    if (i === undefined) return;
    this.#items.splice(i, 1);
    this.#index.delete(r.id);
    for (let x = i; x < this.#items.length; x++) this.#index.set(this.#items[x]!.id, x);
    if (i < this.#at) this.#at--;
  }

  /** r has room again (a link of its went): it is no longer skipped. */
  freed(r: Rec): void {
    const i = this.#index.get(r.id);
    if (i === undefined || i >= this.#at) return;
    // Everything before #at is skipped alike: swap r to the boundary and move the boundary past it.
    const j = this.#at - 1;
    const other = this.#items[j]!;
    this.#items[j] = r;
    this.#items[i] = other;
    this.#index.set(r.id, j);
    this.#index.set(other.id, i);
    this.#at = j;
  }

  /**
   * A cursor over the nodes from the first with room, in order. The caller reads it before the
   * next change to the pool (it shares the pool's array).
   */
  cursor(): Cursor {
    while (this.#at < this.#items.length && !this.hasRoom(this.#items[this.#at]!)) this.#at++;
    return new Cursor(this.#items, this.#at);
  }

  /** The nodes in order, skipped ones included (tests, diagnostics). */
  all(): readonly Rec[] {
    return this.#items;
  }
}

/** The pools of a plan's State, by region and tier (1 .. levels - 1). */
export class UpperPools {
  readonly #pools = new Map<string, UpperPool[]>();
  readonly #hasRoom: (r: Rec) => boolean;

  constructor(st: State) {
    const min = Math.min(st.bitCost("tree"), st.bitCost("fec-tree"));
    this.#hasRoom = (r) => r.cap - r.used >= min && r.np.children.length < r.maxKids;
  }

  pool(region: string, tier: number): UpperPool {
    let tiers = this.#pools.get(region);
    if (tiers === undefined) this.#pools.set(region, (tiers = []));
    let p = tiers[tier];
    if (p === undefined) tiers[tier] = p = new UpperPool(this.#hasRoom);
    return p;
  }

  add(r: Rec): void {
    this.pool(r.region, r.tier).add(r);
  }

  has(r: Rec): boolean {
    return this.#pools.get(r.region)?.[r.tier]?.has(r) ?? false;
  }

  remove(r: Rec): void {
    this.#pools.get(r.region)?.[r.tier]?.remove(r);
  }

  freed(r: Rec): void {
    this.#pools.get(r.region)?.[r.tier]?.freed(r);
  }

  /**
   * Cursors over the nodes that may feed a node of `tier` in the regions of `regions` ("a+b" for
   * a merged cluster): region by region, the tier just above first, tier 1 last.
   */
  cursors(regions: string, tier: number): Cursor[] {
    const out: Cursor[] = [];
    for (const g of regions.split("+"))
      for (let x = tier - 1; x >= 1; x--) {
        const p = this.#pools.get(g)?.[x];
        if (p !== undefined && p.size > 0) out.push(p.cursor());
      }
    return out;
  }

  /** Every node of a region, tiers high to low (tests, diagnostics). */
  of(region: string): Rec[] {
    const tiers = this.#pools.get(region) ?? [];
    const out: Rec[] = [];
    for (let x = tiers.length - 1; x >= 1; x--) out.push(...(tiers[x]?.all() ?? []));
    return out;
  }
}
