/**
 * scripts/qemu-run puts control's key (and an enrolment token) into the guest's
 * /data/tiercast.json and prints the key, without booting (--no-boot; the boot through
 * qemu-run with the control it starts is in test/firmware-arm64.test.ts): a new partition gets
 * the factory config plus the key, an existing one keeps its other keys, a bad key or a
 * missing one is a usage error naming it.
 *
 * @heavy privileged, processes: runs scripts/qemu-run, which writes ext4 images
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { factoryConfig, readDiskFile, writeDiskFile } from "../firmware/lib/data-disk.js";
import { ROOT } from "./firmware-harness.js";
import { needs } from "./helpers/needs.js";

const QEMU_RUN = join(ROOT, "scripts", "qemu-run");

function controlKey(): string {
  const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32).toString("hex");
}

function qemuRun(cwd: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(QEMU_RUN, ["--arch", "arm64", "--no-boot", ...args], {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

function guestConfig(disk: string): Record<string, unknown> {
  const text = readDiskFile(disk, "tiercast.json");
  if (text === undefined) throw new Error(`${disk}: no tiercast.json`);
  return JSON.parse(text) as Record<string, unknown>;
}

const diskTest = needs(test, "test/firmware-qemu-run.test.ts", ["mkfs.ext4", "debugfs"]) ? test : test.skip;

diskTest("the key and the token go into /data/tiercast.json; other keys are kept", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-qemu-run-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = controlKey();

  // A new partition (relative --disk: the caller's folder): factory config + key + token.
  const made = qemuRun(dir, "--disk", "data.img", "--control-key", key, "--enrolment-token", "tce_abc");
  t.is(made.status, 0, made.stderr);
  t.regex(made.stderr, new RegExp(`^qemu-run: control key ${key} \\(given with --control-key\\)$`, "m"));
  t.false(made.stderr.includes("tce_abc"), "the token is not printed");
  const disk = join(dir, "data.img");
  t.deepEqual(guestConfig(disk), { ...factoryConfig(), controlKey: key, enrolmentToken: "tce_abc" });
  t.false("controlKey" in factoryConfig(), "the factory config names no key");

  // An existing partition whose config someone edited: the edit stays, the key is replaced.
  writeDiskFile(disk, "tiercast.json", JSON.stringify({ ...guestConfig(disk), cacheMb: 16 }));
  const next = controlKey();
  const base64 = Buffer.from(next, "hex").toString("base64");
  const updated = qemuRun(dir, "--disk", "data.img", "--control-key", base64, "--control", "10.0.2.2:7800");
  t.is(updated.status, 0, updated.stderr);
  t.regex(updated.stderr, new RegExp(`control key ${next} `), "printed as hex whatever the input");
  t.deepEqual(guestConfig(disk), {
    ...factoryConfig(),
    control: "10.0.2.2:7800",
    controlKey: next,
    enrolmentToken: "tce_abc",
    cacheMb: 16,
  });
  const again = qemuRun(dir, "--disk", "data.img", "--control-key", next, "--control", "10.0.2.2:7800");
  t.regex(again.stderr, /already has \/data\/tiercast\.json/);
  const fsck = spawnSync("e2fsck", ["-f", "-n", disk], { encoding: "utf8" });
  t.is(fsck.status, 0, `the partition is clean after the edits:\n${fsck.stdout}`);
});

diskTest("a bad key, or none for --no-boot, is a usage error naming it", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-qemu-run-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = qemuRun(dir, "--disk", "data.img", "--control-key", "abcd");
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--control-key: expected a raw Ed25519 public key/);
  const none = qemuRun(dir, "--disk", "data.img");
  t.is(none.status, 2);
  t.regex(none.stderr, /--no-boot starts no control: give the key with --control-key/);
  const stray = qemuRun(dir, "--disk", "data.img", "--control", "10.0.2.2:7700");
  t.is(stray.status, 2);
  t.regex(stray.stderr, /give its key with --control-key/);
  t.false(existsSync(join(dir, "data.img")), "no partition made");
});
