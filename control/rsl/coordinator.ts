/**
 * What the Resilience Service Layer (RSL) needs from a coordination store: live control
 * servers, the map from DCM logical ids to servers with a fencing epoch, an election for the
 * primary service manager, and compact channel ids that every server agrees on.
 *
 * Two implementations, one contract (test/rsl-coordinator.test.ts runs it against both):
 * - LocalCoordinator (one machine, the embedded default): the main process is the only writer,
 *   so plain memory is the authority; no consensus is needed or pretended.
 * - EtcdCoordinator (`tiercast control --etcd <endpoints>`): a real etcd 3.4 through the etcd3
 *   client. Liveness is a lease per server; ownership keys live under the owner's lease; the
 *   ownership key's mod revision is the fencing epoch (never a home-made counter); the election
 *   is etcd's.
 */

/** A control server (one process, or one DCM worker in the one-machine mode). */
export interface ServerInfo {
  /** Unique for this run of the server, e.g. `<host>:<pid>:<random>`. */
  id: string;
  /** UDP address nodes send to, `host:port`. */
  endpoint: string;
  /** Admin HTTP address, `host:port`, when it has one. */
  admin?: string;
}

/** Which server owns a DCM logical id, and since when. */
export interface Ownership {
  logicalId: string;
  /** ServerInfo.id of the owner. */
  server: string;
  /**
   * Fencing token: strictly greater for every new owner of this logical id (etcd: the mod
   * revision of the ownership key). Control puts it in every ASSIGN; agents drop an ASSIGN whose
   * epoch is lower than one they have seen for the channel. Because agents compare per channel,
   * across the channel's logical ids, epochs come from ONE counter for all ids (etcd's revision;
   * LocalCoordinator's own counter), not one counter per id: a later assign of any id has a
   * higher epoch than every earlier one.
   */
  epoch: number;
}

export interface Coordinator {
  /**
   * Registers this server with liveness: while the process lives its entry stays; when it dies
   * (or loses the store for longer than the lease) its entry and its ownerships disappear.
   * Resolves once this coordinator's caches list the server. An EtcdCoordinator registers one
   * server (its process); LocalCoordinator takes one call per DCM worker (and `unregister`).
   */
  register(self: ServerInfo): Promise<void>;
  /** Live servers, kept current by a watch (a cached read: no store round trip). */
  servers(): ServerInfo[];
  /** The current owner of a logical id (cached, watched). */
  ownership(logicalId: string): Ownership | undefined;
  allOwnership(): Ownership[];
  /**
   * Maps a logical id to a server, compare-and-set: succeeds when the id has no owner
   * (`expectedEpoch` null) or its owner still has `expectedEpoch`. The ownership lives as long
   * as the named server's registration. Resolves to the new ownership (also in this
   * coordinator's cache by then), or undefined when the comparison failed (someone else moved it
   * first, or `server` is not registered). Rejects when the store cannot be reached.
   */
  assign(logicalId: string, server: string, expectedEpoch: number | null): Promise<Ownership | undefined>;
  /**
   * Called after any change of servers or ownership (after the caches are updated), asynchronously
   * and at most once per burst of changes (never inside the call that made the change). Returns an
   * unsubscribe.
   */
  onChange(cb: () => void): () => void;
  /**
   * Campaigns to be the primary service manager (once per coordinator); `onLeader(true)` when
   * elected, `onLeader(false)` when leadership is lost (store unreachable past the lease, or
   * close()). Others are backups. Never called inside campaign() itself. The etcd leader steps
   * down once lastContact() is a lease TTL old, before etcd can expire its election key and
   * elect a backup.
   */
  campaign(onLeader: (leader: boolean) => void): void;
  /** Whether this server is the primary service manager now. */
  readonly leader: boolean;
  /**
   * The compact id (>= 1, u32) of a channel name, the same on every server; allocated once.
   * Rejects when the store cannot be reached.
   */
  channelId(name: string): Promise<number>;
  /** Every channel id allocated so far, by name (cached, watched): the content directory. */
  channels(): ReadonlyMap<string, number>;
  /**
   * A block of node ids for this server's store, the same for no two servers (ids
   * [block x 2^20 + 1, (block + 1) x 2^20]); 0 on one machine, where the servers share a store.
   */
  idBlock(): Promise<number>;
  /**
   * When this server last confirmed its registration with the store (ms, injected clock), or
   * -Infinity before the first. A server whose last contact is older than its lease must assume
   * its ownerships were given away and stop acting on them. etcd: when the last keep-alive etcd
   * answered was SENT (etcd renewed the lease after that instant); LocalCoordinator: now, once
   * a server is registered (memory is the authority).
   */
  lastContact(): number;
  /** Requests this coordinator made of its store so far, by method (etcd RPCs; none in memory). */
  readonly storeOpsByMethod: Record<string, number>;
  /** Revokes the registration (ownerships go with it) and closes the connection. */
  close(): Promise<void>;
}
