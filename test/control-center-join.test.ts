/** The control center on a ManualClock and a MemoryNetwork (harness in helpers/control-harness.ts). */
import test from "ava";

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteNodeStore } from "../control/store.js";
import { treeCapacity } from "../control/topology/tree.js";
import { JoinError, Role } from "../protocol/messages.js";

import { HB, Harness, newIdentity, STREAM_KBPS } from "./helpers/control-harness.js";

test("JOIN gets a JOIN_ACK with a stable id, region, heartbeat interval and channel info", (t) => {
  const h = new Harness();
  const o = h.origin();
  const a = h.node(2);
  const ack = a.join({ channels: ["news"], uploadKbps: 500, regionHint: "east" });
  t.is(ack.error, JoinError.NONE);
  t.true(ack.node > 0 && ack.node !== o.id);
  t.is(ack.region, "west"); // the prefix beats the hint
  t.is(ack.heartbeatMs, HB);
  t.deepEqual(ack.channels, [
    {
      name: "news",
      id: 1,
      k: 1,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
      // The origin's JOIN key: the key its segment METAs are signed with.
      originKey: new Uint8Array(o.key),
    },
  ]);
  // A resent JOIN (the ack was lost) gets the same id again and no second session.
  const again = a.join({ channels: ["news"], uploadKbps: 500 });
  t.is(again.node, ack.node);
  t.is(h.control.clients.size, 2);
  t.is(h.events("node_joined").length, 2);
});

test("the id of an identity key survives a control restart (store reopened)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const keyA = newIdentity();
  const keyB = newIdentity();

  const first = new Harness(new SqliteNodeStore(file));
  first.origin();
  const idA = first.node(1, keyA).join({ channels: ["news"] }).node;
  const idB = first.node(1, keyB).join({ channels: ["news"] }).node;
  first.control.stop();
  first.store.close();

  const second = new Harness(new SqliteNodeStore(file));
  second.origin();
  t.is(second.node(1, keyB).join({ channels: ["news"] }).node, idB);
  t.is(second.node(1, keyA).join({ channels: ["news"] }).node, idA);
  t.not(idA, idB);
  const sessions = second.store.sessions(idA, 10);
  t.is(sessions.length, 2);
  t.is(sessions[1]!.reason, "control_stop");
  second.store.close();
});

test("an agent asking for a channel no origin offers gets UNKNOWN_CHANNEL", (t) => {
  const h = new Harness();
  const a = h.node();
  const ack = a.join({ channels: ["news"] });
  t.is(ack.error, JoinError.UNKNOWN_CHANNEL);
  t.is(ack.node, 0);
  t.is(h.control.clients.size, 0);
  // Once the origin is there, the retry succeeds.
  h.origin();
  t.is(a.join({ channels: ["news"] }).error, JoinError.NONE);
  t.is(h.control.metrics.joinAcks.get("UNKNOWN_CHANNEL"), 1);
});

test("bad JOINs get BAD_REQUEST", (t) => {
  const h = new Harness();
  t.is(
    h.node().join({ role: Role.ORIGIN, channels: ["news"], uploadKbps: 1000 }).error,
    JoinError.BAD_REQUEST,
  );
  h.origin(2, ["news", "sport"]);
  // One live channel at a time (VoD channels may come with it: test/vod-control.test.ts).
  t.is(h.node().join({ channels: ["news", "sport"] }).error, JoinError.BAD_REQUEST);
  t.is(h.node().join({ channels: ["news", "news"] }).error, JoinError.BAD_REQUEST);
  // (an agent with no channel is an idle box: control-recruit.test.ts)
  t.is(h.node().join({ channels: [], role: Role.WAYPOINT }).error, JoinError.BAD_REQUEST);
  // A second origin key may not take a channel another key offers (docs/security.md).
  const rival = h.node(9).join({
    role: Role.ORIGIN,
    channels: ["news"],
    uploadKbps: 1000,
    streamKbps: STREAM_KBPS,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:9090",
  });
  t.is(rival.error, JoinError.UNAUTHORIZED);
});

test("an origin and 5 agents: every agent is placed, capacities hold, the tree is shallow", (t) => {
  // The foundation's tree on purpose (`--topology tree`): its capacity bound (treeCapacity).
  const h = new Harness(undefined, { topology: "tree" });
  const o = h.origin(2);
  const caps = [0, 3, 1, 2, 0];
  const agents = caps.map((c, i) => h.agent(c, 1 + (i % 2)));
  const all = [o, ...agents];
  const capOf = new Map(all.map((n, i) => [n.id, i === 0 ? 2 : caps[i - 1]!]));

  // What each node was last told, checked for consistency: parent of x <=> x among its children.
  for (const a of agents) {
    const p = a.parent();
    t.not(p, null, `agent ${a.id} was not placed`);
    const parent = all.find((n) => n.id === p)!;
    t.true(parent.children().includes(a.id));
    t.deepEqual(a.lastAssign()!.parents[0], {
      node: parent.id,
      address: parent.transport.local.address,
      port: parent.transport.local.port,
    });
  }
  for (const n of all) t.true(n.children().length <= capOf.get(n.id)!, `node ${n.id} over capacity`);
  t.is(o.lastAssign()!.parents[0], null);
  t.is(o.lastAssign()!.k, 1);
  t.is(o.lastAssign()!.children[0]!.substreams, 1);

  const dcm = h.control.directory.byName("news")!.dcm;
  t.true(dcm.plan.depth <= 2, `depth ${dcm.plan.depth}`);
  t.deepEqual(dcm.plan.unplaced, []);
  // Versions are monotonic per node and the last one is what control holds.
  for (const n of all) {
    const versions = n.assigns().map((a) => a.version);
    t.deepEqual(
      versions,
      versions.map((_, i) => i + 1),
    );
    t.is(dcm.assignment(n.id)?.version, versions.at(-1));
  }
  t.is(treeCapacity(2 * STREAM_KBPS, STREAM_KBPS), 2);
});
