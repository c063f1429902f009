/**
 * The armv7 and x64 single executables, copied alone into an empty folder (no node_modules
 * beside them): `--version` names the shipped runtime, and an agent joins a control center
 * on 127.0.0.1 (pinning its key, --control-key) and commits a segment (so the embedded SQLite
 * addon works). x64 runs natively and also serves as control and origin (the origin loops
 * the sample clip embedded in the executable); armv7 runs under qemu-arm-static against the
 * host's compiled CLI.
 *
 * @heavy privileged, processes: builds the firmware; control, origin and agents as executables
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emulated, TARGETS, type Arch } from "../firmware/lib/targets.js";
import { buildFirmware, Proc, ROOT, startHostServers } from "./firmware-harness.js";
import { FIRMWARE_BUILD, needs } from "./helpers/needs.js";

const CASES: { arch: Arch; version: RegExp }[] = [
  { arch: "x64", version: /^tiercast \d+\.\d+\.\d+ \(node v22\.\d+\.\d+, linux-x64\)/ },
  { arch: "armv7", version: /^tiercast \d+\.\d+\.\d+ \(node v20\.11\.0, linux-arm\)/ },
];

/** Serial: each case runs control, an origin and an agent (one under emulation). */
const serialExecs = needs(test, "test/firmware-exec.test.ts", [...FIRMWARE_BUILD, "qemu-arm-static"])
  ? test.serial
  : test.skip;

for (const c of CASES) {
  serialExecs(
    `${c.arch}: the executable runs alone, --version, and its agent joins and caches`,
    async (t) => {
      t.timeout(40 * 60_000, "cold build compiles the SQLite addon");
      const b = buildFirmware(c.arch, false);
      t.log(
        `${c.arch} build: ${b.seconds.toFixed(1)} s, ${(b.manifest.bytes / 1e6).toFixed(1)} MB, sha256 ${b.manifest.sha256}`,
      );
      const dir = mkdtempSync(join(tmpdir(), `tiercast-fw-${c.arch}-`));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const exe = join(dir, "tiercast");
      copyFileSync(join(ROOT, "images", "out", c.arch, "tiercast"), exe);
      const target = TARGETS[c.arch];

      const v = emulated(target, exe, ["--version"]);
      const version = spawnSync(v.command, v.args, { cwd: dir, encoding: "utf8" });
      t.is(version.status, 0, version.stderr);
      t.regex(version.stdout, c.version);

      const host = await startHostServers(dir, "127.0.0.1", c.arch === "x64" ? exe : undefined);
      t.teardown(() => host.stop());
      const a = emulated(target, exe, [
        "agent",
        ...[
          "--control",
          `127.0.0.1:${host.controlPort}`,
          "--control-key",
          host.controlKey,
          "--http-port",
          "0",
          "--data-dir",
          join(dir, "agent"),
        ],
      ]);
      const agent = new Proc(a.command, a.args, { cwd: dir });
      t.teardown(() => agent.stop("SIGKILL"));
      await agent.waitForEvent("ready", 120_000);
      const joined = await agent.waitForEvent("joined", 120_000);
      t.is(typeof joined.node, "number");
      await agent.waitForEvent("segment_committed", 120_000);
      await agent.stop();
    },
  );
}
