/**
 * The congestion monitor (control/congestion-monitor.ts) against a straightforward reference: the
 * monitor as it was before it kept heartbeats per node (one map entry per link and interval, keyed
 * by the string `parent>child`, joined at the tick). On random sequences of reports, ticks and
 * plans both must give the same verdicts, tick for tick.
 */
import test from "ava";
import fc from "fast-check";
import { CongestionMonitor, type CongestionVerdict } from "../control/congestion-monitor.js";
import { congestedLinks, type LinkSample } from "../control/topology/congestion.js";
import { MoveBackoff, type MoveBackoffPolicy } from "../control/topology/move-backoff.js";
import type { LinkAlgorithm, NodePlan, Plan } from "../control/topology/plan.js";
import type { HeartbeatBody, LinkState } from "../protocol/messages.js";
import { linkHeartbeat } from "./helpers/link-heartbeat.js";

/** The reference: every link's two ends in string-keyed maps, cleared at each tick. */
class ReferenceMonitor {
  readonly #backoff: MoveBackoff;
  readonly #freshMs: number;
  readonly #sent = new Map<string, LinkSample>();
  readonly #recv = new Map<string, { seq: number; ageMs: number }>();
  #last: LinkSample[] = [];

  constructor(policy: Partial<MoveBackoffPolicy & { freshMs: number }> = {}) {
    this.#backoff = new MoveBackoff(policy);
    this.#freshMs = policy.freshMs ?? 2000;
  }

  get backoffKeys(): number {
    return this.#backoff.size;
  }

  report(id: number, hb: HeartbeatBody): void {
    for (const c of hb.children)
      this.#sent.set(`${id}>${c.node}`, { parent: id, child: c.node, sentSeq: c.lastSeq, recvSeq: 0 });
    for (const p of hb.parents)
      if (p !== null) this.#recv.set(`${p.node}>${id}`, { seq: p.lastSeq, ageMs: p.ageMs });
  }

  tick(plan: Plan, lagPackets: number, now: number): CongestionVerdict {
    const current: LinkSample[] = [];
    for (const [key, s] of this.#sent) {
      const recv = this.#recv.get(key);
      const np = plan.nodes.get(s.child);
      if (recv === undefined || np === undefined || !np.parents.includes(s.parent)) continue;
      current.push({ ...s, recvSeq: recv.seq, ...(recv.ageMs >= this.#freshMs ? { stale: true } : {}) });
    }
    const found = congestedLinks(this.#last, current, { lagPackets });
    this.#last = current;
    const lagging = new Set(found.map((l) => `${l.parent}>${l.child}`));
    const out: CongestionVerdict = { moved: [], held: [] };
    for (const { parent, child, lag } of found) {
      const np = plan.nodes.get(child);
      if (np === undefined) continue;
      const coded = np.fec !== undefined && codedLink(plan, parent, child);
      const spare = coded && this.#received(np, child, lagging) >= np.fec!.k;
      const keys = substreamKeys(np, parent, child, coded);
      for (const k of keys) this.#backoff.lagging(k, now);
      const waitMs = Math.max(...keys.map((k) => this.#backoff.waitMs(k, now, !spare)));
      if (waitMs > 0) {
        const moves = Math.max(...keys.map((k) => this.#backoff.moves(k)));
        out.held.push({ parent, child, lag, spare, moves, waitMs });
        continue;
      }
      let backoffMs = spare ? this.#backoff.policy.capMs : 0;
      for (const k of keys) backoffMs = Math.max(backoffMs, this.#backoff.moved(k, now));
      const moves = Math.max(...keys.map((k) => this.#backoff.moves(k)));
      out.moved.push({ parent, child, lag, spare, moves, backoffMs });
    }
    this.#sent.clear();
    this.#recv.clear();
    this.#backoff.sweep(now);
    return out;
  }

  #received(np: NodePlan, child: number, lagging: ReadonlySet<string>): number {
    let n = 0;
    for (const p of np.parents) {
      if (p === null || lagging.has(`${p}>${child}`)) continue;
      const r = this.#recv.get(`${p}>${child}`);
      if (r !== undefined && r.ageMs < this.#freshMs) n++;
    }
    return n;
  }
}

function codedLink(plan: Plan, parent: number, child: number): boolean {
  return plan.nodes.get(parent)?.children.find((e) => e.node === child)?.algorithm === "fec-tree";
}

function substreamKeys(np: NodePlan, parent: number, child: number, coded: boolean): string[] {
  const keys: string[] = [];
  np.parents.forEach((p, j) => {
    if (p === parent) keys.push(`${child}/${coded ? "c" : "s"}${j}`);
  });
  return keys.length > 0 ? keys : [`${child}/p${parent}`];
}

/** Node ids of the random runs: few, so that links meet often. */
const IDS = [1, 2, 3, 4, 5, 6];

const nodeId = fc.constantFrom(...IDS);
const link: fc.Arbitrary<LinkState> = fc.record({
  node: nodeId,
  ageMs: fc.oneof(
    fc.integer({ min: 0, max: 100 }),
    fc.integer({ min: 1900, max: 2100 }),
    fc.constant(65_535),
  ),
  // Around a few points so that lags reach and cross the threshold, and wrap around 2^16.
  lastSeq: fc.oneof(
    fc.integer({ min: 0, max: 400 }),
    fc.integer({ min: 65_300, max: 65_535 }),
    fc.integer({ min: 0, max: 65_535 }),
  ),
});
const heartbeat: fc.Arbitrary<HeartbeatBody> = fc.record({
  channel: fc.constant(1),
  assignVersion: fc.constant(1),
  parents: fc.array(fc.option(link, { nil: null, freq: 5 }), { maxLength: 5 }),
  children: fc.array(link, { maxLength: 5 }),
  buffers: fc.constant([]),
  resources: fc.constant({ uploadKbps: 0, nat: 0, cacheBytes: 0, cpuPct: 0, rssMB: 0 }),
  newestSegment: fc.constant(0),
});

/** Per node: absent from the plan, or its parents (null: none in that slot), coded or plain. */
const planSpec = fc.array(
  fc.option(
    fc.record({
      parents: fc.array(fc.option(nodeId, { nil: null, freq: 6 }), { minLength: 1, maxLength: 4 }),
      coded: fc.boolean(),
      k: fc.integer({ min: 1, max: 4 }),
    }),
    { nil: undefined, freq: 6 },
  ),
  { minLength: IDS.length, maxLength: IDS.length },
);

function makePlan(
  spec: ReadonlyArray<{ parents: Array<number | null>; coded: boolean; k: number } | undefined>,
): Plan {
  const nodes = new Map<number, NodePlan>();
  const at = (id: number): NodePlan => {
    let np = nodes.get(id);
    if (np === undefined) nodes.set(id, (np = { parents: [], children: [], depth: 1, tier: 1 }));
    return np;
  };
  spec.forEach((s, i) => {
    if (s === undefined) return;
    const id = IDS[i]!;
    const np = at(id);
    np.parents = s.parents;
    np.tier = 2;
    const algorithm: LinkAlgorithm = s.coded ? "fec-tree" : "tree";
    if (s.coded)
      np.fec = { k: Math.min(s.k, s.parents.length), n: s.parents.length - Math.min(s.k, s.parents.length) };
    s.parents.forEach((p, j) => {
      if (p === null) return;
      const pp = at(p);
      const e = pp.children.find((c) => c.node === id);
      if (e === undefined) pp.children.push({ node: id, substreams: 1 << j, algorithm });
      else e.substreams |= 1 << j;
    });
  });
  return { k: 4, root: null, nodes, unplaced: [], depth: 3, rebuilt: false };
}

type Step =
  | { kind: "report"; id: number; hb: HeartbeatBody }
  | { kind: "round"; plan: number; jitter: number[]; ages: number[] }
  | { kind: "tick"; plan: number; lagPackets: number; dtMs: number };

/**
 * Every node of the plan heartbeats the links the plan gives it: parents send `position` plus a
 * jitter, children received up to 400 packets less (so links lag, grow and shrink).
 */
function round(
  plan: Plan,
  position: number,
  jitter: readonly number[],
  ages: readonly number[],
): Array<[number, HeartbeatBody]> {
  let i = 0;
  const next = (xs: readonly number[]): number => xs[i++ % xs.length]!;
  const out: Array<[number, HeartbeatBody]> = [];
  for (const [id, np] of plan.nodes)
    out.push([
      id,
      {
        channel: 1,
        assignVersion: 1,
        parents: np.parents.map((p) =>
          p === null ? null : { node: p, ageMs: next(ages), lastSeq: (position - next(jitter)) & 0xffff },
        ),
        children: np.children.map((c) => ({
          node: c.node,
          ageMs: 0,
          lastSeq: (position + next(jitter) / 4) & 0xffff,
        })),
        buffers: [],
        resources: { uploadKbps: 0, nat: 0, cacheBytes: 0, cpuPct: 0, rssMB: 0 },
        newestSegment: 0,
      },
    ]);
  return out;
}

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("report" as const), id: nodeId, hb: heartbeat }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("round" as const),
      plan: fc.integer({ min: 0, max: 1 }),
      jitter: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 8 }),
      ages: fc.array(fc.constantFrom(0, 5, 1999, 2000, 60_000), { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("tick" as const),
      plan: fc.integer({ min: 0, max: 1 }),
      lagPackets: fc.constantFrom(1, 64, 200),
      dtMs: fc.constantFrom(0, 1000, 5000, 31_000, 61_000),
    }),
  },
);

test("the monitor gives the reference's verdicts on random reports, ticks and plans, whole or in chunks", (t) => {
  let verdicts = 0;
  let moved = 0;
  let held = 0;
  fc.assert(
    fc.property(
      fc.tuple(planSpec, planSpec),
      fc.array(step, { minLength: 1, maxLength: 80 }),
      fc.record({ baseMs: fc.constantFrom(1000, 4000), resetAfterMs: fc.constantFrom(5000, 30_000) }),
      fc.constantFrom(Infinity, 1, 3),
      (specs, steps, policy, chunk) => {
        const plans = specs.map(makePlan);
        const monitor = new CongestionMonitor(policy);
        const reference = new ReferenceMonitor(policy);
        let now = 0;
        let position = 65_000;
        for (const s of steps) {
          if (s.kind === "report") {
            monitor.report(s.id, s.hb);
            reference.report(s.id, s.hb);
            continue;
          }
          if (s.kind === "round") {
            for (const [id, hb] of round(plans[s.plan]!, position, s.jitter, s.ages)) {
              monitor.report(id, hb);
              reference.report(id, hb);
            }
            continue;
          }
          now += s.dtMs;
          position += 500;
          const plan = plans[s.plan]!;
          // In chunks: steps until the verdict (no report comes between them here).
          let got = monitor.tickStep(plan, s.lagPackets, now, chunk);
          while (got === undefined) got = monitor.tickStep(plan, s.lagPackets, now, chunk);
          const want = reference.tick(plan, s.lagPackets, now);
          t.deepEqual(got, want);
          t.is(monitor.backoffKeys, reference.backoffKeys);
          verdicts++;
          moved += got.moved.length;
          held += got.held.length;
        }
      },
    ),
    { numRuns: 400, seed: 13 },
  );
  // The runs exercised both kinds of verdict, not only empty ones.
  t.true(verdicts > 0 && moved > 0 && held > 0, `${verdicts} ticks, ${moved} moved, ${held} held`);
});

test("report() keeps no link state: a node's tick-old heartbeat is let go, a silent node forgotten", (t) => {
  const m = new CongestionMonitor();
  const plan = makePlan([
    undefined,
    { parents: [1], coded: false, k: 1 },
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  m.report(1, linkHeartbeat([], [{ node: 2, ageMs: 0, lastSeq: 100 }]));
  m.report(2, linkHeartbeat([{ node: 1, ageMs: 0, lastSeq: 0 }], []));
  t.is(m.nodes, 2);
  t.deepEqual(m.tick(plan, 64, 0), { moved: [], held: [] });
  // Congested from the second interval on (lag 200 >= 64, growing, parent sent).
  m.report(1, linkHeartbeat([], [{ node: 2, ageMs: 0, lastSeq: 300 }]));
  m.report(2, linkHeartbeat([{ node: 1, ageMs: 0, lastSeq: 100 }], []));
  t.deepEqual(m.tick(plan, 64, 1000).moved, [
    { parent: 1, child: 2, lag: 200, spare: false, moves: 1, backoffMs: 4000 },
  ]);
  // Only node 2 reports: node 1 is forgotten after one silent interval, and so is node 2 after its own.
  m.report(2, linkHeartbeat([{ node: 1, ageMs: 0, lastSeq: 100 }], []));
  t.deepEqual(m.tick(plan, 64, 2000), { moved: [], held: [] });
  t.is(m.nodes, 1);
  t.deepEqual(m.tick(plan, 64, 3000), { moved: [], held: [] });
  t.is(m.nodes, 0);
});

test("a tick in chunks: a child that reports again before its turn is judged on the interval's reports first", (t) => {
  const m = new CongestionMonitor({ chunk: 1 });
  const plan = makePlan([undefined, { parents: [1], coded: false, k: 1 }, undefined]);
  const beat = (sent: number, recv: number): void => {
    m.report(1, linkHeartbeat([], [{ node: 2, ageMs: 0, lastSeq: sent }]));
    m.report(2, linkHeartbeat([{ node: 1, ageMs: 0, lastSeq: recv }], []));
  };
  const whole = (now: number): CongestionVerdict => {
    let v = m.tickStep(plan, 64, now);
    while (v === undefined) v = m.tickStep(plan, 64, now);
    return v;
  };
  beat(100, 0);
  t.deepEqual(whole(0), { moved: [], held: [] });
  // Congested in this interval (lag 200, growing, the parent sent).
  beat(300, 100);
  t.is(m.tickStep(plan, 64, 1000), undefined, "one node a step: the first step judges node 1 only");
  t.true(m.ticking);
  // Node 2 heartbeats again (the next interval) before its turn: the interval's reports are judged first.
  m.report(2, linkHeartbeat([{ node: 1, ageMs: 0, lastSeq: 300 }], []));
  let v = m.tickStep(plan, 64, 1000);
  while (v === undefined) v = m.tickStep(plan, 64, 1000);
  t.deepEqual(v.moved, [{ parent: 1, child: 2, lag: 200, spare: false, moves: 1, backoffMs: 4000 }]);
  t.false(m.ticking);
  t.throws(() => new CongestionMonitor({ chunk: 0 }), { instanceOf: RangeError });
});

test("a node heartbeating many times in one interval: its reports are folded, the verdicts stay the reference's", (t) => {
  const plan = makePlan([
    undefined,
    { parents: [1, 1], coded: false, k: 1 },
    { parents: [1], coded: true, k: 1 },
    { parents: [1, 2], coded: false, k: 1 },
    undefined,
    undefined,
  ]);
  const monitor = new CongestionMonitor();
  const reference = new ReferenceMonitor();
  let moved = 0;
  for (let tick = 0; tick < 6; tick++) {
    const base = 1000 + tick * 400;
    // Node 1 names child 3 in its first report only, then its other children 29 times: each link's
    // last report counts, the first one's too.
    for (let i = 0; i < 30; i++) {
      const child = i === 0 ? 3 : i % 2 === 0 ? 2 : 4;
      const report = linkHeartbeat([], [{ node: child, ageMs: 0, lastSeq: base + i }]);
      monitor.report(1, report);
      reference.report(1, report);
    }
    for (const [id, parents] of [
      [2, [1, 1]],
      [3, [1]],
      [4, [1, 2]],
    ] as const) {
      for (let i = 0; i < 12; i++) {
        const report = linkHeartbeat(
          parents.map((p, j) => ({ node: p, ageMs: j * 1000 * (i % 3), lastSeq: base - 200 - i * tick })),
          id === 2 ? [{ node: 4, ageMs: 0, lastSeq: base + i }] : [],
        );
        monitor.report(id, report);
        reference.report(id, report);
      }
    }
    const got = monitor.tick(plan, 64, tick * 1000);
    t.deepEqual(got, reference.tick(plan, 64, tick * 1000));
    moved += got.moved.length + got.held.length;
  }
  t.true(moved > 0, "links were found congested");
});
