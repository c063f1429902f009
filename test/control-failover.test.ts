/**
 * Control fails over (docs/resilience.md), with real processes over real UDP. The tests run one
 * at a time (each runs a whole deployment; two at once on this 2-core machine measure the
 * machine):
 *
 * One machine, the embedded default: control runs its DCMs in a worker behind the UDP front.
 * Kill the worker that serves the channel while 12 agents stream (as a crash would:
 * POST /api/servers/kill), and check:
 * - a fresh worker serves the channel with a higher epoch;
 * - every agent is back — listed by the new worker and its own session joined again there
 *   (resumed, not rejoined) — within 2 heartbeat intervals of the kill;
 * - no viewer loses a segment: every agent's count of segments played late or never does not
 *   grow across the failover;
 * - the new DCM's view (members, parent/child links per substream) equals the old one's once it
 *   has adopted what the nodes reported.
 * Then control killed -9 and restarted on its database: every node resumes, none is left
 * unplaced (the case that stuck before).
 *
 * Several machines: three `tiercast control --etcd` processes on a real etcd on loopback, one
 * origin, agents that know all three endpoints:
 * - kill -9 the control process that holds the channel's DCM while 24 agents stream: every agent
 *   is back within 2 heartbeat intervals plus the lease (the RSL cannot move the DCM before etcd
 *   expires the dead server's lease), no viewer loses a segment, the new owner's fencing epoch
 *   (the ownership key's revision) is higher; then kill -9 the primary service manager: a new
 *   channel can still be created and joined;
 * - etcd stopped for 10 s: the data plane keeps flowing, control recovers, and (from the three
 *   processes' logs) no two processes acted as the channel's owner at the same time.
 *
 * @heavy privileged, processes: whole deployments of control, origin and agent processes, and etcd
 */
import test, { type ExecutionContext } from "ava";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { readAdminToken } from "../control/admin-token.js";
import { waitFor } from "../tools/cli.js";
import { lossSince, reassociated, resumedAll } from "./helpers/failover.js";
import { EtcdServer } from "../tools/etcd.js";
import { needs } from "./helpers/needs.js";
import { removeIfPassed } from "./helpers/keep-on-failure.js";

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

/** Logs an agent's control events and the servers' events that name its node (a failed run's story). */
function explainLoss(t: ExecutionContext, cluster: Cluster, agent: number, node: number): void {
  const mine = new Set([
    "joined",
    "assigned",
    "control_failover",
    "resumed",
    "parent_lost",
    "segment_committed",
  ]);
  for (const e of controlEvents(cluster.agents[agent]!.logFile))
    if (mine.has(String(e.event))) t.log(`  agent ${agent}: ${JSON.stringify(e)}`);
  for (const [n, c] of cluster.controls.entries())
    for (const e of controlEvents(c.logFile)) {
      const ids = [e.node, ...(Array.isArray(e.ids) ? e.ids : [])];
      if (ids.includes(node)) t.log(`  control ${n}: ${JSON.stringify(e)}`);
    }
}

interface ServerRow {
  id: string;
  dcms: Array<{ logicalId: string; epoch: number }>;
}

test.serial(
  "kill the DCM worker while 12 agents stream: every node resumes within 2 heartbeats, no segment lost",
  async (t) => {
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
      removeIfPassed(t, dir);
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
          (await cluster.adminJson<Array<{ assignVersion: { sent: number; acked: number } }>>(
            "/api/nodes",
          )) ?? [];
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
    // What each node runs at the kill: its assignment version says whether the old DCM moved the
    // plan after the view before was taken (its congestion monitor or watchdog may, on a loaded
    // machine, in the moments between the settled check and the kill).
    const atKill = await all();

    // Back in the view: the new worker lists every agent (its session resumed there).
    // Back: the fresh worker lists every agent (its RESUME passed), and every agent's own session
    // is joined again there, at the new owner's epoch (the node side).
    const listedAt = await reassociated(
      ids,
      async () =>
        new Set(((await cluster.adminJson<ControlNode[]>("/api/nodes", 500)) ?? []).map((n) => n.id)),
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
    if (lastDigest !== viewBefore.digest) {
      // Say why: what the servers logged that changes a plan, timed from the kill.
      const changes = controlEvents(cluster.control.logFile).filter((e) =>
        ["links_congested", "shed_children_moved", "feed_stale", "feed_incomplete", "plan_rebuilt"].includes(
          String(e.event),
        ),
      );
      t.log(`view digest before ${viewBefore.digest}, after ${lastDigest ?? "none"}; plan changes logged:`);
      for (const e of changes) t.log(`  ${Number(e.t) - killedAt} ms: ${JSON.stringify(e)}`);
    }
    const moved = atKill.flatMap((s, i) => {
      const b = before[i];
      return s !== undefined && b !== undefined && s.assignVersion !== b.assignVersion
        ? [`node ${s.node} v${b.assignVersion}->v${s.assignVersion}`]
        : [];
    });
    if (moved.length === 0) {
      t.is(
        lastDigest,
        viewBefore.digest,
        "the rebuilt view (members, links per substream) is the view before",
      );
    } else {
      // The view before is not what the nodes ran at the kill: the rebuilt view is checked
      // against the nodes themselves, every agent's parents as the new DCM has them.
      t.log(`the old DCM moved the plan after the view before was taken: ${moved.join(", ")}`);
      const rows =
        (await cluster.adminJson<Array<{ id: number; parents: Array<{ node: number } | null> }>>(
          "/api/nodes",
        )) ?? [];
      for (const s of await all()) {
        if (s === undefined) continue;
        const row = rows.find((n) => n.id === s.node);
        const planned = [...new Set((row?.parents ?? []).flatMap((p) => (p === null ? [] : [p.node])))];
        t.deepEqual(
          planned.sort((a, b) => a - b),
          [...s.parents].sort((a, b) => a - b),
          `node ${s.node}: the new DCM's parents are the ones it runs`,
        );
      }
    }

    const after = (await cluster.adminJson<ServerRow[]>("/api/servers"))!;
    const newOwner = after.find((s) => s.dcms.length > 0)!;
    t.not(newOwner.id, owner.id, "a fresh worker serves the channel");
    t.true(newOwner.dcms[0]!.epoch > epochBefore, "with a higher epoch");

    // The segments of the failover window come due; then what each agent lost.
    const losses = await lossSince(all, before, 4, 30_000);
    for (const [i, l] of losses.entries()) {
      t.log(`agent ${i}: expected ${l.expectedBefore} -> ${l.expectedAfter}, late or lost ${l.lost}`);
      // A loss says why: what the agent was assigned, and what the servers logged of its node.
      if (l.lost > 0) explainLoss(t, cluster, i, before[i]!.node);
      t.is(l.lost, 0, `agent ${i} lost no segment`);
    }
  },
);

test.serial(
  "control killed -9 and restarted on the same database: every node resumes, none is left unplaced",
  async (t) => {
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
      removeIfPassed(t, dir);
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
  },
);

const ETCD_AGENTS = 24;
const LEASE_S = 1;

interface EtcdServerRow {
  id: string;
  endpoint: string;
  self: boolean;
  primary?: boolean;
  dcms: Array<{ logicalId: string; epoch: number }>;
}

const etcdTest = needs(test, "test/control-failover.test.ts", ["etcd"]) ? test.serial : test.skip;

etcdTest(
  "three control processes on etcd: kill -9 the DCM's server, then the primary; agents resume, nothing lost, new channels still made",
  async (t) => {
    const etcd = await EtcdServer.start();
    const dir = mkdtempSync(join(tmpdir(), "tiercast-etcd-failover-"));
    const cluster = new Cluster({
      dir,
      agents: ETCD_AGENTS,
      regions: 4,
      uploadKbps: demoUploadKbps,
      staggerMs: 30,
      originFanout: 2,
      heartbeatMs: HEARTBEAT_MS,
      controls: { count: 3, etcd: etcd.endpoint, leaseTtlS: LEASE_S },
    });
    t.teardown(async () => {
      await cluster.stop();
      await etcd.close();
      removeIfPassed(t, dir);
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
      90_000,
    );

    const rsl = (n: number): Promise<EtcdServerRow[] | undefined> =>
      cluster.adminJson<EtcdServerRow[]>("/api/servers", 1000, n);
    // Every server's registration has reached the first one's cache (a watch).
    const view = await waitFor(
      "three servers registered",
      async () => {
        const rows = await rsl(0);
        return rows !== undefined && rows.length === 3 && rows.some((r) => r.dcms.length > 0)
          ? rows
          : undefined;
      },
      10_000,
      100,
    );
    const holder = view.reduce((a, b) => (b.dcms.length > a.dcms.length ? b : a));
    const victim = cluster.controls.findIndex((p) => holder.endpoint === `${p.udp.address}:${p.udp.port}`);
    t.not(victim, -1);
    const epochBefore = holder.dcms[0]!.epoch;
    const ids = new Set((await all()).map((s) => s!.node));
    const before = await all();

    const killedAt = Date.now();
    cluster.controls[victim]!.child.kill("SIGKILL");
    const alive = [0, 1, 2].filter((n) => n !== victim);
    const listedAt = await reassociated(ids, () => seenBy(cluster, alive), 20_000);
    const backAt = await resumedAll(all, before, 20_000);
    t.log(`listed by a live server ${listedAt - killedAt} ms after kill -9`);
    const failoverMs = backAt - killedAt;
    t.log(`failover: every agent reassociated ${failoverMs} ms after kill -9 (lease ${LEASE_S} s)`);
    t.true(
      failoverMs <= 2 * HEARTBEAT_MS + LEASE_S * 1000 + 500,
      `reassociated within 2 heartbeat intervals of the lease's expiry (${failoverMs} ms)`,
    );
    const after = (await rsl(alive[0]!))!;
    t.is(after.length, 2, "the dead server's registration is gone");
    const owner = after.find((s) => s.dcms.length > 0)!;
    t.true(owner.dcms[0]!.epoch > epochBefore, "the new owner's fencing epoch is higher");

    // The segments of the failover window come due; then what each agent lost.
    const losses = await lossSince(all, before, 4, 30_000);
    for (const [i, l] of losses.entries()) {
      t.log(`agent ${i}: expected ${l.expectedBefore} -> ${l.expectedAfter}, late or lost ${l.lost}`);
      // A loss says why: what the agent was assigned, and what the servers logged of its node.
      if (l.lost > 0) explainLoss(t, cluster, i, before[i]!.node);
      t.is(l.lost, 0, `agent ${i} lost no segment`);
    }

    // The primary service manager dies: the backup is elected and a new channel still gets a DCM.
    let primary = -1;
    for (const n of alive) if ((await rsl(n))?.some((r) => r.self && r.primary === true)) primary = n;
    t.not(primary, -1, "one live server is the primary service manager");
    cluster.controls[primary]!.child.kill("SIGKILL");
    const last = alive.find((n) => n !== primary)!;
    await cluster.startOrigin("news");
    const viewer = await cluster.startAgent(ETCD_AGENTS, undefined, "news");
    const s = await waitFor(
      "an agent of the new channel to play",
      async () => {
        const st = await getJson<AgentStatus>(urlOf(viewer.http, "/status"));
        return st !== undefined && st.continuity.expected >= 1 ? st : undefined;
      },
      30_000,
    );
    t.is(s.channel, "news");
    const final = (await rsl(last))!;
    t.true(
      final.some((r) => r.dcms.some((d) => d.logicalId === "dcm:news:all")),
      "the surviving server serves the new channel",
    );
  },
);

interface LogEvent {
  t: number;
  event: string;
  server?: string;
  dcm?: string;
  epoch?: number;
}

/** When each control process acted as a DCM's owner: owned (dcm_owned..dcm_released) and not fenced. */
function actingIntervals(
  events: LogEvent[],
  end: number,
): Array<{ dcm: string; server: string; from: number; to: number }> {
  const out: Array<{ dcm: string; server: string; from: number; to: number }> = [];
  const byServer = new Map<string, LogEvent[]>();
  for (const e of events)
    if (e.server !== undefined) (byServer.get(e.server) ?? byServer.set(e.server, []).get(e.server)!).push(e);
  for (const [server, list] of byServer) {
    const owned = new Set<string>();
    let fenced = false;
    const since = new Map<string, number>();
    const close = (dcm: string, t: number): void => {
      const from = since.get(dcm);
      if (from !== undefined) out.push({ dcm, server, from, to: t });
      since.delete(dcm);
    };
    for (const e of list.sort((a, b) => a.t - b.t)) {
      if (e.event === "dcm_owned" && e.dcm !== undefined) {
        owned.add(e.dcm);
        if (!fenced && !since.has(e.dcm)) since.set(e.dcm, e.t);
      } else if (e.event === "dcm_released" && e.dcm !== undefined) {
        owned.delete(e.dcm);
        close(e.dcm, e.t);
      } else if (e.event === "fenced") {
        fenced = true;
        for (const d of owned) close(d, e.t);
      } else if (e.event === "unfenced") {
        fenced = false;
        for (const d of owned) since.set(d, e.t);
      }
    }
    for (const d of [...since.keys()]) close(d, end);
  }
  return out;
}

/** The node ids the given control processes list in /api/nodes. */
async function seenBy(cluster: Cluster, ns: number[]): Promise<Set<number>> {
  const seen = new Set<number>();
  for (const n of ns)
    for (const node of (await cluster.adminJson<ControlNode[]>("/api/nodes", 500, n)) ?? [])
      seen.add(node.id);
  return seen;
}

function readLogs(files: string[]): LogEvent[] {
  return files.flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .flatMap((line) => {
        try {
          const e = JSON.parse(line) as LogEvent;
          return ["dcm_owned", "dcm_released", "fenced", "unfenced"].includes(e.event) ? [e] : [];
        } catch {
          return [];
        }
      }),
  );
}

etcdTest(
  "etcd stopped for 10 s: the data plane keeps flowing, control recovers, no DCM has two owners at once",
  async (t) => {
    const etcd = await EtcdServer.start();
    const dir = mkdtempSync(join(tmpdir(), "tiercast-etcd-outage-"));
    const agents = 12;
    const cluster = new Cluster({
      dir,
      agents,
      regions: 3,
      uploadKbps: demoUploadKbps,
      staggerMs: 30,
      originFanout: 2,
      heartbeatMs: HEARTBEAT_MS,
      controls: { count: 3, etcd: etcd.endpoint, leaseTtlS: 2 },
    });
    t.teardown(async () => {
      await cluster.stop();
      await etcd.close();
      removeIfPassed(t, dir);
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

    await etcd.pause(10_000);

    // Control recovers: one server owns the channel again and every agent's session is with it
    // (its heartbeats answered there: phase joined, on that server's endpoint).
    await waitFor(
      "every agent's session with the channel's owner after etcd returned",
      async () => {
        const rows = (await cluster.adminJson<EtcdServerRow[]>("/api/servers", 1000, 0)) ?? [];
        const owner = rows.find((r) => r.dcms.some((d) => d.logicalId === "dcm:demo:all"))?.endpoint;
        if (owner === undefined) return undefined;
        const st = await all();
        return st.every((x) => x?.control?.phase === "joined" && x.control.endpoint === owner)
          ? true
          : undefined;
      },
      40_000,
      200,
    );
    const servers = (await cluster.adminJson<EtcdServerRow[]>("/api/servers", 1000, 0))!;
    t.is(servers.length, 3, "all three servers registered again");
    t.is(servers.filter((s) => s.dcms.some((d) => d.logicalId === "dcm:demo:all")).length, 1, "one owner");

    // The segments of the failover window come due; then what each agent lost.
    const losses = await lossSince(all, before, 4, 30_000);
    for (const [i, l] of losses.entries()) {
      t.log(`agent ${i}: expected ${l.expectedBefore} -> ${l.expectedAfter}, late or lost ${l.lost}`);
      // A loss says why: what the agent was assigned, and what the servers logged of its node.
      if (l.lost > 0) explainLoss(t, cluster, i, before[i]!.node);
      t.is(l.lost, 0, `agent ${i} lost no segment`);
    }

    // The fencing record: no two processes acted as the channel's owner at the same time, and
    // every new owner's epoch is above the one before.
    const events = readLogs(cluster.controls.map((p) => p.logFile));
    const intervals = actingIntervals(events, Date.now());
    for (const a of intervals)
      for (const b of intervals)
        if (a !== b && a.dcm === b.dcm && a.server !== b.server)
          t.false(
            a.from < b.to && b.from < a.to,
            `${a.dcm}: ${a.server} and ${b.server} both acted as owner`,
          );
    const epochs = events
      .filter((e) => e.event === "dcm_owned" && e.dcm === "dcm:demo:all")
      .sort((a, b) => a.t - b.t)
      .map((e) => e.epoch!);
    t.log(`owners' epochs in time order: ${epochs.join(", ")}; acting intervals: ${intervals.length}`);
    for (let i = 1; i < epochs.length; i++) t.true(epochs[i]! >= epochs[i - 1]!, "epochs never go back");
  },
);
