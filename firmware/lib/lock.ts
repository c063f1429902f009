/**
 * One build per architecture at a time (the work folders are per architecture): a lock
 * file holding the builder's pid, taken over when that process is gone.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { log } from "./sh.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const pause = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Takes the lock at `path` (waiting up to `waitMs`), returns the function that releases it. */
export function lock(path: string, waitMs = 30 * 60_000): () => void {
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, "utf8"));
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isInteger(holder) || !alive(holder)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${path}: still held by pid ${holder}`);
    if (!told) log(`waiting for the build in process ${holder} (${path})`);
    told = true;
    pause(500);
  }
}
