/**
 * `scripts/qemu-run --arch arm64|armv7 [--http-port 8081] [--disk FILE] [--fresh]`
 *
 * Boots images/out/<arch> under QEMU with the persistent partition FILE (default
 * images/out/<arch>/data.img, made empty on first use; --fresh remakes it), forwards the
 * agent's LAN HTTP port to 127.0.0.1 and prints where to point a player. Ctrl-A X quits.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeDataDisk } from "./lib/data-disk.js";
import { qemuCommand } from "./lib/qemu.js";
import { parseArch } from "./lib/targets.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The agent's LAN HTTP port in the factory config (firmware/rootfs/etc/tiercast/defaults.json). */
const GUEST_HTTP_PORT = 8081;

function main(): void {
  const { values } = parseArgs({
    options: {
      arch: { type: "string", default: "arm64" },
      "http-port": { type: "string", default: String(GUEST_HTTP_PORT) },
      disk: { type: "string" },
      fresh: { type: "boolean", default: false },
    },
    strict: true,
  });
  const arch = parseArch(values.arch);
  const imageDir = join(ROOT, "images", "out", arch);
  if (!existsSync(join(imageDir, "initrd.img"))) {
    throw new Error(`no image in ${imageDir}: build it first with npm run firmware -- --arch ${arch}`);
  }
  // scripts/qemu-run changes to the repository; a relative --disk means the caller's folder.
  const disk = resolve(process.env.TIERCAST_CWD ?? ".", values.disk ?? join(imageDir, "data.img"));
  if (values.fresh || !existsSync(disk)) makeDataDisk(disk);
  const hostPort = Number(values["http-port"]);
  const q = qemuCommand({ arch, imageDir, disk, forward: [{ hostPort, guestPort: GUEST_HTTP_PORT }] });
  process.stderr.write(
    [
      `qemu-run: booting ${arch} with persistent partition ${disk}`,
      `qemu-run: the guest reaches this host as 10.0.2.2; its factory config joins control at 127.0.0.1:7700 with hostAlias 10.0.2.2 (QEMU user-mode net)`,
      `qemu-run:   run here: tiercast control   and   tiercast origin --fallback-url http://10.0.2.2:8080`,
      `qemu-run: point a player at http://127.0.0.1:${hostPort}/live/demo/index.m3u8`,
      `qemu-run: quit with Ctrl-A X`,
      "",
    ].join("\n"),
  );
  const child = spawn(q.command, q.args, { stdio: "inherit" });
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}

try {
  main();
} catch (e) {
  process.stderr.write(`qemu-run: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
