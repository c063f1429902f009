/**
 * better-sqlite3's native addon, built for the target against the headers of the exact Node
 * it will run in (node-gyp with --nodedir: nothing is downloaded), then stripped. The result
 * is cached per (arch, Node version, better-sqlite3 version).
 *
 * Trap: npm exports npm_config_nodedir (this machine's npm config says nodedir=/usr, the
 * host's x64 headers) to anything started through npm scripts or npx, and node-gyp lets it
 * override --nodedir: the build would silently use the wrong headers. Every npm_config_*
 * variable is removed from the compiler's environment.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { npmPackage } from "./fetch.js";
import { BuildError, log, run } from "./sh.js";
import { BETTER_SQLITE3, tool, type Target } from "./targets.js";

/** node-gyp as shipped inside npm (the registry copy would need its own dependencies installed). */
export function nodeGypScript(): string {
  const candidates = [
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp"),
  ];
  try {
    candidates.push(join(run("npm", ["root", "-g"]).trim(), "npm", "node_modules", "node-gyp"));
  } catch {
    // npm root failing leaves only the first guess.
  }
  for (const dir of candidates) {
    const script = join(dir, "bin", "node-gyp.js");
    if (existsSync(script)) return script;
  }
  throw new BuildError(`node-gyp not found (looked in ${candidates.join(", ")}); it ships with npm`);
}

function cleanEnv(t: Target): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_config_/i.test(k)) env[k] = v;
  if (t.triple !== undefined) {
    env.CC = tool(t, "gcc");
    env.CXX = tool(t, "g++");
    env.LINK = tool(t, "g++");
    env.AR = tool(t, "ar");
  }
  return env;
}

/** Path of the stripped addon for `t` in the cache, built if missing (about 40 s per arch). */
export function sqliteAddon(cacheDir: string, t: Target, nodeDir: string): string {
  const key = `${t.arch}-node${t.nodeVersion}-better-sqlite3-${BETTER_SQLITE3.version}`;
  const out = join(cacheDir, "addon", key, "better_sqlite3.node");
  if (existsSync(out)) return out;
  const src = npmPackage(cacheDir, "better-sqlite3", BETTER_SQLITE3.version, BETTER_SQLITE3.integrity);
  // Always the same build directory: paths end up in the object files, and a stable path
  // keeps the addon (and so the executable) byte-identical from one cold build to the next.
  const work = join(cacheDir, "build", key);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(dirname(work), { recursive: true });
  cpSync(src, work, { recursive: true });
  log(
    `building better-sqlite3 ${BETTER_SQLITE3.version} for ${t.arch} against node ${t.nodeVersion} headers`,
  );
  run(
    process.execPath,
    [nodeGypScript(), "rebuild", "--release", `--arch=${t.gypArch}`, `--nodedir=${nodeDir}`, "-j", "2"],
    { cwd: work, env: cleanEnv(t) },
  );
  const built = join(work, "build", "Release", "better_sqlite3.node");
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  run(tool(t, "strip"), ["--strip-unneeded", "-o", tmp, built]);
  renameSync(tmp, out);
  copyFileSync(join(work, "LICENSE"), join(dirname(out), "LICENSE"));
  rmSync(work, { recursive: true, force: true });
  return out;
}
