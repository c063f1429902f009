/**
 * The simulated world (docs/sim.md): one real ControlCenter (tiered engine, a real SqliteNodeStore
 * on a temp file, authentication on) on a ManualClock and a MemoryNetwork, the origin as a
 * simulated node with role ORIGIN, and N simulated viewers (sim/viewer.ts) in R regions, driven
 * by one timing wheel. Control gets its clock and transport through a ControlMeter
 * (sim/measure.ts): every control event is timed, nothing else is.
 *
 * Keys: control's and the origin's from fixed seeds, the viewers' fresh (making one costs an
 * eighth of importing one from a seed as DER) and kept as JWK strings, not KeyObjects
 * (CompactIdentity, sim/viewer.ts); control numbers nodes in arrival order, not by key.
 * Seeded: the network's jitter, the viewers' uploads,
 * regions, start times and back-off jitter all come from mulberry32(seed); the only randomness
 * left is the crypto's (ephemeral keys, nonces, cookies, tickets), which changes bytes but
 * neither sizes nor timing, so two runs with the same seed place the same nodes the same way.
 *
 * Addresses: region r's viewers are 10.(16+r).x.y (policy prefix 10.(16+r).0.0/16; 65,534 viewers
 * per region at most, so 10^6 viewers need 16 regions or more), control 10.0.0.1:7700, the origin
 * 10.0.0.2.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mulberry32 } from "../seams/prng.js";
import { ControlCenter } from "../control/control-center.js";
import { parseRegionPolicy } from "../control/regions.js";
import { SqliteNodeStore } from "../control/store.js";
import { Role } from "../protocol/messages.js";
import type { Fields, Logger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";
import { ControlMeter } from "./measure.js";
import { Dcm } from "../control/dcm/dcm.js";

/**
 * Plans and repairs timed apart: every Dcm.reconcile (control's planner calls it a slice at a
 * time; handlers only mark a DCM) is timed into the meter of the world whose control was made
 * last. Patched once per process; outside a world it runs untimed.
 */
const timedReconciles: { meter: ControlMeter | undefined } = { meter: undefined };
{
  const reconcile = Dcm.prototype.reconcile;
  Dcm.prototype.reconcile = function (this: Dcm) {
    const meter = timedReconciles.meter;
    return meter === undefined ? reconcile.call(this) : meter.timeReconcile(() => reconcile.call(this));
  };
}
import { identityFromSeed, Viewer, type StreamClock, type ViewerScheduler } from "./viewer.js";

export interface WorldOptions {
  seed: number;
  regions: number;
  /** Heartbeat interval control tells the nodes (JOIN_ACK.heartbeatMs). */
  heartbeatMs: number;
  /** One-way latency and uniform jitter of the simulated network, ms. */
  latencyMs: number;
  jitterMs: number;
  /** "control": control's own join limits (what ships); "open": none (join rate not under test). */
  joinLimits: "control" | "open";
  /** Resolution of the viewers' timing wheel, ms. */
  wheelMs: number;
  /** Events longer than this count as stalls, ms. */
  stallLimitMs: number;
}

export const DEFAULT_WORLD: WorldOptions = {
  seed: 1,
  regions: 4,
  heartbeatMs: 5000,
  latencyMs: 5,
  jitterMs: 5,
  joinLimits: "control",
  wheelMs: 10,
  stallLimitMs: 100,
};

export const START_MS = Date.UTC(2026, 0, 1, 0, 0, 0);
export const CONTROL_ADDRESS: Address = { address: "10.0.0.1", port: 7700 };
const ORIGIN_HOST = "10.0.0.2";
const CHANNEL = "live";
const STREAM_KBPS = 2000;
/** Upload capacities of the viewers, kbit/s, in equal shares: 1.9 streams per viewer on average, room for all. */
const UPLOADS = [8000, 8000, 4000, 4000, 4000, 2000, 1000, 400];
const VIEWERS_PER_REGION = 65_534;
const NO_LIMITS = {
  perPrefixPerSec: 1e9,
  perPrefixBurst: 1e9,
  totalPerSec: 1e9,
  totalBurst: 1e9,
  unprovenPerSec: 1e9,
  unprovenBurst: 1e9,
};

/** Control's log, counted by event; node_lost keeps the lost ids, errors their first messages. */
export class SimLogger implements Logger {
  readonly counts = new Map<string, number>();
  readonly lost: number[] = [];
  readonly errors: string[] = [];

  debug(): void {}
  info(event: string, fields?: Fields): void {
    this.#count(event);
    if (process.env.SIM_DEBUG_EVENTS?.split(",").includes(event))
      console.error(event, JSON.stringify(fields));
  }
  warn(event: string, fields?: Fields): void {
    this.#count(event);
    if (event === "node_lost" && typeof fields?.node === "number") this.lost.push(fields.node);
    if (process.env.SIM_DEBUG_EVENTS?.split(",").includes(event))
      console.error(event, JSON.stringify(fields));
  }
  error(event: string, fields?: Fields): void {
    this.#count(event);
    if (this.errors.length < 5) this.errors.push(`${event}: ${JSON.stringify(fields).slice(0, 400)}`);
  }
  child(): Logger {
    return this;
  }
  #count(event: string): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
  }
}

/** One clock interval wakes the viewers due in each slot of `wheelMs`. */
class Wheel implements ViewerScheduler {
  readonly #slots = new Map<number, Viewer[]>();
  readonly #ms: number;
  #cursor: number;

  constructor(clock: ManualClock, ms: number) {
    this.#ms = ms;
    this.#cursor = Math.floor(clock.now() / ms);
    clock.setInterval(() => this.#run(clock.now()), ms);
  }

  wake(v: Viewer, at: number): void {
    const slot = Math.max(this.#cursor + 1, Math.ceil(at / this.#ms));
    const list = this.#slots.get(slot);
    if (list === undefined) this.#slots.set(slot, [v]);
    else list.push(v);
  }

  #run(now: number): void {
    const until = Math.floor(now / this.#ms);
    for (let s = this.#cursor + 1; s <= until; s++) {
      this.#cursor = s;
      const list = this.#slots.get(s);
      if (list === undefined) continue;
      this.#slots.delete(s);
      for (const v of list) v.tick(now);
    }
  }
}

export class World {
  readonly options: WorldOptions;
  readonly clock: ManualClock;
  readonly net: MemoryNetwork;
  readonly meter: ControlMeter;
  readonly logger = new SimLogger();
  readonly rng: () => number;
  readonly viewers: Viewer[] = [];
  /** Control's node id -> viewer (filled as JOIN_ACKs come: byId()). */
  readonly #byId = new Map<number, Viewer>();
  readonly #viewerRandom: () => number;
  readonly #wheel: Wheel;
  readonly #dir: string;
  readonly store: SqliteNodeStore;
  readonly identity = identityFromSeed(0xc000_0001);
  #control: ControlCenter | undefined;
  #controlTransport: MemoryTransport;
  origin: Viewer;
  readonly stream: StreamClock;

  constructor(options: Partial<WorldOptions> = {}) {
    this.options = { ...DEFAULT_WORLD, ...options };
    const o = this.options;
    this.clock = new ManualClock(START_MS);
    this.net = new MemoryNetwork(this.clock, { latencyMs: o.latencyMs, jitterMs: o.jitterMs, seed: o.seed });
    this.rng = mulberry32(o.seed);
    this.#viewerRandom = mulberry32(o.seed ^ 0x5eed);
    this.meter = new ControlMeter(this.clock, START_MS, o.stallLimitMs);
    this.#wheel = new Wheel(this.clock, o.wheelMs);
    this.stream = {
      seq: (now) => Math.floor((now - START_MS) / 5),
      segment: (now) => Math.floor((now - START_MS) / 2000),
    };
    this.#dir = mkdtempSync(join(tmpdir(), "tiercast-sim-"));
    this.store = new SqliteNodeStore(join(this.#dir, "control.db"));
    this.#controlTransport = this.net.bind(CONTROL_ADDRESS.address, CONTROL_ADDRESS.port);
    this.#control = this.#newControl();
    this.#control.start();
    this.origin = new Viewer(
      {
        transport: this.net.bind(ORIGIN_HOST),
        clock: this.clock,
        scheduler: this.#wheel,
        stream: this.stream,
      },
      {
        seed: 0xc000_0002,
        role: Role.ORIGIN,
        uploadKbps: 40 * STREAM_KBPS,
        streamKbps: STREAM_KBPS,
        channel: CHANNEL,
        control: CONTROL_ADDRESS,
        controlKey: this.identity.publicKey,
      },
    );
  }

  /** The control center now running. */
  get control(): ControlCenter {
    if (this.#control === undefined) throw new Error("control was detached");
    return this.#control;
  }

  /** Simulated ms since the start. */
  get elapsed(): number {
    return this.clock.now() - START_MS;
  }

  #newControl(): ControlCenter {
    const o = this.options;
    const regions = parseRegionPolicy({
      default: "region-0",
      regions: Array.from({ length: o.regions }, (_, r) => ({
        name: `region-${r}`,
        prefixes: [`10.${16 + r}.0.0/16`],
      })),
    });
    const control = new ControlCenter(
      {
        clock: this.meter.clock(),
        transport: this.meter.transport(this.#controlTransport),
        store: this.store,
        logger: this.logger,
        identity: this.identity,
      },
      {
        heartbeatMs: o.heartbeatMs,
        regions,
        topology: "tiered",
        // offThread false: a simulated run never turns the event loop, so answers from libuv's
        // pool would never be taken (the thread checks and generates itself meanwhile, and the
        // pool's work piled up: 80 MB of native memory and the CPU counted twice at 10^4).
        trust: { verify: true, offThread: false, ...(o.joinLimits === "open" ? { limits: NO_LIMITS } : {}) },
      },
    );
    this.meter.metrics = control.metrics;
    timedReconciles.meter = this.meter;
    return control;
  }

  /** The origin joins and offers the channel. */
  startOrigin(): void {
    this.origin.start();
  }

  /** Makes `n` viewers (not started), spread over the regions in turn; returns them. */
  addViewers(n: number): Viewer[] {
    const o = this.options;
    if (this.viewers.length + n > o.regions * VIEWERS_PER_REGION)
      throw new RangeError(`${o.regions} regions hold at most ${o.regions * VIEWERS_PER_REGION} viewers`);
    const out: Viewer[] = [];
    for (let k = 0; k < n; k++) {
      const i = this.viewers.length;
      const r = i % o.regions;
      const j = Math.floor(i / o.regions) + 1;
      const host = `10.${16 + r}.${j >> 8}.${j & 255}`;
      const v = new Viewer(
        {
          transport: this.net.bind(host, 5000),
          clock: this.clock,
          scheduler: this.#wheel,
          stream: this.stream,
          random: this.#viewerRandom,
        },
        {
          region: `region-${r}`,
          uploadKbps: UPLOADS[Math.floor(this.rng() * UPLOADS.length)]!,
          channel: CHANNEL,
          control: CONTROL_ADDRESS,
          controlKey: this.identity.publicKey,
        },
      );
      this.viewers.push(v);
      out.push(v);
    }
    return out;
  }

  /** Region index of viewer i. */
  regionOf(v: Viewer): number {
    return Number(v.config.region?.slice("region-".length) ?? 0);
  }

  /** Starts each viewer at its time (ms from now), one clock timer per distinct 10 ms. */
  startAt(viewers: readonly Viewer[], delays: readonly number[]): void {
    const order = viewers.map((v, i) => ({ v, at: delays[i]! })).sort((a, b) => a.at - b.at);
    let next = 0;
    const step = (): void => {
      const now = this.elapsed;
      while (next < order.length && order[next]!.at + base <= now) order[next++]!.v.start();
      if (next < order.length) this.clock.setTimeout(step, Math.max(1, order[next]!.at + base - now));
    };
    const base = this.elapsed;
    if (order.length > 0) this.clock.setTimeout(step, order[0]!.at);
  }

  /** Runs simulated time in steps of `stepMs` until `done()` holds or `maxMs` passed; simulated ms taken. */
  runUntil(done: () => boolean, maxMs: number, stepMs = 100): number {
    const start = this.clock.now();
    while (this.clock.now() - start < maxMs) {
      if (done()) break;
      this.clock.advance(Math.min(stepMs, maxMs - (this.clock.now() - start)));
    }
    return this.clock.now() - start;
  }

  run(ms: number, stepMs = 100): void {
    this.runUntil(() => false, ms, stepMs);
  }

  byId(id: number): Viewer | undefined {
    if (this.#byId.size === 0 || !this.#byId.has(id)) {
      for (const v of this.viewers) if (v.nodeId !== 0) this.#byId.set(v.nodeId, v);
    }
    return this.#byId.get(id);
  }

  /** Viewers in a session with a place (an ASSIGN with a parent), of those in `set`. */
  placed(set: readonly Viewer[] = this.viewers): number {
    let n = 0;
    for (const v of set) if (isPlaced(v)) n++;
    return n;
  }

  /** Control stops (killed); its port goes quiet. */
  killControl(): void {
    this.control.stop();
    void this.#controlTransport.close();
  }

  /** A fresh ControlCenter on the same store, identity and port. */
  restartControl(): void {
    this.#controlTransport = this.net.bind(CONTROL_ADDRESS.address, CONTROL_ADDRESS.port);
    this.#control = this.#newControl();
    this.#control.start();
  }

  /** Control stops and the world lets go of it (its heap can then be told apart from the viewers'). */
  detachControl(): void {
    if (this.#control === undefined) return;
    this.killControl();
    this.#control = undefined;
    this.meter.metrics = undefined;
  }

  close(): void {
    this.#control?.stop();
    this.#control = undefined;
    this.store.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** In a session, with an ASSIGN that names at least one parent. */
export function isPlaced(v: Viewer): boolean {
  return (
    (v.phase === "joined" || v.phase === "resuming") && v.assignVersion > 0 && v.parents.some((p) => p !== 0)
  );
}
