/**
 * What a joined node costs control in memory (issue 13: 10^6 simulated nodes must fit this
 * machine). For each size N (default 1000 and 3000): a control center on a ManualClock and an
 * in-memory network (tiered topology, authentication on), an origin and N agents joined through
 * the real handshake (common/control-link.ts on the node side), then heartbeating what their
 * ASSIGNs say for `intervals` intervals (default 8: past probation, every node placed, the
 * congestion monitor and the DCM holding their reports). Then control alone is measured: the
 * V8 heap used with everything alive minus the heap used once control is stopped, its transport
 * closed and dropped (a forced collection before each reading, so run with --expose-gc, as the
 * npm script does). The nodes' own side of the bench is alive in both readings and cancels out;
 * so does everything shared. SQLite's memory (the store, :memory: here) is outside the V8 heap
 * and not counted. The figure that matters is the slope: bytes per node between the two sizes.
 *
 * Prints a table, then as its last line one JSON object.
 *
 *   npm run bench:memory [-- --nodes 1000,3000 --intervals 8 --snapshot /tmp/mem]
 *
 * `--snapshot PREFIX` also writes two V8 heap snapshots at the larger size, PREFIX-alive and
 * PREFIX-dropped (.heapsnapshot): `node --import tsx bench/control-memory-snapshot.ts PREFIX`
 * lists what control held, by kind of object (the objects of the first not in the second).
 */
import { generateKeyPairSync } from "node:crypto";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { writeHeapSnapshot } from "node:v8";
import { ControlLink } from "../common/control-link.js";
import { ControlCenter } from "../control/control-center.js";
import { parseRegionPolicy } from "../control/regions.js";
import { SqliteNodeStore } from "../control/store.js";
import { rawPublicKey } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type HeartbeatBody,
  JoinError,
  type JoinBody,
  type LinkState,
  MsgType,
  NatType,
  Role,
} from "../protocol/messages.js";
import { jsonLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const SIZES = option("nodes", "1000,3000").split(",").map(Number);
const INTERVALS = Number(option("intervals", "8"));
const SNAPSHOT = option("snapshot", "");
if (SIZES.length !== 2 || !SIZES.every((n) => Number.isInteger(n) && n > 0) || SIZES[0]! >= SIZES[1]!)
  throw new Error("--nodes: two sizes, the smaller first, e.g. 1000,3000");
if (!Number.isInteger(INTERVALS) || INTERVALS < 4) throw new Error("--intervals: an integer, 4 or more");
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:memory does)");

const HB_MS = 1000;
const STREAM_KBPS = 2000;
const START = Date.UTC(2026, 4, 17, 12, 0, 0);
const CONTROL: Address = { address: "10.0.0.1", port: 7700 };
/** Upload capacities of the agents (kbit/s), in turn: a mix that makes a tree several levels deep. */
const UPLOADS = [8000, 4000, 2000, 2000, 1000, 1000, 400, 0];
const REGIONS = parseRegionPolicy({
  default: "default",
  regions: [1, 2, 3, 4].map((r) => ({ name: `region-${r}`, prefixes: [`10.${r}.0.0/16`] })),
});
const NO_LIMITS = {
  perPrefixPerSec: 1e9,
  perPrefixBurst: 1e9,
  totalPerSec: 1e9,
  totalBurst: 1e9,
  unprovenPerSec: 1e9,
  unprovenBurst: 1e9,
};

/** A node as the agent's session runs it: the real handshake, ASSIGNs checked, heartbeats from them. */
class BenchNode {
  readonly transport: MemoryTransport;
  readonly link: ControlLink;
  id = 0;
  assign: AssignBody | undefined;

  constructor(
    readonly clock: ManualClock,
    net: MemoryNetwork,
    controlKey: Uint8Array,
    address: string,
    readonly join: JoinBody,
  ) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const identity = { privateKey, publicKey: rawPublicKey(privateKey) };
    join.key = identity.publicKey;
    this.transport = net.bind(address);
    this.link = new ControlLink({ identity, controlKey });
    this.transport.onDatagram((buf) => this.#onDatagram(buf));
  }

  sendJoin(): void {
    this.link.restart();
    this.transport.send(this.link.join(this.join, this.clock.now()), CONTROL);
  }

  #onDatagram(buf: Buffer): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    if (msg.type === MsgType.COOKIE) {
      if (this.link.onCookie(msg.body))
        this.transport.send(this.link.join(this.join, this.clock.now()), CONTROL);
    } else if (msg.type === MsgType.JOIN_ACK) {
      const verdict = this.link.onJoinAck(buf, msg.body, msg.auth !== undefined);
      if (verdict === "accepted" && msg.body.error === JoinError.NONE) this.id = msg.body.node;
    } else if (msg.type === MsgType.ASSIGN && this.link.open(buf, msg.seq)) {
      const a = msg.body;
      const now = this.assign;
      if (now === undefined || a.version > now.version) this.assign = { ...a, children: [...a.children] };
      else if (a.version === now.version && (a.part ?? 0) > 0) now.children.push(...a.children);
    }
  }

  /** Its next HEARTBEAT, sealed by its session: links from its ASSIGN. */
  heartbeat(lastSeq: number, n: number): Buffer {
    const a = this.assign;
    const link = (node: number, i: number): LinkState => ({ node, ageMs: 5 + ((n + i) % 40), lastSeq });
    const parents = a?.parents.map((p, i) => (p === null ? null : link(p.node, i))) ?? [null];
    const body: HeartbeatBody = {
      channel: a?.channel ?? 1,
      assignVersion: a?.version ?? 0,
      parents,
      children: (a?.children ?? []).slice(0, 64).map((c, i) => link(c.node, i)),
      buffers: parents.map((_, i) => 300 + ((n * 7 + i) % 200)),
      resources: {
        uploadKbps: this.join.uploadKbps / 2,
        nat: NatType.PORT_RESTRICTED,
        cacheBytes: 40_000_000 + n * 1_316,
        cpuPct: 3 + (n % 20),
        rssMB: 60 + (n % 30),
        loss: (n % 50) / 5000,
      },
      newestSegment: 1_000 + n,
    };
    return this.link.seal({
      v: WIRE_VERSION,
      type: MsgType.HEARTBEAT,
      sender: this.id,
      seq: 0,
      ts: this.clock.now(),
      body,
    });
  }
}

interface Reading {
  nodes: number;
  /** Heap control holds, bytes (everything alive minus control dropped). */
  heapBytes: number;
  /** ArrayBuffer bytes control holds (Buffers' backing stores: keys, ...). */
  arrayBufferBytes: number;
  joinS: number;
}

function usage(): { heap: number; arrayBuffers: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** A control with `n` agents and an origin joined and heartbeating; what control holds. */
async function measure(n: number, snapshot: string): Promise<Reading> {
  const clock = new ManualClock(START);
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const transport = net.bind(CONTROL.address, CONTROL.port);
  const { privateKey } = generateKeyPairSync("ed25519");
  let control: ControlCenter | undefined = new ControlCenter(
    {
      clock,
      transport,
      store: new SqliteNodeStore(":memory:"),
      logger: jsonLogger(clock, { proc: "control", level: "info", write: () => {} }),
      identity: { privateKey, publicKey: rawPublicKey(privateKey) },
    },
    { heartbeatMs: HB_MS, regions: REGIONS, topology: "tiered", trust: { verify: true, limits: NO_LIMITS } },
  );
  control.start();
  const key = control.publicKey;
  const t0 = performance.now();
  const nodes = [
    new BenchNode(clock, net, key, "10.0.0.2", {
      key: new Uint8Array(0),
      role: Role.ORIGIN,
      channels: ["live"],
      uploadKbps: 40 * STREAM_KBPS,
      nat: NatType.OPEN,
      httpPort: 8080,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://10.0.0.2:8080",
    }),
  ];
  nodes[0]!.sendJoin();
  clock.advance(10);
  for (let i = 0; i < n; i++) {
    const node = new BenchNode(
      clock,
      net,
      key,
      `10.${1 + (i % 4)}.${Math.floor(i / 4 / 250)}.${1 + (Math.floor(i / 4) % 250)}`,
      {
        key: new Uint8Array(0),
        role: Role.AGENT,
        channels: ["live"],
        uploadKbps: UPLOADS[i % UPLOADS.length]!,
        nat: NatType.PORT_RESTRICTED,
        httpPort: 8081,
      },
    );
    node.sendJoin();
    nodes.push(node);
    if (i % 50 === 49) clock.advance(10);
  }
  for (let i = 0; i < 100 && nodes.some((x) => x.id === 0 || !x.link.established); i++) clock.advance(100);
  const unjoined = nodes.filter((x) => x.id === 0 || !x.link.established).length;
  if (unjoined > 0) throw new Error(`${unjoined} of ${n + 1} nodes did not complete the handshake`);
  let position = 2 ** 31;
  for (let k = 0; k < INTERVALS; k++) {
    for (const x of nodes) x.transport.send(x.heartbeat(position & 0xffff, x.id + position), CONTROL);
    clock.advance(HB_MS);
    position += 1_000;
  }
  const joinS = (performance.now() - t0) / 1000;
  const unplaced = nodes.filter((x) => x.assign === undefined).length;
  if (unplaced > 0) throw new Error(`${unplaced} of ${n + 1} nodes have no ASSIGN`);
  if (control.clients.size !== n + 1)
    throw new Error(`control holds ${control.clients.size} of ${n + 1} nodes`);
  const alive = usage();
  if (snapshot !== "") writeHeapSnapshot(`${snapshot}-alive.heapsnapshot`);
  control.stop();
  await transport.close();
  control = undefined;
  // The ManualClock's due timers of control (pacers) are let go with it: advance past them.
  clock.advance(HB_MS);
  const dropped = usage();
  if (snapshot !== "") writeHeapSnapshot(`${snapshot}-dropped.heapsnapshot`);
  // The nodes stay alive through both readings.
  if (nodes.length !== n + 1) throw new Error("unreachable");
  return {
    nodes: n + 1,
    heapBytes: alive.heap - dropped.heap,
    arrayBufferBytes: alive.arrayBuffers - dropped.arrayBuffers,
    joinS,
  };
}

const LOAD = loadavg();
const readings: Reading[] = [];
for (const n of SIZES) readings.push(await measure(n, n === SIZES[1] ? SNAPSHOT : ""));
const [a, b] = readings as [Reading, Reading];
const perNode = (b.heapBytes - a.heapBytes) / (b.nodes - a.nodes);
const perNodeBuffers = (b.arrayBufferBytes - a.arrayBufferBytes) / (b.nodes - a.nodes);
const kb = (x: number): string => `${(x / 1024).toFixed(2)} KB`;
console.log(
  `control's memory per joined node on node ${process.version}: tiered topology, authentication on, ` +
    `${INTERVALS} heartbeat intervals after the joins; load average at start ${LOAD.map((l) => l.toFixed(1)).join(" ")}`,
);
console.log(
  `${"nodes".padStart(8)}${"control heap".padStart(16)}${"per node".padStart(12)}${"ArrayBuffers".padStart(16)}${"set-up".padStart(10)}`,
);
for (const r of readings)
  console.log(
    `${String(r.nodes).padStart(8)}${kb(r.heapBytes).padStart(16)}${kb(r.heapBytes / r.nodes).padStart(12)}` +
      `${kb(r.arrayBufferBytes).padStart(16)}${`${r.joinS.toFixed(1)} s`.padStart(10)}`,
  );
console.log(
  `per extra node between ${a.nodes} and ${b.nodes}: heap ${kb(perNode)}, ArrayBuffers ${kb(perNodeBuffers)}`,
);
const round = (x: number): number => Math.round(x);
console.log(
  JSON.stringify({
    sizes: readings.map((r) => r.nodes),
    heapBytes: readings.map((r) => round(r.heapBytes)),
    arrayBufferBytes: readings.map((r) => round(r.arrayBufferBytes)),
    heapBytesPerNode: round(perNode),
    arrayBufferBytesPerNode: round(perNodeBuffers),
    intervals: INTERVALS,
    loadAverage: Math.round(LOAD[0]! * 100) / 100,
  }),
);
