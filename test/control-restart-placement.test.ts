/**
 * Control restart with the same SQLite database (issue 12, "No region left dark"): control is
 * killed (no stop(), its sessions stay open in the store), a new ControlCenter starts on the same
 * file and every node rejoins. No node that is alive and watching may be left unplaced.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { eligibleFromHistory } from "../control/eligibility.js";
import { SqliteNodeStore } from "../control/store.js";
import type { Plan } from "../control/topology/plan.js";
import { JoinError } from "../protocol/messages.js";
import {
  type FakeNode,
  Harness,
  newIdentity,
  type NodeIdentity,
  STREAM_KBPS,
} from "./helpers/control-harness.js";

/** The demo's mix (cli/demo.ts): uploads 4, 2, 1, 0.4 streams; agent i in region i mod 3. */
const UPLOADS = [4, 2, 1, 0.4];

interface Agent {
  identity: NodeIdentity;
  subnet: number;
  uploadKbps: number;
}

function startAgents(h: Harness, agents: Agent[]): FakeNode[] {
  return agents.map((a) => {
    const n = h.node(a.subnet, a.identity);
    const ack = n.join({ channels: ["news"], uploadKbps: a.uploadKbps });
    if (ack.error !== JoinError.NONE) throw new Error(`agent refused: ${JoinError[ack.error]}`);
    return n;
  });
}

function tiered(store: SqliteNodeStore): Harness {
  return new Harness(store, { topology: "tiered", k: 1 });
}

test("control restart with the same database: every agent is placed again, none left unplaced", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-restart-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const agents: Agent[] = Array.from({ length: 12 }, (_, i) => ({
    identity: newIdentity(),
    subnet: (i % 3) + 1,
    uploadKbps: UPLOADS[i % 4]! * STREAM_KBPS,
  }));

  // First run: 20 s of streaming, everyone placed.
  const store1 = new SqliteNodeStore(file);
  const h1 = tiered(store1);
  const o1 = h1.origin(2.5);
  const n1 = startAgents(h1, agents);
  for (let i = 0; i < 20; i++) h1.interval([o1, ...n1]);
  const dcm1 = h1.control.directory.byName("news")!.dcm;
  t.deepEqual(dcm1.plan.unplaced, [], "placed before the restart");
  const tier1Before = tier1(dcm1.plan);
  t.true(tier1Before.length > 0);
  // kill -9: no stop(), the sessions stay open. The restarted control closes them as
  // "control_restart" at its start, 5 s later (the harness's clock starts afresh, so that is done here).
  store1.closeOpenSessions(h1.clock.now() + 5000, "control_restart");
  store1.close();

  const store2 = new SqliteNodeStore(file);
  t.teardown(() => store2.close());
  const h2 = tiered(store2);
  const o2 = h2.origin(2.5);
  const n2 = startAgents(h2, agents);
  t.deepEqual(
    n2.map((n) => n.id),
    n1.map((n) => n.id),
    "same ids",
  );
  // Long enough for the eligibility review (60 s) and any rebuild it asks for.
  for (let i = 0; i < 70; i++) h2.interval([o2, ...n2]);
  const dcm2 = h2.control.directory.byName("news")!.dcm;
  t.deepEqual(dcm2.plan.unplaced, [], "nobody unplaced after the restart");
  // Control's crash is not held against the nodes: the same agents are eligible for tier 1.
  t.deepEqual(tier1(dcm2.plan), tier1Before, "same tier-1 nodes");
  for (const n of n2) t.true(h2.control.clients.get(n.id)!.eligible, `node ${n.id} eligible`);
  t.deepEqual(
    h2.events("nodes_unplaced").map((e) => e.ids),
    [],
  );
  for (const n of n2) {
    const a = n.lastAssign();
    t.truthy(a, `node ${n.id} has an ASSIGN`);
    t.true(
      a!.parents.some((p) => p !== null),
      `node ${n.id} has a parent`,
    );
  }
});

test("no agent eligible (every one lost its last sessions): every watching agent is placed all the same", (t) => {
  const store = new SqliteNodeStore(":memory:");
  const agents: Agent[] = Array.from({ length: 12 }, (_, i) => ({
    identity: newIdentity(),
    subnet: (i % 3) + 1,
    uploadKbps: UPLOADS[i % 4]! * STREAM_KBPS,
  }));
  // A history of failures (a mass "lost", whatever its cause): nobody is preferred-eligible.
  for (const a of agents) {
    const node = store.nodeIdForKey(a.identity.publicKey, 0);
    for (let s = 0; s < 3; s++) {
      const id = store.openSession({
        node,
        role: "agent",
        region: "east",
        channel: "news",
        address: "127.0.1.1",
        port: 1,
        joinedAt: 1000 * s,
      });
      store.closeSession(id, {
        endedAt: 1000 * s + 500,
        reason: "lost",
        heartbeats: 5,
        heartbeatBytes: 0,
        uploadBytes: 0,
      });
    }
  }
  const h = tiered(store);
  const o = h.origin(2.5);
  const nodes = startAgents(h, agents);
  for (let i = 0; i < 5; i++) h.interval([o, ...nodes]);
  for (const n of nodes) t.false(h.control.clients.get(n.id)!.eligible, `node ${n.id} not eligible`);
  const dcm = h.control.directory.byName("news")!.dcm;
  t.deepEqual(tier1(dcm.plan), [], "tier 1 is the origin alone");
  // The high-capacity agents the origin cannot feed are relegated to tier 3, where the fed
  // tier-2 agents of any region feed them.
  t.deepEqual(dcm.plan.unplaced, []);
  t.deepEqual(h.events("nodes_unplaced"), []);
  for (const n of nodes)
    t.true(
      n.lastAssign()!.parents.some((p) => p !== null),
      `node ${n.id} fed`,
    );
});

test("eligibility: sessions control ended never count against a node", (t) => {
  const short = (reason: "control_restart" | "control_stop" | "left" | "lost") => ({
    reason,
    uptimeMs: 5_000,
  });
  const long = (reason: "control_restart" | "control_stop" | "left" | "lost") => ({
    reason,
    uptimeMs: 300_000,
  });
  // A short run cut by control's crash or stop: as if there were no history.
  t.true(eligibleFromHistory([short("control_restart")], 0, undefined));
  t.true(eligibleFromHistory([short("control_stop"), short("control_restart")], 0, false));
  // ... and the node's own record still counts.
  t.false(eligibleFromHistory([short("control_restart"), short("left")], 0, undefined));
  t.false(eligibleFromHistory([short("control_restart"), long("lost"), long("lost")], 0, true));
  // A long session control ended counts in the node's favour.
  t.true(eligibleFromHistory([long("control_restart"), long("left")], 0, undefined));
  t.true(eligibleFromHistory([long("control_stop"), long("control_stop"), long("lost")], 0, true));
});

function tier1(plan: Plan): number[] {
  return [...plan.nodes]
    .filter(([, np]) => np.role === "tier1" || np.role === "waypoint")
    .map(([id]) => id)
    .sort((a, b) => a - b);
}
