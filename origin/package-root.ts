/**
 * Where the package's own files are (the bundled sample clip). Inside the single executable
 * the package root is the folder the embedded runtime extracts its files into.
 */
import { join } from "node:path";
import { packageRoot } from "../common/package-root.js";

export { packageRoot };

/** The bundled sample clip's playlist (assets/sample/index.m3u8, made by scripts/make-sample.sh). */
export function samplePlaylistPath(): string {
  return join(packageRoot(), "assets", "sample", "index.m3u8");
}
