/**
 * The feed watchdog of a channel's DCM, once per liveness tick: every member has a complete feed
 * in the plan (the plan side: empty slots filled, members placed, a rebuild-if-better at most
 * every rebuildTicks), and no planned link is dead by what both its ends report (the reported
 * side: moved after two passes in a row); a pass over many members goes a chunk per call. Owns
 * its ticks, the pass in progress, the feeds it found incomplete and the stale-link counts;
 * reads the plan, the members and the nodes' reports through FeedView and returns the changes it
 * wants (Change), which the Dcm queues. Logs `feed_incomplete` and `feed_stale`.
 */
import type { Logger } from "../../seams/log.js";
import {
  childAgeAt,
  childAt,
  childCount,
  type HeartbeatReport,
  parentAgeAt,
  parentAt,
  parentSlots,
  reportedShed,
} from "../heartbeat-report.js";
import type { NodePlan, Plan } from "../topology/plan.js";
import type { DcmMember } from "./member.js";
import type { Change } from "./planning.js";
import type { NodeReports } from "./reports.js";

export interface WatchdogPolicy {
  /**
   * A planned parent link whose child got no packet on it for this long, and whose parent says
   * it sent the child nothing for as long, is dead, ms (moved after two heartbeats in a row).
   */
  staleMs: number;
  /**
   * Watchdog ticks between two rebuilds the watchdog asks for (a feed a repair could not
   * complete), at REBUILD_TICKS_FULL_AT members or more; fewer in proportion below.
   */
  rebuildTicks: number;
  /**
   * Members one call checks at most: a pass over more members spans several calls, watchdog()
   * then watchdogStep() (at 10^5, a pass over everyone took 100-270 ms in one go; a chunk of
   * 16,384 up to 390 ms in the simulator). A link is dead after two passes in a row.
   */
  chunk: number;
}

/** Members from which the watchdog's rebuilds are spaced the whole `rebuildTicks` (#rebuildEvery). */
export const REBUILD_TICKS_FULL_AT = 10_000;

export const DEFAULT_WATCHDOG: WatchdogPolicy = { staleMs: 4000, rebuildTicks: 30, chunk: 4096 };

/** What the watchdog reads of its Dcm, at one call. */
export interface FeedView {
  readonly plan: Plan;
  readonly members: ReadonlyMap<number, DcmMember>;
  readonly hasOrigin: boolean;
  readonly tiered: boolean;
  /** Not a VoD channel: a VoD channel's links go quiet once a file is through. */
  readonly live: boolean;
  readonly channelName: string;
  readonly reports: NodeReports;
  /** A member or the origin. */
  has(id: number): boolean;
  /** A member that resumed after the adoption and waits to be placed (adoption's, not the watchdog's). */
  resuming(id: number): boolean;
  /** The node applied the ASSIGN the DCM holds for it (its heartbeat says so). */
  applied(id: number, hb: HeartbeatReport): boolean;
}

/** What one call of the watchdog found: whether the plan must be reconciled, and the changes it wants. */
export interface FeedVerdict {
  acted: boolean;
  changes: Change[];
}

export class Watchdog {
  readonly #logger: Logger;
  readonly #policy: WatchdogPolicy;
  #ticks = 0;
  #lastRebuild = -Infinity;
  /** Incomplete feeds the watchdog repaired ("filled") or asked a rebuild for ("rebuilt"), and at which tick. */
  readonly #incomplete = new Map<number, { stage: "filled" | "rebuilt"; tick: number; epoch: number }>();
  /** Counts membership and capacity changes: a feed a rebuild could not complete is retried after one. */
  #epoch = 0;
  /** Planned links whose last heartbeats said they were dead, and how many in a row: child -> parent -> count. */
  #stale = new Map<number, Map<number, number>>();
  /** The same, being gathered by the pass in progress (it replaces #stale when the pass ends). */
  #staleNext = new Map<number, Map<number, number>>();
  /** The pass in progress: the members it visits, and how far it got. */
  #pass: { ids: number[]; at: number } | undefined;

  constructor(logger: Logger, policy: Partial<WatchdogPolicy> | undefined) {
    this.#logger = logger;
    this.#policy = { ...DEFAULT_WATCHDOG, ...policy };
  }

  /** A liveness tick begins (watchdog()). */
  tick(): void {
    this.#ticks++;
  }

  /** Members came or went, or a capacity changed: a feed a rebuild could not complete may be retried. */
  membershipChanged(): void {
    this.#epoch++;
  }

  /** A member left. */
  forget(id: number): void {
    this.#incomplete.delete(id);
  }

  /** The pass over the members is not through (the next check() goes on with it). */
  get pending(): boolean {
    return this.#pass !== undefined && this.#pass.at < this.#pass.ids.length;
  }

  /**
   * Both sides of the watchdog over the next chunk of members. `placing`: changes are still
   * queued (changeSlice) or a full build runs in steps; they leave no holes to judge (the plan is
   * catching up with them, or about to be replaced), so only the reported side runs.
   */
  check(v: FeedView, placing: boolean): FeedVerdict {
    const chunk = this.#nextChunk(v.members);
    const changes: Change[] = [];
    let acted = false;
    if (!placing && this.#checkFeeds(v, chunk, changes)) acted = true;
    if (v.tiered && v.live && this.#checkStale(v, chunk, changes)) acted = true;
    return { acted, changes };
  }

  /**
   * The members this watchdog tick checks: the next `chunk` of the pass in progress. A pass
   * that ended hands over what it gathered (#staleNext), and the next one starts from the
   * members present then.
   */
  #nextChunk(members: ReadonlyMap<number, unknown>): number[] {
    if (this.#pass === undefined || this.#pass.at >= this.#pass.ids.length) {
      this.#stale = this.#staleNext;
      this.#staleNext = new Map();
      for (const id of [...this.#incomplete.keys()]) if (!members.has(id)) this.#incomplete.delete(id);
      this.#pass = { ids: [...members.keys()], at: 0 };
    }
    const p = this.#pass;
    const out = p.ids.slice(p.at, p.at + this.#policy.chunk);
    p.at += out.length;
    return out;
  }

  /** The plan side of the watchdog (watchdog()), over one chunk of the members. */
  #checkFeeds(v: FeedView, chunk: readonly number[], out: Change[]): boolean {
    if (!v.hasOrigin) return false;
    const incomplete: number[] = [];
    for (const id of chunk) {
      const m = v.members.get(id);
      if (m === undefined) {
        this.#incomplete.delete(id);
        continue;
      }
      const np = v.plan.nodes.get(m.id);
      if (v.resuming(m.id) || (np === undefined ? m.watching === false : fed(v, np)))
        this.#incomplete.delete(m.id);
      else incomplete.push(m.id);
    }
    if (!v.tiered) {
      // The tree is recomputed on every change: a hole is a change that was missed.
      const holes = incomplete.filter((id) => {
        const np = v.plan.nodes.get(id);
        return np === undefined || np.parents.some((p) => p !== null && !v.has(p));
      });
      if (holes.length === 0) return false;
      this.#logger.warn("feed_incomplete", { channel: v.channelName, ids: holes.slice(0, 20) });
      return true;
    }
    const fresh: number[] = [];
    let stuck = false;
    const every = this.#rebuildEvery(v.members.size);
    for (const id of incomplete) {
      const seen = this.#incomplete.get(id);
      // Still incomplete after a rebuild (no upload anywhere then): tried afresh once members or
      // capacities changed, and not before `every` ticks.
      const retry =
        seen?.stage === "rebuilt" && seen.epoch !== this.#epoch && this.#ticks - seen.tick >= every;
      if (seen === undefined || retry) {
        fresh.push(id);
        this.#incomplete.set(id, { stage: "filled", tick: this.#ticks, epoch: this.#epoch });
        out.push({ kind: v.plan.nodes.has(id) ? "fill" : "place", id });
      } else if (seen.stage === "filled") stuck = true;
    }
    // A repair could not complete a feed: one rebuild (topology/relieve-origin.ts, relegation) at most every `every` ticks.
    let rebuild = false;
    if (stuck && this.#ticks - this.#lastRebuild >= every) {
      rebuild = true;
      this.#lastRebuild = this.#ticks;
      out.push({ kind: "rebuild-if-better" });
      for (const seen of this.#incomplete.values())
        if (seen.stage === "filled")
          Object.assign(seen, { stage: "rebuilt", tick: this.#ticks, epoch: this.#epoch });
    }
    if (fresh.length > 0 || rebuild)
      this.#logger.warn("feed_incomplete", {
        channel: v.channelName,
        ids: (fresh.length > 0 ? fresh : [...this.#incomplete.keys()]).slice(0, 20),
        incomplete: incomplete.length,
        rebuild,
      });
    return fresh.length > 0 || rebuild;
  }

  /**
   * The reported side of the watchdog (watchdog()), over one chunk of the members: dead planned
   * links, moved after two passes' reports in a row.
   */
  #checkStale(v: FeedView, chunk: readonly number[], out: Change[]): boolean {
    const staleMs = this.#policy.staleMs;
    const seen = this.#staleNext;
    const moves: Array<{ parent: number; child: number; ageMs: number }> = [];
    for (const child of chunk) {
      const hb = v.reports.hb(child);
      if (hb === undefined) continue;
      const np = v.plan.nodes.get(child);
      if (np === undefined || np.tier < 2 || !v.applied(child, hb)) continue;
      const counted = this.#stale.get(child);
      if (!v.reports.judge(child)) {
        // No new heartbeat from the child since the last tick: nothing new to judge.
        if (counted !== undefined) carryStale(seen, child, counted, np.parents);
        continue;
      }
      const parents = np.parents;
      for (let i = 0; i < parents.length; i++) {
        const parent = parents[i]!;
        // Each parent once, at its first slot; most children pass the first test (no allocation).
        if (parent === null || parents.indexOf(parent) < i) continue;
        // The child names this parent in each of its slots and heard nothing on any for staleMs.
        // (A null slot after applying the ASSIGN in force is a null in the plan: the plan side's.)
        const ageMs = silentAge(hb, parents, parent, staleMs);
        if (ageMs < 0) continue;
        const up = v.reports.hb(parent);
        if (up === undefined || !v.applied(parent, up) || reportedShed(up) > 0) continue;
        // The parent says it sends: the congestion monitor's case, not this one.
        if (someChild(up, (c, age) => c === child && age < staleMs)) continue;
        // The stream flows around this link — the child hears on its other slots, the parent
        // sends to other children or (below tier 1) hears from its own parents — so this is no
        // stalled stream: the parent is not serving this child.
        const slots = parents.flatMap((p, j) => (p === parent ? [j] : []));
        const flows =
          someParentLive(hb, staleMs, slots) ||
          someChild(up, (c, age) => c !== child && age < staleMs) ||
          ((v.plan.nodes.get(parent)?.tier ?? 0) > 1 && someParentLive(up, staleMs, []));
        if (!flows) continue;
        const count = (counted?.get(parent) ?? 0) + 1;
        if (count < 2) {
          let mine = seen.get(child);
          if (mine === undefined) seen.set(child, (mine = new Map()));
          mine.set(parent, count);
          continue;
        }
        moves.push({ parent, child, ageMs });
      }
    }
    if (moves.length === 0) return false;
    for (const m of moves) out.push({ kind: "move", parent: m.parent, child: m.child });
    this.#logger.warn("feed_stale", { channel: v.channelName, links: moves.slice(0, 20) });
    return true;
  }

  /**
   * Ticks between two rebuilds the watchdog asks for: `rebuildTicks` from REBUILD_TICKS_FULL_AT
   * members up, fewer in proportion below, at least one. The spacing bounds what rebuilds cost
   * (O(members) each: about 1.5 s at 10^5); a channel of a few dozen members rebuilds in
   * milliseconds, and a joiner its repairs could not place waited up to `rebuildTicks` ticks
   * unfed there (30 s at 1 s heartbeats) for nothing.
   */
  #rebuildEvery(members: number): number {
    const full = this.#policy.rebuildTicks;
    return Math.max(1, Math.min(full, Math.ceil((full * members) / REBUILD_TICKS_FULL_AT)));
  }
}

/** A complete feed in the plan (watchdog()). */
function fed(v: FeedView, np: NodePlan): boolean {
  const ok = (p: number | null): boolean => p !== null && v.has(p) && v.plan.nodes.has(p);
  if (np.tier <= 1) return np.depth !== null && np.parents.every(ok);
  let n = 0;
  for (const p of np.parents) if (ok(p)) n++;
  return n >= (np.fec?.k ?? np.parents.length);
}

/** Some child the report lists passes `test` (its id, ms since the node last sent it a packet). */
function someChild(hb: HeartbeatReport, test: (child: number, ageMs: number) => boolean): boolean {
  for (let i = 0; i < childCount(hb); i++) if (test(childAt(hb, i), childAgeAt(hb, i))) return true;
  return false;
}

/** Some parent slot the report lists, other than `except`, heard a packet within `staleMs`. */
function someParentLive(hb: HeartbeatReport, staleMs: number, except: readonly number[]): boolean {
  for (let j = 0; j < parentSlots(hb); j++)
    if (!except.includes(j) && parentAgeAt(hb, j) < staleMs) return true;
  return false;
}

/**
 * The child names `parent` in every slot the plan gives it and heard nothing on any of them
 * for staleMs: the least age among them; else -1 (the common case, found without allocating).
 */
function silentAge(
  hb: HeartbeatReport,
  parents: readonly (number | null)[],
  parent: number,
  staleMs: number,
): number {
  let least = Infinity;
  for (let j = 0; j < parents.length; j++) {
    if (parents[j] !== parent) continue;
    if (parentAt(hb, j) !== parent) return -1;
    const age = parentAgeAt(hb, j);
    if (age < staleMs) return -1;
    least = Math.min(least, age);
  }
  return least;
}

/** Carries a child's stale-link counts into the next pass, for the parents it still has. */
function carryStale(
  into: Map<number, Map<number, number>>,
  child: number,
  counted: ReadonlyMap<number, number>,
  parents: readonly (number | null)[],
): void {
  const kept = new Map<number, number>();
  for (const [parent, n] of counted) if (parents.includes(parent)) kept.set(parent, n);
  if (kept.size > 0) into.set(child, kept);
}
