/**
 * The foundation end to end on loopback: control + origin + 6 agent processes over real UDP
 * for about 20 s. Every agent plays continuously; ffmpeg decodes the playlist of the agent
 * farthest from the origin; an agent killed with SIGKILL comes back with every segment it
 * had committed and the same identity.
 *
 * @heavy privileged, processes: control, an origin and 6 agents as processes; ffmpeg decodes
 */
import avaTest from "ava";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, CHANNEL, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus, ControlNode } from "../cli/demo/status.js";
import { demoUploadKbps } from "../cli/demo.js";
import { waitFor } from "../tools/cli.js";
import { ffmpegDecode } from "./helpers/ffmpeg.js";
import { needs } from "./helpers/needs.js";
import { removeIfPassed } from "./helpers/keep-on-failure.js";

const test = needs(avaTest, "test/integration.test.ts", ["ffmpeg"]) ? avaTest : avaTest.skip;
const AGENTS = 6;
const SOAK_MS = 20_000;

test("6 agents in 3 regions: continuity >= 0.99, the deepest agent's playlist decodes, kill -9 loses no committed segment", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-it-"));
  const cluster = new Cluster({
    dir,
    agents: AGENTS,
    regions: 3,
    uploadKbps: demoUploadKbps,
    staggerMs: 100,
    originFanout: 2,
    heartbeatMs: 500,
  });
  t.teardown(async () => {
    await cluster.stop();
    removeIfPassed(t, dir);
  });
  await cluster.start();
  const status = (i: number) => getJson<AgentStatus>(urlOf(cluster.agents[i]!.http, "/status"));
  const all = async () => Promise.all(cluster.agents.map((_, i) => status(i)));

  // Every agent is playable, then the channel runs for the soak period.
  await waitFor(
    "every agent to hold a playable segment",
    async () => ((await all()).every((s) => s !== undefined && s.joinMs !== null) ? true : undefined),
    30_000,
  );
  const soakEnd = Date.now() + SOAK_MS;
  await waitFor("the soak period", () => (Date.now() >= soakEnd ? true : undefined), SOAK_MS + 1000, 500);

  const statuses = await all();
  for (const [i, s] of statuses.entries()) {
    t.truthy(s, `agent ${i} answers /status`);
    t.log(
      `agent ${i} node ${s!.node} ${s!.region} parents ${s!.parents} continuity ${JSON.stringify(s!.continuity)}`,
    );
    t.true(s!.continuity.expected >= 10, `agent ${i} was expected to play at least 10 segments`);
    t.true((s!.continuity.ratio ?? 0) >= 0.99, `agent ${i} continuity ${s!.continuity.ratio}`);
  }
  const peerBytes = statuses.reduce((a, s) => a + (s?.bytes.peerSent ?? 0), 0);
  t.true(peerBytes > 0, "agents relay to each other");

  // The agent farthest from the origin, by the control center's topology.
  const nodes = (await cluster.adminJson<ControlNode[] | { nodes: ControlNode[] }>("/api/nodes"))!;
  const list = Array.isArray(nodes) ? nodes : nodes.nodes;
  const depthOf = new Map(list.map((n) => [n.id, n.depth ?? 0]));
  let deepest = 0;
  for (const [i, s] of statuses.entries()) {
    if ((depthOf.get(s!.node) ?? 0) > (depthOf.get(statuses[deepest]!.node) ?? 0)) deepest = i;
  }
  t.log(`deepest agent: ${deepest} at depth ${depthOf.get(statuses[deepest]!.node)}`);
  t.true(
    (depthOf.get(statuses[deepest]!.node) ?? 0) >= 2,
    "the tree has relaying agents between origin and the deepest one",
  );
  const playlist = urlOf(cluster.agents[deepest]!.http, `/live/${CHANNEL}/index.m3u8`);
  const ff = await ffmpegDecode(playlist, 6);
  t.is(ff.stderr.trim(), "", "ffmpeg reports no error");
  t.is(ff.code, 0);

  // kill -9 a leaf agent while it writes; it restarts with its cache and identity intact.
  const victim = statuses.findIndex((s) => s !== undefined && s.children.length === 0);
  t.not(victim, -1);
  const before = statuses[victim]!;
  const info = cluster.agents[victim]!;
  const committed = () =>
    readFileSync(info.logFile, "utf8")
      .split("\n")
      .filter((l) => l.includes('"segment_committed"'))
      .map((l) => (JSON.parse(l) as { id: number }).id);
  info.child.kill("SIGKILL");
  await info.exited;
  const ids = committed();
  t.true(ids.length >= 10, `agent ${victim} had committed ${ids.length} segments`);
  const again = await cluster.startAgent(victim);
  const after = await waitFor(
    "the restarted agent to join again",
    async () => {
      const st = await getJson<AgentStatus>(urlOf(again.http, "/status"));
      return st !== undefined && st.node !== 0 ? st : undefined;
    },
    30_000,
  );
  t.is(after.node, before.node, "same identity, same node id");
  const missing: number[] = [];
  for (const id of ids) {
    const res = await fetch(urlOf(again.http, `/live/${CHANNEL}/${id}.ts`));
    if (res.status !== 200) missing.push(id);
    await res.arrayBuffer();
  }
  t.deepEqual(missing, [], "every segment committed before the kill is served after the restart");
});
