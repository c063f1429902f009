/**
 * `npm run firmware -- --arch arm64|armv7|x64 [--no-image] [--deb] [--ipk]`
 *
 * Builds, offline from the npm registry and Debian's packages only:
 *   images/out/<arch>/tiercast        one executable (Node SEA) with agent, control, origin
 *                                     and the better-sqlite3 addon for that architecture;
 *   images/out/<arch>/tiercast.sha256 its hash (a rebuild from the same inputs is identical);
 *   images/out/<arch>/manifest.json   what went in (runtime, addon);
 * with --deb: tiercast_<version>_<debarch>.deb (systemd service; firmware/lib/deb.ts);
 * with --ipk: tiercast_<version>_<openwrt-arch>.ipk (procd, own glibc; firmware/lib/ipk.ts).
 * Downloads and compiled addons are kept in firmware/cache/ (git-ignored): a warm build
 * takes seconds.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { sqliteAddon } from "./lib/addon.js";
import { bundleCli } from "./lib/bundle.js";
import { buildDeb } from "./lib/deb.js";
import { buildIpk } from "./lib/ipk.js";
import { npmPackage } from "./lib/fetch.js";
import { bootable, buildBootImage } from "./lib/image.js";
import { makeExecutable } from "./lib/sea.js";
import { log, run, sha256, sha256File, step } from "./lib/sh.js";
import { lock } from "./lib/lock.js";
import { BETTER_SQLITE3, emulated, parseArch, TARGETS, type Target } from "./lib/targets.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, "firmware", "cache");

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: "string" },
      "no-image": { type: "boolean", default: false },
      deb: { type: "boolean", default: false },
      ipk: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write("Usage: npm run firmware -- --arch arm64|armv7|x64 [--no-image] [--deb] [--ipk]\n");
    return;
  }
  const t = TARGETS[parseArch(values.arch)];
  const out = join(ROOT, "images", "out", t.arch);
  const exe = join(out, "tiercast");
  const t0 = performance.now();
  mkdirSync(CACHE, { recursive: true });
  const unlock = lock(join(CACHE, `${t.arch}.lock`));
  try {
    await buildArch(t, values["no-image"], out, exe, t0, { deb: values.deb, ipk: values.ipk });
  } finally {
    unlock();
  }
}

async function buildArch(
  t: Target,
  noImage: boolean,
  out: string,
  exe: string,
  t0: number,
  packages: { deb: boolean; ipk: boolean },
): Promise<void> {
  const nodeDir = step(`node ${t.nodeVersion} for ${t.arch}`, () =>
    npmPackage(CACHE, t.nodePackage, t.nodeVersion, t.nodeIntegrity),
  );
  const addon = step(`better-sqlite3 ${BETTER_SQLITE3.version} addon`, () => sqliteAddon(CACHE, t, nodeDir));
  const t1 = performance.now();
  const bundle = await bundleCli(t, ROOT, addon);
  log(
    `bundle ${(bundle.code.length / 1024).toFixed(0)} KiB (${((performance.now() - t1) / 1000).toFixed(1)} s)`,
  );
  step("single executable", () =>
    makeExecutable(t, join(nodeDir, "bin", "node"), bundle, join(CACHE, "work", t.arch), exe),
  );

  const hash = sha256File(exe);
  const hashFile = `${exe}.sha256`;
  const previous = existsSync(hashFile) ? readFileSync(hashFile, "utf8").split(" ")[0] : undefined;
  writeFileSync(hashFile, `${hash}  tiercast\n`);
  mkdirSync(out, { recursive: true });
  const manifest: Record<string, unknown> = {
    arch: t.arch,
    node: t.nodeVersion,
    runtimeNote: t.runtimeNote ?? null,
    betterSqlite3: BETTER_SQLITE3.version,
    addonSha256: sha256File(addon),
    bundleSha256: sha256(bundle.code),
    sha256: hash,
    bytes: statSync(exe).size,
  };
  writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const same =
    previous === undefined
      ? "first build here"
      : previous === hash
        ? "identical to the previous build"
        : "DIFFERS from the previous build";
  log(`${exe}: ${(statSync(exe).size / 1e6).toFixed(1)} MB, sha256 ${hash} (${same})`);

  const v = emulated(t, exe, ["--version"]);
  const versionText = step("tiercast --version", () =>
    run(v.command, v.args, { env: { PATH: process.env.PATH } }),
  ).trim();
  log(`  ${versionText}`);
  if (!noImage && bootable(t)) {
    const img = step(`boot image (${t.arch})`, () =>
      buildBootImage(t, {
        cacheDir: CACHE,
        rootfsSrc: join(ROOT, "firmware", "rootfs"),
        exe,
        addon,
        versionText,
        outDir: out,
      }),
    );
    const kb = (f: string): string => `${(statSync(f).size / 1e6).toFixed(1)} MB`;
    log(`${img.kernel}: ${kb(img.kernel)} (${img.kernelPackage})`);
    log(`${img.initrd}: ${kb(img.initrd)}, sha256 ${sha256File(img.initrd)}`);
    manifest.image = {
      kernelPackage: img.kernelPackage,
      busybox: img.busyboxPackage ?? null,
      initrdSha256: sha256File(img.initrd),
    };
    writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  }
  const built: Record<string, unknown> = {};
  for (const [kind, wanted, make] of [
    ["deb", packages.deb, buildDeb],
    ["ipk", packages.ipk, buildIpk],
  ] as const) {
    if (!wanted) continue;
    const p = step(`.${kind} package`, () =>
      make(t, { root: ROOT, cacheDir: CACHE, exe, addon, outDir: out }),
    );
    log(
      `${p.file}: ${(p.bytes / 1e6).toFixed(1)} MB, sha256 ${p.sha256}${p.cached ? " (inputs unchanged: from firmware/cache/packages)" : ""}`,
    );
    built[kind] = { file: basename(p.file), sha256: p.sha256, bytes: p.bytes };
  }
  if (Object.keys(built).length > 0) {
    manifest.packages = built;
    writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  }
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`firmware: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
