/** The control center on a ManualClock and a MemoryNetwork (harness in helpers/control-harness.ts). */
import test from "ava";

import { unpackHeartbeat } from "../control/heartbeat-report.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { JoinError, LeaveReason, MsgType, Role } from "../protocol/messages.js";

import { CONTROL, HB, Harness, STREAM_KBPS } from "./helpers/control-harness.js";

test("a node that stops heartbeating is lost after 3 intervals and its children get new parents", (t) => {
  // The foundation's tree on purpose: its placement by capacity is exact, so the lost node's
  // children can be followed to their new parents (the three-tier engine's repair of a
  // departed node: control-tiered-dcm.test.ts).
  const h = new Harness(undefined, { topology: "tree" });
  const o = h.origin(1);
  const a = h.agent(2); // under the origin
  const b = h.agent(1); // under a
  const c = h.agent(0); // under a
  t.is(a.parent(), o.id);
  t.is(b.parent(), a.id);
  t.is(c.parent(), a.id);
  // Everyone heartbeats once (before its first heartbeat a node gets one interval more).
  for (const n of [o, a, b, c]) n.heartbeat();
  h.settle();
  const before = { o: o.assigns().length, b: b.assigns().length, c: c.assigns().length };

  // a goes silent; the others keep heartbeating.
  for (let i = 0; i < 3; i++) h.interval([o, b, c]);
  t.truthy(h.control.clients.get(a.id), "lost too early");
  h.interval([o, b, c]);
  h.settle();
  t.is(h.control.clients.get(a.id), undefined);
  const lost = h.events("node_lost");
  t.is(lost.length, 1);
  t.is(lost[0]!.node, a.id);

  t.true(o.assigns().length > before.o && b.assigns().length > before.b && c.assigns().length > before.c);
  t.is(b.parent(), o.id);
  t.is(c.parent(), b.id);
  t.deepEqual(o.children(), [b.id]);
  t.is(h.control.metrics.lost, 1);
  t.is(h.store.sessions(a.id, 1)[0]!.reason, "lost");
});

test("LEAVE removes a node at once and its children are reassigned", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(1);
  const b = h.agent(0);
  t.is(b.parent(), a.id);
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(h.control.clients.get(a.id), undefined);
  t.is(b.parent(), o.id);
  t.is(h.events("node_left").length, 1);
});

test("ASSIGN is sent again when a heartbeat reports an older version, and jumps past a newer one", (t) => {
  const h = new Harness();
  h.origin();
  const a = h.agent(0);
  const first = a.lastAssign()!;
  t.is(first.version, 1);

  a.heartbeat(1); // up to date: nothing
  h.settle();
  t.is(a.assigns().length, 1);

  a.heartbeat(0); // the ASSIGN was lost
  h.settle();
  t.is(a.assigns().length, 2);
  t.deepEqual(a.lastAssign(), first);

  a.heartbeat(7); // control restarted and forgot: the node holds a newer version
  h.settle();
  t.is(a.lastAssign()!.version, 8);
  t.deepEqual({ ...a.lastAssign()!, version: 1 }, first);
  t.is(h.control.metrics.assignsResent, 2);
});

test("a heartbeat from an id control does not know gets JOIN_ACK error REJOIN", (t) => {
  const h = new Harness();
  const n = h.node();
  n.id = 42;
  n.heartbeat(3, 1);
  h.settle();
  const ack = n.acks().at(-1)!;
  t.is(ack.error, JoinError.REJOIN);
  t.is(ack.node, 0);
});

test("heartbeats are recorded: sizes, last body, acked version; a moved node's neighbours are told", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(1);
  a.heartbeat();
  h.clock.advance(HB);
  a.heartbeat();
  h.settle();
  const rec = h.control.clients.get(a.id)!;
  t.is(rec.heartbeats, 2);
  t.true(rec.heartbeatBytesMax > 20 && rec.heartbeatBytesMax < 256);
  t.is(rec.assignVersionAcked, 1);
  const last = unpackHeartbeat(rec.heartbeat!);
  t.is(last.resources.rssMB, 40);
  t.is(Math.round(rec.uploadBytes), (800 * HB) / 8);

  // NAT rebinding: the same node (its session's tag) heartbeats from a new port; the origin
  // gets the new address. The same bytes again from a third address are a replay: ignored.
  const moved = h.net.bind("127.0.1.99");
  const hb = a.link.seal({
    v: WIRE_VERSION,
    type: MsgType.HEARTBEAT,
    sender: a.id,
    seq: 0,
    ts: h.clock.now(),
    body: { ...last, assignVersion: 1 },
  });
  moved.send(hb, CONTROL);
  h.settle();
  h.net.bind("127.0.1.98").send(hb, CONTROL);
  h.settle();
  t.is(h.control.metrics.authFailed.get("replay"), 1);
  t.deepEqual(o.lastAssign()!.children[0], {
    node: a.id,
    address: "127.0.1.99",
    port: moved.local.port,
    substreams: 1,
  });
  t.is(h.events("node_moved").length, 1);
});

test("origin lost: its channel loses its root, agents are unplaced; the origin's return re-plans", (t) => {
  const h = new Harness();
  const o = h.origin(2);
  const a = h.agent(0);
  for (let i = 0; i < 5; i++) h.interval([a]);
  h.settle();
  t.is(h.control.clients.get(o.id), undefined);
  t.is(a.parent(), null);
  t.is(h.control.directory.byName("news")!.origin, null);
  // An agent cannot join a channel no origin offers any more.
  t.is(h.node().join({ channels: ["news"] }).error, JoinError.UNKNOWN_CHANNEL);
  o.join({
    role: Role.ORIGIN,
    channels: ["news"],
    uploadKbps: 2 * STREAM_KBPS,
    streamKbps: STREAM_KBPS,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:8080",
  });
  t.is(a.parent(), o.id);
});

test("stop() closes the open sessions and stops the liveness timer", (t) => {
  const h = new Harness();
  const o = h.origin();
  o.heartbeat();
  h.settle();
  h.control.stop();
  t.like(h.store.sessions(o.id, 1)[0], { reason: "control_stop", heartbeats: 1 });
  t.is(h.clock.pendingTimers, 0);
});
