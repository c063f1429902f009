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
   * epoch is lower than one they have seen for the channel.
   */
  epoch: number;
}

export interface Coordinator {
  /**
   * Registers this server with liveness: while the process lives its entry stays; when it dies
   * (or loses the store for longer than the lease) its entry and its ownerships disappear.
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
   * as the named server's registration. Resolves to the new ownership, or undefined when the
   * comparison failed (someone else moved it first).
   */
  assign(logicalId: string, server: string, expectedEpoch: number | null): Promise<Ownership | undefined>;
  /** Called after any change of servers or ownership (after the caches are updated). Returns an unsubscribe. */
  onChange(cb: () => void): () => void;
  /**
   * Campaigns to be the primary service manager; `onLeader(true)` when elected, `onLeader(false)`
   * when leadership is lost (store unreachable past the lease, or resigned). Others are backups.
   */
  campaign(onLeader: (leader: boolean) => void): void;
  /** Whether this server is the primary service manager now. */
  readonly leader: boolean;
  /** The compact id (>= 1, u32) of a channel name, the same on every server; allocated once. */
  channelId(name: string): Promise<number>;
  /**
   * When this server last confirmed its registration with the store (ms, injected clock), or
   * -Infinity before the first. A server whose last contact is older than its lease must assume
   * its ownerships were given away and stop acting on them.
   */
  lastContact(): number;
  /** Revokes the registration (ownerships go with it) and closes the connection. */
  close(): Promise<void>;
}
