/**
 * The persistent partition: an ext4 filesystem image (config, identity key, chunk cache,
 * ring log). Made on the host with mkfs.ext4; `config` pre-seeds /data/tiercast.json and
 * `files` anything else (mkfs.ext4 -d). Empty, the guest writes its factory config on first
 * boot, which names no control key: the agent then refuses to start (docs/firmware.md), so
 * whoever boots an image (scripts/qemu-run, the boot tests, a device maker) seeds `controlKey`.
 * `seedGuestConfig` does it for a disk that may already exist (debugfs, offline).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./sh.js";

/** Where the guest's supervisor reads the agent's config, inside the partition. */
export const GUEST_CONFIG = "tiercast.json";

/** The image's factory config (/etc/tiercast/defaults.json): no controlKey, it cannot know one. */
export const FACTORY_CONFIG_FILE = fileURLToPath(
  new URL("../rootfs/etc/tiercast/defaults.json", import.meta.url),
);

/**
 * /data/tiercast.json: any `tiercast agent` option. `controlKey` (control's public key, hex or
 * base64, as `tiercast control` prints it in its ready line) is required by the type: an agent
 * without it (or a key learnt before) exits with a usage error naming it.
 */
export interface GuestConfig {
  controlKey: string;
  /** For control's `token` enrolment policy: the token the operator issued for this box. */
  enrolmentToken?: string;
  [option: string]: unknown;
}

export interface DataDiskOptions {
  sizeMb?: number;
  /** Written as /data/tiercast.json (mode 0600: it may hold an enrolment token). */
  config?: GuestConfig;
  /** Path inside the partition -> contents. */
  files?: Record<string, string | Uint8Array>;
}

export function factoryConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(FACTORY_CONFIG_FILE, "utf8")) as Record<string, unknown>;
}

export function makeDataDisk(path: string, o: DataDiskOptions = {}): void {
  const seed = mkdtempSync(join(tmpdir(), "tiercast-disk-"));
  try {
    for (const [name, content] of Object.entries(o.files ?? {})) {
      mkdirSync(dirname(join(seed, name)), { recursive: true });
      writeFileSync(join(seed, name), content);
    }
    if (o.config !== undefined) {
      writeFileSync(join(seed, GUEST_CONFIG), configText(o.config), { mode: 0o600 });
      chmodSync(join(seed, GUEST_CONFIG), 0o600);
    }
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    run("mkfs.ext4", [
      "-q",
      "-F",
      "-L",
      "tiercast-data",
      "-E",
      "root_owner=0:0",
      "-d",
      seed,
      path,
      `${o.sizeMb ?? 256}M`,
    ]);
  } finally {
    rmSync(seed, { recursive: true, force: true });
  }
}

/** A file at the top of the partition, or undefined when it is not there (debugfs, read-only). */
export function readDiskFile(disk: string, name: string): string | undefined {
  const listing = run("debugfs", ["-R", "ls -l /", disk]);
  const present = listing.split("\n").some((l) => l.trim().split(/\s+/).pop() === name);
  return present ? run("debugfs", ["-R", `cat /${name}`, disk]) : undefined;
}

/** Replaces (or makes) a file at the top of the partition, mode 0600, owner 0:0. */
export function writeDiskFile(disk: string, name: string, content: string): void {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-disk-"));
  try {
    const src = join(dir, name);
    writeFileSync(src, content, { mode: 0o600 });
    chmodSync(src, 0o600);
    const present = readDiskFile(disk, name) !== undefined;
    writeFileSync(join(dir, "cmds"), `${present ? `rm /${name}\n` : ""}cd /\nwrite ${src} ${name}\n`);
    run("debugfs", ["-w", "-f", join(dir, "cmds"), disk]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type SeedResult = { config: Record<string, unknown>; action: "created" | "updated" | "unchanged" };

/**
 * Puts `patch` (controlKey, and control / enrolmentToken when given) into the partition's
 * /data/tiercast.json, keeping every other key already there: a new disk (`fresh`, or no file
 * at `disk`) gets the factory config plus the patch; an existing one has its config merged
 * (or, with none yet, the factory config plus the patch). A config that is not a JSON object
 * is left alone and named in the error.
 */
export function seedGuestConfig(disk: string, patch: GuestConfig, o: { fresh: boolean }): SeedResult {
  if (o.fresh) {
    const config = { ...factoryConfig(), ...patch };
    makeDataDisk(disk, { config });
    return { config, action: "created" };
  }
  const text = readDiskFile(disk, GUEST_CONFIG);
  let current: Record<string, unknown> = factoryConfig();
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(
        `${disk}: /data/${GUEST_CONFIG} is not JSON (${(e as Error).message}); fix it or use --fresh`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error(`${disk}: /data/${GUEST_CONFIG} is not a JSON object; fix it or use --fresh`);
    current = parsed as Record<string, unknown>;
  }
  const config = { ...current, ...patch };
  if (text !== undefined && configText(config) === configText(current))
    return { config, action: "unchanged" };
  writeDiskFile(disk, GUEST_CONFIG, configText(config));
  return { config, action: "updated" };
}

function configText(config: Record<string, unknown>): string {
  return JSON.stringify(config, null, 2) + "\n";
}
