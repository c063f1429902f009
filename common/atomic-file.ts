/**
 * Writing a small file so that a crash or power cut leaves either the old or the new content,
 * never half of it: a temp file next to it, then a rename over it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface AtomicWriteOptions {
  /** Permissions of a new file (default 0o644). */
  mode?: number;
  /**
   * fsync the file before the rename and the folder after it (default true), so the new content
   * survives a power cut. false keeps the write off the disk's critical path (a file rewritten
   * often, where losing the last few writes is acceptable); the rename is atomic either way.
   */
  fsync?: boolean;
}

/** Writes `path` (making its folder if needed) so that a crash leaves either the old or the new content. */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const { mode = 0o644, fsync = true } = options;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (!fsync) return;
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    closeSync(dir);
  }
}
