/** Random three-tier snapshots for the topology property tests. */
import fc from "fast-check";
import { NatType } from "../protocol/messages.js";
import type { Plan } from "../control/topology/plan.js";
import type { TierNode, TierPolicy, TierSnapshot } from "../control/topology/tier-types.js";

export const R = 1000;

const natArb = fc.constantFrom(
  NatType.OPEN,
  NatType.FULL_CONE,
  NatType.PORT_RESTRICTED,
  NatType.RESTRICTED,
  NatType.UNKNOWN,
  NatType.SYMMETRIC,
);

/** Uploads spread over the interesting range: nothing, fractions of R, tier 2, tier 1. */
const uploadArb = fc.oneof(
  fc.integer({ min: 0, max: R / 4 }),
  fc.integer({ min: R / 4, max: R }),
  fc.integer({ min: 2 * R, max: 3 * R }),
  fc.integer({ min: 4 * R, max: 10 * R }),
);

export function nodeArb(id: number, regions: number): fc.Arbitrary<TierNode> {
  return fc.record({
    id: fc.constant(id),
    region: fc.integer({ min: 0, max: regions - 1 }).map((r) => `r${r}`),
    uploadKbps: uploadArb,
    nat: natArb,
    role: fc.constantFrom("agent" as const, "agent" as const, "agent" as const, "waypoint" as const),
    eligible: fc.boolean(),
    joinedAt: fc.integer({ min: 0, max: 1000 }),
    watching: fc.constantFrom(true, true, true, false), // a quarter are idle boxes (recruits)
  });
}

export interface SnapArgs {
  maxNodes?: number;
  policy?: Partial<TierPolicy>;
  /** The origin has upload to spare (1000 R). */
  ampleOrigin?: boolean;
}

export function snapshotArb(args: SnapArgs = {}): fc.Arbitrary<TierSnapshot> {
  const maxNodes = args.maxNodes ?? 120;
  return fc
    .record({
      count: fc.integer({ min: 0, max: maxNodes }),
      regions: fc.integer({ min: 1, max: 4 }),
      k: fc.integer({ min: 1, max: 16 }),
      c: fc.integer({ min: 1, max: 4 }),
      levels: fc.constantFrom(2 as const, 3 as const, 4 as const),
      tier1Algorithm: fc.constantFrom("mesh" as const, "mesh" as const, "tree" as const),
      maxClusterSize: fc.integer({ min: 4, max: 60 }),
      minClusterSize: fc.integer({ min: 1, max: 4 }),
      originUpload: args.ampleOrigin
        ? fc.constant(1000 * R)
        : fc.oneof(fc.integer({ min: 0, max: 5 * R }), fc.constant(1000 * R)),
      seed: fc.integer(),
      fecK: fc.integer({ min: 2, max: 12 }),
      loss: fc.option(fc.double({ min: 0, max: 0.1, noNaN: true }), { nil: undefined }),
    })
    .chain((a) =>
      fc.tuple(
        fc.constant(a),
        fc.tuple(...Array.from({ length: a.count }, (_, i) => nodeArb(i + 1, a.regions))),
      ),
    )
    .map(([a, nodes]) => ({
      channel: { k: a.k, streamKbps: R },
      origin: { id: 0, uploadKbps: a.originUpload, region: "r0" },
      nodes,
      regions: {
        r0: { access: "fibre" as const },
        r1: { access: "wireless" as const },
        r2: { loss: a.loss ?? 0.01 },
      },
      policy: {
        c: a.c,
        levels: a.levels,
        tier1Algorithm: a.tier1Algorithm,
        maxClusterSize: a.maxClusterSize,
        minClusterSize: a.minClusterSize,
        fec: {
          k: a.fecK,
          nByAccess: { fibre: 1, wireless: 3 },
          nByLoss: [{ maxLoss: 0.02, n: 2 }],
          defaultN: 2,
        },
        ...args.policy,
      },
      seed: a.seed,
    }));
}

/** A plan as plain data, for deep comparisons. */
export function planData(p: Plan): unknown {
  return {
    ...p,
    nodes: [...p.nodes].sort((a, b) => a[0] - b[0]),
    unplacedReasons: [...(p.unplacedReasons ?? [])].sort((a, b) => a[0] - b[0]),
  };
}

/** Property-test runs: the default keeps the suite quick; TOPO_RUNS_X multiplies it for a deeper search. */
export function runs(n: number): number {
  return Math.round(n * Number(process.env.TOPO_RUNS_X ?? 1));
}

/** Every subset of `ids` with exactly `size` elements (small inputs only). */
function* subsets(ids: number[], size: number, from = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === size) {
    yield acc;
    return;
  }
  for (let i = from; i < ids.length; i++) yield* subsets(ids, size, i + 1, [...acc, ids[i]!]);
}

/** Nodes reachable from the origin over mesh links and parent -> child links, `removed` excluded. */
function reachable(plan: Plan, removed: ReadonlySet<number>): Set<number> {
  const seen = new Set<number>([plan.root!]);
  const queue = [plan.root!];
  for (let i = 0; i < queue.length; i++) {
    const np = plan.nodes.get(queue[i]!)!;
    for (const v of [...(np.mesh ?? []), ...np.children.map((c) => c.node)]) {
      if (seen.has(v) || removed.has(v)) continue;
      seen.add(v);
      queue.push(v);
    }
  }
  return seen;
}

export function survivesTier1Failures(plan: Plan, c: number): string | undefined {
  const tier1 = [...plan.nodes].filter(([id, np]) => np.tier === 1 && id !== plan.root).map(([id]) => id);
  const size = Math.min(c - 1, tier1.length);
  let tried = 0;
  for (const gone of subsets(tier1, size)) {
    if (++tried > 300) break;
    const removed = new Set(gone);
    const seen = reachable(plan, removed);
    for (const id of plan.nodes.keys()) {
      if (removed.has(id) || plan.unplaced.includes(id)) continue;
      if (!seen.has(id)) return `node ${id} cut off when ${gone.join(",")} fail`;
    }
  }
  return undefined;
}
