/**
 * What the control center keeps across restarts: node identities (key -> stable compact
 * id), channels (name -> compact u32 id) and node history (one row per session). The
 * SQLite store is the real one; memory-store.ts implements the same NodeStore for the
 * simulator, and one contract test suite runs against both.
 *
 * Group commit (issue 13: a JOIN writes two rows, and a commit per write cost more than the
 * writes). The first write of an event-loop task opens a transaction (BEGIN IMMEDIATE) and a
 * microtask commits it when the task's synchronous run ends: the writes and reads of one
 * admission slice (up to 64 JOINs) share one commit. What that changes: another connection (the
 * main process, another DCM worker) sees a task's writes when the task ends, not at once; a
 * crash loses at most the current task's writes (with synchronous = NORMAL a power cut could
 * already lose recent commits). A revocation is committed at once (the worker that ends the
 * key's sessions must find it). A commit that fails (a disk error) is rethrown by the next call.
 */
import Database from "better-sqlite3";

export type SessionEndReason =
  | "left"
  | "lost"
  | "control_stop"
  | "control_restart"
  /** The node's DCM failed over: it resumed at another server, which opened a new session. */
  | "control_failover"
  | "revoked";

export interface SessionStart {
  node: number;
  /** "agent" | "waypoint" | "origin". */
  role: string;
  region: string;
  /** Channel name (an origin's first offered channel). */
  channel: string;
  address: string;
  port: number;
  joinedAt: number;
}

export interface SessionSummary {
  endedAt: number;
  reason: SessionEndReason;
  heartbeats: number;
  heartbeatBytes: number;
  /** Bytes the node reported uploading (measured upload x heartbeat interval, summed). */
  uploadBytes: number;
}

/** The fields of a session a verdict on its node reads (SessionRow's). */
export type SessionHistory = Pick<SessionRow, "endedAt" | "reason" | "uptimeMs" | "heartbeats">;

export interface SessionRow extends SessionStart {
  id: number;
  endedAt: number | null;
  reason: SessionEndReason | null;
  uptimeMs: number | null;
  heartbeats: number;
  heartbeatBytes: number;
  uploadBytes: number;
}

export interface NodeStore extends TrustStore {
  /** The stable compact id (>= 1) of an identity key; a new key gets the next id. */
  nodeIdForKey(key: Uint8Array, now: number): number;
  /**
   * nodeIdForKey, and whether the key is new: its row was written at `now` (by this call or by
   * another in the same ms), so it has no session that ended before `now` (a JOIN skips reading
   * its history).
   */
  nodeForKey(key: Uint8Array, now: number): { id: number; fresh: boolean };
  /**
   * Records that `key` has id `id` (a session resumed from a ticket another server issued:
   * docs/resilience.md). True when the store now maps the key to that id; false when the id or
   * the key is already taken otherwise (the node must then JOIN afresh and get this store's id).
   */
  adoptNodeId(id: number, key: Uint8Array, now: number): boolean;
  /**
   * New keys get ids from block `block` from now on ([block x 2^20 + 1, (block + 1) x 2^20]): the
   * servers of several machines, each with its own store, then never give one id to two keys.
   */
  useIdBlock(block: number): void;
  /**
   * Records a channel's id from the deployment's content directory (etcd); false when this
   * store already has the name or the id otherwise.
   */
  adoptChannelId(name: string, id: number): boolean;
  /** The stable compact id (>= 1, u32) of a channel name; a new name gets the next id. */
  channelIdForName(name: string): number;
  channels(): Array<{ id: number; name: string }>;
  /** Records a session start; returns the session id. */
  openSession(s: SessionStart): number;
  closeSession(id: number, summary: SessionSummary): void;
  /** Closes sessions left open by a previous run (it stopped without closing them); returns how many. */
  closeOpenSessions(at: number, reason: SessionEndReason): number;
  /** Closes one node's open sessions (it resumed elsewhere: control_failover); returns how many. */
  closeNodeSessions(node: number, at: number, reason: SessionEndReason): number;
  /** A node's sessions, newest first. */
  sessions(node: number, limit: number): SessionRow[];
  /**
   * What a verdict on a node needs of its newest sessions (probation, eligibility), newest
   * first: sessions() without the rest of the row, read on every JOIN.
   */
  history(node: number, limit: number): SessionHistory[];
  close(): void;
}

/** An operator-issued enrolment token as stored: only its SHA-256, never the token. */
export interface EnrolmentTokenRow {
  /** SHA-256 of the token, hex. */
  hash: string;
  /** Roles it admits ("agent", "waypoint", "origin"). */
  roles: string[];
  /** New keys it may still enrol. */
  uses: number;
  createdAt: number;
  note: string;
}

/** What the trust layer keeps (control/trust/): enrolment tokens, revoked keys, channel origins. */
export interface TrustStore {
  /** Whether the key was ever admitted (it has a node id). */
  isEnrolled(key: Uint8Array): boolean;
  isRevoked(key: Uint8Array): boolean;
  revokeKey(key: Uint8Array, at: number, reason: string): void;
  addEnrolmentToken(t: EnrolmentTokenRow): void;
  /** Spends one use of the token with this hash for `role`; false when unknown, spent or not for that role. */
  spendEnrolmentToken(hash: string, role: string): boolean;
  enrolmentTokens(): EnrolmentTokenRow[];
  /** The key (hex) bound to offer a channel on first use, when no origin key is configured. */
  channelOrigin(name: string): string | undefined;
  bindChannelOrigin(name: string, keyHex: string, at: number): void;
}

/** The database was written by a newer program (its schema version is ahead of ours). */
export class StoreSchemaError extends Error {
  override readonly name = "StoreSchemaError";
  readonly code = "E_STORE_SCHEMA";
}

/** Schema migrations; user_version = number applied. Never edit one that has shipped: append. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE nodes (
     id INTEGER PRIMARY KEY,
     key BLOB NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX node_id_by_key ON nodes (key);
   CREATE TABLE channels (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL
   );
   CREATE UNIQUE INDEX channel_id_by_name ON channels (name);
   CREATE TABLE sessions (
     id INTEGER PRIMARY KEY,
     node_id INTEGER NOT NULL REFERENCES nodes (id),
     role TEXT NOT NULL,
     region TEXT NOT NULL,
     channel TEXT NOT NULL,
     address TEXT NOT NULL,
     port INTEGER NOT NULL,
     joined_at INTEGER NOT NULL,
     ended_at INTEGER,
     end_reason TEXT,
     uptime_ms INTEGER,
     heartbeats INTEGER NOT NULL DEFAULT 0,
     heartbeat_bytes INTEGER NOT NULL DEFAULT 0,
     upload_bytes INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX sessions_of_node_newest_first ON sessions (node_id, joined_at DESC);
   CREATE INDEX open_sessions ON sessions (id) WHERE ended_at IS NULL;`,
  `CREATE TABLE revoked_keys (
     key BLOB PRIMARY KEY,
     revoked_at INTEGER NOT NULL,
     reason TEXT NOT NULL
   );
   CREATE TABLE enrolment_tokens (
     hash TEXT PRIMARY KEY,
     roles TEXT NOT NULL,
     uses INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     note TEXT NOT NULL
   );
   CREATE TABLE channel_origins (
     channel TEXT PRIMARY KEY,
     key_hex TEXT NOT NULL,
     bound_at INTEGER NOT NULL
   );`,
  // A node's sessions newest first with no sort step (the id breaks joined_at ties): read per JOIN.
  `CREATE INDEX sessions_of_node_newest ON sessions (node_id, joined_at DESC, id DESC);
   DROP INDEX sessions_of_node_newest_first;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface SessionDbRow {
  id: number;
  node_id: number;
  role: string;
  region: string;
  channel: string;
  address: string;
  port: number;
  joined_at: number;
  ended_at: number | null;
  end_reason: string | null;
  uptime_ms: number | null;
  heartbeats: number;
  heartbeat_bytes: number;
  upload_bytes: number;
}

export class SqliteNodeStore implements NodeStore {
  readonly #db: Database.Database;
  readonly #nodeId: Database.Statement<[Buffer, number, number], { id: number; first_seen: number }>;
  readonly #adoptId: Database.Statement<[number, Buffer, number, number]>;
  readonly #nodeIdInBlock: Database.Statement<
    [{ key: Buffer; now: number; lo: number; hi: number }],
    { id: number; first_seen: number }
  >;
  #block: { lo: number; hi: number } | undefined;
  readonly #adoptChannel: Database.Statement<[number, string]>;
  readonly #channelIdOf: Database.Statement<[string], { id: number }>;
  readonly #idOfKey: Database.Statement<[Buffer], { id: number }>;
  readonly #channelId: Database.Statement<[string], { id: number }>;
  readonly #channels: Database.Statement<[], { id: number; name: string }>;
  readonly #openSession: Database.Statement<[SessionStart], { id: number }>;
  readonly #closeSession: Database.Statement<[Record<string, number | string>]>;
  readonly #closeOpen: Database.Statement<[{ at: number; reason: string }]>;
  readonly #closeNode: Database.Statement<[{ node: number; at: number; reason: string }]>;
  readonly #sessions: Database.Statement<[number, number], SessionDbRow>;
  readonly #history: Database.Statement<
    [number, number],
    Pick<SessionDbRow, "ended_at" | "end_reason" | "uptime_ms" | "heartbeats">
  >;
  readonly #enrolled: Database.Statement<[Buffer], { id: number }>;
  readonly #revoked: Database.Statement<[Buffer], { key: Buffer }>;
  readonly #revoke: Database.Statement<[Buffer, number, string]>;
  readonly #addToken: Database.Statement<[string, string, number, number, string]>;
  readonly #spendToken: Database.Statement<[string, string], { uses: number }>;
  readonly #tokens: Database.Statement<
    [],
    { hash: string; roles: string; uses: number; created_at: number; note: string }
  >;
  readonly #channelOrigin: Database.Statement<[string], { key_hex: string }>;
  readonly #bindOrigin: Database.Statement<[string, string, number]>;
  readonly #begin: Database.Statement<[]>;
  readonly #commit: Database.Statement<[]>;
  /** A group commit's transaction is open (committed by a queued microtask). */
  #batchOpen = false;
  /** A group commit that failed: thrown by the next call, where a handler can see it. */
  #commitError: unknown;

  /** `path` is a file or ":memory:". */
  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = NORMAL");
    this.#db.pragma("foreign_keys = ON");
    try {
      migrate(this.#db);
    } catch (e) {
      this.#db.close();
      throw e;
    }
    const db = this.#db;
    this.#nodeId = db.prepare(
      `INSERT INTO nodes (key, first_seen, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen RETURNING id, first_seen`,
    );
    this.#adoptId = db.prepare(
      `INSERT INTO nodes (id, key, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    this.#idOfKey = db.prepare(`SELECT id FROM nodes WHERE key = ?`);
    this.#nodeIdInBlock = db.prepare(
      `INSERT INTO nodes (id, key, first_seen, last_seen) VALUES (
         (SELECT COALESCE(MAX(id), @lo) + 1 FROM nodes WHERE id > @lo AND id <= @hi), @key, @now, @now)
       ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen RETURNING id, first_seen`,
    );
    this.#adoptChannel = db.prepare(`INSERT INTO channels (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING`);
    this.#channelIdOf = db.prepare(`SELECT id FROM channels WHERE name = ?`);
    this.#channelId = db.prepare(
      `INSERT INTO channels (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`,
    );
    this.#channels = db.prepare(`SELECT id, name FROM channels ORDER BY id`);
    this.#openSession = db.prepare(
      `INSERT INTO sessions (node_id, role, region, channel, address, port, joined_at)
       VALUES (@node, @role, @region, @channel, @address, @port, @joinedAt) RETURNING id`,
    );
    this.#closeSession = db.prepare(
      `UPDATE sessions SET ended_at = @endedAt, end_reason = @reason, uptime_ms = @endedAt - joined_at,
         heartbeats = @heartbeats, heartbeat_bytes = @heartbeatBytes, upload_bytes = @uploadBytes
       WHERE id = @id AND ended_at IS NULL`,
    );
    this.#closeOpen = db.prepare(
      `UPDATE sessions SET ended_at = @at, end_reason = @reason, uptime_ms = @at - joined_at
       WHERE ended_at IS NULL`,
    );
    this.#closeNode = db.prepare(
      `UPDATE sessions SET ended_at = @at, end_reason = @reason, uptime_ms = @at - joined_at
       WHERE node_id = @node AND ended_at IS NULL`,
    );
    this.#sessions = db.prepare(
      `SELECT * FROM sessions WHERE node_id = ? ORDER BY joined_at DESC, id DESC LIMIT ?`,
    );
    this.#history = db.prepare(
      `SELECT ended_at, end_reason, uptime_ms, heartbeats FROM sessions WHERE node_id = ?
       ORDER BY joined_at DESC, id DESC LIMIT ?`,
    );
    this.#enrolled = db.prepare(`SELECT id FROM nodes WHERE key = ?`);
    this.#revoked = db.prepare(`SELECT key FROM revoked_keys WHERE key = ?`);
    this.#revoke = db.prepare(
      `INSERT INTO revoked_keys (key, revoked_at, reason) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    this.#addToken = db.prepare(
      `INSERT INTO enrolment_tokens (hash, roles, uses, created_at, note) VALUES (?, ?, ?, ?, ?)`,
    );
    // The role test is on the comma-joined list with commas around it: ",agent,origin,".
    this.#spendToken = db.prepare(
      `UPDATE enrolment_tokens SET uses = uses - 1
       WHERE hash = ? AND uses > 0 AND instr(',' || roles || ',', ',' || ? || ',') > 0 RETURNING uses`,
    );
    this.#tokens = db.prepare(`SELECT * FROM enrolment_tokens ORDER BY created_at, hash`);
    this.#channelOrigin = db.prepare(`SELECT key_hex FROM channel_origins WHERE channel = ?`);
    this.#bindOrigin = db.prepare(
      `INSERT INTO channel_origins (channel, key_hex, bound_at) VALUES (?, ?, ?) ON CONFLICT (channel) DO NOTHING`,
    );
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
  }

  /**
   * Runs a write inside the current task's transaction, opening it (and queueing its commit) if
   * none is open. IMMEDIATE: the write lock is taken up front, so a read-then-write in the batch
   * never fails to upgrade while another connection writes (that one waits, as for any commit).
   */
  #write<T>(run: () => T): T {
    this.#throwCommitError();
    if (!this.#batchOpen) {
      this.#begin.run();
      this.#batchOpen = true;
      queueMicrotask(() => this.#flush());
    }
    return run();
  }

  /** Commits the open group commit, if any. */
  #flush(): void {
    if (!this.#batchOpen) return;
    this.#batchOpen = false;
    if (!this.#db.open || !this.#db.inTransaction) return;
    try {
      this.#commit.run();
    } catch (e) {
      this.#commitError = e;
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
    }
  }

  #throwCommitError(): void {
    const e = this.#commitError;
    if (e === undefined) return;
    this.#commitError = undefined;
    throw e;
  }

  isEnrolled(key: Uint8Array): boolean {
    return this.#enrolled.get(Buffer.from(key)) !== undefined;
  }

  isRevoked(key: Uint8Array): boolean {
    return this.#revoked.get(Buffer.from(key)) !== undefined;
  }

  revokeKey(key: Uint8Array, at: number, reason: string): void {
    this.#write(() => this.#revoke.run(Buffer.from(key), at, reason));
    // At once: whoever ends the key's sessions next (another thread) must find it revoked.
    this.#flush();
    this.#throwCommitError();
  }

  addEnrolmentToken(t: EnrolmentTokenRow): void {
    this.#write(() => this.#addToken.run(t.hash, t.roles.join(","), t.uses, t.createdAt, t.note));
  }

  spendEnrolmentToken(hash: string, role: string): boolean {
    return this.#write(() => this.#spendToken.get(hash, role)) !== undefined;
  }

  enrolmentTokens(): EnrolmentTokenRow[] {
    return this.#tokens.all().map((r) => ({
      hash: r.hash,
      roles: r.roles.split(","),
      uses: r.uses,
      createdAt: r.created_at,
      note: r.note,
    }));
  }

  channelOrigin(name: string): string | undefined {
    return this.#channelOrigin.get(name)?.key_hex;
  }

  bindChannelOrigin(name: string, keyHex: string, at: number): void {
    this.#write(() => this.#bindOrigin.run(name, keyHex, at));
  }

  nodeIdForKey(key: Uint8Array, now: number): number {
    return this.nodeForKey(key, now).id;
  }

  nodeForKey(key: Uint8Array, now: number): { id: number; fresh: boolean } {
    const b = this.#block;
    const k = Buffer.from(key);
    const row =
      b !== undefined
        ? this.#write(() => this.#nodeIdInBlock.get({ key: k, now, ...b })!)
        : this.#write(() => this.#nodeId.get(k, now, now)!);
    return { id: row.id, fresh: row.first_seen === now };
  }

  useIdBlock(block: number): void {
    if (!Number.isInteger(block) || block < 0 || block >= 2 ** 12) throw new RangeError(`id block ${block}`);
    this.#block = { lo: block * 2 ** 20, hi: (block + 1) * 2 ** 20 };
  }

  adoptChannelId(name: string, id: number): boolean {
    this.#write(() => this.#adoptChannel.run(id, name));
    return this.#channelIdOf.get(name)?.id === id;
  }

  adoptNodeId(id: number, key: Uint8Array, now: number): boolean {
    const k = Buffer.from(key);
    this.#write(() => this.#adoptId.run(id, k, now, now));
    return this.#idOfKey.get(k)?.id === id;
  }

  channelIdForName(name: string): number {
    return this.#write(() => this.#channelId.get(name)!.id);
  }

  channels(): Array<{ id: number; name: string }> {
    return this.#channels.all();
  }

  openSession(s: SessionStart): number {
    return this.#write(() => this.#openSession.get(s)!.id);
  }

  closeSession(id: number, s: SessionSummary): void {
    this.#write(() =>
      this.#closeSession.run({
        id,
        endedAt: s.endedAt,
        reason: s.reason,
        heartbeats: s.heartbeats,
        heartbeatBytes: s.heartbeatBytes,
        uploadBytes: Math.round(s.uploadBytes),
      }),
    );
  }

  closeOpenSessions(at: number, reason: SessionEndReason): number {
    return this.#write(() => this.#closeOpen.run({ at, reason }).changes);
  }

  closeNodeSessions(node: number, at: number, reason: SessionEndReason): number {
    return this.#write(() => this.#closeNode.run({ node, at, reason }).changes);
  }

  sessions(node: number, limit: number): SessionRow[] {
    return this.#sessions.all(node, limit).map((r) => ({
      id: r.id,
      node: r.node_id,
      role: r.role,
      region: r.region,
      channel: r.channel,
      address: r.address,
      port: r.port,
      joinedAt: r.joined_at,
      endedAt: r.ended_at,
      reason: r.end_reason as SessionEndReason | null,
      uptimeMs: r.uptime_ms,
      heartbeats: r.heartbeats,
      heartbeatBytes: r.heartbeat_bytes,
      uploadBytes: r.upload_bytes,
    }));
  }

  history(node: number, limit: number): SessionHistory[] {
    return this.#history.all(node, limit).map((r) => ({
      endedAt: r.ended_at,
      reason: r.end_reason as SessionEndReason | null,
      uptimeMs: r.uptime_ms,
      heartbeats: r.heartbeats,
    }));
  }

  close(): void {
    this.#flush();
    if (this.#db.open) this.#db.close();
    this.#throwCommitError();
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new StoreSchemaError(
      `control store schema version ${current} is newer than this program's (${MIGRATIONS.length})`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
