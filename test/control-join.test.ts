import test from "ava";
import { Dcm, type DcmMember } from "../control/dcm.js";
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
