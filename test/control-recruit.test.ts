import test from "ava";
import { JoinError, Role, TierRole } from "../protocol/messages.js";
import { SqliteNodeStore } from "../control/store.js";
import { Harness, STREAM_KBPS } from "./helpers/control-harness.js";

function tiered(): Harness {
  return new Harness(new SqliteNodeStore(":memory:"), { topology: "tiered", k: 1 });
}

test("an idle box joins watching nothing and is recruited into tier 1 where its region has no capable viewer", (t) => {
  const h = tiered();
  h.origin(40);
  // East (127.0.1.x) has strong viewers; west (127.0.2.x) only weak ones.
  const east = [h.agent(6, 1), h.agent(6, 1), h.agent(1, 1)];
  const west = [1, 2, 3].map(() => {
    const a = h.node(2);
    a.join({ channels: ["news"], uploadKbps: STREAM_KBPS / 2 });
    return a;
  });
  h.settle();
  t.true(west.every((w) => w.lastAssign()?.role === TierRole.TIER3));

  const idleWest = h.node(2);
  const ack = idleWest.join({ channels: [], uploadKbps: 10 * STREAM_KBPS });
  t.is(ack.error, JoinError.NONE);
  t.deepEqual(ack.channels, [], "an idle box watches nothing");
  h.settle();
  const a = idleWest.lastAssign();
  t.truthy(a, "recruited: it got an ASSIGN for the live channel");
  t.is(a?.role, TierRole.TIER1);
  t.true((a?.children.length ?? 0) > 0 || (a?.mesh?.length ?? 0) > 0, "and relays");
  t.is(h.events("relay_offered").length, 1);

  // An idle box in the east, where capable viewers hold tier 1: offered, not used, no ASSIGN.
  const idleEast = h.node(1);
  idleEast.join({ channels: [], uploadKbps: 10 * STREAM_KBPS });
  h.settle();
  t.is(idleEast.lastAssign(), undefined);
  t.true(east.some((e) => e.lastAssign()?.role === TierRole.TIER1));

  // Its heartbeats count as the channel's link reports, and a repeated JOIN keeps the channel.
  idleWest.heartbeat();
  h.settle();
  const before = idleWest.assigns().length;
  idleWest.join({ channels: [], uploadKbps: 10 * STREAM_KBPS });
  h.settle();
  t.is(idleWest.assigns().length, before, "nothing changes on a repeated JOIN");
});

test("an idle box that joins before any channel is live is offered on the schedule", (t) => {
  const h = tiered();
  const idle = h.node(2);
  const ack = idle.join({ channels: [], role: Role.AGENT, uploadKbps: 10 * STREAM_KBPS });
  t.is(ack.error, JoinError.NONE);
  const o = h.origin(40);
  t.is(h.events("relay_offered").length, 0);
  for (let i = 0; i < 61; i++) h.interval([idle, o]); // a minute: the eligibility schedule runs
  t.is(h.events("relay_offered").length, 1);
});
