/**
 * Several machines (docs/resilience.md): three `tiercast control --etcd` processes on a real
 * etcd on loopback, one origin, agents that know all three endpoints. With real processes over
 * real UDP:
 * - kill -9 the control process that holds the channel's DCM while the agents stream: every
 *   agent is back in a live server's view (resumed, not rejoined) within 2 heartbeat intervals
 *   plus the lease (the RSL cannot move the DCM before etcd expires the dead server's lease), and
 *   no viewer loses a segment;
 * - the new owner holds the DCM with a higher fencing epoch (the ownership key's revision);
 * - kill -9 the primary service manager: a new channel can still be created and joined.
 */
import test from "ava";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { waitFor } from "./helpers/cli.js";
import { lossSince, reassociated, resumedAll } from "./helpers/failover.js";
import { EtcdServer, etcdSkipReason } from "./helpers/etcd.js";

const AGENTS = 24;
const HEARTBEAT_MS = 1000;
const LEASE_S = 1;

interface ServerRow {
  id: string;
  endpoint: string;
  self: boolean;
  primary?: boolean;
  dcms: Array<{ logicalId: string; epoch: number }>;
}

const skip = etcdSkipReason();
const etcdTest = skip === undefined ? test : test.skip;
if (skip !== undefined) test.skip(`etcd: ${skip}`, () => undefined);

etcdTest(
  "three control processes on etcd: kill -9 the DCM's server, then the primary; agents resume, nothing lost, new channels still made",
  async (t) => {
    const etcd = await EtcdServer.start();
    const dir = mkdtempSync(join(tmpdir(), "tiercast-etcd-failover-"));
    const cluster = new Cluster({
      dir,
      agents: AGENTS,
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
      90_000,
    );

    const rsl = (n: number): Promise<ServerRow[] | undefined> =>
      cluster.adminJson<ServerRow[]>("/api/servers", 1000, n);
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
      t.is(l.lost, 0, `agent ${i} lost no segment`);
    }

    // The primary service manager dies: the backup is elected and a new channel still gets a DCM.
    let primary = -1;
    for (const n of alive) if ((await rsl(n))?.some((r) => r.self && r.primary === true)) primary = n;
    t.not(primary, -1, "one live server is the primary service manager");
    cluster.controls[primary]!.child.kill("SIGKILL");
    const last = alive.find((n) => n !== primary)!;
    await cluster.startOrigin("news");
    const viewer = await cluster.startAgent(AGENTS, undefined, "news");
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

    await etcd.pause(10_000);

    // Control recovers: one server owns the channel again and every agent's session is with it
    // (its heartbeats answered there: phase joined, on that server's endpoint).
    await waitFor(
      "every agent's session with the channel's owner after etcd returned",
      async () => {
        const rows = (await cluster.adminJson<ServerRow[]>("/api/servers", 1000, 0)) ?? [];
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
    const servers = (await cluster.adminJson<ServerRow[]>("/api/servers", 1000, 0))!;
    t.is(servers.length, 3, "all three servers registered again");
    t.is(servers.filter((s) => s.dcms.some((d) => d.logicalId === "dcm:demo:all")).length, 1, "one owner");

    // The segments of the failover window come due; then what each agent lost.
    const losses = await lossSince(all, before, 4, 30_000);
    for (const [i, l] of losses.entries()) {
      t.log(`agent ${i}: expected ${l.expectedBefore} -> ${l.expectedAfter}, late or lost ${l.lost}`);
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
