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
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { waitFor } from "./helpers/cli.js";
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
    const view = (await rsl(0))!;
    t.is(view.length, 3, "three servers registered");
    const holder = view.reduce((a, b) => (b.dcms.length > a.dcms.length ? b : a));
    const victim = cluster.controls.findIndex((p) => holder.endpoint === `${p.udp.address}:${p.udp.port}`);
    t.not(victim, -1);
    const epochBefore = holder.dcms[0]!.epoch;
    const ids = new Set((await all()).map((s) => s!.node));
    const before = await all();

    const killedAt = Date.now();
    cluster.controls[victim]!.child.kill("SIGKILL");
    const alive = [0, 1, 2].filter((n) => n !== victim);
    let backAt = 0;
    await waitFor(
      "every agent back in a live server's view",
      async () => {
        const seen = new Set<number>();
        for (const n of alive)
          for (const node of (await cluster.adminJson<ControlNode[]>("/api/nodes", 500, n)) ?? [])
            seen.add(node.id);
        if (![...ids].every((id) => seen.has(id))) return undefined;
        backAt = Date.now();
        return true;
      },
      20_000,
      50,
    );
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
      t.true(a.expected > b.expected, `agent ${i} kept playing`);
      t.is(lost, 0, `agent ${i} lost no segment (${b.expected} -> ${a.expected})`);
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
