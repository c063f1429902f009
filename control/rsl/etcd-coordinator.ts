/**
 * The multi-machine Coordinator: a real etcd 3.4 through the etcd3 client. Each control process
 * holds one EtcdCoordinator, one lease and one watch.
 *
 * Keys, under `config.prefix` (default `/tiercast/`):
 * - `servers/<id>`: JSON {id, endpoint, admin?, lease}, attached to that server's lease. The lease
 *   id is in the value so that any process (the primary service manager) can put a key under
 *   another server's lease.
 * - `rsl/<logicalId>`: JSON {server}, attached to the OWNER's lease: when the owner dies (or stays
 *   away from etcd past its TTL) its ownerships disappear with its registration, atomically.
 * - `election/<id>`: JSON {server}, attached to the campaigner's lease; the leader is the key with
 *   the lowest create revision (etcd's own election recipe, on the registration lease).
 * - `channels/<name>`: the channel's compact id, allocated from the counter `channel-seq` by a
 *   transaction that compares the counter's mod revision (retried on conflict).
 *
 * Fencing: an ownership's epoch is the mod revision of its `rsl/` key. A lease is not a lock one
 * can trust on its own: a process can be paused (GC, swap, a stopped VM) past its TTL and wake
 * still believing it owns something, and an etcd leader change (or an etcd restart) renews every
 * lease's TTL, so a lease may outlive what its holder measured (Kleppmann, "How to do distributed
 * locking", 2016; Jepsen's etcd 3.4.3 analysis, 2020: etcd locks are unsafe without a fencing
 * token). The revision comes from etcd's raft log, so it is strictly greater for every later
 * write, on every process, across etcd restarts that keep the data directory; agents drop an
 * ASSIGN carrying an epoch lower than one they have seen, so a stale owner cannot undo a newer
 * one. Revisions are global, so epochs of different logical ids compare too.
 *
 * Liveness: the lease (TTL `leaseTtlSeconds`, default 2) is kept alive by etcd3 (every TTL/3);
 * `lastContact()` is the injected clock's time when the last keep-alive etcd answered was sent
 * (etcd renewed the lease after that instant, so lastContact + TTL is the earliest etcd can let
 * it expire). The primary service manager steps down (`onLeader(false)`) once lastContact is a
 * TTL old, before any backup can be elected. When etcd3 gives the lease up ('lost': etcd said
 * it expired, or no keep-alive got through for 2 x TTL), this process revokes it (best effort:
 * its ownerships must not linger if etcd kept it, which a restarted etcd does), grants a NEW
 * lease and puts `servers/<id>` (and its election key) again; the ownerships it had are gone
 * and the service manager reassigns them. `register()` itself retries until etcd answers.
 *
 * etcd restarts: revisions (so epochs) continue from the data directory, never lower; etcd
 * renews every lease when it comes back, so a lease etcd3 did not give up survives with its
 * ownerships and its place in the election; the watch breaks and the caches are read again.
 * A NEW etcd cluster (data directory lost) restarts revisions from 1: agents would then drop
 * every ASSIGN until the epochs climb back, so the etcd data must be kept.
 *
 * Caches: `servers()`, `ownership()` and the election are read from memory, filled by a get of
 * the whole prefix and kept current by a watch from that get's revision + 1, so no event falls
 * between the two. When the watch stream breaks (etcd restarted, connection lost) the caches are
 * read again and a new watch starts from the new read: nothing is trusted from before the break.
 * The process's own writes (register, assign) go into the caches as soon as etcd confirms them.
 *
 * Counted (`storeOps`, `storeOpsByMethod`): every etcd RPC this coordinator issues. Unary calls
 * (range, put, txn, lease grant and revoke) and stream opens (Watch, LeaseKeepAlive) are counted
 * where etcd3 asks for each attempt's call options, the one place every call passes through, as
 * `<Service>.<method>`; the messages sent on the streams are counted where they are sent:
 * `Lease.keepAlive` (one per keep-alive, TTL/3 apart) and `Watch.create` / `Watch.cancel`.
 * Nothing on the heartbeat path calls etcd: the caches answer it (bench/failover.ts checks).
 */
import { Etcd3, isRecoverableError } from "etcd3";
import type { IKeyValue, IOptions, Lease, Watcher } from "etcd3";
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Coordinator, Ownership, ServerInfo } from "./coordinator.js";

export interface EtcdCoordinatorDeps {
  clock: Clock;
  logger?: Logger;
}

export interface EtcdCoordinatorConfig {
  /** etcd client endpoints, `host:port` or `http://host:port`. */
  endpoints: string[];
  /** Key prefix, ending in `/` (default `/tiercast/`). */
  prefix?: string;
  /** Lease TTL in whole seconds (default 2; etcd may raise it to its minimum, 1.5 x election timeout). */
  leaseTtlSeconds?: number;
  /** Deadline of every single etcd call, ms (default 2000). */
  callTimeoutMs?: number;
  /** First back-off of the re-read and re-register loops, ms (default 100; doubles up to 500 ms). */
  retryMs?: number;
  /** After 3 consecutive failures an endpoint is skipped for this long, ms (default 500; etcd3's own is 5 s). */
  endpointPauseMs?: number;
}

interface ServerEntry {
  info: ServerInfo;
  lease: string;
  mod: number;
}

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions["faultHandling"]>["host"]>>;

const MAX_CHANNEL_ID = 0xffff_ffff;

/** Node ids are u32: blocks of 2^20 (coordinator.ts idBlock). */
const MAX_ID_BLOCKS = 2 ** 12;

export class EtcdCoordinator implements Coordinator {
  readonly #deps: EtcdCoordinatorDeps;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #retryMs: number;
  readonly #client: Etcd3;

  readonly #servers = new Map<string, ServerEntry>();
  readonly #owners = new Map<string, Ownership>();
  /** Election keys: server id -> create revision. */
  readonly #candidates = new Map<string, number>();
  readonly #channels = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  /** Highest revision the caches reflect. */
  #applied = 0;

  #self: ServerInfo | undefined;
  #lease: Lease | undefined;
  /** The current lease's id while it is alive (undefined while re-registering). */
  #leaseId: string | undefined;
  #leaseGen = 0;
  /** Leases given up by etcd3 that etcd may still hold; revoked when etcd answers. */
  readonly #staleLeases = new Set<Lease>();
  #lastContact = -Infinity;

  #watcher: Watcher | undefined;
  #syncGen = 0;
  #syncing: Promise<void> | undefined;

  /** etcd RPCs issued, by `<Service>.<method>` (see the header). */
  readonly #ops = new Map<string, number>();

  #onLeader: ((leader: boolean) => void) | undefined;
  #leader = false;
  #leaderTimer: Timer | undefined;
  #closed = false;
  #notifyQueued = false;

  constructor(deps: EtcdCoordinatorDeps, config: EtcdCoordinatorConfig) {
    this.#deps = deps;
    this.#prefix = config.prefix ?? "/tiercast/";
    if (!this.#prefix.endsWith("/")) throw new RangeError(`etcd prefix must end with "/": ${this.#prefix}`);
    this.#ttl = config.leaseTtlSeconds ?? 2;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1)
      throw new RangeError(`lease TTL must be whole seconds >= 1: ${this.#ttl}`);
    if (config.endpoints.length === 0) throw new RangeError("no etcd endpoints");
    this.#retryMs = config.retryMs ?? 100;
    const callTimeoutMs = config.callTimeoutMs ?? 2000;
    const pauseMs = config.endpointPauseMs ?? 500;
    this.#client = new Etcd3({
      hosts: config.endpoints,
      // unary calls get a deadline; streams (watch, keep-alive) must not
      // called once per attempt of every call, unary or stream: the one place that counts them
      defaultCallOptions: (ctx) => {
        this.#countOp(`${ctx.service}.${ctx.method}`);
        return ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs };
      },
      faultHandling: { host: () => endpointBreaker(pauseMs) },
      grpcOptions: {
        // reconnect soon after etcd comes back (gRPC's default back-off grows to 120 s)
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        // notice a silently dead connection (etcd's default --grpc-keepalive-min-time is 5 s)
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
      },
    });
  }

  async register(self: ServerInfo): Promise<void> {
    this.#open();
    if (this.#self !== undefined) throw new Error(`already registered as ${this.#self.id}`);
    this.#self = { ...self };
    this.#startSync();
    // etcd may be briefly away, slow, or expire a lease before the put that uses it: try again
    let wait = this.#retryMs;
    for (let failures = 0; ; failures++) {
      try {
        await this.#grantAndPut();
        break;
      } catch (e) {
        if (this.#closed) throw e;
        if (failures % 10 === 0)
          this.#deps.logger?.warn("rsl_register_retry", { failures, error: String(e) });
        await this.#sleep(wait);
        wait = Math.min(wait * 2, 500);
      }
    }
    // resolve once the caches hold a read made after the put (a newer read may supersede the first)
    for (let p = this.#syncing; ; p = this.#syncing) {
      await p;
      if (p === this.#syncing) break;
    }
  }

  servers(): ServerInfo[] {
    return [...this.#servers.values()].map((s) => ({ ...s.info }));
  }

  ownership(logicalId: string): Ownership | undefined {
    const o = this.#owners.get(logicalId);
    return o === undefined ? undefined : { ...o };
  }

  allOwnership(): Ownership[] {
    return [...this.#owners.values()].map((o) => ({ ...o }));
  }

  async assign(
    logicalId: string,
    server: string,
    expectedEpoch: number | null,
  ): Promise<Ownership | undefined> {
    this.#open();
    const rslKey = this.#key("rsl/", logicalId);
    const serverKey = this.#key("servers/", server);
    let entry = this.#servers.get(server);
    for (let attempt = 0; attempt < 5; attempt++) {
      if (entry === undefined) {
        const kv = (await this.#client.get(serverKey).exec()).kvs[0];
        if (kv === undefined) return undefined;
        entry = parseServer(kv);
      }
      const res = await this.#client
        .if(rslKey, expectedEpoch === null ? "Create" : "Mod", "==", expectedEpoch ?? 0)
        .and(serverKey, "Mod", "==", entry.mod)
        .then(this.#client.put(rslKey).value(JSON.stringify({ server })).lease(entry.lease))
        .else(this.#client.get(rslKey), this.#client.get(serverKey))
        .commit();
      if (res.succeeded) {
        const o: Ownership = { logicalId, server, epoch: Number(res.header.revision) };
        this.#putOwner(o);
        return { ...o };
      }
      const owner = res.responses[0]?.response_range.kvs[0];
      if ((owner === undefined ? null : Number(owner.mod_revision)) !== expectedEpoch) return undefined;
      // the server's entry changed (it re-registered under a new lease): try its new lease
      const current = res.responses[1]?.response_range.kvs[0];
      if (current === undefined) return undefined;
      entry = parseServer(current);
    }
    return undefined;
  }

  onChange(cb: () => void): () => void {
    const wrapped = (): void => cb();
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

  campaign(onLeader: (leader: boolean) => void): void {
    this.#open();
    if (this.#onLeader !== undefined) throw new Error("campaign() called twice");
    this.#onLeader = onLeader;
    // leadership also ends by the clock: no keep-alive answered for a whole TTL
    this.#leaderTimer = this.#deps.clock.setInterval(
      () => this.#evaluateLeader(),
      Math.max(50, (this.#ttl * 1000) / 4),
    );
    if (this.#leaseId !== undefined) void this.#putCandidate(this.#leaseGen);
  }

  get leader(): boolean {
    return this.#leader;
  }

  async channelId(name: string): Promise<number> {
    this.#open();
    const known = this.#channels.get(name);
    if (known !== undefined) return known;
    const key = this.#key("channels/", name);
    const seqKey = `${this.#prefix}channel-seq`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const read = await this.#client
        .if(key, "Create", "==", 0)
        .then(this.#client.get(seqKey))
        .else(this.#client.get(key))
        .commit();
      const kv = read.responses[0]?.response_range.kvs[0];
      if (!read.succeeded) return this.#putChannel(name, kv);
      const next = (kv === undefined ? 0 : Number(kv.value.toString())) + 1;
      if (!Number.isInteger(next) || next > MAX_CHANNEL_ID)
        throw new Error(`channel ids exhausted (${seqKey})`);
      const write = await this.#client
        .if(seqKey, "Mod", "==", kv?.mod_revision ?? 0)
        .and(key, "Create", "==", 0)
        .then(this.#client.put(seqKey).value(String(next)), this.#client.put(key).value(String(next)))
        .else(this.#client.get(key))
        .commit();
      if (write.succeeded) {
        this.#channels.set(name, next);
        return next;
      }
      const taken = write.responses[0]?.response_range.kvs[0];
      if (taken !== undefined) return this.#putChannel(name, taken);
      // another channel took the counter first: read it again
    }
    throw new Error(`channel id for ${name}: too much contention on ${seqKey}`);
  }

  channels(): ReadonlyMap<string, number> {
    return new Map(this.#channels);
  }

  /** The next block of node ids from the counter `id-block-seq` (compare-and-set, retried). */
  async idBlock(): Promise<number> {
    this.#open();
    const key = `${this.#prefix}id-block-seq`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const kv = (await this.#client.get(key).exec()).kvs[0];
      const next = (kv === undefined ? 0 : Number(kv.value.toString())) + 1;
      if (!Number.isInteger(next) || next >= MAX_ID_BLOCKS)
        throw new Error(`node id blocks exhausted (${key})`);
      const write = await this.#client
        .if(key, "Mod", "==", kv?.mod_revision ?? 0)
        .then(this.#client.put(key).value(String(next)))
        .commit();
      if (write.succeeded) return next;
    }
    throw new Error(`node id block: too much contention on ${key}`);
  }

  lastContact(): number {
    return this.#lastContact;
  }

  /** etcd RPCs this coordinator has issued (unary calls, stream opens, keep-alives, watch creates and cancels). */
  get storeOps(): number {
    let total = 0;
    for (const n of this.#ops.values()) total += n;
    return total;
  }

  /** `storeOps` by `<Service>.<method>` (`KV.range`, `KV.txn`, `Lease.keepAlive`, `Watch.create`, ...). */
  get storeOpsByMethod(): Record<string, number> {
    return Object.fromEntries([...this.#ops].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deps.clock.clearInterval(this.#leaderTimer);
    this.#syncGen++;
    this.#leaseGen++;
    this.#setLeader(false);
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher !== undefined) {
      this.#countOp("Watch.cancel");
      void watcher.cancel().catch(() => undefined);
    }
    try {
      await this.#lease?.revoke();
    } catch (e) {
      this.#deps.logger?.warn("rsl_lease_revoke_failed", { error: String(e) });
    }
    await this.#revokeStale();
    this.#leaseId = undefined;
    this.#client.close();
    this.#servers.clear();
    this.#owners.clear();
    this.#candidates.clear();
  }

  // --- registration and lease ---

  /** Grants a new lease and puts `servers/<id>` (and the election key when campaigning) under it. */
  async #grantAndPut(): Promise<void> {
    const self = this.#self;
    if (self === undefined) throw new Error("not registered");
    const gen = ++this.#leaseGen;
    const lease = this.#client.lease(this.#ttl);
    let alive = false;
    lease.on("lost", (err) => {
      if (alive) this.#leaseLost(gen, lease, err);
    });
    // etcd renews the lease when it reads a keep-alive, before we read its answer: count the
    // contact from when the keep-alive was sent (answers come in order on one stream)
    const sent: number[] = [];
    lease.on("keepaliveEstablished", () => sent.splice(0));
    lease.on("keepaliveFired", () => {
      this.#countOp("Lease.keepAlive");
      sent.push(this.#deps.clock.now());
    });
    lease.on("keepaliveSucceeded", () => {
      const at = sent.shift() ?? this.#deps.clock.now();
      if (!alive || gen !== this.#leaseGen) return;
      this.#lastContact = Math.max(this.#lastContact, at);
      this.#evaluateLeader();
    });
    const asked = this.#deps.clock.now();
    try {
      const id = await lease.grant();
      const res = await this.#client
        .put(this.#key("servers/", self.id))
        .value(JSON.stringify({ ...self, lease: id }))
        .lease(id)
        .exec();
      if (gen !== this.#leaseGen) throw new Error("closed while registering");
      this.#putServer({ info: { ...self }, lease: id, mod: Number(res.header.revision) });
      this.#lease = lease;
      this.#leaseId = id;
      this.#lastContact = Math.max(this.#lastContact, asked);
      alive = true;
      this.#deps.logger?.info("rsl_registered", { server: self.id, lease: id, ttl: this.#ttl });
    } catch (e) {
      void lease.revoke().catch(() => undefined);
      throw e;
    }
    if (this.#onLeader !== undefined) await this.#putCandidate(gen);
  }

  #leaseLost(gen: number, lease: Lease, err: Error): void {
    if (this.#closed || gen !== this.#leaseGen) return;
    this.#deps.logger?.warn("rsl_lease_lost", {
      server: this.#self?.id,
      lease: this.#leaseId,
      error: err.message,
    });
    this.#leaseId = undefined;
    this.#evaluateLeader();
    // etcd may still hold the lease (a restarted etcd renews every lease): revoke it so the
    // ownerships under it go now, not a TTL later; again after re-registering if etcd was away
    this.#staleLeases.add(lease);
    void this.#revokeStale();
    void this.#reregister();
  }

  async #revokeStale(): Promise<void> {
    for (const lease of [...this.#staleLeases]) {
      try {
        await lease.revoke();
        this.#staleLeases.delete(lease);
      } catch {
        // etcd unreachable: retried after the next registration, else etcd expires it
      }
    }
  }

  async #reregister(): Promise<void> {
    let wait = this.#retryMs;
    while (!this.#closed && this.#leaseId === undefined) {
      try {
        await this.#grantAndPut();
        this.#deps.logger?.info("rsl_reregistered", { server: this.#self?.id, lease: this.#leaseId });
        await this.#revokeStale();
        this.#startSync();
        return;
      } catch (e) {
        this.#deps.logger?.debug("rsl_reregister_failed", { error: String(e) });
        await this.#sleep(wait);
        wait = Math.min(wait * 2, 500);
      }
    }
  }

  /** Puts this server's election key under the lease of generation `gen`, retrying while that lease lives. */
  async #putCandidate(gen: number): Promise<void> {
    const self = this.#self;
    if (self === undefined) return;
    let wait = this.#retryMs;
    while (!this.#closed && gen === this.#leaseGen && this.#leaseId !== undefined) {
      try {
        const res = await this.#client
          .put(this.#key("election/", self.id))
          .value(JSON.stringify({ server: self.id }))
          .lease(this.#leaseId)
          .exec();
        const rev = Number(res.header.revision);
        // a fresh key (created now) or one that survived under an earlier lease: the watch says which
        if (!this.#candidates.has(self.id)) this.#candidates.set(self.id, rev);
        this.#evaluateLeader();
        return;
      } catch (e) {
        this.#deps.logger?.debug("rsl_campaign_put_failed", { error: String(e) });
        await this.#sleep(wait);
        wait = Math.min(wait * 2, 500);
      }
    }
  }

  // --- caches: read, then watch from the read's revision + 1 ---

  /** (Re)reads the whole prefix and watches from there; a newer call supersedes a running one. */
  #startSync(): void {
    const gen = ++this.#syncGen;
    const old = this.#watcher;
    this.#watcher = undefined;
    if (old !== undefined) {
      this.#countOp("Watch.cancel");
      void old.cancel().catch(() => undefined);
    }
    this.#syncing = this.#sync(gen);
  }

  async #sync(gen: number): Promise<void> {
    let wait = this.#retryMs;
    while (!this.#closed && gen === this.#syncGen) {
      try {
        const res = await this.#client.getAll().prefix(this.#prefix).exec();
        if (this.#closed || gen !== this.#syncGen) return;
        const rev = Number(res.header.revision);
        this.#applySnapshot(res.kvs, rev);
        this.#watch(gen, rev + 1);
        return;
      } catch (e) {
        this.#deps.logger?.debug("rsl_resync_failed", { error: String(e) });
        await this.#sleep(wait);
        wait = Math.min(wait * 2, 500);
      }
    }
  }

  #watch(gen: number, from: number): void {
    this.#countOp("Watch.create");
    const watcher = this.#client.watch().prefix(this.#prefix).startRevision(String(from)).watcher();
    this.#watcher = watcher;
    watcher.on("put", (kv) => {
      if (gen === this.#syncGen) this.#applyPut(kv);
    });
    watcher.on("delete", (kv) => {
      if (gen === this.#syncGen) this.#applyDelete(kv);
    });
    watcher.on("disconnected", (err) => {
      if (gen !== this.#syncGen || this.#closed) return;
      this.#deps.logger?.warn("rsl_watch_disconnected", { error: err.message });
      this.#startSync();
    });
    watcher.on("error", (err) => {
      if (gen !== this.#syncGen || this.#closed) return;
      this.#deps.logger?.warn("rsl_watch_error", { error: err.message });
      this.#startSync();
    });
  }

  #applySnapshot(kvs: IKeyValue[], rev: number): void {
    // entries newer than the read (this process's own writes) stay: the watch replays anything after it
    const keepNewer = <T>(m: Map<string, T>, mod: (v: T) => number): Map<string, T> =>
      new Map([...m].filter(([, v]) => mod(v) > rev));
    const servers = keepNewer(this.#servers, (s) => s.mod);
    const owners = keepNewer(this.#owners, (o) => o.epoch);
    this.#servers.clear();
    this.#owners.clear();
    this.#candidates.clear();
    this.#applied = Math.max(this.#applied, rev);
    for (const kv of kvs) this.#applyPut(kv, true);
    for (const [k, v] of servers) this.#servers.set(k, v);
    for (const [k, v] of owners) this.#owners.set(k, v);
    this.#notify();
    this.#evaluateLeader();
  }

  /** Applies a put from the watch, or (`snapshot`) one key of a read, then notifies and re-elects. */
  #applyPut(kv: IKeyValue, snapshot = false): void {
    const key = kv.key.toString();
    const mod = Number(kv.mod_revision);
    this.#applied = Math.max(this.#applied, mod);
    const [kind, name] = this.#split(key);
    try {
      if (kind === "servers/") {
        const entry = parseServer(kv);
        if ((this.#servers.get(name)?.mod ?? 0) <= mod) this.#servers.set(name, entry);
      } else if (kind === "rsl/") {
        const server = (JSON.parse(kv.value.toString()) as { server?: unknown }).server;
        if (typeof server !== "string") throw new Error("no server");
        this.#putOwner({ logicalId: name, server, epoch: mod }, false);
      } else if (kind === "election/") {
        this.#candidates.set(name, Number(kv.create_revision));
        if (!snapshot) this.#evaluateLeader();
        return;
      } else if (kind === "channels/") {
        this.#channels.set(name, Number(kv.value.toString()));
        return;
      } else {
        return;
      }
    } catch (e) {
      this.#deps.logger?.warn("rsl_bad_key", { key, error: String(e) });
      return;
    }
    if (!snapshot) this.#notify();
  }

  #applyDelete(kv: IKeyValue): void {
    const key = kv.key.toString();
    const rev = Number(kv.mod_revision);
    this.#applied = Math.max(this.#applied, rev);
    const [kind, name] = this.#split(key);
    if (kind === "servers/") {
      if ((this.#servers.get(name)?.mod ?? Infinity) < rev) this.#servers.delete(name);
    } else if (kind === "rsl/") {
      if ((this.#owners.get(name)?.epoch ?? Infinity) < rev) this.#owners.delete(name);
    } else if (kind === "election/") {
      this.#candidates.delete(name);
      this.#evaluateLeader();
      return;
    } else {
      return;
    }
    this.#notify();
  }

  #putServer(entry: ServerEntry): void {
    if ((this.#servers.get(entry.info.id)?.mod ?? 0) > entry.mod) return;
    this.#servers.set(entry.info.id, entry);
    this.#notify();
  }

  #putOwner(o: Ownership, notify = true): void {
    if ((this.#owners.get(o.logicalId)?.epoch ?? 0) > o.epoch) return;
    this.#owners.set(o.logicalId, o);
    if (notify) this.#notify();
  }

  #putChannel(name: string, kv: IKeyValue | undefined): number {
    const id = Number(kv?.value.toString());
    if (!Number.isInteger(id) || id < 1 || id > MAX_CHANNEL_ID) throw new Error(`bad channel id for ${name}`);
    this.#channels.set(name, id);
    return id;
  }

  // --- election ---

  #evaluateLeader(): void {
    const self = this.#self;
    if (this.#onLeader === undefined || self === undefined) return;
    const mine = this.#candidates.get(self.id);
    // the caches must have seen every event up to our key's creation, or an older candidate may be missing
    let lowest = mine !== undefined && this.#applied >= mine;
    if (mine !== undefined) for (const rev of this.#candidates.values()) if (rev < mine) lowest = false;
    const fresh = this.#deps.clock.now() - this.#lastContact < this.#ttl * 1000;
    this.#setLeader(!this.#closed && this.#leaseId !== undefined && lowest && fresh);
  }

  #setLeader(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#deps.logger?.info(leader ? "rsl_leader" : "rsl_leader_lost", { server: this.#self?.id });
    this.#onLeader?.(leader);
  }

  // --- helpers ---

  #key(kind: string, name: string): string {
    return `${this.#prefix}${kind}${name}`;
  }

  /** `[kind, name]` of a key under the prefix: kind is `servers/`, `rsl/`, `election/`, `channels/` or "". */
  #split(key: string): [string, string] {
    const rest = key.slice(this.#prefix.length);
    for (const kind of ["servers/", "rsl/", "election/", "channels/"]) {
      if (rest.startsWith(kind)) return [kind, rest.slice(kind.length)];
    }
    return ["", rest];
  }

  #countOp(op: string): void {
    this.#ops.set(op, (this.#ops.get(op) ?? 0) + 1);
  }

  #open(): void {
    if (this.#closed) throw new Error("EtcdCoordinator is closed");
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#deps.clock.setTimeout(resolve, ms));
  }

  #notify(): void {
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      if (this.#closed) return;
      for (const cb of [...this.#listeners]) cb();
    });
  }
}

function parseServer(kv: IKeyValue): ServerEntry {
  const v = JSON.parse(kv.value.toString()) as Partial<ServerInfo> & { lease?: unknown };
  if (typeof v.id !== "string" || typeof v.endpoint !== "string" || typeof v.lease !== "string") {
    throw new Error("bad server entry");
  }
  const info: ServerInfo = { id: v.id, endpoint: v.endpoint };
  if (typeof v.admin === "string") info.admin = v.admin;
  return { info, lease: v.lease, mod: Number(kv.mod_revision) };
}

/**
 * etcd3's per-endpoint fault policy, with a shorter pause: after 3 consecutive recoverable
 * failures the endpoint is skipped for `pauseMs` (etcd3's default breaker waits 5 s, which
 * would keep a single-endpoint client away from an etcd that is already back).
 */
function endpointBreaker(pauseMs: number): HostPolicy {
  let failures = 0;
  let openedAt = -Infinity;
  const noListener = (): { dispose(): void } => ({ dispose: () => undefined });
  return {
    _altReturn: undefined as never,
    onSuccess: noListener,
    onFailure: noListener,
    async execute<T>(
      fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T,
      signal?: AbortSignal,
    ): Promise<T> {
      if (failures >= 3 && Date.now() - openedAt < pauseMs)
        throw new Error("etcd endpoint paused after failures");
      try {
        const v = await fn({ signal: signal ?? new AbortController().signal });
        failures = 0;
        return v;
      } catch (e) {
        if (e instanceof Error && isRecoverableError(e) && ++failures >= 3) openedAt = Date.now();
        throw e;
      }
    },
  };
}
