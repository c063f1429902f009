/**
 * Where the package's own files are (package.json, bin/, assets/): the nearest folder at or above
 * a module that holds a package.json. From the sources and from dist/ alike the walk ends at the
 * package, because common/ sits at the same depth as the programs' folders. Inside the single
 * executable (firmware/) there is no such folder: the embedded runtime extracts the files it
 * carries into a folder laid out like the package, and that folder is the root.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { embeddedRuntime } from "./embedded.js";

/** The nearest folder at or above `from` (default: this module) that holds a package.json. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  const embedded = embeddedRuntime();
  if (embedded !== undefined) return embedded.packageDir();
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`tiercast: cannot find the package root (no package.json above ${from})`);
    dir = up;
  }
}
