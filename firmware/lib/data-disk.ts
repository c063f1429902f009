/**
 * The persistent partition: an ext4 filesystem image (config, identity key, chunk cache,
 * ring log). Made on the host with mkfs.ext4; `files` pre-seeds it (mkfs.ext4 -d), e.g. a
 * tiercast.json pointing at a test's control server. Empty, the guest writes its factory
 * config on first boot.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { run } from "./sh.js";

export interface DataDiskOptions {
  sizeMb?: number;
  /** Path inside the partition -> contents. */
  files?: Record<string, string | Uint8Array>;
}

export function makeDataDisk(path: string, o: DataDiskOptions = {}): void {
  const seed = mkdtempSync(join(tmpdir(), "tiercast-disk-"));
  try {
    for (const [name, content] of Object.entries(o.files ?? {})) {
      mkdirSync(dirname(join(seed, name)), { recursive: true });
      writeFileSync(join(seed, name), content);
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
