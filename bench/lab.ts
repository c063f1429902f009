/**
 * The whole system in the network lab, measured: control, origin and agents as real processes in
 * network namespaces (tools/lab/cluster.ts). Needs root, like the lab tests.
 *
 * 1. Scenario (a) of test/lab-tiered.test.ts (tools/lab/measure.ts, scenarioA): 24 agents
 *    in 4 regions, mixed upload caps, 50 ms between regions, 3 % loss on every link. After the
 *    same warm-up as the test it runs for a fixed time (BENCH_LAB_SECONDS, default 60) and
 *    measures over that window: continuity per agent; the origin's share of all bytes sent
 *    (origin UDP + HTTP) / (origin + agents' UDP relaying); duplicates at tier-1 nodes over
 *    packets they received (the cost of flooding); parity over data datagrams received by tier-2
 *    nodes (the cost of the erasure code); source-to-viewer delay per tier (the median agent's
 *    p50 and p95 of its newest segments, agent/delay-stats.ts).
 * 2. Reed-Solomon throughput, k = 8, n = 2 (bench/rs-measure.ts).
 * 3. A relay's cost: an origin looping a ~5 Mbit/s clip (made here with ffmpeg: x264 CBR,
 *    1280x720) feeds one agent that relays the channel to 8 child agents (control's tree engine,
 *    the origin's upload sized for one child); the relay's cpuPct and rssMB from its /status,
 *    sampled once a second for RELAY_SAMPLES seconds (and its CPU from /proc over the same time).
 *
 * Prints a table per part, then as its last line one JSON object with the figures.
 *
 *   sudo npm run bench:lab        (node --import tsx bench/lab.ts)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentStatus } from "../agent/status.js";
import { Lab } from "../tools/lab/lab.js";
import { cpuSeconds, LabCluster, type OriginStatusView } from "../tools/lab/cluster.js";
import {
  cpuMeter,
  liveAgents,
  runFor,
  scenarioA,
  statusesOf,
  warmUp,
  windowOf,
} from "../tools/lab/measure.js";
import { measureRsReference } from "./rs-measure.js";

const SECONDS = boundedInt(process.env.BENCH_LAB_SECONDS, 60, 10, 600);
const RELAY_SAMPLES = 20;
const RELAY_CHILDREN = 8;
const RELAY_STREAM_KBPS = 5000;
const TIERS = ["tier1", "tier2", "tier3"] as const;

function boundedInt(text: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;
function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}
const pad = (s: string | number, w: number): string => String(s).padStart(w);

interface ScenarioFigures {
  durationS: number;
  agents: number;
  continuityMin: number;
  continuityMean: number;
  originShare: number;
  originBytes: number;
  peerBytes: number;
  floodDuplicateOverhead: number;
  fecOverhead: number;
  delayP50Ms: Record<(typeof TIERS)[number], number | null>;
  delayP95Ms: Record<(typeof TIERS)[number], number | null>;
  repairedFromPeers: number;
  repairedFromOrigin: number;
  /** Of those from the origin, completed with only the missing bytes (HTTP Range). */
  repairedFromRanges: number;
  /** Packet-level repair: packets asked for with NACKs (per attempt), arrived after asking, resent by agents / the origin. */
  nackAsked: number;
  nackRecovered: number;
  nackResentByAgents: number;
  nackResentByOrigin: number;
  clusterCpuPct: number;
  machineBusyPct: number;
}

async function scenario(): Promise<ScenarioFigures> {
  const c = await LabCluster.start(scenarioA(`tb${process.pid}a`));
  let keep = true; // the logs, unless the measurement went through
  try {
    console.log(
      `scenario (a): 24 agents, 4 regions, 3 % loss per link, 50 ms between regions; logs in ${c.dir} (kept if the run fails)`,
    );
    const base = await warmUp(c, 10, 120_000);
    const which = liveAgents(c);
    const origin0 = await c.originStatus();
    const cpu = cpuMeter(c);
    await sleep(SECONDS * 1000);
    const end = await runFor(c, which, base, 1, 30_000); // a snapshot in which every agent answers
    const origin1 = await c.originStatus();
    const use = cpu();
    const net = await Promise.all(which.map((i) => c.netStats(c.agents[i]!.host)));
    const windows = end.map((s, k) => windowOf(base[k]!, s));
    const d = (f: (s: AgentStatus) => number, k: number): number => Math.max(0, f(end[k]!) - f(base[k]!));

    console.log(
      `${"agent".padEnd(6)}${pad("up", 6)} ${"tier".padEnd(6)}${pad("window", 8)}${pad("missed", 8)}${pad("rebuilt", 8)}` +
        `${pad("repairs", 8)}${pad("peer", 6)}${pad("nack", 10)}${pad("dup", 7)}${pad("p50 ms", 8)}${pad("p95 ms", 8)}${pad("cpu %", 7)}${pad("rss MB", 8)}${pad("tbf drop", 9)}`,
    );
    for (const [k, s] of end.entries()) {
      const a = c.agents[which[k]!]!;
      const w = windows[k]!;
      console.log(
        `${a.host.padEnd(6)}${pad(a.uploadKbps, 6)} ${(s.tierRole ?? "?").padEnd(6)}${pad(`${w.onTime}/${w.expected}`, 8)}` +
          `${pad(
            d((x) => x.packets.missed, k),
            8,
          )}${pad(
            d((x) => x.packets.recovered, k),
            8,
          )}` +
          `${pad(
            d((x) => x.repaired?.segments ?? 0, k),
            8,
          )}${pad(
            d((x) => x.repaired?.fromPeers ?? 0, k),
            6,
          )}${pad(`${d((x) => x.nack?.ask.recovered ?? 0, k)}/${d((x) => x.nack?.ask.asked ?? 0, k)}`, 10)}` +
          `${pad(
            d((x) => x.packets.duplicates, k),
            7,
          )}${pad(s.delayMs?.p50 ?? "-", 8)}${pad(s.delayMs?.p95 ?? "-", 8)}` +
          `${pad(s.cpuPct.toFixed(1), 7)}${pad(s.rssMB.toFixed(0), 8)}${pad(net[k]!.tbfDropped, 9)}`,
      );
    }
    const ratios = windows.map((w) => w.ratio);
    const originBytes = Math.max(0, originBytesOf(origin1) - originBytesOf(origin0));
    const peerBytes = sum(end.map((_, k) => d((x) => x.bytes.peerSent, k)));
    const byTier = (t: string): number[] => end.flatMap((s, k) => (s.tierRole === t ? [k] : []));
    const tier1 = byTier("tier1");
    const tier2 = byTier("tier2");
    const parity = sum(tier2.map((k) => d((x) => x.fec?.parityReceived ?? 0, k)));
    const received = sum(tier2.map((k) => d((x) => x.packets.received, k)));
    const delay = (t: string, q: "p50" | "p95"): number | null =>
      median(byTier(t).flatMap((k) => (end[k]!.delayMs?.[q] == null ? [] : [end[k]!.delayMs![q]!])));
    const repaired = sum(end.map((_, k) => d((x) => x.repaired?.segments ?? 0, k)));
    const fromPeers = sum(end.map((_, k) => d((x) => x.repaired?.fromPeers ?? 0, k)));
    const total = (f: (s: AgentStatus) => number): number => sum(end.map((_, k) => d(f, k)));
    keep = false;
    return {
      durationS: Math.round(use.seconds),
      agents: end.length,
      continuityMin: round(Math.min(...ratios)),
      continuityMean: round(sum(ratios) / ratios.length),
      originShare: round(originBytes / Math.max(1, originBytes + peerBytes)),
      originBytes,
      peerBytes,
      floodDuplicateOverhead: round(
        sum(tier1.map((k) => d((x) => x.packets.duplicates, k))) /
          Math.max(1, sum(tier1.map((k) => d((x) => x.packets.received, k)))),
      ),
      fecOverhead: round(parity / Math.max(1, received - parity)),
      delayP50Ms: {
        tier1: delay("tier1", "p50"),
        tier2: delay("tier2", "p50"),
        tier3: delay("tier3", "p50"),
      },
      delayP95Ms: {
        tier1: delay("tier1", "p95"),
        tier2: delay("tier2", "p95"),
        tier3: delay("tier3", "p95"),
      },
      repairedFromPeers: fromPeers,
      repairedFromOrigin: repaired - fromPeers,
      repairedFromRanges: total((x) => x.repaired?.fromRanges ?? 0),
      nackAsked: total((x) => x.nack?.ask.asked ?? 0),
      nackRecovered: total((x) => x.nack?.ask.recovered ?? 0),
      nackResentByAgents: total((x) => x.nack?.answer.resent ?? 0),
      nackResentByOrigin: Math.max(0, (origin1?.nacks?.resent ?? 0) - (origin0?.nacks?.resent ?? 0)),
      clusterCpuPct: Math.round(use.clusterPct),
      machineBusyPct: Math.round(use.machinePct),
    };
  } finally {
    await c.stop();
    if (!keep) rmSync(c.dir, { recursive: true, force: true });
  }
}

function originBytesOf(o: OriginStatusView | undefined): number {
  return (o?.bytes.udpSent ?? 0) + (o?.bytes.httpServed ?? 0);
}

interface RelayFigures {
  relayCpuPct: number;
  relayRssMB: number;
  relayProcCpuPct: number;
  relayStreamKbps: number;
  relayChildren: number;
  relaySentKbps: number;
}

/** A ~5 Mbit/s, 8 s clip of 1 s segments (a finished playlist: the origin loops it). */
function makeClip(dir: string): string {
  execFileSync(
    "ffmpeg",
    [
      ...["-hide_banner", "-loglevel", "error", "-nostdin"],
      ...["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=8"],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8"],
      ...["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1"],
      // CBR with filler: the TS muxer's overhead brings ~4700k of video to ~5 Mbit/s in all.
      ...["-b:v", "4700k", "-minrate", "4700k", "-maxrate", "4700k", "-bufsize", "2350k"],
      ...["-x264-params", "nal-hrd=cbr", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0"],
      ...["-c:a", "aac", "-b:a", "64k", "-ac", "1"],
      ...["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod"],
      ...["-hls_segment_filename", join(dir, "seg%03d.ts"), join(dir, "index.m3u8")],
    ],
    { stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 },
  );
  return join(dir, "index.m3u8");
}

async function relay(): Promise<RelayFigures> {
  const clipDir = mkdtempSync(join(tmpdir(), "tiercast-bench-clip-"));
  try {
    const playlist = makeClip(clipDir);
    // Children with no upload to speak of: the relay (60 Mbit/s) takes them all; the origin's
    // upload (fanout 1) pays for the relay alone.
    const c = await LabCluster.start({
      name: `tb${process.pid}r`,
      regions: 2,
      agents: [
        { region: 1, uploadKbps: 60_000 },
        ...Array.from({ length: RELAY_CHILDREN }, () => ({ region: 1, uploadKbps: 200 })),
      ],
      originSource: `loop:${playlist}`,
      originFanout: 1,
      topology: "tree",
    });
    let keep = true; // the logs, unless the measurement went through
    try {
      const origin = await c.originStatus();
      const streamKbps = origin?.streamKbps ?? 0;
      console.log(
        `\nrelay: origin loops a ${streamKbps} kbit/s clip; agent a0 relays it to ${RELAY_CHILDREN} children; logs in ${c.dir} (kept if the run fails)`,
      );
      await warmUp(c, 5, 90_000);
      const s0 = await c.status(0);
      if (s0 === undefined || s0.children.length !== RELAY_CHILDREN) {
        throw new Error(
          `the relay has ${s0?.children.length ?? "?"} children, not ${RELAY_CHILDREN} (logs in ${c.dir})`,
        );
      }
      const pid = c.agents[0]!.proc.child.pid!;
      const cpu0 = cpuSeconds(pid) ?? 0;
      const t0 = Date.now();
      const samples: AgentStatus[] = [];
      for (let i = 0; i < RELAY_SAMPLES; i++) {
        await sleep(1000);
        const s = await c.status(0);
        if (s !== undefined) samples.push(s);
      }
      const secs = (Date.now() - t0) / 1000;
      const procPct = (((cpuSeconds(pid) ?? cpu0) - cpu0) / secs) * 100;
      const last = samples[samples.length - 1] ?? s0;
      const sentKbps = ((last.bytes.peerSent - s0.bytes.peerSent) * 8) / secs / 1000;
      const kids = await statusesOf(
        c,
        c.agents.slice(1).map((a) => a.index),
      );
      const figures: RelayFigures = {
        relayCpuPct: round(sum(samples.map((s) => s.cpuPct)) / Math.max(1, samples.length), 1),
        relayRssMB: round(Math.max(...samples.map((s) => s.rssMB)), 1),
        relayProcCpuPct: round(procPct, 1),
        relayStreamKbps: streamKbps,
        relayChildren: last.children.length,
        relaySentKbps: Math.round(sentKbps),
      };
      console.log(
        `relay a0: cpu ${figures.relayCpuPct} % of one core (/status mean of ${samples.length} samples; ` +
          `${figures.relayProcCpuPct} % from /proc), rss ${figures.relayRssMB} MB (max), sends ${figures.relaySentKbps} kbit/s ` +
          `to ${figures.relayChildren} children; children continuity ` +
          (kids ?? []).map((s) => `${s.continuity.onTime}/${s.continuity.expected}`).join(" "),
      );
      if (Math.abs(streamKbps - RELAY_STREAM_KBPS) > 0.15 * RELAY_STREAM_KBPS)
        console.log(`note: the clip came out at ${streamKbps} kbit/s, not ~${RELAY_STREAM_KBPS}`);
      keep = false;
      return figures;
    } finally {
      await c.stop();
      if (!keep) rmSync(c.dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(clipDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error("bench:lab builds network namespaces: run it as root (sudo npm run bench:lab)");
    process.exitCode = 1;
    return;
  }
  await Lab.sweep();
  const rs = measureRsReference();
  console.log(
    `Reed-Solomon k=8 n=2, 1160-byte shards: encode ${rs.rsEncodeMBps} MB/s, decode ${rs.rsDecodeMBps} MB/s`,
  );
  const a = await scenario();
  console.log(
    `\nscenario (a) over ${a.durationS} s: continuity min ${a.continuityMin} mean ${a.continuityMean}; ` +
      `origin share ${a.originShare} (${a.originBytes} B origin, ${a.peerBytes} B relayed by agents); ` +
      `flood duplicates ${a.floodDuplicateOverhead}; FEC parity/data ${a.fecOverhead}; ` +
      `repairs ${a.repairedFromPeers} from parents, ${a.repairedFromOrigin} from the origin; ` +
      `cluster CPU ${a.clusterCpuPct} % of one core, machine ${a.machineBusyPct} % busy`,
  );
  console.log(`${"delay ms".padEnd(10)}${TIERS.map((t) => pad(t, 8)).join("")}`);
  console.log(`${"p50".padEnd(10)}${TIERS.map((t) => pad(a.delayP50Ms[t] ?? "-", 8)).join("")}`);
  console.log(`${"p95".padEnd(10)}${TIERS.map((t) => pad(a.delayP95Ms[t] ?? "-", 8)).join("")}`);
  const r = await relay();
  console.log(JSON.stringify({ ...a, ...rs, ...r }));
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exit(1);
});
