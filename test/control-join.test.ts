import test from "ava";
import { Dcm, type DcmMember } from "../control/dcm/dcm.js";
import { DEFAULT_FANOUT, uploadBudgetKbps } from "../origin/origin.js";
import { MemoryLogger } from "../seams/log.js";

const STREAM = 671;

function tiered(logger = new MemoryLogger()): Dcm {
  return new Dcm(
    { logger },
    {
      logicalId: "dcm:live:all",
      channel: { name: "live", id: 1, k: 1, streamKbps: STREAM, segmentMs: 2000, fallbackUrl: "http://o" },
      topology: "tiered",
    },
  );
}

function viewer(id: number, uploadKbps = 4000, region = "default"): DcmMember {
  return { id, address: "127.0.0.2", port: 10_000 + id, region, uploadKbps, joinedAt: id };
}

const ORIGIN: DcmMember = {
  id: 1,
  address: "127.0.0.1",
  port: 9000,
  region: "default",
  uploadKbps: 1678,
  joinedAt: 0,
};

test("agents lost while the channel has no origin yet: removed, no 'unknown node null'", (t) => {
  const d = tiered();
  for (let id = 2; id < 12; id++) d.upsert(viewer(id, id % 2 === 0 ? 4000 : 300));
  t.notThrows(() => d.reconcile());
  t.true(d.remove(3));
  t.true(d.remove(4));
  t.notThrows(() => d.reconcile());
  t.false(d.plan.nodes.has(3));
  t.deepEqual(
    d.members().map((m) => m.id),
    [2, 5, 6, 7, 8, 9, 10, 11],
  );
  // The origin comes: everyone left is placed.
  d.setOrigin(ORIGIN);
  d.reconcile();
  t.deepEqual(d.plan.unplaced, []);
  t.is(d.plan.nodes.size, 9);
});

test("agents lost after the origin was lost: removed, no 'unknown node null'", (t) => {
  const d = tiered();
  d.setOrigin(ORIGIN);
  for (let id = 2; id < 40; id++) d.upsert(viewer(id, id % 3 === 0 ? 4000 : 500));
  d.reconcile();
  t.true(d.remove(ORIGIN.id));
  d.reconcile();
  for (const id of [5, 6, 7, 20]) t.true(d.remove(id));
  t.notThrows(() => d.reconcile());
  // A move and a fill on an origin-less plan change nothing and do not throw either.
  t.false(d.moveAway(8, 9));
  t.notThrows(() => d.watchdog());
  t.notThrows(() => d.reconcile());
  for (const id of [5, 6, 7, 20]) t.false(d.plan.nodes.has(id));
  d.setOrigin(ORIGIN);
  d.reconcile();
  t.deepEqual(d.plan.unplaced, []);
});

test("5,000 viewers of 4,000 kbit/s behind an origin with its default upload: all placed, lossy region too", (t) => {
  const logger = new MemoryLogger();
  const d = tiered(logger);
  // As `tiercast origin` starts it: upload = fanout 2 x stream x 1.25 (origin/origin.ts).
  d.setOrigin({ ...ORIGIN, uploadKbps: uploadBudgetKbps(STREAM, DEFAULT_FANOUT) });
  d.reconcile();
  for (let id = 2; id < 5002; id++) {
    d.upsert(viewer(id));
    d.reconcile();
  }
  t.deepEqual(d.plan.unplaced, []);
  // Heartbeats measure the region lossy: n = 4 parity, m = 16 coded sub-trees, a rebuild. Each
  // coded node kept 8 of its 24 links for a bottom tier this region hardly has; the 16 left were
  // exactly what 16 sub-trees need, the origin fed the shortfall until it ran out, and the
  // clusters it could not feed were relegated where only the origin feeds: 4,000 unplaced.
  t.true(d.setRegionQuality({ default: { loss: 0.2, jitterMs: 5 } }));
  d.reconcile();
  t.deepEqual(d.plan.unplaced, []);
  t.is(logger.lines.filter((l) => l.event === "nodes_unplaced").length, 0);
  t.true((d.plan.clusters ?? []).some((c) => c.fec?.n === 4));
});
