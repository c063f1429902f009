/**
 * VoD end to end on loopback with real processes (the compiled dist, via cli/demo/cluster.ts):
 * control, an origin offering its live channel and a VoD file (`--vod movie=<file>`), and 3
 * agents that watch the live channel and download the movie at once. The tree engine with one
 * origin child makes agents relay both channels to each other, and the first agent's upload cap
 * is below what it relays (live over bulk). The movie is fetched from agents' LAN HTTP with
 * Range requests — inside a chunk, across chunk boundaries, over several chunks, the last partial
 * chunk, the whole file, HEAD and a 416 — and compared byte for byte with the source file; the
 * download completes at every agent, partly over peers; live continuity stays 1.0 throughout.
 *
 * @heavy processes: control, an origin and 3 agents as processes
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import type { AgentStatus } from "../cli/demo/status.js";
import { waitFor } from "../tools/cli.js";

const AGENTS = 3;
const CHUNK = 128 * 1024;
const SIZE = 12 * CHUNK + 12_345; // 13 chunks, the last one short
const VOD_KBPS = 2000; // a round of the carousel takes about 7 s

test("a VoD file through the agents: Range requests match the file byte for byte, every agent completes it, live continuity 1.0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-vod-it-"));
  const file = randomBytes(SIZE);
  const path = join(dir, "movie.mp4");
  writeFileSync(path, file);
  const cluster = new Cluster({
    dir,
    agents: AGENTS,
    regions: 1,
    // Agent 0 is the origin's only child: it relays live (~0.7 Mbit/s each) and the movie
    // (2 Mbit/s) above its 3 Mbit/s cap, so its VoD relaying gets only what live leaves.
    uploadKbps: (i) => (i === 0 ? 3000 : 4000),
    staggerMs: 100,
    originFanout: 1,
    heartbeatMs: 500,
    topology: "tree",
    vod: { channel: "movie", path, kbps: VOD_KBPS, chunkKb: CHUNK / 1024 },
  });
  t.teardown(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await cluster.start();
  const status = (i: number) => getJson<AgentStatus>(urlOf(cluster.agents[i]!.http, "/status"));
  const all = async () => Promise.all(cluster.agents.map((_, i) => status(i)));

  await waitFor(
    "every agent playing live and receiving movie chunks from its VoD parent",
    async () =>
      (await all()).every((s) => s !== undefined && s.joinMs !== null && (s.vod?.[0]?.fromPeers ?? 0) > 0)
        ? true
        : undefined,
    40_000,
  );

  /** HEAD, Range requests (one chunk, across a boundary, several chunks, into and inside the short last chunk, suffix), the whole file, 416. */
  const checkRanges = async (i: number): Promise<void> => {
    const url = urlOf(cluster.agents[i]!.http, "/vod/movie/movie.mp4");
    const head = await fetch(url, { method: "HEAD" });
    t.is(head.status, 200);
    t.is(head.headers.get("content-length"), String(SIZE));
    t.is(head.headers.get("accept-ranges"), "bytes");
    const ranges: Array<[number, number]> = [
      [0, 99],
      [CHUNK - 50, CHUNK + 49],
      [2 * CHUNK + 10, 5 * CHUNK + 20],
      [12 * CHUNK - 10, SIZE - 1],
      [SIZE - 5000, SIZE - 1],
    ];
    for (const [a, b] of ranges) {
      const res = await fetch(url, { headers: { range: `bytes=${a}-${b}` } });
      const body = Buffer.from(await res.arrayBuffer());
      t.is(res.status, 206, `agent ${i} bytes=${a}-${b}`);
      t.is(res.headers.get("content-range"), `bytes ${a}-${b}/${SIZE}`);
      t.true(body.equals(file.subarray(a, b + 1)), `agent ${i} bytes=${a}-${b} match the file`);
    }
    const suffix = await fetch(url, { headers: { range: "bytes=-777" } });
    t.true(Buffer.from(await suffix.arrayBuffer()).equals(file.subarray(SIZE - 777)));
    const whole = await fetch(url);
    t.is(whole.status, 200);
    t.true(Buffer.from(await whole.arrayBuffer()).equals(file), `agent ${i}: the whole file`);
    const beyond = await fetch(url, { headers: { range: `bytes=${SIZE}-` } });
    await beyond.arrayBuffer();
    t.is(beyond.status, 416);
  };

  // At once, on the agent at the end of the VoD chain: what it lacks it fetches while answering.
  const farthest = (await all()).findIndex((s) => s!.vod![0]!.children.length === 0);
  t.not(farthest, -1);
  await checkRanges(farthest);

  // The download completes at every agent; a good part of it came over peers.
  const done = await waitFor(
    "every agent to hold every chunk of the movie",
    async () => {
      const s = await all();
      return s.every((x) => x?.vod?.[0]?.held === 13) ? s : undefined;
    },
    40_000,
  );
  // Again on the agent that got the most of the movie over peers: served from relayed chunks.
  const mostPeers = done.reduce(
    (best, s, i) => (s!.vod![0]!.fromPeers > done[best]!.vod![0]!.fromPeers ? i : best),
    0,
  );
  await checkRanges(mostPeers);
  for (const [i, s] of done.entries()) {
    const v = s!.vod![0]!;
    t.log(
      `agent ${i} (node ${s!.node}): live children ${s!.children}, vod parents ${v.parents} children ${v.children}` +
        ` peers ${v.fromPeers} fallback ${v.fromFallback} poisoned ${v.poisoned} budgetFull ${v.budgetFull}`,
    );
    t.is(v.poisoned, 0);
  }
  t.true(
    done.reduce((n, s) => n + s!.vod![0]!.fromPeers, 0) >= 13,
    "at least a whole file's worth of chunks arrived over peers",
  );
  const nodes =
    (await cluster.adminJson<Array<{ id: number; role: string; channels: string[] }>>("/api/nodes"))!;
  const vodOrigin = nodes.find((n) => n.role === "origin" && n.channels.includes("movie"));
  t.truthy(vodOrigin, "the movie has its own origin node");
  t.true(
    done.some((s) => s!.vod![0]!.fromPeers > 0 && !s!.vod![0]!.parents.includes(vodOrigin!.id)),
    "an agent got movie chunks relayed by another agent",
  );

  // Live played on throughout, with the movie still going round: every segment on time.
  const soaked = await waitFor(
    "every agent to have played 12 live segments",
    async () => {
      const s = await all();
      return s.every((x) => (x?.continuity.expected ?? 0) >= 12) ? s : undefined;
    },
    40_000,
  );
  for (const [i, s] of soaked.entries()) {
    t.log(`agent ${i}: live continuity ${JSON.stringify(s!.continuity)}`);
    t.is(s!.continuity.ratio, 1, `agent ${i} live continuity`);
  }
});
