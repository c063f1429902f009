/**
 * Downloads through the npm registry's own client (npm pack) into the build cache, checks
 * the tarball against a pinned sha512, and unpacks it once. Every cache entry is written
 * to a temporary name and renamed into place, so an interrupted build never leaves a
 * half-filled entry that a later build would trust.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BuildError, log, run } from "./sh.js";

function sri512(path: string): string {
  return "sha512-" + createHash("sha512").update(readFileSync(path)).digest("base64");
}

/** The package's tarball in `cacheDir`/npm, fetched if missing; integrity always checked. */
export function npmTarball(cacheDir: string, name: string, version: string, integrity: string): string {
  const dir = join(cacheDir, "npm");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${version}.tgz`);
  if (!existsSync(file)) {
    log(`npm pack ${name}@${version}`);
    const tmp = join(dir, `.tmp-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    // Not the package's own scripts: npm pack of a registry package runs none.
    run("npm", ["pack", `${name}@${version}`, "--pack-destination", tmp, "--silent"], { cwd: tmp });
    renameSync(join(tmp, `${name}-${version}.tgz`), file);
    rmSync(tmp, { recursive: true, force: true });
  }
  const got = sri512(file);
  if (got !== integrity) {
    throw new BuildError(
      `${file}: integrity ${got} does not match the pinned ${integrity}; delete it to refetch`,
    );
  }
  return file;
}

/** The tarball unpacked under `cacheDir`/unpacked/<name>-<version>/package. */
export function npmPackage(cacheDir: string, name: string, version: string, integrity: string): string {
  const dest = join(cacheDir, "unpacked", `${name}-${version}`);
  if (!existsSync(dest)) {
    const tgz = npmTarball(cacheDir, name, version, integrity);
    const tmp = `${dest}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    run("tar", ["xzf", tgz, "-C", tmp]);
    try {
      renameSync(tmp, dest);
    } catch (e) {
      // Another build unpacked the same package meanwhile: theirs is as good as ours.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(dest)) throw e;
    }
  }
  return join(dest, "package");
}
