/**
 * Where the package's own files are (package.json, bin/, assets/): the nearest folder at or above
 * a module that holds a package.json. From the sources and from dist/ alike the walk ends at the
 * package, because common/ sits at the same depth as the programs' folders. The single
 * executable has no such folder: the firmware build swaps the modules that call this
 * (origin/package-root.ts, cli/self.ts) for ones that ask the embedded runtime.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest folder at or above `from` (default: this module) that holds a package.json. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`tiercast: cannot find the package root (no package.json above ${from})`);
    dir = up;
  }
}
