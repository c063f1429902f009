/**
 * What the .deb and .ipk builders share: the package version, a staging tree with fixed
 * modes and mtimes, reproducible tar.gz, and a cache of built packages keyed by a hash of
 * every input (compressing a 100 MB executable takes 10-50 s; a warm build copies it).
 *
 * Tar archives are written by GNU tar (always on Debian, dpkg needs it) rather than an npm
 * package: `--sort=name --mtime --owner=0 --group=0 --numeric-owner --format=gnu` gives the
 * same bytes for the same tree, which is all a packer needs, and adds no dependency.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { run, sha256, sha256File } from "./sh.js";

/** 2026-01-01T00:00:00Z, the initrd's epoch too; SOURCE_DATE_EPOCH overrides it. */
const DEFAULT_EPOCH = 1767225600;

export function sourceDateEpoch(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  if (s === undefined || s === "") return DEFAULT_EPOCH;
  if (!/^\d+$/.test(s)) throw new Error(`SOURCE_DATE_EPOCH must be seconds since 1970, got "${s}"`);
  return Number(s);
}

/** The version of package.json, e.g. 0.1.0. */
export function packageVersion(root: string): string {
  const v = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: unknown }).version;
  if (typeof v !== "string" || !/^\d+\.\d+\.\d+/.test(v)) throw new Error("package.json: no version");
  return v;
}

/** A package being assembled in a folder; every file gets an explicit mode. */
export class Staging {
  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  copy(src: string, dest: string, mode: number): void {
    const to = join(this.dir, dest);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(src, to);
    chmodSync(to, mode);
  }

  write(dest: string, text: string, mode: number): void {
    const to = join(this.dir, dest);
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, text);
    chmodSync(to, mode);
  }

  /** Directories 0755 and every mtime = epoch, so nothing of the build host leaks in. */
  normalize(epoch: number): void {
    const walk = (d: string): void => {
      chmodSync(d, 0o755);
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (lstatSync(p).isDirectory()) walk(p);
      }
    };
    walk(this.dir);
    run("find", [".", "-exec", "touch", "-h", "-d", `@${epoch}`, "{}", "+"], { cwd: this.dir });
  }

  /** Sum of the files' sizes in KiB (rounded up per file) plus one per folder: Installed-Size. */
  installedKiB(exclude: string): number {
    let kib = 0;
    const walk = (d: string): void => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (p === join(this.dir, exclude)) continue;
        const s = lstatSync(p);
        if (s.isDirectory()) {
          kib += 1;
          walk(p);
        } else kib += Math.ceil(s.size / 1024);
      }
    };
    walk(this.dir);
    return kib;
  }
}

/** `dir`'s contents (as ./path, sorted) as a tar.gz at `out`: same tree, same bytes. */
export function tarGz(dir: string, out: string, epoch: number, entries: string[] = ["."]): void {
  run("sh", [
    "-c",
    'dir=$1 out=$2 mtime=$3; shift 3; tar -C "$dir" --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner --format=gnu -cf - "$@" | gzip -n -9 > "$out"',
    "sh",
    dir,
    out,
    String(epoch),
    ...entries,
  ]);
}

export interface BuiltPackage {
  file: string;
  sha256: string;
  bytes: number;
  /** true: copied from firmware/cache/packages (same inputs as an earlier build). */
  cached: boolean;
}

/** Hash of everything a package is made from: files (by content, not path) and plain strings. */
export function inputKey(files: string[], strings: string[]): string {
  const parts = [...files.map((f) => sha256File(f)), ...strings];
  return sha256(Buffer.from(parts.join("\n"))).slice(0, 16);
}

/**
 * The package at `out`: copied from the cache when one was built from the same inputs
 * (`key`), else made by `make(tmpFile)` and cached (older builds of the same package are
 * dropped from the cache). `fresh` builds without reading or writing the cache (the test
 * uses it to check that a second build gives the same bytes).
 */
export function cachedBuild(
  cacheDir: string,
  out: string,
  key: string,
  fresh: boolean,
  make: (tmp: string) => void,
): BuiltPackage {
  const name = basename(out);
  const dir = join(cacheDir, "packages");
  const cached = join(dir, `${key}-${name}`);
  mkdirSync(dir, { recursive: true });
  mkdirSync(dirname(out), { recursive: true });
  const hit = !fresh && existsSync(cached);
  if (fresh) {
    make(`${out}.tmp`);
  } else {
    if (!hit) {
      make(`${cached}.tmp`);
      for (const f of readdirSync(dir)) if (f.endsWith(`-${name}`)) rmSync(join(dir, f));
      renameSync(`${cached}.tmp`, cached);
    }
    copyFileSync(cached, `${out}.tmp`);
  }
  renameSync(`${out}.tmp`, out);
  return { file: out, sha256: sha256File(out), bytes: statSync(out).size, cached: hit };
}
