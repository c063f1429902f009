/**
 * Boots the armv7 firmware image under qemu-system-arm (virt,highmem=off, cortex-a15, 512 MB)
 * once — this file boots QEMU one time. The host runs control and origin on 127.0.0.1; the
 * guest reaches them at 10.0.2.2 and pins control's key (controlKey). Checks: the supervisor
 * starts the agent on Node 20.11.0, the agent makes its identity on the persistent partition,
 * joins, receives the live channel to a playable segment, and serves it through the
 * forwarded port byte for byte as the origin published it. (Power cut and bad config are covered by the arm64 boot test: same /init,
 * supervisor and agent.)
 *
 * @heavy privileged, processes: builds the firmware and boots QEMU
 */
import test from "ava";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { makeDataDisk, type GuestConfig } from "../firmware/lib/data-disk.js";
import { qemuCommand } from "../firmware/lib/qemu.js";
import { ffmpegDecode, freePort, inspectDisk, Proc, ROOT, useBootFixture } from "./firmware-harness.js";
import { FIRMWARE_BUILD, needs } from "./helpers/needs.js";

const IMAGE_DIR = join(ROOT, "images", "out", "armv7");
const GUEST_HTTP = 8081;
const BOOT_MS = 240_000;

const canBoot = needs(test, "test/firmware-armv7.test.ts", [
  ...FIRMWARE_BUILD,
  "qemu-arm-static",
  "qemu-system-arm",
  "ffmpeg",
  "e2fsck",
  "debugfs",
]);
const bootTest = canBoot ? test.serial : test.skip;
const fx = useBootFixture("armv7", canBoot);

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1);

bootTest("the armv7 guest boots, joins and serves a playable segment", async (t) => {
  t.timeout(10 * 60_000);
  const disk = join(fx.dir, "data.img");
  // Under QEMU's user-mode net the host's loopback is 10.0.2.2 (common/host-alias-transport.ts).
  const config: GuestConfig = {
    control: `127.0.0.1:${fx.host.controlPort}`,
    controlKey: fx.host.controlKey,
    hostAlias: "10.0.2.2",
    channel: "demo",
    role: "preferred",
    cacheMb: 32,
    httpPort: GUEST_HTTP,
  };
  makeDataDisk(disk, { config });
  const httpPort = await freePort();
  const q = qemuCommand({
    arch: "armv7",
    imageDir: IMAGE_DIR,
    disk,
    forward: [{ hostPort: httpPort, guestPort: GUEST_HTTP }],
  });
  const started = performance.now();
  const vm = new Proc(q.command, q.args);
  t.teardown(() => vm.stop("SIGKILL"));

  const version = await vm.waitForLine(
    "supervisor start",
    (l) => l.includes("tiercast-supervise: starting tiercast"),
    BOOT_MS,
  );
  t.regex(version, /node v20\.11\.0, linux-arm\)/);
  t.true(
    vm.lines.some((l) => l.includes("persistent partition /dev/vda on /data")),
    "the ext4 partition is mounted (virtio-blk on MMIO, crc32c loaded)",
  );
  await vm.waitForEvent("identity_created", BOOT_MS);
  await vm.waitForEvent("ready", BOOT_MS);
  t.log(`boot to ready: ${seconds(started)} s`);
  const joined = await vm.waitForEvent("joined", BOOT_MS);
  t.log(`boot to join: ${seconds(started)} s (node ${String(joined.node)})`);
  await vm.waitForEvent("playable", BOOT_MS);
  t.log(`boot to playable: ${seconds(started)} s`);

  const base = `http://127.0.0.1:${httpPort}/live/demo`;
  const ff = await ffmpegDecode(`${base}/index.m3u8`, 2);
  t.is(ff.stderr.trim(), "", "ffmpeg decodes the guest's playlist with no error");
  t.is(ff.code, 0);

  // A segment the guest serves is the one the origin published.
  const latest = (await (
    await fetch(`http://127.0.0.1:${fx.host.originHttpPort}/live/demo/latest.json`)
  ).json()) as { segments: { id: number; sha256: string }[] };
  const want = new Map(latest.segments.map((s) => [s.id, s.sha256]));
  const text = await (await fetch(`${base}/index.m3u8`)).text();
  const ids = [...text.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1]));
  const id = ids.find((i) => want.has(i));
  if (id === undefined) {
    t.fail(`the guest's playlist [${ids.join(", ")}] names no segment the origin still lists`);
    return;
  }
  const body = new Uint8Array(await (await fetch(`${base}/${id}.ts`)).arrayBuffer());
  t.is(sha256(body), want.get(id) as string, `segment ${id} served whole`);

  const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as Record<
    string,
    unknown
  >;
  t.log(`guest agent: rss ${String(status.rssMB)} MB, bytes ${JSON.stringify(status.bytes)}`);
  await vm.stop("SIGKILL");

  // The identity went to the persistent partition.
  const seen = inspectDisk(disk, mkdtempSync(join(fx.dir, "inspect-")), ["agent/identity.json"]);
  t.truthy(seen.files["agent/identity.json"], "identity.json is on the persistent partition");
});
