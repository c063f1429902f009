/**
 * The chunk cache on disk (better-sqlite3): one table of verified segments, bounded by
 * capacityBytes with oldest-first eviction inside the insert's transaction.
 *
 * Durability: WAL + synchronous=NORMAL. A transaction that has returned is in the WAL (the
 * OS page cache at least), so it survives the process being killed (kill -9, OOM killer);
 * after a power cut the last few transactions may be lost but the file stays consistent.
 * Callers log "segment_committed" only after `put` returns, so a logged segment is there
 * after a restart. Every statement is prepared once, in the constructor.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import {
  tooLarge,
  type ChunkStore,
  type PutResult,
  type SegmentInfo,
  type SegmentKey,
  type SegmentRecord,
} from "./chunk-store.js";
import { CacheError } from "../errors.js";

export interface SqliteChunkStoreConfig {
  /** File path, or ":memory:". */
  path: string;
  capacityBytes: number;
}

/** Schema migrations; index i takes user_version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE segments (
     channel       TEXT    NOT NULL,
     id            INTEGER NOT NULL,
     duration_ms   INTEGER NOT NULL,
     discontinuity INTEGER NOT NULL,
     sha256        BLOB    NOT NULL,
     size          INTEGER NOT NULL,
     bytes         BLOB    NOT NULL,
     stored_at     INTEGER NOT NULL,
     PRIMARY KEY (channel, id)
   );
   -- eviction: ORDER BY stored_at, rowid
   CREATE INDEX segments_by_age ON segments (stored_at);`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

interface InfoRow {
  channel: string;
  id: number;
  duration_ms: number;
  discontinuity: number;
  sha256: Buffer;
  size: number;
  stored_at: number;
}

interface Row extends InfoRow {
  bytes: Buffer;
}

export class SqliteChunkStore implements ChunkStore {
  readonly capacityBytes: number;
  readonly #db: Database.Database;
  #used: number;
  readonly #stmt: {
    get: Database.Statement<[string, number], Row>;
    has: Database.Statement<[string, number], { one: number }>;
    existing: Database.Statement<[string, number], { sha256: Buffer; size: number }>;
    delete: Database.Statement<[string, number]>;
    insert: Database.Statement<[string, number, number, number, Buffer, number, Buffer, number]>;
    oldest: Database.Statement<[], { channel: string; id: number; size: number }>;
    list: Database.Statement<[string], InfoRow>;
    count: Database.Statement<[string], { n: number }>;
    newest: Database.Statement<[string], { id: number | null }>;
  };
  readonly #put: (seg: SegmentRecord) => PutResult;

  constructor(config: SqliteChunkStoreConfig) {
    this.capacityBytes = config.capacityBytes;
    if (config.path !== ":memory:") mkdirSync(dirname(config.path), { recursive: true });
    const db = new Database(config.path);
    this.#db = db;
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      migrate(db, config.path);
    } catch (e) {
      db.close();
      throw e;
    }
    this.#stmt = {
      get: db.prepare("SELECT * FROM segments WHERE channel = ? AND id = ?"),
      has: db.prepare("SELECT 1 AS one FROM segments WHERE channel = ? AND id = ?"),
      existing: db.prepare("SELECT sha256, size FROM segments WHERE channel = ? AND id = ?"),
      delete: db.prepare("DELETE FROM segments WHERE channel = ? AND id = ?"),
      insert: db.prepare(
        `INSERT INTO segments (channel, id, duration_ms, discontinuity, sha256, size, bytes, stored_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      oldest: db.prepare("SELECT channel, id, size FROM segments ORDER BY stored_at, rowid LIMIT 1"),
      list: db.prepare(
        `SELECT channel, id, duration_ms, discontinuity, sha256, size, stored_at
         FROM segments WHERE channel = ? ORDER BY id`,
      ),
      count: db.prepare("SELECT count(*) AS n FROM segments WHERE channel = ?"),
      newest: db.prepare("SELECT max(id) AS id FROM segments WHERE channel = ?"),
    };
    this.#used = (db.prepare("SELECT total(size) AS n FROM segments").get() as { n: number }).n;
    this.#put = db.transaction((seg: SegmentRecord) => this.#putTx(seg));
  }

  /**
   * Opens the cache; a file SQLite cannot read at all (bad flash, a foreign file) is moved aside
   * to <path>.corrupt-<time> and a fresh cache started: a router must come back up by itself.
   * A cache of a newer schema is not "corrupt" and still throws E_CACHE_SCHEMA.
   */
  static open(
    config: SqliteChunkStoreConfig,
    onReset: (movedTo: string, why: string) => void,
  ): SqliteChunkStore {
    try {
      return new SqliteChunkStore(config);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (config.path === ":memory:" || (code !== "SQLITE_CORRUPT" && code !== "SQLITE_NOTADB")) throw e;
      const movedTo = `${config.path}.corrupt-${Date.now()}`;
      renameSync(config.path, movedTo);
      for (const side of ["-wal", "-shm"]) {
        if (existsSync(config.path + side)) renameSync(config.path + side, movedTo + side);
      }
      onReset(movedTo, (e as Error).message);
      return new SqliteChunkStore(config);
    }
  }

  get usedBytes(): number {
    return this.#used;
  }

  put(seg: SegmentRecord): PutResult {
    if (seg.bytes.length > this.capacityBytes) throw tooLarge(seg, this.capacityBytes);
    const before = this.#used;
    try {
      return this.#put(seg);
    } catch (e) {
      this.#used = before; // the transaction rolled back
      throw e;
    }
  }

  get(channel: string, id: number): SegmentRecord | undefined {
    const r = this.#stmt.get.get(channel, id);
    return r === undefined ? undefined : { ...toInfo(r), bytes: r.bytes };
  }

  has(channel: string, id: number): boolean {
    return this.#stmt.has.get(channel, id) !== undefined;
  }

  list(channel: string): SegmentInfo[] {
    return this.#stmt.list.all(channel).map(toInfo);
  }

  count(channel: string): number {
    return this.#stmt.count.get(channel)?.n ?? 0;
  }

  newest(channel: string): number | undefined {
    return this.#stmt.newest.get(channel)?.id ?? undefined;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #putTx(seg: SegmentRecord): PutResult {
    const s = this.#stmt;
    const old = s.existing.get(seg.channel, seg.id);
    if (old !== undefined) {
      if (old.sha256.equals(seg.sha256)) return { stored: false, evicted: [] };
      s.delete.run(seg.channel, seg.id);
      this.#used -= old.size;
    }
    const evicted: SegmentKey[] = [];
    while (this.#used + seg.bytes.length > this.capacityBytes) {
      const o = s.oldest.get();
      if (o === undefined) break;
      s.delete.run(o.channel, o.id);
      this.#used -= o.size;
      evicted.push({ channel: o.channel, id: o.id });
    }
    s.insert.run(
      seg.channel,
      seg.id,
      Math.round(seg.durationMs),
      seg.discontinuity ? 1 : 0,
      Buffer.from(seg.sha256),
      seg.bytes.length,
      Buffer.from(seg.bytes.buffer, seg.bytes.byteOffset, seg.bytes.byteLength),
      Math.round(seg.storedAt),
    );
    this.#used += seg.bytes.length;
    return { stored: true, evicted };
  }
}

function migrate(db: Database.Database, path: string): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new CacheError(
      "E_CACHE_SCHEMA",
      `cache ${path} has schema version ${version}; this program knows up to ${SCHEMA_VERSION} (delete the file to start over)`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function toInfo(r: InfoRow): SegmentInfo {
  return {
    channel: r.channel,
    id: r.id,
    durationMs: r.duration_ms,
    discontinuity: r.discontinuity !== 0,
    sha256: new Uint8Array(r.sha256),
    size: r.size,
    storedAt: r.stored_at,
  };
}
