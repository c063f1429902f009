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
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { readAdminToken } from "../control/admin-token.js";
import { waitFor } from "./helpers/cli.js";
import { lossSince, reassociated, resumedAll } from "./helpers/failover.js";

const AGENTS = 12;
const HEARTBEAT_MS = 1000;

interface TopologyRow {
  adopting: boolean;
  viewDigest: string;
}

/** control's log lines (JSON) so far. */
function controlEvents(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
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
  // The view before: a settled plan (every node applied its last ASSIGN, nothing changed for a
  // heartbeat interval), so that no ASSIGN is in flight when the worker dies.
  let last: { view: string; at: number } | undefined;
  const viewBefore = await waitFor(
    "a settled plan",
    async () => {
      const nodes =
        (await cluster.adminJson<Array<{ assignVersion: { sent: number; acked: number } }>>("/api/nodes")) ??
        [];
      const row = (await cluster.adminJson<TopologyRow[]>("/api/topology"))?.[0];
      if (row === undefined || nodes.some((n) => n.assignVersion.sent !== n.assignVersion.acked))
        return (last = undefined);
      const view = row.viewDigest;
      if (last?.view !== view) return void (last = { view, at: Date.now() });
      return Date.now() - last.at >= HEARTBEAT_MS ? { digest: view } : undefined;
    },
    30_000,
    250,
  );
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
  // Back: the fresh worker lists every agent (its RESUME passed), and every agent's own session
  // is joined again there, at the new owner's epoch (the node side).
  const listedAt = await reassociated(
    ids,
    async () => new Set(((await cluster.adminJson<ControlNode[]>("/api/nodes", 500)) ?? []).map((n) => n.id)),
    15_000,
  );
  const backAt = await resumedAll(all, before, 15_000);
  t.log(`listed by the new worker ${listedAt - killedAt} ms after the kill`);
  const failoverMs = backAt - killedAt;
  t.log(`failover: every agent reassociated ${failoverMs} ms after the kill`);
  t.true(failoverMs <= 2 * HEARTBEAT_MS, `reassociated within 2 heartbeat intervals (${failoverMs} ms)`);

  // Once every node has heartbeated to the new DCM and it has finished adopting (late resumers
  // are adopted at the next liveness ticks), its view is the old one.
  let lastDigest: string | undefined;
  await waitFor(
    "the new DCM's view to be the old one",
    async () => {
      const row = (await cluster.adminJson<TopologyRow[]>("/api/topology", 1000))?.[0];
      if (row === undefined || row.adopting) return undefined;
      lastDigest = row.viewDigest;
      return row.viewDigest === viewBefore.digest ? true : undefined;
    },
    15_000,
    100,
  ).catch(() => undefined);
  const adopted = controlEvents(cluster.control.logFile).find((e) => e.event === "dcm_adopted");
  t.log(`adoption: ${JSON.stringify(adopted)}`);
  t.is(lastDigest, viewBefore.digest, "the rebuilt view (members, links per substream) is the view before");

  const after = (await cluster.adminJson<ServerRow[]>("/api/servers"))!;
  const newOwner = after.find((s) => s.dcms.length > 0)!;
  t.not(newOwner.id, owner.id, "a fresh worker serves the channel");
  t.true(newOwner.dcms[0]!.epoch > epochBefore, "with a higher epoch");

  // The segments of the failover window come due; then what each agent lost.
  const losses = await lossSince(all, before, 4, 30_000);
  for (const [i, l] of losses.entries()) {
    t.log(`agent ${i}: expected ${l.expectedBefore} -> ${l.expectedAfter}, late or lost ${l.lost}`);
    t.is(l.lost, 0, `agent ${i} lost no segment`);
  }
});

test("control killed -9 and restarted on the same database: every node resumes, none is left unplaced", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-restart-"));
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
  const all = (): Promise<Array<AgentStatus | undefined>> =>
    Promise.all(cluster.agents.map((a) => getJson<AgentStatus>(urlOf(a.http, "/status"))));
  await waitFor(
    "every agent to play",
    async () =>
      (await all()).every((s) => s !== undefined && s.continuity.expected >= 3) ? true : undefined,
    60_000,
  );
  const before = await all();
  cluster.control.child.kill("SIGKILL");
  await cluster.restartControl(0);
  const restartedAt = Date.now();
  await resumedAll(all, before, 20_000);
  t.log(`every agent resumed ${Date.now() - restartedAt} ms after the restart`);

  // The case that stuck: a rebuild some seconds later left the only agent of a region without
  // parents. Watch through the eligibility review and a few rebuild chances: nobody unplaced,
  // every agent fed, nothing lost.
  const losses = await lossSince(all, before, 8, 60_000);
  const channels = (await cluster.adminJson<Array<{ unplaced: number }>>("/api/channels"))!;
  t.is(channels[0]?.unplaced, 0, "no node unplaced");
  for (const [i, s] of (await all()).entries())
    t.true((s?.parents.length ?? 0) > 0, `agent ${i} has parents`);
  const unplacedEvents = controlEvents(cluster.control.logFile).filter((e) => e.event === "nodes_unplaced");
  t.deepEqual(unplacedEvents, [], "control never logged nodes_unplaced");
  for (const [i, l] of losses.entries()) t.is(l.lost, 0, `agent ${i} lost no segment across the restart`);
});
