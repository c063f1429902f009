/**
 * The chunk store contract, run against the SQLite store (temp file) and the memory store;
 * then what only the SQLite one promises: restart and schema versioning (kill -9 of a writer
 * process: agent-cache-crash.test.ts).
 */
import test, { type ExecutionContext } from "ava";
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHEMA_VERSION, SqliteChunkStore } from "../agent/store/cache.js";
import { MemoryChunkStore, type ChunkStore, type SegmentRecord } from "../agent/store/chunk-store.js";
import { CacheError } from "../agent/errors.js";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-cache-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function seg(id: number, size: number, opts: Partial<SegmentRecord> = {}): SegmentRecord {
  const bytes = Buffer.alloc(size, id & 0xff);
  return {
    channel: "demo",
    id,
    durationMs: 2000,
    discontinuity: false,
    sha256: createHash("sha256").update(bytes).digest(),
    bytes,
    storedAt: 1000 + id,
    ...opts,
  };
}

type Make = (t: ExecutionContext, capacity: number) => ChunkStore;

const STORES: Array<[string, Make]> = [
  [
    "sqlite",
    (t, capacity) => {
      const s = new SqliteChunkStore({ path: join(tempDir(t), "cache.db"), capacityBytes: capacity });
      t.teardown(() => s.close());
      return s;
    },
  ],
  ["memory", (_t, capacity) => new MemoryChunkStore(capacity)],
];

for (const [name, make] of STORES) {
  test(`${name}: put, get, has, list, count, newest`, (t) => {
    const s = make(t, 1 << 20);
    t.deepEqual(s.put(seg(2, 100, { discontinuity: true, durationMs: 1960 })), { stored: true, evicted: [] });
    s.put(seg(1, 50));
    s.put(seg(1, 70, { channel: "other" }));
    const got = s.get("demo", 2)!;
    t.true(Buffer.from(got.bytes).equals(Buffer.alloc(100, 2)));
    t.like(got, { channel: "demo", id: 2, durationMs: 1960, discontinuity: true, storedAt: 1002 });
    t.true(Buffer.from(got.sha256).equals(seg(2, 100).sha256));
    t.is(s.get("demo", 3), undefined);
    t.true(s.has("demo", 1));
    t.false(s.has("demo", 3));
    t.deepEqual(
      s.list("demo").map((i) => [i.id, i.size, i.discontinuity]),
      [
        [1, 50, false],
        [2, 100, true],
      ],
    );
    t.false("bytes" in s.list("demo")[0]!);
    t.is(s.count("demo"), 2);
    t.is(s.count("other"), 1);
    t.is(s.newest("demo"), 2);
    t.is(s.newest("none"), undefined);
    t.is(s.usedBytes, 220);
  });

  test(`${name}: same hash is a no-op, a different hash replaces`, (t) => {
    const s = make(t, 1 << 20);
    s.put(seg(5, 100));
    t.deepEqual(s.put(seg(5, 100, { storedAt: 9999 })), { stored: false, evicted: [] });
    t.is(s.get("demo", 5)!.storedAt, 1005);
    t.deepEqual(s.put(seg(5, 40, { sha256: new Uint8Array(32).fill(1) })), { stored: true, evicted: [] });
    t.is(s.get("demo", 5)!.bytes.length, 40);
    t.is(s.usedBytes, 40);
    t.is(s.count("demo"), 1);
  });

  test(`${name}: bounded by capacity, oldest first (storedAt, then insertion), across channels`, (t) => {
    const s = make(t, 1000);
    s.put(seg(1, 300, { storedAt: 10 }));
    s.put(seg(2, 300, { storedAt: 5, channel: "other" }));
    s.put(seg(3, 300, { storedAt: 10 }));
    const r = s.put(seg(4, 500, { storedAt: 20 }));
    t.deepEqual(r, {
      stored: true,
      evicted: [
        { channel: "other", id: 2 },
        { channel: "demo", id: 1 },
      ],
    });
    t.is(s.usedBytes, 800);
    t.deepEqual(
      s.list("demo").map((i) => i.id),
      [3, 4],
    );
    t.true(s.usedBytes <= s.capacityBytes);
  });

  test(`${name}: a segment larger than the cache is refused`, (t) => {
    const s = make(t, 100);
    s.put(seg(1, 60));
    const e = t.throws(() => s.put(seg(2, 101)), { instanceOf: CacheError });
    t.is(e?.code, "E_SEGMENT_TOO_LARGE");
    t.true(s.has("demo", 1), "nothing was evicted for it");
  });
}

test("sqlite: WAL, survives close and reopen with its byte count", (t) => {
  const path = join(tempDir(t), "cache.db");
  const a = new SqliteChunkStore({ path, capacityBytes: 1 << 20 });
  a.put(seg(1, 100));
  a.put(seg(2, 200));
  a.close();
  const b = new SqliteChunkStore({ path, capacityBytes: 1 << 20 });
  t.teardown(() => b.close());
  t.is(b.usedBytes, 300);
  t.deepEqual(
    b.list("demo").map((i) => i.id),
    [1, 2],
  );
  const db = new Database(path, { readonly: true });
  t.is(db.pragma("journal_mode", { simple: true }), "wal");
  t.is(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  db.close();
});

test("sqlite: a cache from a newer schema is refused with E_CACHE_SCHEMA", (t) => {
  const path = join(tempDir(t), "cache.db");
  const db = new Database(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  const e = t.throws(() => new SqliteChunkStore({ path, capacityBytes: 1000 }), { instanceOf: CacheError });
  t.is(e?.code, "E_CACHE_SCHEMA");
});

test("sqlite: an unreadable file is moved aside and a fresh cache started", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "cache.db");
  writeFileSync(path, Buffer.alloc(8192, 0x5a));
  const resets: string[] = [];
  const s = SqliteChunkStore.open({ path, capacityBytes: 1000 }, (movedTo) => resets.push(movedTo));
  t.teardown(() => s.close());
  t.is(resets.length, 1);
  t.true(existsSync(resets[0]!));
  t.is(s.count("demo"), 0);
  s.put(seg(1, 10));
  t.true(s.has("demo", 1));
});
