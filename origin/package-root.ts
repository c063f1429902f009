/**
 * Where the package's own files are (the bundled sample clip). Kept in one small function on
 * purpose: the firmware build embeds the assets and replaces this lookup.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest folder at or above `from` that holds a package.json. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

/** The bundled sample clip's playlist (assets/sample/index.m3u8, made by scripts/make-sample.sh). */
export function samplePlaylistPath(): string {
  return join(packageRoot(), "assets", "sample", "index.m3u8");
}
