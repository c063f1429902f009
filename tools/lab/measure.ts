/**
 * Measuring a lab cluster (tools/lab/cluster.ts), shared by test/lab-tiered.test.ts and
 * bench/lab.ts: scenario (a)'s configuration, warm-up and measurement windows as conditions with
 * deadlines, continuity over a window between two snapshots, CPU of the cluster and the machine,
 * and a one-line-per-agent report for logs.
 *
 * Continuity "after warm-up": an agent's /status counts the segments whose playback deadline
 * passed (expected) and of those the ones held in time (onTime) since it started; the window's
 * continuity is (onTime1 - onTime0) / (expected1 - expected0) between two snapshots.
 */
import type { AgentStatus } from "../../agent/status.js";
import { waitFor } from "../cli.js";
import {
  cpuSeconds,
  machineCpuSeconds,
  type LabAgentSpec,
  type LabCluster,
  type LabClusterConfig,
} from "./cluster.js";

/**
 * Scenario (a): 24 agents in 4 regions (plus the core), 6 per region with uploads of 4000, 3000
 * (tier-1 material: c x R x 1.25 ~ 2.5 Mbit/s), 1800, 1500 (tier 2: >= 2R ~ 1.35 Mbit/s), 600
 * and 400 kbit/s (below the ~670 kbit/s stream); 50 ms between regions; 3 % loss on every link.
 * Agents are listed strongest first, so each region's tier-1 candidates start first.
 */
export function scenarioA(name: string): LabClusterConfig {
  const uploads = [4000, 3000, 1800, 1500, 600, 400];
  const agents: LabAgentSpec[] = [];
  for (const up of uploads) for (let r = 1; r <= 4; r++) agents.push({ region: r, uploadKbps: up });
  return {
    name,
    regions: 5,
    agents,
    lossPercent: 3,
    interRegionDelayMs: 50,
    originFanout: 8,
    policy: { k: 4, c: 3, tier1PerRegion: 2, levels: 3 },
  };
}

export interface Window {
  expected: number;
  onTime: number;
  ratio: number;
}

/** Continuity between two snapshots of the same agent. */
export function windowOf(before: AgentStatus, after: AgentStatus): Window {
  const expected = after.continuity.expected - before.continuity.expected;
  const onTime = after.continuity.onTime - before.continuity.onTime;
  return { expected, onTime, ratio: expected > 0 ? onTime / expected : 0 };
}

/** Every listed agent's /status, or undefined while one of them does not answer. */
export async function statusesOf(c: LabCluster, which: number[]): Promise<AgentStatus[] | undefined> {
  const all = await Promise.all(which.map((i) => c.status(i)));
  return all.every((s) => s !== undefined) ? (all as AgentStatus[]) : undefined;
}

export const liveAgents = (c: LabCluster): number[] => c.agents.filter((a) => a.alive).map((a) => a.index);

/**
 * Warm-up: every live agent playable with parents, control's plan holding them all with nobody
 * unplaced, then `segments` more playback deadlines at every agent. Returns the baseline.
 */
export async function warmUp(c: LabCluster, segments: number, timeoutMs: number): Promise<AgentStatus[]> {
  const which = liveAgents(c);
  const first = await waitFor(
    `every agent playable and placed (logs in ${c.dir})`,
    async () => {
      const st = await statusesOf(c, which);
      if (st === undefined || !st.every((s) => s.joinMs !== null && s.parents.length > 0)) return undefined;
      const topo = await c.topology();
      return topo !== undefined && topo.unplaced.length === 0 && topo.nodes === which.length + 1
        ? st
        : undefined;
    },
    timeoutMs,
    1000,
  );
  return waitFor(
    `${segments} more segments at every agent (logs in ${c.dir})`,
    async () => {
      const st = await statusesOf(c, which);
      return st?.every((s, i) => s.continuity.expected >= first[i]!.continuity.expected + segments)
        ? st
        : undefined;
    },
    timeoutMs,
    1000,
  );
}

/** Waits until every listed agent has seen `segments` more deadlines than in `base`. */
export function runFor(
  c: LabCluster,
  which: number[],
  base: AgentStatus[],
  segments: number,
  timeoutMs: number,
): Promise<AgentStatus[]> {
  return waitFor(
    `${segments} segments of measurement at every agent (logs in ${c.dir})`,
    async () => {
      const st = await statusesOf(c, which);
      return st?.every((s, i) => s.continuity.expected >= base[i]!.continuity.expected + segments)
        ? st
        : undefined;
    },
    timeoutMs,
    1000,
  );
}

export interface CpuUse {
  seconds: number;
  /** The cluster's processes (control, origin, agents alive at the start), percent of one core. */
  clusterPct: number;
  /** The whole machine, percent of all its cores. */
  machinePct: number;
  processes: number;
  text: string;
}

/** CPU used by the cluster's processes and by the whole machine from now to each call. */
export function cpuMeter(c: LabCluster): () => CpuUse {
  const pids = c.pids();
  const procs0 = pids.map((p) => cpuSeconds(p.pid) ?? 0);
  const m0 = machineCpuSeconds();
  const t0 = Date.now();
  return () => {
    const seconds = (Date.now() - t0) / 1000;
    const procs = pids.reduce(
      (a, p, i) => a + Math.max(0, (cpuSeconds(p.pid) ?? procs0[i]!) - procs0[i]!),
      0,
    );
    const m = machineCpuSeconds();
    const clusterPct = (procs / Math.max(1e-9, seconds)) * 100;
    const machinePct = ((m.busy - m0.busy) / Math.max(1e-9, m.total - m0.total)) * 100;
    const text =
      `cluster processes ${clusterPct.toFixed(0)} % of one core over ${seconds.toFixed(0)} s ` +
      `(${pids.length} processes); machine ${machinePct.toFixed(0)} % busy (all cores)`;
    return { seconds, clusterPct, machinePct, processes: pids.length, text };
  };
}

export function describe(s: AgentStatus, w?: Window): string {
  return (
    `node ${s.node} ${s.region} ${s.tierRole ?? "?"} parents ${s.parents.length} children ${s.children.length}` +
    (w === undefined ? "" : ` window ${w.onTime}/${w.expected}`) +
    ` missed ${s.packets.missed} recovered ${s.packets.recovered}` +
    ` repaired ${s.repaired?.segments ?? 0} (peers ${s.repaired?.fromPeers ?? 0}, failed ${s.repaired?.failed ?? 0})` +
    ` delay p50/p95 ${s.delayMs?.p50 ?? "-"}/${s.delayMs?.p95 ?? "-"} ms`
  );
}

/** One line per agent (status, window, the drops its own host saw), for the test's log. */
export async function report(
  c: LabCluster,
  which: number[],
  st: AgentStatus[],
  windows: Window[],
): Promise<string> {
  const lines = await Promise.all(
    st.map(async (s, k) => {
      const a = c.agents[which[k]!]!;
      const n = await c.netStats(a.host).catch(() => undefined);
      const own =
        n === undefined
          ? ""
          : ` own host: tbf drops ${n.tbfDropped}, rcvbuf errors ${n.rcvbufErrors}, tx ${(n.txBytes / 1e6).toFixed(1)} MB (UDP relayed ${(s.bytes.peerSent / 1e6).toFixed(1)} MB)`;
      return `${a.host} r${a.region} up ${a.uploadKbps}: ${describe(s, windows[k])}${own}`;
    }),
  );
  return lines.join("\n");
}
