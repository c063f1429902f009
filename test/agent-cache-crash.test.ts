/**
 * The SQLite chunk store killed mid-write: a writer process commits segments in a loop and is
 * killed -9; every segment it reported committed is there with its bytes, and the file is sound.
 *
 * @heavy processes: the writer is a process of its own, so that kill -9 is a real one
 */
import test, { type ExecutionContext } from "ava";
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteChunkStore } from "../agent/store/cache.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-cache-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The writer run in a child process: commits segments in a loop, printing each id after its commit. */
const WRITER = `
import { createHash } from "node:crypto";
const { SqliteChunkStore } = await import(process.env.CACHE_MODULE);
const store = new SqliteChunkStore({ path: process.env.CACHE_PATH, capacityBytes: 1 << 30 });
let id = 0;
const step = () => {
  for (let i = 0; i < 5; i++) {
    id++;
    const bytes = Buffer.alloc(2048 + (id % 7) * 3000, id & 0xff);
    store.put({ channel: "demo", id, durationMs: 2000, discontinuity: id % 10 === 0, storedAt: Date.now(),
      sha256: createHash("sha256").update(bytes).digest(), bytes });
    process.stdout.write("committed " + id + "\\n");
  }
  if (id < 200000) setImmediate(step);
};
step();
`;

test("sqlite: kill -9 mid-run loses no committed segment and leaves a sound file", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "cache.db");
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", WRITER], {
    cwd: ROOT,
    env: { ...process.env, CACHE_PATH: path, CACHE_MODULE: join(ROOT, "agent", "store", "cache.ts") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? code)),
  );
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`writer did not commit 200 segments in time: ${err}`)),
      60_000,
    );
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if ((out.match(/committed/g) ?? []).length >= 200) {
        clearTimeout(timer);
        child.kill("SIGKILL");
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`writer exited (${code}) early: ${err}`)));
  });
  t.is(await exited, "SIGKILL");
  const ids = [...out.matchAll(/committed (\d+)\n/g)].map((m) => Number(m[1]));
  t.true(ids.length >= 200);

  const db = new Database(path);
  t.is(db.pragma("integrity_check", { simple: true }), "ok");
  db.close();
  const store = new SqliteChunkStore({ path, capacityBytes: 1 << 30 });
  t.teardown(() => store.close());
  const missing = ids.filter((id) => {
    const s = store.get("demo", id);
    return s === undefined || !createHash("sha256").update(s.bytes).digest().equals(s.sha256);
  });
  t.deepEqual(missing, [], "every printed id is there with its bytes");
  t.true(store.count("demo") >= ids.length);
});
