/**
 * What a dynamically linked program needs at run time: its interpreter and the closure of
 * its DT_NEEDED libraries, resolved in the target's sysroot (the cross toolchain's copy of
 * Debian's glibc, libstdc++ and libgcc_s). Read with the target's readelf.
 */
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { run } from "./sh.js";
import { tool, type Target } from "./targets.js";

export interface RuntimeLibs {
  /** Program interpreter as the executable names it, e.g. /lib/ld-linux-aarch64.so.1. */
  interpreter: string;
  /** soname -> real file in the sysroot. */
  libs: Map<string, string>;
}

function libDirs(t: Target): string[] {
  if (t.triple === undefined) return ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64"];
  return [join(t.sysroot, "lib")];
}

function readElf(t: Target, file: string, flag: string): string {
  return run(tool(t, "readelf"), [flag, "-W", file]);
}

export function runtimeLibs(t: Target, files: string[]): RuntimeLibs {
  const phdrs = readElf(t, files[0] ?? "", "-l");
  const m = /Requesting program interpreter: ([^\]]+)\]/.exec(phdrs);
  if (m?.[1] === undefined) throw new Error(`${files[0]}: no program interpreter`);
  const libs = new Map<string, string>();
  const queue = [...files];
  while (queue.length > 0) {
    const f = queue.shift() as string;
    for (const line of readElf(t, f, "-d").split("\n")) {
      const n = /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/.exec(line)?.[1];
      if (n === undefined || libs.has(n)) continue;
      const dir = libDirs(t).find((d) => existsSync(join(d, n)));
      if (dir === undefined) throw new Error(`${f} needs ${n}, not found in ${libDirs(t).join(", ")}`);
      const real = realpathSync(join(dir, n));
      libs.set(n, real);
      queue.push(real);
    }
  }
  return { interpreter: m[1], libs };
}
