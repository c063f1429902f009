/**
 * Issue 11's attack suite: control, an origin and 6 agents as real processes on loopback (the
 * demo's Cluster) play the live channel while an attacker process with no credentials
 * (helpers/attacker.ts) sends every attack once: forged LEAVE, HEARTBEAT and ASSIGN for other
 * ids; replays of a genuine node's captured HEARTBEAT, LEAVE, JOIN and ASSIGN; a rogue ORIGIN
 * JOIN; spoofed data and META as a parent; a Sybil flood of 1,000 JOINs in 2 s; JOINs from a
 * spoofed source. Source addresses are forged with a raw socket (root).
 *
 * With the defences on: nothing forged or replayed is accepted (control's counters show the
 * attempts), no agent serves an attacker byte, every agent keeps continuity >= 0.99, no genuine
 * node is declared lost, and the spoofed victim gets no more bytes than were sent in its name.
 * The negative control runs the same attacks with every check off
 * (TIERCAST_INSECURE_NO_VERIFY=1) and shows them succeed, so these tests can fail.
 * Without root or python3 they fail under CI and are skipped, loudly, elsewhere.
 *
 * @heavy privileged, processes: control, an origin, 6 agents and an attacker; raw sockets (root)
 */
import test, { type ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster, getJson, urlOf } from "../cli/demo/cluster.js";
import { readAdminToken } from "../control/admin-token.js";
import { JoinError, MsgType, NatType, Role } from "../protocol/messages.js";
import { UdpTransport } from "../seams/udp-transport.js";
import type { AttackPlan, AttackReport } from "./helpers/attacker.js";
import { removeIfPassed } from "./helpers/keep-on-failure.js";
import { needs } from "./helpers/needs.js";
import { UdpNode } from "./helpers/udp-node.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HB = 500;
const AGENTS = 6;

interface AgentStatus {
  node: number;
  newestSegment: number | null;
  continuity: { expected: number; onTime: number; ratio: number | null };
}

interface Outcome {
  report: AttackReport;
  /** Control's log events and each agent's, by process name. */
  events: Array<{ proc: string; ev: Record<string, unknown> }>;
  metrics: string;
  genuine: Set<number>;
  probeId: number;
  probeAlive: boolean;
  probeReplaysRefused: number;
  victimBytes: number;
  segmentsCompared: number;
  poisonedSegments: number;
  poisonedBytes: number;
  continuity: number[];
  lastHeartbeatAgoMs: number[];
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runAttacker(plan: AttackPlan): Promise<AttackReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "test/helpers/attacker.ts"), JSON.stringify(plan)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) return reject(new Error(`attacker exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(last) as AttackReport);
      } catch {
        reject(new Error(`attacker printed no report: ${out} ${err}`));
      }
    });
  });
}

async function scenario(t: ExecutionContext, verify: boolean): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `tiercast-attacks-${verify ? "on" : "off"}-`));
  const events: Outcome["events"] = [];
  const cluster = new Cluster({
    dir,
    agents: AGENTS,
    regions: 2,
    uploadKbps: () => 4000,
    staggerMs: 100,
    originFanout: 2,
    heartbeatMs: HB,
    topology: "tiered",
    env: verify ? {} : { TIERCAST_INSECURE_NO_VERIFY: "1" },
    onEvent: (proc, ev) => events.push({ proc, ev }),
  });
  const victim = await UdpTransport.bind({ host: "127.0.0.250", port: 0 });
  let victimBytes = 0;
  victim.onDatagram((buf) => (victimBytes += buf.length));
  const held: { probe?: UdpNode; beat?: NodeJS.Timeout } = {};
  t.teardown(async () => {
    clearInterval(held.beat);
    await held.probe?.close();
    await victim.close();
    await cluster.stop();
    if (process.env.TIERCAST_KEEP_ATTACK_RUN === "1") t.log(`run kept in ${dir}`);
    else removeIfPassed(t, dir);
  });
  await cluster.start();
  const status = (i: number): Promise<AgentStatus | undefined> =>
    getJson<AgentStatus>(urlOf(cluster.agents[i]!.http, "/status"));
  for (let i = 0; i < AGENTS; i++) {
    await until(
      `agent ${i} playing`,
      async () => ((await status(i))?.newestSegment ?? 0) > 0 || undefined,
      30_000,
    );
  }

  // A genuine node that an on-path observer watches: its JOIN, a HEARTBEAT, an ASSIGN to it and
  // its LEAVE are captured; it then joins again (a new session) and stays, heartbeating.
  const controlKey = Buffer.from(cluster.controlKey, "hex");
  const p = await UdpNode.bind(cluster.control.udp, controlKey);
  held.probe = p;
  const joinBody = {
    role: Role.AGENT,
    channels: ["demo"],
    uploadKbps: 500,
    nat: NatType.OPEN,
    httpPort: 8080,
  };
  const heartbeat = (): void =>
    p.send({
      type: MsgType.HEARTBEAT,
      body: {
        channel: 1,
        assignVersion:
          p.inbox.flatMap((m) => (m.type === MsgType.ASSIGN ? [m.body.version] : [])).at(-1) ?? 0,
        parents: [null],
        children: [],
        buffers: [0],
        resources: { uploadKbps: 0, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 10 },
        newestSegment: 0,
      },
    });
  const joined = async (): Promise<void> => {
    const acks = p.inbox.filter((m) => m.type === MsgType.JOIN_ACK).length;
    p.join(joinBody);
    await until(
      "the probe's JOIN_ACK",
      () => (p.inbox.filter((m) => m.type === MsgType.JOIN_ACK).length > acks ? true : undefined),
      10_000,
    );
  };
  await joined();
  // A new key is placed after it has heartbeated (probation): heartbeat as a node does.
  held.beat = setInterval(heartbeat, HB);
  heartbeat();
  const assign = await until(
    "an ASSIGN to the probe",
    () => p.got.find((m) => m.type === MsgType.ASSIGN),
    10_000,
  );
  const lastSent = (type: MsgType): Buffer => p.sent.filter((m) => m.type === type).at(-1)!.bytes;
  const captured = {
    join: lastSent(MsgType.JOIN),
    heartbeat: lastSent(MsgType.HEARTBEAT),
    assign: assign.bytes,
  };
  p.send({ type: MsgType.LEAVE, body: { channel: 1, reason: 0 } });
  const leave = lastSent(MsgType.LEAVE);
  await new Promise((r) => setTimeout(r, 100));
  await joined();
  const probeId = p.id;

  const originStatus = await until(
    "the origin's status",
    () => getJson<{ node: number }>(urlOf(cluster.origin.http, "/status")),
    5_000,
  );
  const genuine = new Set<number>([originStatus.node, probeId]);
  for (let i = 0; i < AGENTS; i++) genuine.add((await status(i))!.node);
  const before = await Promise.all(cluster.agents.map((_, i) => status(i)));

  const report = await runAttacker({
    control: cluster.control.udp,
    origin: cluster.origin.udp,
    originHttp: urlOf(cluster.origin.http, ""),
    agents: cluster.agents.map((a) => a.udp),
    victim: victim.local,
    channel: "demo",
    ids: 20,
    captured: {
      join: captured.join.toString("hex"),
      heartbeat: captured.heartbeat.toString("hex"),
      assign: captured.assign.toString("hex"),
      leave: leave.toString("hex"),
      node: p.udp.local,
    },
    sybil: { joins: 1000, windowMs: 2000 },
    attackerHost: "127.0.9.1",
  });
  // Let a few segments go by after the attack, then look.
  await new Promise((r) => setTimeout(r, 4000));

  const token = readAdminToken(cluster.adminTokenFile);
  const metrics = await (
    await fetch(urlOf(cluster.control.http, "/metrics"), { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const nodes =
    (await cluster.adminJson<Array<{ id: number; lastHeartbeatAgoMs: number | null }>>("/api/nodes")) ?? [];
  let segmentsCompared = 0;
  let poisonedSegments = 0;
  let poisonedBytes = 0;
  const continuity: number[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const a = cluster.agents[i]!;
    const s = await status(i);
    const b = before[i];
    // Continuity across the attack: segments due since just before it.
    if (s !== undefined && b !== undefined && s.continuity.expected > b.continuity.expected) {
      continuity.push(
        (s.continuity.onTime - b.continuity.onTime) / (s.continuity.expected - b.continuity.expected),
      );
    } else continuity.push(0);
    const playlist = await (await fetch(urlOf(a.http, "/live/demo/index.m3u8"))).text();
    for (const name of playlist.split("\n").filter((l) => l.endsWith(".ts"))) {
      const served = Buffer.from(await (await fetch(urlOf(a.http, `/live/demo/${name}`))).arrayBuffer());
      const res = await fetch(urlOf(cluster.origin.http, `/live/demo/${name}`));
      if (!res.ok) continue; // out of the origin's window
      const genuineBytes = Buffer.from(await res.arrayBuffer());
      segmentsCompared++;
      if (!served.equals(genuineBytes)) {
        poisonedSegments++;
        let diff = Math.abs(served.length - genuineBytes.length);
        for (let j = 0; j < Math.min(served.length, genuineBytes.length); j++)
          if (served[j] !== genuineBytes[j]) diff++;
        poisonedBytes += diff;
      }
    }
  }
  return {
    report,
    events,
    metrics,
    genuine,
    probeId,
    probeAlive: nodes.some((n) => n.id === probeId),
    // The probe joined again since the capture: the old ASSIGN fails its new session's tag.
    probeReplaysRefused: (p.link.stats.authFailed.replay ?? 0) + (p.link.stats.authFailed.tag ?? 0),
    victimBytes,
    segmentsCompared,
    poisonedSegments,
    poisonedBytes,
    continuity,
    lastHeartbeatAgoMs: nodes
      .filter((n) => genuine.has(n.id) && n.id !== probeId)
      .map((n) => n.lastHeartbeatAgoMs ?? Infinity),
  };
}

function metric(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^[a-z_]+(?:\{[a-z]+="([^"]*)"\})? (\d+(?:\.\d+)?)$/.exec(line);
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

const controlEvents = (o: Outcome, event: string): Array<Record<string, unknown>> =>
  o.events.filter((e) => e.proc === "control" && e.ev.event === event).map((e) => e.ev);

/** How many of each attack got through, from the processes' own logs and counters. */
interface Accepted {
  forged_leave: number;
  forged_heartbeat: number;
  forged_assign: number;
  replays: number;
  rogue_origin: number;
  spoofed_data: number;
}

function accepted(o: Outcome): Accepted {
  const genuineLeft = controlEvents(o, "node_left").filter((e) => o.genuine.has(e.node as number));
  return {
    forged_leave: genuineLeft.filter((e) => e.node !== o.probeId).length,
    forged_heartbeat: controlEvents(o, "node_moved").length,
    forged_assign: o.events.filter(
      (e) => e.proc.startsWith("agent") && e.ev.event === "assigned" && e.ev.version === 0xffffffff,
    ).length,
    replays: (o.probeAlive ? 0 : 1) + genuineLeft.filter((e) => e.node === o.probeId).length - 1,
    rogue_origin: o.report.rogueOriginAcks.filter((a) => a === "NONE").length,
    spoofed_data: o.poisonedSegments,
  };
}

function table(t: ExecutionContext, o: Outcome): void {
  const acc = accepted(o);
  const failed = metric(o.metrics, "tiercast_control_auth_failed_total");
  t.log(`auth_failed_total: ${JSON.stringify(Object.fromEntries(failed))}`);
  t.log("attack              attempts  bytes out  bytes in");
  for (const [name, c] of Object.entries(o.report.attacks))
    t.log(
      `${name.padEnd(18)} ${String(c.attempts).padStart(9)} ${String(c.bytesOut).padStart(10)} ${String(c.bytesIn).padStart(9)}`,
    );
  t.log(`accepted: ${JSON.stringify(acc)}`);
  t.log(`sybil JOIN_ACKs: ${JSON.stringify(o.report.sybilAcks)}`);
  t.log(
    `spoofed victim: ${o.report.attacks.spoofed_join?.bytesOut ?? 0} bytes sent in its name, ${o.victimBytes} bytes received`,
  );
  t.log(`segments compared ${o.segmentsCompared}, poisoned ${o.poisonedSegments} (${o.poisonedBytes} bytes)`);
  t.log(`continuity across the attack: ${o.continuity.map((c) => c.toFixed(3)).join(" ")}`);
}

/** Serial: each scenario runs a whole deployment, and two at once would measure the machine. */
const attackTest = needs(test, "test/trust-attacks.test.ts", ["root", "python3"]) ? test.serial : test.skip;

attackTest("every attack fails against the defences; the agents keep playing", async (t) => {
  t.timeout(5 * 60_000);
  const o = await scenario(t, true);
  table(t, o);
  const acc = accepted(o);
  for (const [name, n] of Object.entries(acc)) t.is(n, 0, `${name} accepted`);
  const failed = metric(o.metrics, "tiercast_control_auth_failed_total");
  const total = [...failed.values()].reduce((a, b) => a + b, 0);
  const forged = ["forged_leave", "forged_heartbeat", "replay_heartbeat", "replay_leave", "replay_join"]
    .map((n) => o.report.attacks[n]?.attempts ?? 0)
    .reduce((a, b) => a + b, 0);
  t.true(
    total >= forged,
    `control counted ${total} failed authentications for ${forged} forged or replayed messages`,
  );
  t.true((failed.get("join_replay") ?? 0) >= 1, "the replayed JOIN was refused as a replay");
  t.true(o.probeReplaysRefused >= 1, "the replayed ASSIGN was refused by the node it was captured from");
  t.deepEqual(
    o.report.rogueOriginAcks.filter((a) => a !== JoinError[JoinError.UNAUTHORIZED]),
    [],
  );
  t.true(o.segmentsCompared >= AGENTS * 3, `${o.segmentsCompared} segments compared`);
  t.is(o.poisonedBytes, 0, "no agent serves an attacker byte");
  for (const c of o.continuity) t.true(c >= 0.99, `continuity ${c}`);
  const lost = controlEvents(o, "node_lost").filter((e) => o.genuine.has(e.node as number));
  t.deepEqual(lost, [], "no genuine node declared lost");
  for (const ago of o.lastHeartbeatAgoMs) t.true(ago <= 2 * HB, `a genuine node last heard ${ago} ms ago`);
  t.true(
    o.victimBytes <= (o.report.attacks.spoofed_join?.bytesOut ?? 0),
    "no amplification towards a spoofed source",
  );
});

attackTest("negative control: with every check off the same attacks succeed", async (t) => {
  t.timeout(5 * 60_000);
  const o = await scenario(t, false);
  table(t, o);
  const acc = accepted(o);
  t.true(acc.forged_leave > 0 || acc.forged_heartbeat > 0, "forged LEAVE/HEARTBEAT accepted");
  t.true(acc.forged_assign > 0, "forged ASSIGN applied");
  t.true(acc.rogue_origin > 0, "rogue origin accepted");
});
