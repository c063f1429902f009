/**
 * Node single-executable application: the bundle (plus SEA assets) becomes a blob made by
 * the TARGET's own node (under qemu-user for ARM: a blob from another Node version crashes
 * the executable), then a stripped copy of that node gets the blob injected with postject.
 * Strip before injecting: stripping afterwards drops the blob's note and the binary crashes.
 */
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Bundle } from "./bundle.js";
import { run } from "./sh.js";
import { emulated, tool, type Target } from "./targets.js";

const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

function postjectCli(): string {
  return createRequire(import.meta.url).resolve("postject/dist/cli.js");
}

/** Builds the executable at `dest` from `bundle` with the target's `nodeBin`. */
export function makeExecutable(
  t: Target,
  nodeBin: string,
  bundle: Bundle,
  workDir: string,
  dest: string,
): void {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, "tiercast.cjs"), bundle.code);
  const config: Record<string, unknown> = {
    main: "tiercast.cjs",
    output: "sea-prep.blob",
    disableExperimentalSEAWarning: true,
  };
  if (t.seaAssets) {
    // Node >= 20.12 options. Snapshot and code cache are tied to the machine that makes the
    // blob; off, so a blob made under emulation is valid on the device.
    config.useSnapshot = false;
    config.useCodeCache = false;
    config.assets = bundle.seaAssets;
  }
  writeFileSync(join(workDir, "sea-config.json"), JSON.stringify(config, null, 2) + "\n");
  const blob = emulated(t, nodeBin, ["--experimental-sea-config", "sea-config.json"]);
  run(blob.command, blob.args, { cwd: workDir });
  const exe = join(workDir, "tiercast");
  run(tool(t, "strip"), ["-o", exe, nodeBin]);
  run(
    process.execPath,
    [postjectCli(), exe, "NODE_SEA_BLOB", "sea-prep.blob", "--sentinel-fuse", SENTINEL_FUSE],
    {
      cwd: workDir,
    },
  );
  chmodSync(exe, 0o755);
  mkdirSync(join(dest, ".."), { recursive: true });
  renameSync(exe, dest);
}
