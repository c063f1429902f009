/**
 * The join path alone (issue 13): a tiered Dcm with an origin, N members joined one at a time,
 * each followed by reconcile() as control's JOIN handler does (handlers/on-join.ts). Per size:
 * µs per join (upsert + reconcile: mean, p50 — the incremental join — and p99), ASSIGNs per join, full rebuilds, the longest
 * single reconcile, the plan's unplaced nodes at the end, and one full build (buildTieredPlan) of
 * the final membership timed alone: the part of a rebuild's stall that is the plan itself, the
 * rest being the rollout (since the rebuild diff, the ASSIGN bodies of the nodes that changed). Members: the topology benchmark's
 * capacity mix (tools/topology-mix.ts: waypoints, 20 % high-capacity agents, NAT types,
 * ceil(N / 1000) regions, half of them preferred-eligible) with every upload x 1.5, so that the
 * viewers carry the stream themselves (mean 1.28 R) and the origin (20 R) only feeds the top:
 * the standard mix is 15 % short and its deficit would be the origin's, whose growing ASSIGN is
 * another benchmark's subject. Bounded: each size stops at
 * its time budget (--budget-s, default 120) and reports how many joins it got through.
 * Prints a table, then as its last line one JSON object.
 *
 * --rollout-slice N: the Dcm's rolloutSlice (a rebuild's ASSIGN bodies built N per reconcile;
 * the rest at the next joins' reconciles, as a control center continuing the rollout would);
 * "max reconcile ms" is then the plan plus one slice.
 *
 *   npm run bench:join [-- --sizes 1000,10000,100000 --budget-s 120 --rollout-slice 2000]
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Dcm, type DcmMember } from "../control/dcm/dcm.js";
import { toTierNode } from "../control/dcm/member.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import type { Fields, Logger } from "../seams/log.js";
import { mixNodes, MIX_STREAM_KBPS as R } from "../tools/topology-mix.js";

const K = 4;
const UPLOAD_SCALE = 1.5;

/** Counts events, keeps nothing. */
class CountingLogger implements Logger {
  constructor(readonly counts = new Map<string, number>()) {}
  debug(event: string): void {
    this.#count(event);
  }
  info(event: string): void {
    this.#count(event);
  }
  warn(event: string): void {
    this.#count(event);
  }
  error(event: string): void {
    this.#count(event);
  }
  child(_fields: Fields): Logger {
    return new CountingLogger(this.counts);
  }
  #count(event: string): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
  }
}

interface Row {
  n: number;
  joined: number;
  usPerJoin: number;
  p50Us: number;
  p99Us: number;
  assignsPerJoin: number;
  fullRebuilds: number;
  maxReconcileMs: number;
  /** One full build of the final membership, alone. */
  planMs: number;
  unplaced: number;
  timedOut: boolean;
}

function run(n: number, budgetMs: number, rolloutSlice: number | undefined): Row {
  const logger = new CountingLogger();
  const dcm = new Dcm(
    { logger },
    {
      logicalId: "dcm:bench:all",
      channel: { name: "bench", id: 1, k: K, streamKbps: R, segmentMs: 2000, fallbackUrl: "http://o" },
      topology: "tiered",
      seed: 7,
      ...(rolloutSlice === undefined ? {} : { rolloutSlice }),
    },
  );
  dcm.setOrigin({ id: 0, address: "10.0.0.1", port: 7000, region: "r0", uploadKbps: 20 * R, joinedAt: 0 });
  dcm.reconcile();
  const nodes = mixNodes(n, 7);
  const times: number[] = [];
  let assigns = 0;
  let maxReconcile = 0;
  const start = performance.now();
  let joined = 0;
  for (const x of nodes) {
    const m: DcmMember = {
      id: x.id,
      address: `10.${(x.id >> 16) & 255}.${(x.id >> 8) & 255}.${x.id & 255}`,
      port: 40_000,
      region: x.region,
      uploadKbps: Math.round(x.uploadKbps * UPLOAD_SCALE),
      joinedAt: x.joinedAt,
      nat: x.nat,
      waypoint: x.role === "waypoint",
      eligible: x.eligible,
    };
    const t0 = performance.now();
    dcm.upsert(m);
    const t1 = performance.now();
    assigns += dcm.reconcile().length;
    const t2 = performance.now();
    times.push((t2 - t0) * 1000);
    maxReconcile = Math.max(maxReconcile, t2 - t1);
    joined++;
    if (t2 - start > budgetMs) break;
  }
  // The rest of a sliced rollout, as the control center's continuation would send it.
  for (let i = 0; i < n && dcm.rolloutPending > 0; i++) {
    const t1 = performance.now();
    assigns += dcm.reconcile().length;
    maxReconcile = Math.max(maxReconcile, performance.now() - t1);
  }
  const members = dcm.members();
  const p0 = performance.now();
  buildTieredPlan({
    channel: { k: K, streamKbps: R },
    origin: { id: 0, uploadKbps: 20 * R, region: "r0" },
    nodes: members.map(toTierNode),
    regions: {},
    seed: 7,
  });
  const planMs = performance.now() - p0;
  times.sort((a, b) => a - b);
  const sum = times.reduce((a, x) => a + x, 0);
  return {
    n,
    joined,
    usPerJoin: +(sum / joined).toFixed(1),
    p50Us: +times[Math.floor(0.5 * times.length)]!.toFixed(1),
    p99Us: +times[Math.min(times.length - 1, Math.floor(0.99 * times.length))]!.toFixed(1),
    assignsPerJoin: +(assigns / joined).toFixed(2),
    fullRebuilds: logger.counts.get("plan_rebuilt") ?? 0,
    maxReconcileMs: +maxReconcile.toFixed(1),
    planMs: +planMs.toFixed(1),
    unplaced: dcm.plan.unplaced.length,
    timedOut: joined < n,
  };
}

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000,100000" },
    "budget-s": { type: "string", default: "120" },
    "rollout-slice": { type: "string" },
  },
});
const sizes = values.sizes.split(",").map((s) => Number(s));
const budgetMs = Number(values["budget-s"]) * 1000;
const slice = values["rollout-slice"] === undefined ? undefined : Number(values["rollout-slice"]);
if (
  sizes.some((s) => !Number.isInteger(s) || s < 1) ||
  !(budgetMs > 0) ||
  (slice !== undefined && !(Number.isInteger(slice) && slice >= 1))
)
  throw new RangeError(
    "--sizes: positive integers, comma-separated; --budget-s: > 0; --rollout-slice: integer >= 1",
  );

const rows = sizes.map((n) => run(n, budgetMs, slice));
console.log(
  `join path (Dcm tiered, upsert + reconcile per join) on node ${process.version}; mix x ${UPLOAD_SCALE}, k = ${K}, origin 20 R, rollout slice ${slice ?? "none"}`,
);
console.log(
  [
    "N",
    "joined",
    "µs/join",
    "p50 µs",
    "p99 µs",
    "ASSIGN/join",
    "rebuilds",
    "max reconcile ms",
    "plan ms",
    "unplaced",
  ]
    .map((h) => h.padStart(h.length >= 12 ? h.length + 2 : 12))
    .join(""),
);
for (const r of rows)
  console.log(
    [
      r.n,
      `${r.joined}${r.timedOut ? "*" : ""}`,
      r.usPerJoin,
      r.p50Us,
      r.p99Us,
      r.assignsPerJoin,
      r.fullRebuilds,
      r.maxReconcileMs,
      r.planMs,
      r.unplaced,
    ]
      .map((v) => String(v).padStart(12))
      .join(""),
  );
if (rows.some((r) => r.timedOut)) console.log(`* stopped at the ${budgetMs / 1000} s budget`);
const json: Record<string, unknown> = {};
for (const r of rows) {
  const tag = r.n >= 1000 ? `${r.n / 1000}k` : String(r.n);
  json[`usPerJoin${tag}`] = r.usPerJoin;
  json[`p50Us${tag}`] = r.p50Us;
  json[`p99Us${tag}`] = r.p99Us;
  json[`assignsPerJoin${tag}`] = r.assignsPerJoin;
  json[`fullRebuilds${tag}`] = r.fullRebuilds;
  json[`maxReconcileMs${tag}`] = r.maxReconcileMs;
  json[`planMs${tag}`] = r.planMs;
  json[`joined${tag}`] = r.joined;
  json[`unplaced${tag}`] = r.unplaced;
}
console.log(JSON.stringify(json));
