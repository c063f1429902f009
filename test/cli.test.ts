/**
 * The `tiercast` command as a process (the compiled CLI in dist/): --help, --version, and the
 * usage errors, each naming what is wrong.
 *
 * @heavy processes: one `tiercast` process per test
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { VERSION } from "../cli/version.js";
import { runCli } from "../tools/cli.js";

test.serial("--help lists the four subcommands", async (t) => {
  const r = await runCli(["--help"]);
  t.is(r.code, 0);
  for (const sub of ["control", "origin", "agent", "demo"]) t.regex(r.stdout, new RegExp(`^  ${sub} `, "m"));
});

test.serial("--version prints the package version and the runtime", async (t) => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  t.is(VERSION, pkg.version);
  const r = await runCli(["--version"]);
  t.is(r.code, 0);
  t.regex(r.stdout, new RegExp(`^tiercast ${pkg.version.replace(/\./g, "\\.")} \\(node v\\d+`));
});

for (const sub of ["control", "origin", "agent", "demo"]) {
  test.serial(`${sub} --help shows its options`, async (t) => {
    const r = await runCli([sub, "--help"]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`Usage: tiercast ${sub}`));
    t.regex(r.stdout, /--config <file>/);
  });
}

test.serial("an unknown command exits 2 and says so", async (t) => {
  const r = await runCli(["frobnicate"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown command "frobnicate"/);
});

test.serial("a bad flag value exits non-zero naming the field", async (t) => {
  const r = await runCli(["agent", "--upload-kbps", "lots"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /uploadKbps \(flag --upload-kbps\): expected an integer/);
});

test.serial("an unknown flag exits non-zero naming it", async (t) => {
  const r = await runCli(["control", "--no-such-flag"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /no-such-flag/);
});

test.serial("a bad control address exits non-zero naming the field", async (t) => {
  const r = await runCli(["agent", "--control", "nowhere"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /control \(flag --control\): entry 1 \("nowhere"\): expected host:port/);
});
