/**
 * The one-machine Coordinator: the main process owns the RSL map in memory, and every DCM
 * worker is a server registered here. No store, no lease: a worker's entry lives until the main
 * process calls `unregister(id)` (it saw the worker die) or `close()`, and the main process is
 * the only writer, so memory is the authority and the main process is always the primary
 * service manager.
 *
 * Epochs come from one counter for all logical ids (strictly increasing, so strictly increasing
 * per id too). One counter rather than one per id keeps the property etcd's revisions have: an
 * agent compares epochs per channel, and a channel's logical ids (`dcm:<channel>:t1`,
 * `dcm:<channel>:t2:<regions>`, ...) hand a node from one to another. The counter starts at
 * `config.epochBase` (default 0): a main process restarted with the same database should pass a
 * base above any epoch it gave before (agents remember the highest they saw).
 */
import type { Clock } from "../../seams/clock.js";
import type { Coordinator, Ownership, ServerInfo } from "./coordinator.js";

export interface LocalCoordinatorDeps {
  clock: Clock;
  /** Allocates a channel's compact id; the main process backs it with NodeStore.channelIdForName. */
  channelIdForName: (name: string) => number;
}

export interface LocalCoordinatorConfig {
  /** The first epoch given is epochBase + 1 (default 0). */
  epochBase?: number;
}

export class LocalCoordinator implements Coordinator {
  readonly #deps: LocalCoordinatorDeps;
  readonly #servers = new Map<string, ServerInfo>();
  readonly #owners = new Map<string, Ownership>();
  readonly #listeners = new Set<() => void>();
  readonly #channels = new Map<string, number>();
  #epoch: number;
  #leader = false;
  #onLeader: ((leader: boolean) => void) | undefined;
  #registered = false;
  #closed = false;
  #notifyQueued = false;

  constructor(deps: LocalCoordinatorDeps, config: LocalCoordinatorConfig = {}) {
    this.#deps = deps;
    const base = config.epochBase ?? 0;
    if (!Number.isSafeInteger(base) || base < 0)
      throw new RangeError(`epochBase must be a safe integer >= 0: ${base}`);
    this.#epoch = base;
  }

  /** Adds a server (the main process calls it for each DCM worker it starts). Re-registering an id updates its info. */
  async register(self: ServerInfo): Promise<void> {
    this.#open();
    this.#servers.set(self.id, { ...self });
    this.#registered = true;
    this.#notify();
  }

  /** Removes a server and every ownership it held (the main process saw the worker die). */
  unregister(id: string): void {
    if (!this.#servers.delete(id)) return;
    for (const [logicalId, o] of this.#owners) if (o.server === id) this.#owners.delete(logicalId);
    this.#notify();
  }

  servers(): ServerInfo[] {
    return [...this.#servers.values()].map((s) => ({ ...s }));
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
    const current = this.#owners.get(logicalId);
    if ((current?.epoch ?? null) !== expectedEpoch || !this.#servers.has(server)) return undefined;
    const o: Ownership = { logicalId, server, epoch: ++this.#epoch };
    this.#owners.set(logicalId, o);
    this.#notify();
    return { ...o };
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
    this.#leader = true;
    queueMicrotask(() => {
      if (this.#leader && this.#onLeader === onLeader) onLeader(true);
    });
  }

  get leader(): boolean {
    return this.#leader;
  }

  async channelId(name: string): Promise<number> {
    this.#open();
    const id = this.#deps.channelIdForName(name);
    this.#channels.set(name, id);
    return id;
  }

  /** Memory: no store requests. */
  get storeOpsByMethod(): Record<string, number> {
    return {};
  }

  channels(): ReadonlyMap<string, number> {
    return new Map(this.#channels);
  }

  /** One machine: every server shares the store, whose ids never collide. */
  idBlock(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Memory is the authority: contact is always current once a server is registered. */
  lastContact(): number {
    return this.#registered && !this.#closed ? this.#deps.clock.now() : -Infinity;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const hadServers = this.#servers.size > 0 || this.#owners.size > 0;
    this.#servers.clear();
    this.#owners.clear();
    if (this.#leader) {
      this.#leader = false;
      this.#onLeader?.(false);
    }
    if (hadServers) this.#notify();
    return Promise.resolve();
  }

  #open(): void {
    if (this.#closed) throw new Error("LocalCoordinator is closed");
  }

  /** Listeners run once per turn of the event loop after a change, never inside the mutating call. */
  #notify(): void {
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      for (const cb of [...this.#listeners]) cb();
    });
  }
}
