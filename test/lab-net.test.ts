/**
 * The network lab (tools/lab/lab.ts) with real UDP between real processes in network
 * namespaces: routing between regions, nftables loss against its per-link model, a tbf upload
 * cap, and clean-up that holds when a test body throws or its process is killed. Runs as root
 * (CI does); without root or the tools the lab tests fail under CI and are skipped, loudly,
 * elsewhere (test/helpers/needs.ts).
 *
 * @heavy privileged, processes: network namespaces, nftables, tc, and processes inside them
 */
import test, { type ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Lab,
  LAB_PREFIX,
  LabProcess,
  lossRuleset,
  nodeArgv,
  planLab,
  run,
  tbfArgs,
  tool,
  type LabSpec,
} from "../tools/lab/lab.js";
import { needs } from "./helpers/needs.js";

const PROBE = fileURLToPath(new URL("./helpers/udp-probe.ts", import.meta.url));
const LAB_CLI = fileURLToPath(new URL("../tools/lab/lab.ts", import.meta.url));
const PORT = 9000;

/** A lab name unique to this worker and test. */
const labName = (tag: string): string => `tc${process.pid}${tag}`;

async function labFor(t: ExecutionContext, spec: LabSpec): Promise<Lab> {
  const lab = await Lab.create(spec);
  t.teardown(() => lab.destroy());
  return lab;
}

function probe(lab: Lab, host: string, ...args: string[]): LabProcess {
  return lab.spawn(host, nodeArgv(PROBE, ...args));
}

interface Summary {
  run: number;
  sent: number;
  received: number;
  bytes: number;
  uniqueSeqs: number;
  kbps: number;
}

interface Sent {
  sent: number;
  sendErrors: number;
  acked: boolean;
}

/** Sends from `from` to the sink at `to` and returns the sink's summary of that run. */
async function measure(
  lab: Lab,
  sink: LabProcess,
  from: string,
  to: string,
  run: number,
  args: { count: number; size: number; kbps: number; durationMs: number },
): Promise<{ summary: Summary; sent: Sent }> {
  const sender = probe(
    lab,
    from,
    "send",
    "--to",
    `${lab.addressOf(to)}:${PORT}`,
    "--run",
    String(run),
    "--count",
    String(args.count),
    "--size",
    String(args.size),
    "--kbps",
    String(args.kbps),
    "--duration-ms",
    String(args.durationMs),
  );
  const sent = await sender.waitForJson<Sent>((o) => o.event === "sent", args.durationMs + 15_000, "sent");
  const summary = await sink.waitForJson<Summary>(
    (o) => o.event === "summary" && o.run === run,
    5000,
    `summary of run ${run}`,
  );
  return { summary, sent };
}

test("planLab names namespaces and addresses by region, and rejects bad specs naming the field", (t) => {
  const plan = planLab({
    name: "abc",
    regions: 3,
    hosts: [
      { name: "origin", region: 0 },
      { name: "a", region: 2, upKbps: 2000 },
      { name: "b", region: 2 },
      { name: "c", region: 1 },
    ],
  });
  t.is(plan.router, "tcl-abc-r");
  t.deepEqual(
    plan.hosts.map((h) => [h.name, h.namespace, h.address]),
    [
      ["origin", "tcl-abc-0", "10.77.0.10"],
      ["a", "tcl-abc-1", "10.77.2.10"],
      ["b", "tcl-abc-2", "10.77.2.11"],
      ["c", "tcl-abc-3", "10.77.1.10"],
    ],
  );
  const bad: Array<[LabSpec, RegExp]> = [
    [{ name: "Has-Dash", regions: 1, hosts: [{ name: "a", region: 0 }] }, /name "Has-Dash"/],
    [{ name: "x", regions: 0, hosts: [{ name: "a", region: 0 }] }, /regions 0/],
    [{ name: "x", regions: 2, hosts: [{ name: "a", region: 2 }] }, /hosts\[0\]\.region 2 must be .* 0\.\.1/],
    [
      {
        name: "x",
        regions: 1,
        hosts: [
          { name: "a", region: 0 },
          { name: "a", region: 0 },
        ],
      },
      /"a" is used twice/,
    ],
    [{ name: "x", regions: 1, hosts: [{ name: "a", region: 0, upKbps: 0 }] }, /hosts\[0\]\.upKbps 0/],
    [{ name: "x", regions: 1, hosts: [{ name: "a", region: 0 }], lossPercent: 101 }, /lossPercent 101/],
    [{ name: "x", regions: 1, hosts: [] }, /hosts must be a non-empty array/],
    [{ name: "x", regions: 1, hosts: [{ name: "a", region: 0 }], upQueueMs: 0 }, /upQueueMs 0/],
  ];
  for (const [spec, want] of bad) t.throws(() => planLab(spec), { message: want });
  t.regex(lossRuleset(3), /numgen random mod 10000 < 300 drop/);
  t.is(plan.upQueueMs, 50, "the uplink queue defaults to 50 ms");
  t.deepEqual(
    tbfArgs(500, 200),
    ["rate", "500kbit", "burst", "6056", "latency", "200ms"],
    "at least 4 frames",
  );
  t.deepEqual(
    tbfArgs(6000),
    ["rate", "6000kbit", "burst", "37500", "latency", "50ms"],
    "50 ms of burst, as the pacer",
  );
});

if (needs(test, "test/lab-net.test.ts", ["root", "ip", "tc", "nft", "sysctl"])) {
  test.before(async () => {
    // Labs left by an earlier run that was killed (their owner is gone); live labs are kept.
    await Lab.sweep();
  });

  test.serial(
    "hosts reach each other within a region and across regions through the router; --net-delay adds the delay",
    async (t) => {
      const lab = await labFor(t, {
        name: labName("a"),
        regions: 2,
        hosts: [
          { name: "core", region: 0 },
          { name: "r1a", region: 1 },
          { name: "r1b", region: 1 },
        ],
        interRegionDelayMs: 50,
      });
      t.is(lab.addressOf("core"), "10.77.0.10");
      t.is(lab.addressOf("r1b"), "10.77.1.11");
      t.is(lab.netDelayFor("r1a"), "10.77.0.0/24=50");
      t.is(lab.netDelayFor("core"), "10.77.1.0/24=50");
      // Every probe gets the lab's --net-delay, as tiercast's programs would: 50 ms to the other region.
      const echoes = lab.hosts.map((h) =>
        probe(lab, h.name, "echo", "--port", String(PORT), ...lab.netDelayArgs(h.name)),
      );
      await Promise.all(echoes.map((e) => e.waitForJson((o) => o.event === "ready", 15_000, "echo ready")));
      const pairs: Array<[string, string]> = [
        ["core", "r1a"], // region 0 -> 1: routed
        ["r1a", "r1b"], // inside region 1: bridged
        ["r1b", "core"], // region 1 -> 0: routed
      ];
      const results = await Promise.all(
        pairs.map(async ([from, to]) => {
          const to_ = `${lab.addressOf(to)}:${PORT}`;
          const p = probe(lab, from, "ping", "--to", to_, "--count", "50", ...lab.netDelayArgs(from));
          return p.waitForJson<{
            pathUp: boolean;
            answered: number;
            seenFrom: string[];
            rttMs: { min: number; median: number };
          }>((o) => o.event === "result", 20_000, "ping result");
        }),
      );
      for (const [i, [from, to]] of pairs.entries()) {
        const r = results[i]!;
        t.true(r.pathUp, `${from} -> ${to}: path up`);
        t.is(r.answered, 50, `${from} -> ${to}: every ping answered (no loss configured)`);
        // No NAT anywhere: the far end sees the sender's own lab address.
        t.deepEqual(r.seenFrom, [lab.addressOf(from)], `${from} -> ${to}: source address`);
        // Across regions both ends hold the datagram 50 ms: no round trip can be shorter than 100 ms
        // (less a few ms of timer rounding); inside a region nothing is added.
        const crosses = lab.host(from).region !== lab.host(to).region;
        t.log(
          `${from} -> ${to}: rtt min ${r.rttMs.min.toFixed(1)} ms, median ${r.rttMs.median.toFixed(1)} ms`,
        );
        if (crosses)
          t.true(
            r.rttMs.min >= 95 && r.rttMs.median < 500,
            `${from} -> ${to}: rtt ${JSON.stringify(r.rttMs)}`,
          );
        else t.true(r.rttMs.min < 50, `${from} -> ${to}: rtt ${JSON.stringify(r.rttMs)}`);
      }
      // Cross-region datagrams were routed (2 pairs x 50 pings and 50 pongs, plus warm-up);
      // the pair inside region 1 was only bridged, or there would be 100 more.
      const snmp = (await run(tool("ip"), ["netns", "exec", lab.plan.router, "cat", "/proc/net/snmp"]))
        .stdout;
      const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Ip: "));
      const forwarded = Number(values!.split(" ")[names!.split(" ").indexOf("ForwDatagrams")]);
      t.true(forwarded >= 200 && forwarded < 300, `router forwarded ${forwarded} datagrams`);
    },
  );

  test.serial(
    "20 % loss per link drops (1 - 0.8²) of datagrams crossing two links, within a binomial band",
    async (t) => {
      const lossPercent = 20;
      const lab = await labFor(t, {
        name: labName("b"),
        regions: 2,
        hosts: [
          { name: "core", region: 0 },
          { name: "r1a", region: 1 },
          { name: "r1b", region: 1 },
        ],
        lossPercent,
      });
      const sink = probe(lab, "core", "sink", "--port", String(PORT));
      await sink.waitForJson((o) => o.event === "ready", 15_000, "sink ready");
      const n = 2000;
      // Paced (64-byte datagrams at 1 Mbit/s, about 1 s) so that no socket buffer drops anything.
      const { summary, sent } = await measure(lab, sink, "r1a", "core", 1, {
        count: n,
        size: 64,
        kbps: 1000,
        durationMs: 10_000,
      });
      t.is(sent.sent, n);
      t.is(sent.sendErrors, 0, "netdev drops are silent to the sender, like a wire");
      t.true(sent.acked);
      t.is(summary.received, summary.uniqueSeqs);
      // Per-link model: sender's link (egress) and receiver's link (ingress) each drop p.
      const p = lossPercent / 100;
      const delivered = (1 - p) ** 2;
      const expectedLoss = 1 - delivered;
      const sigma = Math.sqrt((delivered * (1 - delivered)) / n);
      const loss = 1 - summary.received / n;
      const tolerance = 6 * sigma; // about 6.4 points: a false alarm is a 1-in-10^8 event
      t.log(
        `loss ${(loss * 100).toFixed(1)} % (model ${(expectedLoss * 100).toFixed(1)} % ± ${(tolerance * 100).toFixed(1)})`,
      );
      t.true(
        Math.abs(loss - expectedLoss) <= tolerance,
        `loss ${loss} outside ${expectedLoss} ± ${tolerance}`,
      );
      // The band tells the models apart: one lossy link (20 %) or three (48.8 %) would fail it.
      t.true(Math.abs(p - expectedLoss) > tolerance && Math.abs(1 - (1 - p) ** 3 - expectedLoss) > tolerance);
    },
  );

  test.serial(
    "a 2000 kbit/s tbf cap holds a bulk UDP send to the cap; an uncapped host goes well past it",
    async (t) => {
      const capKbps = 2000;
      const lab = await labFor(t, {
        name: labName("c"),
        regions: 2,
        hosts: [
          { name: "core", region: 0 },
          { name: "capped", region: 1, upKbps: capKbps },
          { name: "free", region: 1 },
        ],
      });
      const sink = probe(lab, "core", "sink", "--port", String(PORT));
      await sink.waitForJson((o) => o.event === "ready", 15_000, "sink ready");
      // Offer ten times the cap for 1.5 s from each host in turn (not at once: one sink, two cores).
      const offer = { count: 10_000, size: 1200, kbps: 10 * capKbps, durationMs: 1500 };
      const capped = await measure(lab, sink, "capped", "core", 1, offer);
      const free = await measure(lab, sink, "free", "core", 2, offer);
      t.log(
        `capped ${capped.summary.kbps.toFixed(0)} kbit/s, uncapped ${free.summary.kbps.toFixed(0)} kbit/s`,
      );
      t.true(capped.sent.acked && free.sent.acked);
      // tbf counts whole frames (1242 bytes for 1200 of payload): payload can reach ~0.97 x cap.
      t.true(capped.summary.kbps < 1.3 * capKbps, `capped ${capped.summary.kbps} kbit/s`);
      t.true(capped.summary.kbps > 0.5 * capKbps, `capped ${capped.summary.kbps} kbit/s: the cap starves it`);
      t.true(
        capped.summary.received < 0.5 * capped.sent.sent,
        "most of the offered load was dropped at the cap",
      );
      t.true(free.summary.kbps > 3 * capKbps, `uncapped ${free.summary.kbps} kbit/s`);
      t.true(free.summary.kbps / capped.summary.kbps > 3);
    },
  );

  test.serial(
    "the management relay reaches hosts' HTTP servers from this process, relays only lab addresses, and goes with the lab",
    async (t) => {
      const name = labName("h");
      const lab = await labFor(t, {
        name,
        regions: 2,
        hosts: [{ name: "web", region: 1, upKbps: 1000 }],
        lossPercent: 20, // UDP only: the relay's TCP is not touched
      });
      const server = lab.spawn("web", [
        process.execPath,
        "-e",
        'require("http").createServer((q, s) => s.end(JSON.stringify({ path: q.url, from: q.socket.remoteAddress, auth: q.headers.authorization })))' +
          '.listen(8081, "0.0.0.0", () => console.log(JSON.stringify({ event: "ready" })))',
      ]);
      await server.waitForJson((o) => o.event === "ready", 15_000, "http server ready");
      // The root namespace has no route into the lab; the relay in the router namespace does.
      const got = await lab.getJson<{ path: string; from: string }>("http://10.77.1.10:8081/status?x=1");
      t.deepEqual(
        got,
        { path: "/status?x=1", from: "10.77.1.1" },
        "answered, seen from the router's address",
      );
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => lab.getJson<{ path: string }>(`http://10.77.1.10:8081/${i}`)),
      );
      t.deepEqual(
        many.map((m) => m?.path),
        Array.from({ length: 20 }, (_, i) => `/${i}`),
      );
      const authed = await lab.getJson<{ auth?: string }>("http://10.77.1.10:8081/api", 5000, "Bearer t0ken");
      t.is(authed?.auth, "Bearer t0ken", "Authorization is passed on (control's admin API wants it)");
      t.is((await lab.fetch("http://10.77.1.10:9/nothing", 2000)).status, 502, "refused: 502");
      t.is((await lab.fetch("http://127.0.0.1:8081/", 2000)).status, 400, "not a lab address: 400");
      t.is(await lab.getJson("http://10.77.1.10:9/"), undefined);
      const relay = lab.processes("(router)");
      t.is(relay.length, 1, "one relay, started on first use");
      const dirs = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith(`tiercast-lab-${name}-`));
      t.is(dirs().length, 1, "the relay's socket folder");
      await lab.destroy();
      t.false(relay[0]!.running, "the relay stopped with the lab");
      t.deepEqual(dirs(), [], "its socket folder removed");
      await t.throwsAsync(lab.fetch("http://10.77.1.10:8081/"), { message: /destroyed/ });
    },
  );

  test.serial("destroy leaves no namespace or process behind, even when the body throws", async (t) => {
    const name = labName("d");
    let pid: number | undefined;
    await t.throwsAsync(
      Lab.use(
        {
          name,
          regions: 2,
          hosts: [
            { name: "x", region: 0 },
            { name: "y", region: 1, upKbps: 500 },
          ],
          lossPercent: 3,
        },
        async (lab) => {
          const sink = probe(lab, "y", "sink", "--port", String(PORT));
          await sink.waitForJson((o) => o.event === "ready", 15_000, "sink ready");
          pid = sink.child.pid;
          t.deepEqual((await Lab.namespaces(`${LAB_PREFIX}${name}-`)).sort(), [
            `tcl-${name}-0`,
            `tcl-${name}-1`,
            `tcl-${name}-r`,
          ]);
          throw new Error("boom");
        },
      ),
      { message: "boom" },
    );
    t.deepEqual(await Lab.namespaces(`${LAB_PREFIX}${name}-`), []);
    t.truthy(pid);
    t.throws(() => process.kill(pid!, 0), { code: "ESRCH" }, "the process in the lab is gone");
  });

  test.serial("a lab process killed by SIGTERM cleans up; one killed by SIGKILL is swept", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "tiercast-lab-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const hold = async (name: string): Promise<LabProcess> => {
      const spec = join(dir, `${name}.json`);
      writeFileSync(spec, JSON.stringify({ name, regions: 1, hosts: [{ name: "a", region: 0 }] }));
      // The CLI (scripts/lab hold) builds the lab and keeps it while it runs.
      const child = spawn(process.execPath, nodeArgv(LAB_CLI, "hold", spec).slice(1), {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const p = new LabProcess("root", ["lab", "hold", spec], child);
      t.teardown(() => p.stop(500));
      await p.waitForLine((l) => l.trim() === "}", 20_000, "the lab description");
      t.deepEqual((await Lab.namespaces(`${LAB_PREFIX}${name}-`)).sort(), [`tcl-${name}-0`, `tcl-${name}-r`]);
      return p;
    };
    const termName = labName("e");
    const term = await hold(termName);
    term.signal("SIGTERM");
    await term.exited;
    t.is(term.exitSignal, "SIGTERM", "it still dies of the signal");
    t.deepEqual(await Lab.namespaces(`${LAB_PREFIX}${termName}-`), []);

    const killName = labName("f");
    const killed = await hold(killName);
    killed.signal("SIGKILL");
    await killed.exited;
    t.is((await Lab.namespaces(`${LAB_PREFIX}${killName}-`)).length, 2, "nothing ran on SIGKILL");
    // A live lab of this process is left alone by the same sweep.
    const mine = await labFor(t, { name: labName("g"), regions: 1, hosts: [{ name: "a", region: 0 }] });
    const removed = await Lab.sweep(`${LAB_PREFIX}tc${process.pid}`);
    t.deepEqual(removed.filter((n) => n.startsWith(`tcl-${killName}-`)).sort(), [
      `tcl-${killName}-0`,
      `tcl-${killName}-r`,
    ]);
    t.false(removed.some((n) => n.startsWith(`tcl-${mine.name}-`)));
    t.is((await Lab.namespaces(`${LAB_PREFIX}${mine.name}-`)).length, 2);
  });
}
