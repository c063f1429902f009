/**
 * What every scenario shares: its shape, and the warm-up that brings N viewers into the tree.
 */
import type { Viewer } from "../viewer.js";
import { isPlaced, START_MS, type World } from "../world.js";

export interface ScenarioContext {
  world: World;
  nodes: number;
  /** Progress lines (stderr). */
  log(line: string): void;
  /** Heap marks: the runner records heap used (after a collection) under `label`. */
  mark(label: "empty" | "viewers" | "joined"): void;
}

export interface ScenarioOutcome {
  /** The scenario's checks, by name: what the tests assert. */
  checks: Record<string, boolean>;
  /** Figures of the scenario (simulated ms, counts), for the table and the JSON. */
  figures: Record<string, number | null>;
}

export interface Scenario {
  name: string;
  describe: string;
  run(ctx: ScenarioContext): ScenarioOutcome;
}

/** Joins take place over this long in every warm-up (the flash crowd's window). */
export const JOIN_WINDOW_MS = 60_000;

export interface WarmUp {
  viewers: Viewer[];
  /** Simulated ms from the first JOIN until every viewer was placed (null: not all were). */
  allPlacedMs: number | null;
  /** When the joins started (world.elapsed). */
  startedAt: number;
}

/**
 * The origin joins, then `n` viewers start at seeded uniform times over `windowMs`; runs until
 * every one is placed, or `maxMs` after the first start.
 */
export function warmUp(
  ctx: ScenarioContext,
  n: number,
  windowMs = JOIN_WINDOW_MS,
  maxMs = windowMs + 120_000,
): WarmUp {
  const w = ctx.world;
  w.startOrigin();
  w.run(1000);
  if (w.origin.phase !== "joined") throw new Error(`the origin did not join (phase ${w.origin.phase})`);
  ctx.mark("empty");
  const viewers = w.addViewers(n);
  ctx.mark("viewers");
  const startedAt = w.elapsed;
  w.startAt(
    viewers,
    viewers.map(() => Math.floor(w.rng() * windowMs)),
  );
  let lastLog = 0;
  w.runUntil(
    () => {
      const placed = w.placed(viewers);
      if (w.elapsed - lastLog >= 10_000) {
        lastLog = w.elapsed;
        const phases = new Map<string, number>();
        let noParent = 0;
        for (const v of viewers) {
          phases.set(v.phase, (phases.get(v.phase) ?? 0) + 1);
          if (v.assignVersion > 0 && !v.parents.some((p) => p !== 0)) noParent++;
        }
        ctx.log(
          `  t=${((w.elapsed - startedAt) / 1000).toFixed(0)} s: ${placed}/${n} placed ` +
            `(${[...phases].map(([p, c]) => `${p} ${c}`).join(", ")}; assigned without a parent ${noParent}), ` +
            `control busy ${(w.meter.totalMs / 1000).toFixed(1)} s`,
        );
      }
      return placed === n;
    },
    maxMs,
    1000,
  );
  const all = w.placed(viewers) === n;
  let last = 0;
  for (const v of viewers) last = Math.max(last, v.placedAt);
  return {
    viewers,
    startedAt,
    allPlacedMs: all ? last - (START_MS + startedAt) : null,
  };
}

/** Viewers that are placed and whose every parent is in `live` (node ids). */
export function soundlyPlaced(viewers: readonly Viewer[], live: ReadonlySet<number>): number {
  let n = 0;
  for (const v of viewers) if (isPlaced(v) && v.parents.every((p) => p === 0 || live.has(p))) n++;
  return n;
}

/** Control's ids of the viewers in a session, and the origin's. */
export function liveIds(w: World, viewers: readonly Viewer[]): Set<number> {
  const s = new Set<number>();
  if (w.origin.nodeId !== 0) s.add(w.origin.nodeId);
  for (const v of viewers)
    if (v.nodeId !== 0 && (v.phase === "joined" || v.phase === "resuming")) s.add(v.nodeId);
  return s;
}
