/** A NodeStore in memory (simulator, tests): same contract as the SQLite store, nothing survives. */
import type {
  EnrolmentTokenRow,
  NodeStore,
  SessionEndReason,
  SessionHistory,
  SessionRow,
  SessionStart,
  SessionSummary,
} from "./store.js";

export class MemoryNodeStore implements NodeStore {
  readonly #nodes = new Map<string, number>();
  readonly #channels = new Map<string, number>();
  /** Ids given or adopted, and the highest: a new key gets the next (O(1), not a scan). */
  readonly #ids = new Set<number>();
  /** When each id was given (nodeForKey's `fresh`). */
  readonly #firstSeen = new Map<number, number>();
  #maxId = 0;
  readonly #sessions: SessionRow[] = [];
  /** Each node's sessions in the order opened (a history read costs its node's, not all). */
  readonly #byNode = new Map<number, SessionRow[]>();
  readonly #revoked = new Set<string>();
  readonly #tokens = new Map<string, EnrolmentTokenRow>();
  readonly #origins = new Map<string, string>();

  nodeIdForKey(key: Uint8Array, now: number): number {
    return this.nodeForKey(key, now).id;
  }

  nodeForKey(key: Uint8Array, now: number): { id: number; fresh: boolean } {
    const hex = Buffer.from(key).toString("hex");
    const id = this.#nodes.get(hex);
    if (id !== undefined) return { id, fresh: this.#firstSeen.get(id) === now };
    const next = this.#maxId + 1;
    this.#nodes.set(hex, next);
    this.#addId(next);
    this.#firstSeen.set(next, now);
    return { id: next, fresh: true };
  }

  adoptNodeId(id: number, key: Uint8Array): boolean {
    const hex = Buffer.from(key).toString("hex");
    const has = this.#nodes.get(hex);
    if (has !== undefined) return has === id;
    if (this.#ids.has(id)) return false;
    this.#nodes.set(hex, id);
    this.#addId(id);
    return true;
  }

  #addId(id: number): void {
    this.#ids.add(id);
    this.#maxId = Math.max(this.#maxId, id);
  }

  useIdBlock(): void {
    // One process, one store: ids never collide.
  }

  adoptChannelId(name: string, id: number): boolean {
    const has = this.#channels.get(name);
    if (has !== undefined) return has === id;
    if ([...this.#channels.values()].includes(id)) return false;
    this.#channels.set(name, id);
    return true;
  }

  channelIdForName(name: string): number {
    let id = this.#channels.get(name);
    if (id === undefined) this.#channels.set(name, (id = this.#channels.size + 1));
    return id;
  }

  channels(): Array<{ id: number; name: string }> {
    return [...this.#channels].map(([name, id]) => ({ id, name }));
  }

  openSession(s: SessionStart): number {
    const id = this.#sessions.length + 1;
    const row: SessionRow = {
      ...s,
      id,
      endedAt: null,
      reason: null,
      uptimeMs: null,
      heartbeats: 0,
      heartbeatBytes: 0,
      uploadBytes: 0,
    };
    this.#sessions.push(row);
    const mine = this.#byNode.get(s.node);
    if (mine === undefined) this.#byNode.set(s.node, [row]);
    else mine.push(row);
    return id;
  }

  closeSession(id: number, s: SessionSummary): void {
    const row = this.#sessions[id - 1];
    if (row === undefined || row.endedAt !== null) return;
    Object.assign(row, {
      endedAt: s.endedAt,
      reason: s.reason,
      uptimeMs: s.endedAt - row.joinedAt,
      heartbeats: s.heartbeats,
      heartbeatBytes: s.heartbeatBytes,
      uploadBytes: Math.round(s.uploadBytes),
    });
  }

  closeOpenSessions(at: number, reason: SessionEndReason): number {
    let n = 0;
    for (const row of this.#sessions) {
      if (row.endedAt !== null) continue;
      Object.assign(row, { endedAt: at, reason, uptimeMs: at - row.joinedAt });
      n++;
    }
    return n;
  }

  closeNodeSessions(node: number, at: number, reason: SessionEndReason): number {
    let n = 0;
    for (const row of this.#byNode.get(node) ?? []) {
      if (row.endedAt !== null) continue;
      Object.assign(row, { endedAt: at, reason, uptimeMs: at - row.joinedAt });
      n++;
    }
    return n;
  }

  sessions(node: number, limit: number): SessionRow[] {
    return [...(this.#byNode.get(node) ?? [])]
      .sort((a, b) => b.joinedAt - a.joinedAt || b.id - a.id)
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }

  history(node: number, limit: number): SessionHistory[] {
    return this.sessions(node, limit).map((r) => ({
      endedAt: r.endedAt,
      reason: r.reason,
      uptimeMs: r.uptimeMs,
      heartbeats: r.heartbeats,
    }));
  }

  isEnrolled(key: Uint8Array): boolean {
    return this.#nodes.has(Buffer.from(key).toString("hex"));
  }

  isRevoked(key: Uint8Array): boolean {
    return this.#revoked.has(Buffer.from(key).toString("hex"));
  }

  revokeKey(key: Uint8Array): void {
    this.#revoked.add(Buffer.from(key).toString("hex"));
  }

  addEnrolmentToken(t: EnrolmentTokenRow): void {
    this.#tokens.set(t.hash, { ...t, roles: [...t.roles] });
  }

  spendEnrolmentToken(hash: string, role: string): boolean {
    const t = this.#tokens.get(hash);
    if (t === undefined || t.uses <= 0 || !t.roles.includes(role)) return false;
    t.uses--;
    return true;
  }

  enrolmentTokens(): EnrolmentTokenRow[] {
    return [...this.#tokens.values()].map((t) => ({ ...t, roles: [...t.roles] }));
  }

  channelOrigin(name: string): string | undefined {
    return this.#origins.get(name);
  }

  bindChannelOrigin(name: string, keyHex: string): void {
    if (!this.#origins.has(name)) this.#origins.set(name, keyHex);
  }

  close(): void {}
}
