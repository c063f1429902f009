/**
 * `tiercast demo` as a process (the compiled CLI in dist/): a short run on loopback and its JSON
 * summary line.
 *
 * @heavy processes: the demo starts control, an origin and agents
 */
import test from "ava";
import { runCli } from "../tools/cli.js";

test("demo --json ends after --duration and prints the summary as the last line of stdout", async (t) => {
  const r = await runCli(
    ["demo", "--agents", "4", "--regions", "2", "--duration", "8", "--json", "--stagger-ms", "50"],
    120_000,
  );
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  const summary = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  t.log(JSON.stringify(summary));
  t.is(summary.agents, 4);
  t.is(summary.regions, 2);
  for (const key of ["segmentsExpected", "segmentsDelivered", "originBytes", "peerBytes", "offload"]) {
    t.is(typeof summary[key], "number", key);
  }
  const c = summary.continuity as { min: number; mean: number };
  t.is(typeof c.min, "number");
  t.is(typeof c.mean, "number");
  t.true(c.min <= c.mean);
  const j = summary.joinMs as { p50: number; p95: number };
  t.true(j.p50 > 0 && j.p95 >= j.p50);
  const hb = summary.heartbeatBytes as { max: number; mean: number };
  t.true(hb.max > 0 && hb.max <= 1200 && hb.mean <= hb.max);
  const offload =
    (summary.peerBytes as number) / ((summary.originBytes as number) + (summary.peerBytes as number));
  t.true(Math.abs((summary.offload as number) - offload) < 1e-4, "offload = peer / (origin + peer)");
});
