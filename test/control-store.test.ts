import test from "ava";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryNodeStore } from "../control/memory-store.js";
import { SCHEMA_VERSION, SqliteNodeStore, StoreSchemaError, type NodeStore } from "../control/store.js";

const key = (b: number) => new Uint8Array(32).fill(b);

// One contract suite, run against both NodeStore implementations.
const stores: Array<[string, () => NodeStore]> = [
  ["sqlite", () => new SqliteNodeStore(":memory:")],
  ["memory", () => new MemoryNodeStore()],
];

for (const [name, make] of stores) {
  test(`${name}: identity keys map to stable compact ids from 1`, (t) => {
    const s = make();
    t.is(s.nodeIdForKey(key(1), 1000), 1);
    t.is(s.nodeIdForKey(key(2), 1001), 2);
    t.is(s.nodeIdForKey(key(1), 1002), 1);
    s.close();
  });

  test(`${name}: nodeForKey tells a key new at this ms from one seen before`, (t) => {
    const s = make();
    t.deepEqual(s.nodeForKey(key(1), 1000), { id: 1, fresh: true });
    t.deepEqual(s.nodeForKey(key(1), 1000), { id: 1, fresh: true }, "written in the same ms: still no past");
    t.deepEqual(s.nodeForKey(key(1), 1001), { id: 1, fresh: false });
    t.is(s.nodeIdForKey(key(2), 1002), 2);
    t.deepEqual(s.nodeForKey(key(2), 1003), { id: 2, fresh: false });
    s.close();
  });

  test(`${name}: channel names map to stable ids`, (t) => {
    const s = make();
    t.is(s.channelIdForName("news"), 1);
    t.is(s.channelIdForName("sport"), 2);
    t.is(s.channelIdForName("news"), 1);
    t.deepEqual(s.channels(), [
      { id: 1, name: "news" },
      { id: 2, name: "sport" },
    ]);
    s.close();
  });

  test(`${name}: sessions record joins and how they ended`, (t) => {
    const s = make();
    const node = s.nodeIdForKey(key(1), 0);
    const base = { node, role: "agent", region: "east", channel: "news", address: "127.0.1.3", port: 4000 };
    const a = s.openSession({ ...base, joinedAt: 1000 });
    s.closeSession(a, {
      endedAt: 4000,
      reason: "lost",
      heartbeats: 3,
      heartbeatBytes: 300,
      uploadBytes: 1234.4,
    });
    s.closeSession(a, { endedAt: 9000, reason: "left", heartbeats: 9, heartbeatBytes: 900, uploadBytes: 0 }); // already closed
    const b = s.openSession({ ...base, joinedAt: 5000 });
    t.is(s.closeOpenSessions(7000, "control_restart"), 1);
    const rows = s.sessions(node, 10);
    t.deepEqual(
      rows.map((r) => [r.id, r.joinedAt, r.endedAt, r.reason, r.uptimeMs, r.heartbeats, r.uploadBytes]),
      [
        [b, 5000, 7000, "control_restart", 2000, 0, 0],
        [a, 1000, 4000, "lost", 3000, 3, 1234],
      ],
    );
    t.is(rows[1]!.region, "east");
    t.is(s.sessions(node, 1).length, 1);
    t.deepEqual(s.sessions(99, 10), []);
    // history: the same sessions in the same order, only what a verdict reads.
    t.deepEqual(
      s.history(node, 10),
      rows.map((r) => ({
        endedAt: r.endedAt,
        reason: r.reason,
        uptimeMs: r.uptimeMs,
        heartbeats: r.heartbeats,
      })),
    );
    t.is(s.history(node, 1).length, 1);
    t.deepEqual(s.history(99, 10), []);
    s.close();
  });
}

test("sqlite: ids survive a reopen; schema version and WAL are set", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-store-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const a = new SqliteNodeStore(file);
  a.nodeIdForKey(key(1), 0);
  a.nodeIdForKey(key(2), 0);
  a.channelIdForName("news");
  a.close();
  const b = new SqliteNodeStore(file);
  t.is(b.nodeIdForKey(key(2), 0), 2);
  t.is(b.nodeIdForKey(key(3), 0), 3);
  t.is(b.channelIdForName("news"), 1);
  b.close();
  const raw = new Database(file);
  t.is(raw.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  t.is(raw.pragma("journal_mode", { simple: true }), "wal");
  const indexes = raw
    .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    .pluck()
    .all();
  t.deepEqual(indexes.sort(), [
    "channel_id_by_name",
    "node_id_by_key",
    "open_sessions",
    "sessions_of_node_newest",
  ]);
  raw.close();
});

test("sqlite: a database from a newer program is refused", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-store-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  t.throws(() => new SqliteNodeStore(file), { instanceOf: StoreSchemaError });
});

test("sqlite: one task's writes share a commit, seen by another connection when the task ends; a revocation at once", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-store-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const s = new SqliteNodeStore(file);
  const other = new Database(file, { readonly: true });
  const count = (table: string): number =>
    other.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
  const node = s.nodeIdForKey(key(1), 0);
  s.openSession({
    node,
    role: "agent",
    region: "east",
    channel: "news",
    address: "127.0.1.3",
    port: 1,
    joinedAt: 0,
  });
  t.is(s.sessions(node, 5).length, 1, "the writing connection reads its own batch");
  t.is(count("nodes"), 0, "not committed while the task runs");
  await Promise.resolve();
  t.is(count("nodes"), 1, "committed when the task's synchronous run ended");
  t.is(count("sessions"), 1);
  s.nodeIdForKey(key(2), 0);
  s.revokeKey(key(3), 1, "stolen");
  t.is(count("revoked_keys"), 1, "a revocation is committed at once");
  t.is(count("nodes"), 2, "with the batch before it");
  s.nodeIdForKey(key(4), 0);
  s.close();
  t.is(count("nodes"), 3, "close commits the open batch");
  other.close();
});
