/**
 * Congestion move backoff (control/topology/move-backoff.ts) and the congestion monitor's
 * verdicts (control/congestion-monitor.ts) on hand-made plans: a substream cut "for good" at
 * the child (the fault follows the substream, so every replacement lags too) is driven through
 * heartbeat reports on simulated time, the replacement parent picked by the test.
 */
import test from "ava";
import fc from "fast-check";
import { CongestionMonitor, type CongestionVerdict } from "../control/congestion-monitor.js";
import { DEFAULT_MOVE_BACKOFF, MoveBackoff } from "../control/topology/move-backoff.js";
import type { LinkAlgorithm, NodePlan, Plan } from "../control/topology/plan.js";
import type { LinkState } from "../protocol/messages.js";
import { linkHeartbeat } from "./helpers/link-heartbeat.js";

const CHILD = 100;

test("backoff: an urgent key moves at once, then waits 4, 8, 16, 32, 60, 60 s", (t) => {
  const b = new MoveBackoff();
  let now = 10_000;
  b.lagging("k", now);
  t.is(b.waitMs("k", now, true), 0);
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    waits.push(b.moved("k", now));
    b.lagging("k", now + 1);
    t.is(b.waitMs("k", now + 1, true), waits.at(-1)! - 1, `move ${i + 1}`);
    now += waits.at(-1)!;
    b.lagging("k", now);
    t.is(b.waitMs("k", now, true), 0);
  }
  t.deepEqual(waits, [4000, 8000, 16_000, 32_000, 60_000, 60_000]);
  t.is(b.moves("k"), 6);
});

test("backoff: a spare key waits the cap from its first sighting and from each move", (t) => {
  const b = new MoveBackoff();
  b.lagging("k", 0);
  t.is(b.waitMs("k", 0, false), 60_000);
  b.lagging("k", 59_000);
  t.is(b.waitMs("k", 59_000, false), 1000);
  t.is(b.waitMs("k", 60_000, false), 0);
  b.moved("k", 60_000);
  t.is(
    b.waitMs("k", 70_000, false),
    50_000,
    "the backoff after one move (4 s) does not shorten a spare wait",
  );
  t.is(b.waitMs("k", 70_000, true), 0, "it turned urgent: the 4 s are over");
  t.is(b.waitMs("unknown", 5, false), 60_000);
  t.is(b.waitMs("unknown", 5, true), 0);
});

test("backoff: a key not seen lagging for resetAfterMs starts afresh; one that keeps lagging does not", (t) => {
  const b = new MoveBackoff({ baseMs: 1000, capMs: 8000, resetAfterMs: 5000 });
  b.lagging("quiet", 0);
  b.moved("quiet", 0);
  b.moved("quiet", 1000);
  b.lagging("busy", 0);
  b.moved("busy", 0);
  b.moved("busy", 1000);
  for (let now = 1000; now <= 6000; now += 1000) {
    b.lagging("busy", now);
    b.sweep(now);
  }
  t.is(b.moves("quiet"), 0, "healthy 5 s: forgotten");
  t.is(b.waitMs("quiet", 6000, true), 0);
  t.is(b.moves("busy"), 2);
  t.is(b.size, 1);
  b.sweep(11_000);
  t.is(b.size, 0);
});

test("backoff: successive urgent moves of a key that always lags are ever further apart, up to the cap", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 50, max: 3000 }),
      (base, capExtra, stepMs) => {
        const cap = base + capExtra;
        const b = new MoveBackoff({ baseMs: base, capMs: cap, resetAfterMs: 30_000 });
        const at: number[] = [];
        for (let now = 0; now <= 300_000; now += stepMs) {
          b.lagging("k", now);
          if (b.waitMs("k", now, true) === 0) {
            b.moved("k", now);
            at.push(now);
          }
          b.sweep(now);
        }
        for (let i = 1; i < at.length; i++) {
          const gap = at[i]! - at[i - 1]!;
          const wait = Math.min(cap, base * 2 ** (i - 1));
          t.true(gap >= wait, `gap ${i}: ${gap} < ${wait}`);
          t.true(gap < wait + stepMs, `gap ${i}: ${gap}, no longer than the next tick after ${wait}`);
        }
        t.true(at.length <= 300_000 / Math.min(cap, base) + 1);
      },
    ),
    { numRuns: 200 },
  );
});

/** A child (id 100) fed by `parents` (index = substream), coded (k + n entries) or plain. */
function plan(parents: ReadonlyArray<number | null>, fec?: { k: number; n: number }): Plan {
  const nodes = new Map<number, NodePlan>();
  const algorithm: LinkAlgorithm = fec === undefined ? "tree" : "fec-tree";
  nodes.set(CHILD, {
    parents: [...parents],
    children: [],
    depth: 2,
    tier: fec === undefined ? 3 : 2,
    ...(fec === undefined ? {} : { fec }),
  });
  parents.forEach((p, j) => {
    if (p === null) return;
    let np = nodes.get(p);
    if (np === undefined) nodes.set(p, (np = { parents: [], children: [], depth: 1, tier: 1 }));
    const e = np.children.find((c) => c.node === CHILD);
    if (e === undefined) np.children.push({ node: CHILD, substreams: 1 << j, algorithm });
    else e.substreams |= 1 << j;
  });
  return { k: 1, root: null, nodes, unplaced: [], depth: 2, rebuilt: false };
}

/**
 * Simulates heartbeats from `fromMs` to `toMs` (one per `stepMs`, each parent sending 100 packets per
 * interval) with the substreams in `cut` dropped at the child whatever parent feeds them. A
 * moved link's substreams go to a brand-new parent. Returns every verdict, with its time.
 */
function simulate(
  m: CongestionMonitor,
  parents: Array<number | null>,
  fec: { k: number; n: number } | undefined,
  cut: ReadonlySet<number>,
  fromMs: number,
  toMs: number,
  stepMs = 1000,
): Array<{ now: number; v: CongestionVerdict; moves: Array<{ from: number; substreams: number[] }> }> {
  let nextId = 1000;
  const out: Array<{
    now: number;
    v: CongestionVerdict;
    moves: Array<{ from: number; substreams: number[] }>;
  }> = [];
  for (let now = fromMs; now <= toMs; now += stepMs) {
    const seq = 1 + (now / stepMs) * 100;
    for (const p of new Set(parents))
      if (p !== null) m.report(p, linkHeartbeat([], [{ node: CHILD, ageMs: 0, lastSeq: seq }]));
    const links = parents.map((p, j): LinkState | null =>
      p === null
        ? null
        : cut.has(j)
          ? { node: p, ageMs: 1_000_000, lastSeq: 0 }
          : { node: p, ageMs: 5, lastSeq: seq },
    );
    m.report(CHILD, linkHeartbeat(links, []));
    const v = m.tick(plan(parents, fec), 64, now);
    const moves = v.moved.map((l) => {
      const substreams = parents.flatMap((p, j) => (p === l.parent ? [j] : []));
      const to = nextId++;
      for (const j of substreams) parents[j] = to;
      return { from: l.parent, substreams };
    });
    out.push({ now, v, moves });
  }
  return out;
}

test("monitor: a plain link cut for good is moved at 1 s, then at 5, 13, 29 s: 4 moves in 45 s", (t) => {
  const run = simulate(new CongestionMonitor(), [1], undefined, new Set([0]), 0, 45_000);
  const moved = run.filter((r) => r.v.moved.length > 0);
  t.deepEqual(
    moved.map((r) => r.now),
    [1000, 5000, 13_000, 29_000],
  );
  t.deepEqual(
    moved.map((r) => [r.v.moved[0]!.moves, r.v.moved[0]!.backoffMs, r.v.moved[0]!.spare]),
    [
      [1, 4000, false],
      [2, 8000, false],
      [3, 16_000, false],
      [4, 32_000, false],
    ],
  );
  // Between moves the replacement's lag is seen and held, with the time left.
  const held = run.find((r) => r.now === 3000)!.v.held;
  t.deepEqual(held, [
    { parent: 1000, child: CHILD, lag: held[0]!.lag, spare: false, moves: 1, waitMs: 2000 },
  ]);
});

test("monitor: one cut coded substream of k + n whose child still gets k is spare: held, moved once after 60 s", (t) => {
  const fec = { k: 4, n: 2 };
  const run = simulate(new CongestionMonitor(), [1, 2, 3, 4, 5, 6], fec, new Set([5]), 0, 45_000);
  t.true(
    run.every((r) => r.v.moved.length === 0),
    "no move in 45 s (the lab made 79)",
  );
  const held = run.flatMap((r) => r.v.held);
  t.true(held.length >= 40);
  t.true(held.every((h) => h.spare && h.parent === 6 && h.child === CHILD && h.moves === 0));

  const long = simulate(new CongestionMonitor(), [1, 2, 3, 4, 5, 6], fec, new Set([5]), 0, 200_000);
  const moved = long.filter((r) => r.v.moved.length > 0);
  t.deepEqual(
    moved.map((r) => r.now),
    [61_000, 121_000, 181_000],
    "lagging since 1 s: moved at 61 s, then once per cap",
  );
  t.true(moved.every((r) => r.v.moved[0]!.spare && r.v.moved[0]!.backoffMs === 60_000));
  t.deepEqual(
    moved.map((r) => r.moves[0]!.substreams),
    [[5], [5], [5]],
  );
});

test("monitor: with two of k + n = 4 + 2 cut the child still rebuilds: both spare; a third cut makes them urgent", (t) => {
  const fec = { k: 4, n: 2 };
  const two = simulate(new CongestionMonitor(), [1, 2, 3, 4, 5, 6], fec, new Set([0, 5]), 0, 45_000);
  t.true(two.every((r) => r.v.moved.length === 0));
  t.deepEqual(new Set(two.flatMap((r) => r.v.held.map((h) => h.parent))), new Set([1, 6]));

  const three = simulate(new CongestionMonitor(), [1, 2, 3, 4, 5, 6], fec, new Set([0, 3, 5]), 0, 45_000);
  const first = three.find((r) => r.v.moved.length > 0)!;
  t.is(first.now, 1000, "fewer than fec.k received: moved at first sight");
  t.deepEqual(
    first.v.moved.map((l) => [l.parent, l.spare]),
    [
      [1, false],
      [4, false],
      [6, false],
    ],
  );
  const count = three.reduce((n, r) => n + r.v.moved.length, 0);
  t.is(count, 3 * 4, "each substream moved 4 times in 45 s, under the backoff");
});

test("monitor: a coded parent feeding several substreams counts for each; a null parent counts for none", (t) => {
  const fec = { k: 4, n: 2 };
  // Parent 1 feeds 0..2; 3 has none; parent 6 is cut: 3 + 1 (parent 5) = 4 received.
  const spare = simulate(new CongestionMonitor(), [1, 1, 1, null, 5, 6], fec, new Set([5]), 0, 5000);
  t.true(spare.every((r) => r.v.moved.length === 0));
  t.true(spare.some((r) => r.v.held.length > 0));
  // Parent 2 feeds 1..2 and is cut: 1 (parent 1) + 0 + 1 (parent 5) + 1 (parent 6) = 3 < 4.
  const urgent = simulate(new CongestionMonitor(), [1, 2, 2, null, 5, 6], fec, new Set([1, 2]), 0, 2000);
  const moved = urgent.flatMap((r) => r.moves);
  t.deepEqual(moved, [{ from: 2, substreams: [1, 2] }]);
});

test("monitor: a replacement healthy for resetAfterMs starts afresh: the next cut is moved at once", (t) => {
  const m = new CongestionMonitor({ resetAfterMs: 10_000 });
  const parents: Array<number | null> = [1];
  const first = simulate(m, parents, undefined, new Set([0]), 0, 1000);
  t.is(first.at(-1)!.v.moved.length, 1);
  const healthy = simulate(m, parents, undefined, new Set(), 2000, 12_000);
  t.true(healthy.every((r) => r.v.moved.length === 0 && r.v.held.length === 0));
  t.is(m.backoffKeys, 0);
  const again = simulate(m, parents, undefined, new Set([0]), 13_000, 14_000);
  t.deepEqual(
    again.flatMap((r) => r.v.moved.map((l) => [l.moves, l.backoffMs])),
    [[1, DEFAULT_MOVE_BACKOFF.baseMs]],
  );
});

test("monitor: reports about links that are not in the plan, or with one end missing, are ignored", (t) => {
  const m = new CongestionMonitor();
  const p = plan([1], undefined);
  for (const now of [0, 1000]) {
    const seq = 1 + now;
    m.report(7, linkHeartbeat([], [{ node: CHILD, ageMs: 0, lastSeq: seq }])); // 7 is not the child's parent
    m.report(1, linkHeartbeat([], [{ node: 55, ageMs: 0, lastSeq: seq }])); // 55 did not report
    m.report(CHILD, linkHeartbeat([{ node: 7, ageMs: 0, lastSeq: 0 }], []));
    t.deepEqual(m.tick(p, 64, now), { moved: [], held: [] });
  }
  t.is(m.backoffKeys, 0);
});
