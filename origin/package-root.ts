/**
 * Where the package's own files are (the bundled sample clip). Kept in one small module on
 * purpose: the firmware build embeds the assets and replaces this lookup (its override mirrors
 * these exports, packageRoot included).
 */
import { join } from "node:path";
import { packageRoot } from "../common/package-root.js";

export { packageRoot };

/** The bundled sample clip's playlist (assets/sample/index.m3u8, made by scripts/make-sample.sh). */
export function samplePlaylistPath(): string {
  return join(packageRoot(), "assets", "sample", "index.m3u8");
}
