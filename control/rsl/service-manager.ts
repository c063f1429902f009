/**
 * The service manager (the seed's FIG. 1 item 110 and FIG. 8's primary / backup): it makes sure
 * every channel's DCM has a live owner. It is level-triggered: whatever happened (a first origin
 * of a channel, a server that died, a new primary after an election), reconcile() compares the
 * channels that must be served with the RSL map and assigns each unowned logical id to the live
 * server with the fewest DCMs, compare-and-set on the id's epoch (two primaries for a moment, or
 * a stale cache, cannot both win). Only the primary (the coordinator's leader) writes; a backup
 * runs the same loop and does nothing until it is elected.
 */
import type { Logger } from "../../seams/log.js";
import { dcmLogicalId } from "../content-directory.js";
import type { Coordinator, Ownership } from "./coordinator.js";

export interface ServiceManagerDeps {
  coordinator: Coordinator;
  logger: Logger;
  /** The channels that must be served: every channel an origin has offered (the content directory). */
  channels(): string[];
  /** Whether a server may take new DCMs (default: every live one). */
  eligible?(serverId: string): boolean;
}

const MAX_PASSES = 3;

export class ServiceManager {
  readonly #deps: ServiceManagerDeps;
  /** Channels asked for in this run before the content directory lists them (a first origin). */
  readonly #wanted = new Set<string>();
  #running: Promise<void> | undefined;
  #again = false;
  #assigned = 0;

  constructor(deps: ServiceManagerDeps) {
    this.#deps = deps;
  }

  /** Logical ids this manager has assigned (metrics). */
  get assigned(): number {
    return this.#assigned;
  }

  /** An origin offers `channel`: its DCM gets an owner; resolves with it (undefined when none could be had). */
  async want(channel: string): Promise<Ownership | undefined> {
    this.#wanted.add(channel);
    await this.reconcile();
    return this.#deps.coordinator.ownership(dcmLogicalId(channel));
  }

  /** One pass over the channels (a pass already running runs once more when it ends). */
  reconcile(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        // A failed compare-and-set asks for another pass; a few are enough, the next change of
        // the RSL map (or the caller's timer) triggers the next.
        for (let pass = 0; pass < MAX_PASSES && (pass === 0 || this.#again); pass++) {
          this.#again = false;
          await this.#pass();
        }
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #pass(): Promise<void> {
    const { coordinator, logger } = this.#deps;
    if (!coordinator.leader) return;
    const eligible = this.#deps.eligible ?? (() => true);
    const live = coordinator.servers().filter((s) => eligible(s.id));
    if (live.length === 0) return;
    const load = new Map<string, number>(live.map((s) => [s.id, 0]));
    for (const o of coordinator.allOwnership())
      if (load.has(o.server)) load.set(o.server, load.get(o.server)! + 1);
    const channels = new Set([...this.#deps.channels(), ...this.#wanted]);
    for (const channel of [...channels].sort()) {
      const id = dcmLogicalId(channel);
      const current = coordinator.ownership(id);
      if (current !== undefined && load.has(current.server)) continue;
      const [server] = [...load].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]!;
      const o = await coordinator.assign(id, server, current?.epoch ?? null);
      if (o === undefined) {
        // Someone moved it first (another primary for a moment, or our cache was behind): next pass.
        this.#again = true;
        continue;
      }
      this.#assigned++;
      load.set(server, load.get(server)! + 1);
      logger.info("dcm_assigned", {
        dcm: id,
        channel,
        server,
        epoch: o.epoch,
        previous: current?.server ?? null,
      });
    }
  }
}
