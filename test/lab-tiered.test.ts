/**
 * The tiered data plane end to end in the network lab: control, origin and agents as real
 * processes (the compiled CLI) in network namespaces, real UDP through nftables loss, tbf upload
 * caps and --net-delay between regions (tools/lab/cluster.ts). Four properties:
 *
 *   a. 24 agents in 4 regions, mixed upload caps (8 of them below the ~670 kbit/s stream),
 *      50 ms between regions, 3 % loss on every link: every agent plays continuously after
 *      warm-up, and ffmpeg decodes the playlist of the deepest tier-3 agent.
 *   b. The same cluster with 25 % of the agents killed (kill -9) at random moments during 60 s:
 *      the survivors still play continuously.
 *   c. Tier-1 flooding (c = 3): two tier-1 nodes killed at the same instant; no other tier-1 node
 *      loses a single packet (no random loss in this test).
 *   d. Tier 2 with n = 2 (fecK 4): with any 2 of the 6 coded substreams cut at every tier-2
 *      node's ingress, every tier-2 node still rebuilds every group.
 *
 * Continuity "after warm-up": an agent's /status counts segments whose playback deadline passed
 * (expected) and of those the ones held in time (onTime) since it started. Warm-up ends once
 * every agent is playable, control has placed everyone, and every agent has seen 10 more
 * deadlines; the continuity asserted is that of the window after it: (onTime1 - onTime0) /
 * (expected1 - expected0) between two snapshots.
 *
 * Root only (CI runs as root); without root or the tools the tests fail under CI and are
 * skipped, loudly, elsewhere (test/helpers/needs.ts). Every wait is a condition with a
 * deadline. Logs of every process stay under the cluster's folder, which failure messages name
 * (removed when the test passes).
 *
 * @heavy privileged, processes: 24-agent clusters in network namespaces, one at a time (test.serial)
 */
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import type { AgentStatus } from "../agent/status.js";
import { mulberry32 } from "../seams/prng.js";
import { waitFor } from "../tools/cli.js";
import { tool } from "../tools/lab/lab.js";
import {
  AGENT_HTTP_PORT,
  CHANNEL,
  LabCluster,
  type LabAgentSpec,
  type LabClusterConfig,
} from "../tools/lab/cluster.js";
import {
  cpuMeter,
  describe,
  liveAgents,
  report,
  runFor,
  scenarioA,
  statusesOf,
  warmUp,
  windowOf,
} from "../tools/lab/measure.js";
import { removeIfPassed } from "./helpers/keep-on-failure.js";
import { needs } from "./helpers/needs.js";

const labName = (tag: string): string => `tc${process.pid}${tag}`;

/** Per test: its cluster's folder (removed once the test passed), and whether it uses the shared one. */
interface Context {
  dir?: string;
  shared?: boolean;
}
const test = anyTest as TestFn<Context>;
type T = ExecutionContext<Context>;
/** A test on the shared cluster failed: keep its folder. */
let sharedFailed = false;

async function startCluster(t: T, config: LabClusterConfig): Promise<LabCluster> {
  const c = await LabCluster.start(config);
  t.context.dir = c.dir;
  t.log(`cluster ${config.name}: ${config.agents.length} agents, logs in ${c.dir}`);
  t.teardown(() => c.stop());
  return c;
}

/** ffmpeg as the LAN player, inside the agent's own namespace. */
async function decodeInLab(
  c: LabCluster,
  i: number,
  seconds: number,
): Promise<{ ok: boolean; stderr: string }> {
  const url = c.agentUrl(i, `/live/${CHANNEL}/index.m3u8`);
  try {
    const r = await c.lab.exec(
      c.agents[i]!.host,
      ["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-t", String(seconds), "-f", "null", "-"],
      { timeoutMs: 90_000 },
    );
    return { ok: true, stderr: r.stderr };
  } catch (e) {
    return { ok: false, stderr: (e as Error).message };
  }
}

if (needs(test, "test/lab-tiered.test.ts", ["root", "ip", "tc", "nft", "sysctl", "ffmpeg"])) {
  test.afterEach.always((t) => {
    if (t.context.shared === true && !t.passed) sharedFailed = true;
    if (t.context.dir !== undefined) removeIfPassed(t, t.context.dir);
  });

  // (a) and (b) share one cluster: (b) is (a) continued with churn.
  const TITLE_A =
    "a: 24 agents, 4 regions, mixed caps, 50 ms, 3 % loss per link: continuity >= 0.995 after warm-up; the deepest agent's playlist decodes";
  const TITLE_B =
    "b: the same with 25 % of the agents killed (kill -9) at random moments in 60 s: survivors >= 0.99";
  let shared: Promise<{ c: LabCluster; warm: AgentStatus[] }> | undefined;
  let sharedCluster: LabCluster | undefined;
  const mixed = (): Promise<{ c: LabCluster; warm: AgentStatus[] }> =>
    (shared ??= (async () => {
      const c = (sharedCluster = await LabCluster.start(scenarioA(labName("m"))));
      const warm = await warmUp(c, 10, 90_000);
      return { c, warm };
    })());
  // The shared cluster (26 processes streaming) stops as soon as (b), its last user, ends: left
  // up, it ran beside (c) and (d) and starved them of the machine (heavy tests never run beside
  // each other). Its folder goes once the file is done, unless (a) or (b) failed.
  let sharedStopped: Promise<void> | undefined;
  // Only a started cluster's stop is remembered: (b) may end while it is still starting.
  const stopShared = async (): Promise<void> => {
    if (sharedCluster !== undefined) await (sharedStopped ??= sharedCluster.stop());
  };
  test.after.always(async () => {
    if (sharedCluster === undefined) return;
    await stopShared();
    removeIfPassed(
      { passed: !sharedFailed, title: "lab-tiered (a)/(b), their shared cluster" },
      sharedCluster.dir,
    );
  });

  test.serial(TITLE_A, async (t) => {
    t.timeout(170_000);
    t.context.shared = true;
    const { c, warm } = await mixed();
    t.log(`logs in ${c.dir}`);
    const which = liveAgents(c);
    const cpu = cpuMeter(c);
    const end = await runFor(c, which, warm, 40, 90_000);
    t.log(cpu().text);
    const topo = await c.topology();
    t.is(topo?.tier1Algorithm, "mesh", `tier 1 is a mesh (logs in ${c.dir})`);
    const tiers = new Set(end.map((s) => s.tierRole));
    t.true(tiers.has("tier1") && tiers.has("tier2") && tiers.has("tier3"), `all three tiers: ${[...tiers]}`);
    const windows = end.map((s, k) => windowOf(warm[k]!, s));
    t.log(await report(c, which, end, windows));
    for (const [k, s] of end.entries()) {
      const w = windows[k]!;
      const a = c.agents[which[k]!]!;
      t.true(
        w.ratio >= 0.995,
        `${a.host} (${a.uploadKbps} kbit/s, ${s.tierRole}) continuity ${w.onTime}/${w.expected} (logs in ${c.dir})`,
      );
    }
    // The deepest agent by control's plan, among tier-3 agents.
    const nodes = (await c.nodes()) ?? [];
    const depth = new Map(nodes.map((n) => [n.id, n.depth ?? -1]));
    let deepest = -1;
    for (const [k, s] of end.entries()) {
      if (s.tierRole !== "tier3") continue;
      if (deepest < 0 || (depth.get(s.node) ?? -1) > (depth.get(end[deepest]!.node) ?? -1)) deepest = k;
    }
    t.true(deepest >= 0, "a tier-3 agent exists");
    const host = c.agents[which[deepest]!]!;
    t.log(`deepest: ${host.host} at depth ${depth.get(end[deepest]!.node)} (${host.uploadKbps} kbit/s)`);
    t.true(
      (depth.get(end[deepest]!.node) ?? 0) >= 2,
      "agents relay between the origin and the deepest agent",
    );
    const ff = await decodeInLab(c, which[deepest]!, 6);
    t.true(ff.ok, `ffmpeg on ${host.host}:${AGENT_HTTP_PORT}: ${ff.stderr} (logs in ${c.dir})`);
    t.is(ff.stderr.trim(), "", "ffmpeg reports no error");
  });

  test.serial(TITLE_B, async (t) => {
    t.timeout(170_000);
    t.context.shared = true;
    t.teardown(stopShared);
    const { c } = await mixed();
    t.log(`logs in ${c.dir}`);
    const seed = Date.now() % 1_000_000;
    const rng = mulberry32(seed);
    const all = liveAgents(c);
    const order = [...all];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1)); // Fisher-Yates
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const victims = order
      .slice(0, Math.round(all.length / 4))
      .map((i) => ({ i, atMs: Math.floor(rng() * 60_000) }))
      .sort((x, y) => x.atMs - y.atMs);
    const survivors = all.filter((i) => !victims.some((v) => v.i === i));
    t.log(`seed ${seed}: kill ${victims.map((v) => `a${v.i}@${(v.atMs / 1000).toFixed(1)}s`).join(" ")}`);
    const base = await statusesOf(c, survivors);
    t.truthy(base, `every survivor answers (logs in ${c.dir})`);
    const cpu = cpuMeter(c);
    const start = Date.now();
    for (const v of victims) {
      const wait = start + v.atMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await c.kill(v.i);
    }
    // 60 s of churn, then 10 more segments for the plan to settle.
    const end = await runFor(c, survivors, base!, 70, 120_000);
    t.log(cpu().text);
    const lost = await c.nodes();
    t.false(
      (lost ?? []).some((n) => victims.some((v) => c.agents[v.i]!.address === n.address)),
      "control has dropped every killed agent",
    );
    const windows = end.map((s, k) => windowOf(base![k]!, s));
    t.log(await report(c, survivors, end, windows));
    // The survivors' continuity (the issue's figure) over the churn: segments held in time /
    // segments due, >= 0.99 for every survivor and for all of them together.
    const onTime = windows.reduce((a, w) => a + w.onTime, 0);
    const due = windows.reduce((a, w) => a + w.expected, 0);
    t.true(due > 0 && onTime / due >= 0.99, `survivors' continuity ${onTime}/${due} (logs in ${c.dir})`);
    for (const [k, s] of end.entries()) {
      const w = windows[k]!;
      const a = c.agents[survivors[k]!]!;
      t.true(
        w.ratio >= 0.99,
        `${a.host} (${a.uploadKbps} kbit/s, ${s.tierRole}) continuity ${w.onTime}/${w.expected} (logs in ${c.dir})`,
      );
    }
  });

  test.serial(
    "c: tier-1 flooding with c = 3: two tier-1 nodes killed at once cost no other tier-1 node a packet",
    async (t) => {
      t.timeout(170_000);
      // Two tier-1 boxes per region (flooding needs (degree - 1) x R: 6 Mbit/s leaves room for
      // shortcuts), one tier-3 viewer per region; the origin's upload pays its own mesh degree.
      const agents: LabAgentSpec[] = [];
      for (const up of [6000, 6000, 1000])
        for (let r = 1; r <= 4; r++) agents.push({ region: r, uploadKbps: up });
      const c = await startCluster(t, {
        name: labName("c"),
        regions: 5,
        agents,
        interRegionDelayMs: 50,
        originFanout: 12,
        policy: { k: 4, c: 3, tier1PerRegion: 2, levels: 3 },
      });
      await warmUp(c, 5, 90_000);
      const topo = await c.topology();
      t.is(topo?.tier1Algorithm, "mesh", `tier 1 is a mesh (logs in ${c.dir})`);
      // A quiet baseline: the plan is stable (no ASSIGN for 3 s) and no tier-1 node is missing packets.
      let why = "no answer";
      const tier1 = await waitFor(
        `a stable plan with 8 tier-1 agents (logs in ${c.dir})`,
        async () => {
          const which = liveAgents(c);
          const a = await statusesOf(c, which);
          await new Promise((r) => setTimeout(r, 3000));
          const b = await statusesOf(c, which);
          if (a === undefined || b === undefined) return undefined;
          const t1 = b.map((s, k) => ({ s, k, i: which[k]! })).filter((x) => x.s.tierRole === "tier1");
          const settled =
            a.every((s, k) => s.assignVersion === b[k]!.assignVersion) &&
            t1.every((x) => x.s.packets.missed === a[x.k]!.packets.missed);
          why = t1
            .map((x) => `${c.agents[x.i]!.host} mesh ${x.s.mesh?.length ?? 0} missed ${x.s.packets.missed}`)
            .join(", ");
          return settled && t1.length === 8 && t1.every((x) => (x.s.mesh?.length ?? 0) >= 3) ? t1 : undefined;
        },
        60_000,
        500,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; last: ${why}`);
      });
      // Two tier-1 nodes that are both mesh neighbours of a third: it loses two of its >= 3 links.
      const byNode = new Map(tier1.map((x) => [x.s.node, x]));
      let pair: number[] | undefined;
      for (const x of tier1) {
        const nb = (x.s.mesh ?? []).filter((n) => byNode.has(n));
        if (nb.length >= 2) {
          pair = nb.slice(0, 2).map((n) => byNode.get(n)!.i);
          t.log(
            `${c.agents[x.i]!.host} (node ${x.s.node}) loses mesh neighbours ${nb.slice(0, 2).join(", ")}`,
          );
          break;
        }
      }
      t.truthy(pair, "two tier-1 agents share a mesh neighbour");
      const others = tier1.filter((x) => !pair!.includes(x.i));
      const before = await statusesOf(
        c,
        others.map((x) => x.i),
      );
      t.truthy(before);
      await Promise.all(pair!.map((i) => c.kill(i)));
      t.log(`killed ${pair!.map((i) => c.agents[i]!.host).join(" and ")} at the same instant`);
      // Control notices (1.5 s), rebuilds and re-assigns; then 8 segments (well past the 256
      // newest seqs `missed` leaves out) so every seq of the transition is counted.
      await waitFor(
        "control to drop the killed agents",
        async () => {
          const nodes = await c.nodes();
          return nodes !== undefined &&
            !nodes.some((n) => pair!.some((i) => c.agents[i]!.address === n.address))
            ? true
            : undefined;
        },
        20_000,
        500,
      );
      const after = await runFor(
        c,
        others.map((x) => x.i),
        before!,
        8,
        60_000,
      );
      t.log(
        after
          .map(
            (s, k) =>
              `${c.agents[others[k]!.i]!.host}: ${describe(s)} mesh ${JSON.stringify(s.mesh)} (missed before ${before![k]!.packets.missed})`,
          )
          .join("\n"),
      );
      for (const [k, s] of after.entries()) {
        const a = c.agents[others[k]!.i]!;
        t.is(
          s.packets.missed,
          before![k]!.packets.missed,
          `${a.host} (node ${s.node}, tier ${s.tierRole}) missed packets across the kill (logs in ${c.dir})`,
        );
        t.true(s.packets.received > before![k]!.packets.received, `${a.host} still receives`);
      }
    },
  );

  test.serial(
    "d: tier 2 with n = 2: any 2 of the k + n coded substreams cut, every tier-2 node rebuilds every group",
    async (t) => {
      t.timeout(170_000);
      const FEC_K = 4;
      const FEC_N = 2;
      // Region 1: two tier-1 boxes, four tier-2 boxes (>= 2R; only the two biggest uploads of a
      // region go to tier 1), two tier-3 viewers. Uploads of 3 Mbit/s and more keep the links
      // well under their caps: this test is about the code.
      const agents: LabAgentSpec[] = [6000, 6000, 3000, 3000, 3000, 3000, 800, 800].map((up) => ({
        region: 1,
        uploadKbps: up,
      }));
      const c = await startCluster(t, {
        name: labName("d"),
        regions: 2,
        agents,
        interRegionDelayMs: 50,
        originFanout: 8,
        region: () => ({ fecN: FEC_N }),
        policy: { k: 4, c: 3, tier1PerRegion: 2, levels: 3, fecK: FEC_K },
      });
      await warmUp(c, 5, 90_000);
      const all = liveAgents(c);
      const st = (await statusesOf(c, all))!;
      const tier2 = st.map((s, k) => ({ s, i: all[k]! })).filter((x) => x.s.tierRole === "tier2");
      t.is(tier2.length, 4, `four tier-2 agents (logs in ${c.dir})`);
      const nodes = (await c.nodes()) ?? [];
      for (const x of tier2) {
        const n = nodes.find((m) => m.id === x.s.node);
        const host = c.agents[x.i]!.host;
        t.deepEqual(n?.fec, { k: FEC_K, n: FEC_N }, `${host} has the region's code`);
        // Every coded substream has a parent (4 data + 2 parity), or a cut pair could starve it.
        t.is(n?.parents.length, FEC_K + FEC_N, `${host}: one parent per coded substream`);
        t.true(n?.parents.every((p) => p !== null) ?? false, `${host}: every coded substream is fed`);
      }
      const hosts = tier2.map((x) => c.agents[x.i]!.host);
      const pairs: Array<[number, number]> = [];
      for (let a = 0; a < FEC_K + FEC_N; a++) for (let b = a + 1; b < FEC_K + FEC_N; b++) pairs.push([a, b]);
      const before = (await statusesOf(
        c,
        tier2.map((x) => x.i),
      ))!;
      const which = tier2.map((x) => x.i);
      const lost = async (): Promise<number> => {
        const n = await Promise.all(["origin", ...c.agents.map((a) => a.host)].map((h) => c.netStats(h)));
        return n.reduce((a, x) => a + x.tbfDropped + x.rcvbufErrors, 0);
      };
      const lostBefore = await lost();
      const drops: string[] = [];
      for (const pair of pairs) {
        await Promise.all(hosts.map((h) => cutCoded(c, h, pair, FEC_K)));
        // 3 segments (about 55 groups of 4) through the cut, then the counters of its rules.
        await runFor(c, which, (await statusesOf(c, which))!, 3, 30_000);
        const dropped = await Promise.all(hosts.map((h) => cutDrops(c, h)));
        const total = dropped.reduce((a, b) => a + b, 0);
        drops.push(`${pair.join("+")}:${total}`);
        t.true(total > 0, `the cut of coded substreams ${pair.join(" and ")} dropped packets`);
        // One segment with nothing cut before the next pair: a group whose shards straddled two
        // different cuts would lose 3 or 4 of its 6 (the test's doing, not the code's).
        await Promise.all(hosts.map((h) => cutCoded(c, h, [], FEC_K)));
        await runFor(c, which, (await statusesOf(c, which))!, 1, 30_000);
      }
      await Promise.all(hosts.map((h) => uncut(c, h)));
      // Past the 256 newest seqs that `missed` leaves out.
      const after = await runFor(c, which, before, 4, 30_000);
      const net = await Promise.all(c.agents.map((a) => c.netStats(a.host)));
      t.log(`packets dropped per cut pair: ${drops.join(" ")}`);
      t.log(
        `own drops (tbf/rcvbuf/sndbuf): ${net.map((n, i) => `a${i} ${n.tbfDropped}/${n.rcvbufErrors}/${n.sndbufErrors}`).join(", ")}`,
      );
      for (const [k, s] of after.entries()) {
        const b = before[k]!;
        t.log(
          `${hosts[k]}: ${describe(s)} (missed before ${b.packets.missed}, recovered before ${b.packets.recovered}) fec ${JSON.stringify(s.fec)} assign v${b.assignVersion}->v${s.assignVersion}`,
        );
      }
      // Datagrams the lab's kernels dropped outside the cut (a tbf or a socket buffer overflowing
      // on a CI-loaded machine): a group that loses one more shard than the cut cannot be rebuilt
      // by any code, and the cut drops the NACKed resends too. Each such drop may cost a group
      // its fecK data packets; with none, no packet may be missed at all.
      const lostOutside = (await lost()) - lostBefore;
      t.log(`datagrams dropped outside the cut during the cuts: ${lostOutside}`);
      for (const [k, s] of after.entries()) {
        const b = before[k]!;
        t.true(
          s.packets.missed - b.packets.missed <= FEC_K * lostOutside,
          `${hosts[k]} missed ${s.packets.missed - b.packets.missed} packets with ${lostOutside} dropped outside the cut (logs in ${c.dir})`,
        );
        t.true(s.packets.recovered > b.packets.recovered, `${hosts[k]} rebuilt packets from parity`);
      }
    },
  );
}

/**
 * Drops, at a host's ingress, the coded substreams `pair` of a (fecK + n)-code with fecK a power
 * of two: data packets (byte 0 = 1, FLAG_PARITY clear) whose seq mod fecK (the low bits of the
 * seq's last byte, UDP payload byte 11) is a cut index, and parity (FLAG_PARITY in byte 1) whose
 * fecIndex (byte 13) is one. Offsets are bits from the UDP header's start (8 bytes of header).
 */
async function cutCoded(c: LabCluster, host: string, pair: readonly number[], fecK: number): Promise<void> {
  const rules = pair.map((j) =>
    j < fecK
      ? `meta l4proto udp @th,64,8 0x01 @th,72,8 & 0x02 == 0x00 @th,152,8 & ${fecK - 1} == ${j} counter drop`
      : `meta l4proto udp @th,64,8 0x01 @th,72,8 & 0x02 == 0x02 @th,168,8 ${j} counter drop`,
  );
  const text = [
    "table netdev cut {",
    '  chain down { type filter hook ingress device "eth0" priority -10; }',
    "}",
    "flush chain netdev cut down",
    ...rules.map((r) => `add rule netdev cut down ${r}`),
    "",
  ].join("\n");
  await c.lab.exec(host, [tool("nft"), "-f", "-"], { input: text });
}

/** Packets dropped by the cut rules now in place on a host. */
async function cutDrops(c: LabCluster, host: string): Promise<number> {
  const r = await c.lab.exec(host, [tool("nft"), "-j", "list", "chain", "netdev", "cut", "down"]);
  const doc = JSON.parse(r.stdout) as {
    nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }>;
  };
  let n = 0;
  for (const item of doc.nftables) for (const e of item.rule?.expr ?? []) n += e.counter?.packets ?? 0;
  return n;
}

async function uncut(c: LabCluster, host: string): Promise<void> {
  await c.lab.exec(host, [tool("nft"), "delete", "table", "netdev", "cut"]);
}
