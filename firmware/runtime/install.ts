/**
 * Installs the EmbeddedRuntime (common/embedded.ts) inside the single executable. Embedded
 * files come from SEA assets (Node >= 20.12) or, on armv7's Node 20.11, from bytes inside
 * the bundle. The SQLite addon is written to a fresh private temp folder, dlopen'ed and
 * deleted at once (the mapping outlives the file on Linux): a crash never leaves it behind.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { build, files } from "tiercast:build";
import { installEmbeddedRuntime } from "../../common/embedded.js";
import { ADDON_NAME } from "./names.js";

/** One embedded file's bytes. */
function embeddedFile(name: string): Uint8Array {
  const inBundle = files[name];
  if (inBundle !== undefined) return inBundle;
  if (!build.seaAssets) throw new Error(`tiercast: ${name} is not embedded in this executable`);
  // Loaded lazily: node:sea does not exist in Node 20.11, and a top-level import would fail there.
  const sea = createRequire(process.execPath)("node:sea") as { getAsset(key: string): ArrayBuffer };
  return new Uint8Array(sea.getAsset(name));
}

function once<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}

function loadAddon(): object {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-addon-"));
  try {
    const file = join(dir, ADDON_NAME);
    writeFileSync(file, embeddedFile(ADDON_NAME), { mode: 0o500 });
    const m = { exports: {} };
    process.dlopen(m, file);
    return m.exports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function extractPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-files-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "tiercast", private: true }) + "\n");
  for (const name of build.packageFiles) {
    const dest = join(dir, name);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, embeddedFile(name));
  }
  return dir;
}

installEmbeddedRuntime({
  arch: build.arch,
  runtimeNote: build.runtimeNote,
  sqliteBinding: once(loadAddon),
  packageDir: once(extractPackage),
});
