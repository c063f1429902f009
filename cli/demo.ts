/**
 * `tiercast demo`: a control server, an origin playing the bundled clip as a live channel and
 * N agents in R regions, each a separate process speaking real UDP on loopback. Shows a live
 * status table (or, with --json, prints a summary object as the last line of stdout).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, CHANNEL, delay, getJson, urlOf, type AgentInfo } from "./demo/cluster.js";
import type { AgentStatus, OriginStatus } from "./demo/status.js";
import { summarize, type Summary } from "./demo/summary.js";
import { renderTable } from "./demo/table.js";
import { parseOptions, type Command, type Spec } from "../common/options.js";
import { CONTROL_DEFAULTS, TOPOLOGIES, type TopologyName } from "../control/defaults.js";
import { DEFAULT_FANOUT } from "../origin/origin.js";

export const demoCommand = {
  name: "demo",
  summary:
    "Runs control, an origin looping the bundled clip as a live channel, and N agents in R regions on loopback, " +
    "each its own process over real UDP; shows a live status table and each agent's playlist URL.",
  spec: {
    agents: { kind: "int", help: "number of agent processes", default: 12, min: 1, max: 200 },
    regions: {
      kind: "int",
      help: "number of regions (agents of region r bind 127.0.r.x)",
      default: 3,
      min: 1,
      max: 20,
    },
    duration: {
      kind: "int",
      help: "seconds to run after the last agent started; 0 = until Ctrl-C",
      default: 0,
      min: 0,
    },
    json: {
      kind: "boolean",
      help: "print no table; end with the summary as one JSON object on stdout",
      default: false,
    },
    dir: {
      kind: "string",
      help: "folder for databases and logs (default: a new temporary folder, removed at exit)",
    },
    staggerMs: { kind: "int", help: "ms between agent starts", default: 150, min: 0, max: 60000 },
    originFanout: {
      kind: "int",
      help: "children the origin feeds directly",
      default: DEFAULT_FANOUT,
      min: 1,
      max: 64,
    },
    heartbeatMs: {
      kind: "int",
      help: "heartbeat interval",
      default: CONTROL_DEFAULTS.heartbeatMs,
      min: 100,
      max: 60000,
    },
    keep: { kind: "boolean", help: "keep the run folder at exit", default: false },
    topology: {
      kind: "string",
      help: "control's topology engine: tiered or tree",
      default: CONTROL_DEFAULTS.topology,
      choices: TOPOLOGIES,
    },
  },
} as const satisfies Command<Spec>;

/** The demo's upload mix, in multiples of ~700 kbit/s (the clip's rate): strong, medium, weak, below the stream rate. */
export function demoUploadKbps(i: number): number {
  return [4000, 2000, 1000, 400][i % 4]!;
}

export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(demoCommand, argv);
  if (o === undefined) return;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "tiercast-demo-"));
  const removeDir = o.dir === undefined && !o.keep;
  const say = (s: string): void => void (o.json ? process.stderr : process.stdout).write(s + "\n");

  const cluster = new Cluster({
    dir,
    agents: o.agents,
    regions: o.regions,
    uploadKbps: demoUploadKbps,
    staggerMs: o.staggerMs,
    originFanout: o.originFanout,
    heartbeatMs: o.heartbeatMs,
    topology: o.topology as TopologyName,
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await cluster.stop();
    if (removeDir) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void stop().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    say(`tiercast demo: starting control, origin and ${o.agents} agents (logs in ${dir})`);
    await cluster.start();
    const started = Date.now();
    say("");
    say(`control admin: ${urlOf(cluster.control.http, "/api/topology")}`);
    say(`               (needs: -H "Authorization: Bearer $(cat ${cluster.adminTokenFile})")`);
    say(`origin:        ${urlOf(cluster.origin.http, `/live/${CHANNEL}/index.m3u8`)}`);
    for (const a of cluster.agents) say(`${a.name.padEnd(9)} ${a.region}  ${playlistUrl(a)}`);
    say(
      `\nPlay one with: ffplay ${playlistUrl(cluster.agents[0]!)}   (or VLC: Media > Open Network Stream)\n`,
    );

    const tty = !o.json && process.stdout.isTTY;
    let last: { statuses: Array<AgentStatus | undefined>; summary: Summary } | undefined;
    for (;;) {
      const elapsed = (Date.now() - started) / 1000;
      last = await poll(cluster, o.regions, elapsed);
      if (tty) {
        process.stdout.write(
          "\x1b[H\x1b[2J" + renderTable(rowsOf(cluster.agents, last.statuses), last.summary, elapsed) + "\n",
        );
        process.stdout.write(
          "\nagent playlists:\n" +
            cluster.agents.map((a) => `  ${a.name}: ${playlistUrl(a)}`).join("\n") +
            "\n",
        );
      } else if (!o.json) {
        say(renderTable(rowsOf(cluster.agents, last.statuses), last.summary, elapsed) + "\n");
      } else if (Math.round(elapsed) % 10 === 0) {
        say(
          `t=${elapsed.toFixed(0)}s continuity min ${last.summary.continuity.min} offload ${last.summary.offload}`,
        );
      }
      if (o.duration > 0 && elapsed >= o.duration) break;
      await delay(o.json ? 1000 : 2000);
    }
    const final = await poll(cluster, o.regions, (Date.now() - started) / 1000);
    if (o.json) process.stdout.write(JSON.stringify(final.summary) + "\n");
    else say(JSON.stringify(final.summary, null, 2));
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stop();
  }
}

async function poll(
  cluster: Cluster,
  regions: number,
  elapsedS: number,
): Promise<{ statuses: Array<AgentStatus | undefined>; summary: Summary }> {
  const [statuses, origin] = await Promise.all([
    Promise.all(cluster.agents.map((a) => getJson<AgentStatus>(urlOf(a.http, "/status")))),
    getJson<OriginStatus>(urlOf(cluster.origin.http, "/status")),
  ]);
  return { statuses, summary: summarize(statuses, origin, regions, Math.round(elapsedS)) };
}

function rowsOf(agents: AgentInfo[], statuses: Array<AgentStatus | undefined>) {
  return agents.map((a, i) => ({ name: a.name, region: a.region, status: statuses[i] }));
}

export function playlistUrl(a: AgentInfo): string {
  return urlOf(a.http, `/live/${CHANNEL}/index.m3u8`);
}
