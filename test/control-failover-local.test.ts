/**
 * One machine, the embedded default (docs/resilience.md): control runs its DCMs in a worker
 * behind the UDP front. Kill the worker that serves the channel while 12 agents stream (as a
 * crash would: POST /api/servers/kill), and check, with real processes over real UDP:
 * - a fresh worker serves the channel with a higher epoch;
 * - every agent (and the origin) is back in the control's view — its session resumed, not
 *   rejoined — within 2 heartbeat intervals of the kill;
 * - no viewer loses a segment: every agent's count of segments played late or never does not
 *   grow across the failover;
 * - the new DCM's view (members, parent/child links per substream) equals the old one's once it
 *   has adopted what the nodes reported.
 */
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { readAdminToken } from "../control/admin-token.js";
import { waitFor } from "./helpers/cli.js";

const AGENTS = 12;
const HEARTBEAT_MS = 1000;

interface TopologyRow {
  adopting: boolean;
  view: { members: number[]; links: Array<{ parent: number; child: number; substream: number }> };
}

interface ServerRow {
  id: string;
  dcms: Array<{ logicalId: string; epoch: number }>;
}

test("kill the DCM worker while 12 agents stream: every node resumes within 2 heartbeats, no segment lost", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-failover-"));
  const cluster = new Cluster({
    dir,
    agents: AGENTS,
    regions: 3,
    uploadKbps: demoUploadKbps,
    staggerMs: 50,
    originFanout: 2,
    heartbeatMs: HEARTBEAT_MS,
  });
  t.teardown(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await cluster.start();
  const status = (i: number): Promise<AgentStatus | undefined> =>
    getJson<AgentStatus>(urlOf(cluster.agents[i]!.http, "/status"));
  const all = (): Promise<Array<AgentStatus | undefined>> =>
    Promise.all(cluster.agents.map((_, i) => status(i)));
  await waitFor(
    "every agent to play",
    async () =>
      (await all()).every((s) => s !== undefined && s.continuity.expected >= 3) ? true : undefined,
    60_000,
  );

  const servers = (await cluster.adminJson<ServerRow[]>("/api/servers"))!;
  const owner = servers.find((s) => s.dcms.length > 0)!;
  t.truthy(owner, "a worker serves the channel");
  const epochBefore = owner.dcms[0]!.epoch;
  const ids = new Set((await all()).map((s) => s!.node));
  const viewBefore = (await cluster.adminJson<TopologyRow[]>("/api/topology"))![0]!.view;
  const before = await all();

  const token = readAdminToken(cluster.adminTokenFile);
  const killedAt = Date.now();
  const r = await fetch(urlOf(cluster.control.http, "/api/servers/kill"), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ server: owner.id }),
  });
  t.is(r.status, 200);

  // Back in the view: the new worker lists every agent (its session resumed there).
  let backAt = 0;
  await waitFor(
    "every agent back in control's view",
    async () => {
      const nodes = (await cluster.adminJson<ControlNode[]>("/api/nodes", 500)) ?? [];
      const seen = new Set(nodes.map((n) => n.id));
      if (![...ids].every((id) => seen.has(id))) return undefined;
      backAt = Date.now();
      return true;
    },
    15_000,
    50,
  );
  const failoverMs = backAt - killedAt;
  t.log(`failover: every agent reassociated ${failoverMs} ms after the kill`);
  t.true(failoverMs <= 2 * HEARTBEAT_MS, `reassociated within 2 heartbeat intervals (${failoverMs} ms)`);

  // Once every node has heartbeated to the new DCM and it finished adopting: the same view.
  const viewAfter = await waitFor(
    "the new DCM to finish adopting",
    async () => {
      const row = (await cluster.adminJson<TopologyRow[]>("/api/topology", 500))?.[0];
      return row !== undefined && !row.adopting ? row.view : undefined;
    },
    10_000,
    100,
  );
  t.deepEqual(viewAfter, viewBefore, "the rebuilt view (members, links per substream) is the view before");

  const after = (await cluster.adminJson<ServerRow[]>("/api/servers"))!;
  const newOwner = after.find((s) => s.dcms.length > 0)!;
  t.not(newOwner.id, owner.id, "a fresh worker serves the channel");
  t.true(newOwner.dcms[0]!.epoch > epochBefore, "with a higher epoch");

  // Let the segments of the failover window come due, then compare what each agent lost.
  const settleEnd = Date.now() + 8000;
  await waitFor(
    "segments of the window to come due",
    () => (Date.now() >= settleEnd ? true : undefined),
    9000,
    500,
  );
  const later = await all();
  for (const [i, s] of later.entries()) {
    const b = before[i]!.continuity;
    const a = s!.continuity;
    const lost = a.expected - a.onTime - (b.expected - b.onTime);
    t.log(`agent ${i}: expected ${b.expected} -> ${a.expected}, late or lost during the failover ${lost}`);
    t.true(a.expected > b.expected, `agent ${i} kept playing`);
    t.is(lost, 0, `agent ${i} lost no segment`);
  }
});
