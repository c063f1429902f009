/**
 * Boots the arm64 firmware image under qemu-system-aarch64 (cortex-a53, 512 MB) — this file
 * boots QEMU five times. The host runs control and origin on 127.0.0.1; the guest reaches
 * them at 10.0.2.2, and its /data/tiercast.json pins control's key (controlKey). Checks: the
 * agent starts under its supervisor, joins, takes the stream over UDP with no packet rejected
 * (hostAlias), and serves a playlist ffmpeg decodes through the forwarded port; after a power
 * cut (QEMU killed while the agent writes) the partition and the SQLite cache are intact, the
 * same identity comes back and only whole, verified segments are served; a bad config key is
 * named in the log and the agent runs on factory defaults with the config's control key; an
 * image nobody seeded with a control key names controlKey and the supervisor keeps retrying;
 * scripts/qemu-run starts its own control and origin, pins that control's key in the guest's
 * config, the guest joins, and SIGTERM stops QEMU, the origin and control.
 *
 * @heavy privileged, processes: builds the firmware and boots QEMU five times, one boot at a time
 */
import test from "ava";
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeDataDisk, readDiskFile, type GuestConfig } from "../firmware/lib/data-disk.js";
import { qemuCommand } from "../firmware/lib/qemu.js";
import { ffmpegDecode, freePort, inspectDisk, Proc, ROOT, useBootFixture } from "./firmware-harness.js";
import { FIRMWARE_BUILD, needs } from "./helpers/needs.js";

const IMAGE_DIR = join(ROOT, "images", "out", "arm64");
const GUEST_HTTP = 8081;
const BOOT_MS = 180_000;

const canBoot = needs(test, "test/firmware-arm64.test.ts", [
  ...FIRMWARE_BUILD,
  "qemu-aarch64-static",
  "qemu-system-aarch64",
  "ffmpeg",
  "e2fsck",
  "debugfs",
]);
/** Serial: one QEMU guest at a time (each loads the machine on its own). */
const serialBoots = canBoot ? test.serial : test.skip;
const fx = useBootFixture("arm64", canBoot);

function config(extra: Record<string, unknown> = {}): GuestConfig {
  // Under QEMU's user-mode net the host's loopback is 10.0.2.2 (common/host-alias-transport.ts).
  const control = { control: `127.0.0.1:${fx.host.controlPort}`, hostAlias: "10.0.2.2" };
  return {
    ...control,
    controlKey: fx.host.controlKey,
    channel: "demo",
    role: "preferred",
    cacheMb: 32,
    httpPort: GUEST_HTTP,
    ...extra,
  };
}

async function boot(disk: string): Promise<{ vm: Proc; httpPort: number; started: number }> {
  const httpPort = await freePort();
  const q = qemuCommand({
    arch: "arm64",
    imageDir: IMAGE_DIR,
    disk,
    forward: [{ hostPort: httpPort, guestPort: GUEST_HTTP }],
  });
  return { vm: new Proc(q.command, q.args), httpPort, started: performance.now() };
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1);

serialBoots(
  "the guest boots, joins, serves a playlist ffmpeg decodes, and survives a power cut",
  async (t) => {
    t.timeout(15 * 60_000);
    const disk = join(fx.dir, "data.img");
    makeDataDisk(disk, { config: config() });

    // First boot.
    const first = await boot(disk);
    t.teardown(() => first.vm.stop("SIGKILL"));
    const version = await first.vm.waitForLine(
      "supervisor start",
      (l) => l.includes("tiercast-supervise: starting tiercast"),
      BOOT_MS,
    );
    t.regex(version, /node v22\.\d+\.\d+, linux-arm64/);
    await first.vm.waitForEvent("identity_created", BOOT_MS);
    await first.vm.waitForEvent("ready", BOOT_MS);
    t.log(`boot to ready: ${seconds(first.started)} s`);
    const joined = await first.vm.waitForEvent("joined", BOOT_MS);
    t.log(`boot to join: ${seconds(first.started)} s (node ${String(joined.node)})`);
    await first.vm.waitForEvent("playable", BOOT_MS);

    const playlist = `http://127.0.0.1:${first.httpPort}/live/demo/index.m3u8`;
    const ff = await ffmpegDecode(playlist, 4);
    t.is(ff.stderr.trim(), "", "ffmpeg decodes the guest's playlist with no error");
    t.is(ff.code, 0);
    const status = (await (await fetch(`http://127.0.0.1:${first.httpPort}/status`)).json()) as {
      rssMB: number;
      bytes: unknown;
      packets: { received: number; rejected: number; malformed: number };
    };
    t.log(
      `guest agent status: rss ${String(status.rssMB)} MB, bytes ${JSON.stringify(status.bytes)}, packets ${JSON.stringify(status.packets)}`,
    );
    // The origin on the host sends from 127.0.0.1, slirp rewrites it to 10.0.2.2: without the
    // alias every data packet would come from a stranger and be rejected.
    t.true(status.packets.received > 0, "the stream arrives over UDP");
    t.is(status.packets.rejected, 0, "no data packet rejected (hostAlias maps 10.0.2.2 to the origin)");
    t.is(status.packets.malformed, 0, "no malformed packet");

    // Power cut while the agent writes: right after a segment commit, the next one is on its way.
    await first.vm.waitForEvent("segment_committed", 60_000, first.vm.lines.length);
    const committed = first.vm
      .events()
      .filter((e) => e.event === "segment_committed")
      .map((e) => e.id as number);
    await first.vm.stop("SIGKILL");

    // The partition and the cache as the power cut left them.
    const seen = inspectDisk(disk, fx.dir, ["agent/identity.json", "agent/cache.db", "agent/cache.db-wal"]);
    t.true(
      seen.fsck <= 1,
      `e2fsck after the power cut: exit ${seen.fsck} (0 clean, 1 journal replayed/fixed)`,
    );
    const identityFile = seen.files["agent/identity.json"];
    const cacheFile = seen.files["agent/cache.db"];
    t.truthy(identityFile, "identity.json survived");
    t.truthy(cacheFile, "cache.db survived");
    const db = new Database(cacheFile as string);
    t.is(db.pragma("integrity_check", { simple: true }), "ok");
    // WAL + synchronous=NORMAL does not sync each commit: a cut soon after first boot may
    // even lose the schema (the agent makes it again on the next start). Count, don't fail.
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'segments'").get() !== undefined;
    const rows = hasTable
      ? (db.prepare("SELECT id, sha256, bytes FROM segments WHERE channel = 'demo'").all() as {
          id: number;
          sha256: Buffer;
          bytes: Buffer;
        }[])
      : [];
    db.close();
    for (const r of rows) t.is(sha256(r.bytes), r.sha256.toString("hex"), `segment ${r.id} is whole`);
    const present = new Set(rows.map((r) => r.id));
    const rolledBack = committed.filter((id) => !present.has(id));
    t.log(
      `power cut: ${committed.length} segments committed, ${rows.length} in the cache after the cut, rolled back: [${rolledBack.join(", ")}]`,
    );

    // Second boot on the same partition.
    const second = await boot(disk);
    t.teardown(() => second.vm.stop("SIGKILL"));
    await second.vm.waitForEvent("ready", BOOT_MS);
    t.false(
      second.vm.events().some((e) => e.event === "identity_created"),
      "the identity key is reused",
    );
    const rejoined = await second.vm.waitForEvent("joined", BOOT_MS);
    t.is(rejoined.node, joined.node, "same identity: control gives the same node id");
    await second.vm.waitForEvent("playable", BOOT_MS);

    // Whatever the guest serves now matches the origin's hashes.
    const latest = (await (
      await fetch(`http://127.0.0.1:${fx.host.originHttpPort}/live/demo/latest.json`)
    ).json()) as {
      segments: { id: number; sha256: string }[];
    };
    const want = new Map(latest.segments.map((s) => [s.id, s.sha256]));
    const text = await (await fetch(`http://127.0.0.1:${second.httpPort}/live/demo/index.m3u8`)).text();
    const ids = [...text.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1]));
    t.true(ids.length > 0, "the playlist lists segments after the reboot");
    let checked = 0;
    for (const id of ids) {
      const expected = want.get(id);
      if (expected === undefined) continue; // gone from the origin's window
      const body = new Uint8Array(
        await (await fetch(`http://127.0.0.1:${second.httpPort}/live/demo/${id}.ts`)).arrayBuffer(),
      );
      t.is(sha256(body), expected, `segment ${id} served whole after the power cut`);
      checked++;
    }
    if (checked === 0) {
      t.fail(
        `after the reboot the guest's playlist [${ids.join(", ")}] names no segment the origin still lists: nothing was checked`,
      );
    }
    await second.vm.stop("SIGKILL");
    const again = inspectDisk(disk, mkdtempSync(join(fx.dir, "again-")), ["agent/identity.json"]);
    t.deepEqual(
      readFileSync(again.files["agent/identity.json"] ?? ""),
      readFileSync(identityFile as string),
      "identity.json unchanged across the power cut and the reboot",
    );
  },
);

serialBoots("a bad config key is named on the console and the agent runs on factory defaults", async (t) => {
  t.timeout(10 * 60_000);
  const disk = join(fx.dir, "bad.img");
  makeDataDisk(disk, { config: config({ uploadKbs: 900 }) });
  const { vm } = await boot(disk);
  t.teardown(() => vm.stop("SIGKILL"));
  const named = await vm.waitForLine(
    "the bad key named",
    (l) => l.includes('unknown key "uploadKbs"'),
    BOOT_MS,
  );
  t.log(named);
  await vm.waitForLine("fallback to defaults", (l) => l.includes("running with factory defaults"), BOOT_MS);
  const from = vm.lines.length;
  // The factory defaults name no control key: the agent gets ready only because the supervisor
  // kept the controlKey of the rejected config (the fresh partition has no learnt key).
  const ready = await vm.waitForEvent("ready", BOOT_MS, from);
  t.is(ready.cacheMb, 64, "factory default cache size");
  await vm.stop("SIGKILL");
});

serialBoots("an image nobody seeded with a control key names controlKey and keeps retrying", async (t) => {
  t.timeout(10 * 60_000);
  const disk = join(fx.dir, "unconfigured.img");
  makeDataDisk(disk); // empty: the guest writes its factory config, which has no controlKey
  const { vm } = await boot(disk);
  t.teardown(() => vm.stop("SIGKILL"));
  await vm.waitForLine(
    "factory config written",
    (l) => l.includes("first boot: wrote factory config"),
    BOOT_MS,
  );
  const named = await vm.waitForLine("controlKey named", (l) => l.includes("controlKey: required"), BOOT_MS);
  t.log(named);
  const why = await vm.waitForLine("the supervisor says why", (l) => l.includes("no control key:"), BOOT_MS);
  t.regex(why, /put control's public key in \/data\/tiercast\.json as controlKey/);
  t.false(
    vm.lines.some((l) => l.includes("running with factory defaults")),
    "no fallback to the factory defaults, which cannot know the key either",
  );
  // Back-off: 1 s, then 2 s, each attempt naming controlKey again.
  const first = await vm.waitForLine(
    "first back-off",
    (l) => /exited with code 2 .*restarting in 1s/.test(l),
    BOOT_MS,
  );
  const from = vm.lines.indexOf(first) + 1;
  await vm.waitForLine("named again", (l) => l.includes("controlKey: required"), BOOT_MS, from);
  await vm.waitForLine(
    "second back-off",
    (l) => /exited with code 2 .*restarting in 2s/.test(l),
    BOOT_MS,
    from,
  );
  t.false(
    vm.events().some((e) => e.event === "ready"),
    "the agent never got ready without a control key",
  );
  await vm.stop("SIGKILL");
});

serialBoots(
  "scripts/qemu-run starts control and an origin, pins the key in the guest, and stops them",
  async (t) => {
    t.timeout(10 * 60_000);
    const disk = join(fx.dir, "qemu-run.img");
    const hostDir = join(fx.dir, "qemu-run-host");
    const httpPort = await freePort();
    const args = ["--arch", "arm64", "--disk", disk, "--host-dir", hostDir, "--control-port", "0"];
    const run = new Proc(join(ROOT, "scripts", "qemu-run"), [...args, "--http-port", String(httpPort)]);
    // SIGTERM, not SIGKILL: qemu-run passes it on to QEMU, then stops the origin and control.
    t.teardown(() => run.stop("SIGTERM"));
    const printed = await run.waitForLine(
      "the key printed",
      (l) => /^qemu-run: control key [0-9a-f]{64} \(from the control started here\)$/.test(l),
      120_000,
    );
    const key = /control key ([0-9a-f]{64})/.exec(printed)?.[1];
    const joined = await run.waitForEvent("joined", BOOT_MS);
    t.log(`guest joined the control qemu-run started as node ${String(joined.node)}`);
    await run.waitForEvent("playable", BOOT_MS);
    const playlist = await fetch(`http://127.0.0.1:${httpPort}/live/demo/index.m3u8`);
    t.is(playlist.status, 200);

    await run.stop("SIGTERM");
    const controlLog = readFileSync(join(hostDir, "control.log"), "utf8");
    const originLog = readFileSync(join(hostDir, "origin.log"), "utf8");
    t.true(controlLog.includes(`"publicKey":"${key ?? "none"}"`), "the key printed is control's");
    t.regex(originLog, /"event":"stopped"/, "the origin was stopped");
    t.regex(controlLog, /"event":"stopped"/, "control was stopped");
    t.true(existsSync(join(hostDir, "control-identity.json")), "control's key pair kept for the next run");
    const config = JSON.parse(readDiskFile(disk, "tiercast.json") ?? "{}") as Record<string, unknown>;
    t.is(config.controlKey, key, "the guest's config pins it");
  },
);
