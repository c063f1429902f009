import test from "ava";
import fc from "fast-check";
import { checkPlan } from "../control/topology/check.js";
import { congestedLinks, seqDiff, type LinkSample } from "../control/topology/congestion.js";
import { buildTieredPlan } from "../control/topology/engine.js";
import { planMove } from "../control/topology/plan-repair.js";
import { mixSnapshot } from "../tools/topology-mix.js";

const sample = (parent: number, child: number, sentSeq: number, recvSeq: number): LinkSample => ({
  parent,
  child,
  sentSeq,
  recvSeq,
});

test("seqDiff is 16-bit sequence arithmetic (the heartbeat carries the low 16 bits)", (t) => {
  t.is(seqDiff(5, 3), 2);
  t.is(seqDiff(3, 5), -2);
  t.is(seqDiff(2, 0xfffe), 4);
  t.is(seqDiff(0xfffe, 2), -4);
});

test("a link whose lag passes the threshold and keeps growing is congested", (t) => {
  const prev = [sample(1, 2, 1000, 950), sample(1, 3, 1000, 999), sample(4, 5, 1000, 900)];
  const cur = [sample(1, 2, 1200, 1100), sample(1, 3, 1200, 1199), sample(4, 5, 1200, 1190)];
  t.deepEqual(congestedLinks(prev, cur, { lagPackets: 64 }), [{ parent: 1, child: 2, lag: 100, growth: 50 }]);
});

test("an idle parent, a shrinking lag or an unknown link is not congestion", (t) => {
  const prev = [sample(1, 2, 1000, 800), sample(1, 3, 1000, 800)];
  const cur = [sample(1, 2, 1000, 800), sample(1, 3, 1100, 1000), sample(7, 8, 5000, 1)];
  t.deepEqual(congestedLinks(prev, cur, { lagPackets: 64 }), []);
  const steady = [sample(1, 3, 1100, 900)];
  t.deepEqual(congestedLinks(prev, steady, { lagPackets: 64 }), [
    { parent: 1, child: 3, lag: 200, growth: 0 },
  ]);
});

test("sequence wrap-around does not fake congestion", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 63 }), (base, lag) => {
      const s = (x: number): number => (base + x) >>> 0;
      const v = congestedLinks([sample(1, 2, s(0), s(-lag))], [sample(1, 2, s(500), s(500 - lag))], {
        lagPackets: 64,
      });
      t.deepEqual(v, []);
    }),
  );
});

test("moving a congested child's substreams keeps the plan sound and drops the link", (t) => {
  const s = mixSnapshot(1500, 21);
  const plan = buildTieredPlan(s);
  const [child, np] = [...plan.nodes].find(([, n]) => n.tier === 3 && n.parents.some((p) => p !== null))!;
  const parent = np.parents.find((p) => p !== null)!;
  const r = planMove(plan, parent, child, s);
  t.false(r.rebuilt);
  t.true(r.changed.includes(child) && r.changed.includes(parent));
  t.false(r.plan.nodes.get(child)!.parents.includes(parent));
  t.deepEqual(checkPlan(r.plan, s), []);
});

test("a link the child has heard nothing on lately stays congested when the 16-bit numbers wrap", (t) => {
  // The parent sent 40,000 packets since the child's last one: mod 2^16 that looks like the child is ahead.
  const at = (sent: number, recv: number, stale: boolean): LinkSample => ({
    parent: 1,
    child: 2,
    sentSeq: sent & 0xffff,
    recvSeq: recv & 0xffff,
    ...(stale ? { stale: true } : {}),
  });
  t.deepEqual(congestedLinks([at(39_000, 0, false)], [at(40_000, 0, false)]), [], "wrapped: looks healthy");
  const found = congestedLinks([at(39_000, 0, true)], [at(40_000, 0, true)]);
  t.is(found.length, 1);
  t.true(found[0]!.lag >= 0x7fff);
});
