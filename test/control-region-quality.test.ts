import test from "ava";
import { Dcm, type DcmMember } from "../control/dcm/dcm.js";
import { RegionQuality } from "../control/region-quality.js";
import { MemoryLogger } from "../seams/log.js";

test("region quality: loss is a weighted mean, published only after minSamples", (t) => {
  const q = new RegionQuality({ alpha: 0.5, minSamples: 3 });
  q.onLoss("a", 0.1);
  q.onLoss("a", 0.0);
  t.deepEqual(q.publish(), {});
  q.onLoss("a", 0.0);
  t.is(q.view("a")!.samples, 3);
  t.is(q.view("a")!.loss, 0.025); // 0.1 -> 0.05 -> 0.025
  t.deepEqual(q.publish(), { a: { loss: 0.025, jitterMs: 0 } });
  q.onLoss("a", Number.NaN); // ignored
  q.onLoss("b", 7); // clamped to 1
  t.is(q.view("b")!.loss, 1);
  t.deepEqual(q.regions(), ["a", "b"]);
});

test("region quality: the published loss moves only when the mean leaves the band (no flapping)", (t) => {
  const q = new RegionQuality({ alpha: 1, minSamples: 1, band: 0.3, minStep: 0.002 });
  q.onLoss("a", 0.02);
  t.is(q.publish().a!.loss, 0.02);
  for (const x of [0.024, 0.016, 0.025, 0.015]) {
    q.onLoss("a", x); // inside ±30%: the published value stays
    t.is(q.publish().a!.loss, 0.02);
  }
  q.onLoss("a", 0.04);
  t.is(q.publish().a!.loss, 0.04);
});

test("region quality: jitter from heartbeat arrival gaps; a missed beat is not jitter", (t) => {
  const q = new RegionQuality({ alpha: 1, minSamples: 1 });
  q.onArrival("a", 1030, 1000);
  t.is(q.view("a")!.jitterMs, 30);
  q.onArrival("a", 3500, 1000); // a lost heartbeat: ignored
  t.is(q.view("a")!.jitterMs, 30);
  t.throws(() => new RegionQuality({ alpha: 0 }), { message: /alpha/ });
});

const STREAM = 700;

function member(id: number, region: string, uploadKbps: number): DcmMember {
  return {
    id,
    address: `127.0.1.${id}`,
    port: 40_000 + id,
    region,
    uploadKbps,
    joinedAt: id,
    eligible: true,
  };
}

function tieredDcm(): Dcm {
  const d = new Dcm(
    { logger: new MemoryLogger() },
    {
      logicalId: "dcm:demo:all",
      channel: { name: "demo", id: 3, k: 4, streamKbps: STREAM, segmentMs: 2000, fallbackUrl: "http://o" },
      topology: "tiered",
      regions: { east: { access: "fibre" }, west: { access: "fibre" } },
    },
  );
  d.setOrigin({ id: 1, address: "127.0.0.1", port: 39_000, region: "east", uploadKbps: 20_000, joinedAt: 0 });
  let id = 2;
  for (const region of ["east", "west"])
    for (const up of [4000, 3000, 2000, 2000, 1600, 1500, 700, 500, 300, 200, 200, 100])
      d.upsert(member(id++, region, up));
  return d;
}

function tier2Fec(d: Dcm, region: string): Array<{ k: number; n: number }> {
  const out: Array<{ k: number; n: number }> = [];
  for (const m of d.members()) {
    const np = d.plan.nodes.get(m.id);
    if (m.region === region && np?.role === "tier2" && np.fec !== undefined) out.push(np.fec);
  }
  return out;
}

test("tiered DCM: measured region loss raises that region's tier-2 redundancy (rebuild), not the other's", (t) => {
  const d = tieredDcm();
  d.reconcile();
  t.true(tier2Fec(d, "east").length > 0 && tier2Fec(d, "west").length > 0);
  t.true(tier2Fec(d, "east").every((f) => f.n === 1)); // fibre
  // Small loss: same n, nothing to do.
  t.false(d.setRegionQuality({ east: { loss: 0.004, jitterMs: 3 } }));
  // 4% loss in the west: n by loss (<= 5% -> 3).
  t.true(d.setRegionQuality({ east: { loss: 0.004, jitterMs: 3 }, west: { loss: 0.04, jitterMs: 9 } }));
  const out = d.reconcile();
  t.true(out.length > 0);
  t.true(tier2Fec(d, "west").every((f) => f.n === 3));
  t.true(tier2Fec(d, "east").every((f) => f.n === 1));
  const west = out.filter((a) => a.body.fec?.n === 3);
  t.true(west.length > 0, "the west's tier-2 nodes got new ASSIGNs");
  t.false(d.setRegionQuality({ east: { loss: 0.004, jitterMs: 3 }, west: { loss: 0.045, jitterMs: 9 } }));
});

test("tiered DCM: one cluster DCM per channel x cluster; versions stay monotonic across clusters", (t) => {
  const d = tieredDcm();
  const first = d.reconcile();
  const dcms = d.clusterDcms();
  const ids = dcms.map((c) => c.logicalId);
  t.true(ids.includes("dcm:demo:t1"), ids.join());
  t.true(
    ids.some((x) => x.startsWith("dcm:demo:t2:east")),
    ids.join(),
  );
  t.true(
    ids.some((x) => x.startsWith("dcm:demo:t3:") && x.includes("west")), // small regions merge
    ids.join(),
  );
  t.is(
    dcms.reduce((a, c) => a + c.nodes, 0),
    d.plan.nodes.size - d.plan.unplaced.length,
  );
  const versions = new Map(first.map((a) => [a.node, a.body.version]));
  // A rebuild that changes every tier-2 node of a region: versions only go up.
  d.setRegionQuality({ west: { loss: 0.04, jitterMs: 0 } });
  for (const a of d.reconcile()) t.true(a.body.version > (versions.get(a.node) ?? 0), `node ${a.node}`);
  // A lagging heartbeat gets the ASSIGN again from the node's cluster DCM.
  const some = first[first.length - 1]!;
  const again = d.onAssignVersion(some.node, 0);
  t.is(again?.node, some.node);
  t.deepEqual(again?.body, d.assignment(some.node));
});

test("region quality: reading what was published changes nothing", (t) => {
  const q = new RegionQuality({ alpha: 1, minSamples: 1 });
  q.onLoss("a", 0.02);
  t.deepEqual(q.published(), {}, "nothing published before the interval's publish()");
  q.publish();
  q.onLoss("a", 0.09);
  t.is(q.published().a!.loss, 0.02);
  t.is(q.published().a!.loss, 0.02);
});
