/**
 * Control's heartbeat path on one core, with and without authentication (issue 11: the cost of
 * authentication must stay under 25 %). Two control centers, each on a ManualClock and an
 * in-memory network, each with the same N nodes (default 1000 agents and an origin) joined
 * through the real handshake (common/control-link.ts on the node side: COOKIE, signed JOIN,
 * signed JOIN_ACK, session keys):
 *
 *   auth    trust.verify true: every HEARTBEAT carries its session tag; control checks the tag
 *           and the counter (replay window) before it applies the heartbeat
 *   plain   trust.verify false: untagged HEARTBEATs, applied unchecked
 *
 * The nodes heartbeat what their ASSIGNs say (parents, children, buffers, resources), so the
 * heartbeats are as large as a real tree makes them and control does its full work on each:
 * decode, authenticate, apply (liveness, upload, region quality, the DCM's link report, the
 * ASSIGN version). A round is `intervals` heartbeat intervals (default 1). Before each interval
 * every node's next heartbeat (its next counter, from its current ASSIGN) is encoded, untimed;
 * then they are handed to control's datagram handler (the MemoryTransport's delivery) one after
 * another, as fast as it takes them, timed; the clock then moves one interval on, untimed
 * (liveness and congestion ticks run there, and the ASSIGNs they send arrive). Rounds alternate
 * auth, plain, auth, plain, ... so that machine noise hits both; the first tenth of the pairs
 * warm up the JIT and are not counted. The auth cost is the median over the pairs of each pair's
 * ratio (also its quartiles, and the ratio of each mode's best round). The UDP socket's own
 * receive cost is not in either figure. The rounds are also timed in this process's CPU time
 * (process.cpuUsage): on a machine that other jobs load, the wall clock counts the time the
 * process waited for a core, the CPU time much less so.
 *
 * Also measured: checkTag alone and control's session check alone (tag, replay window) on the
 * run's own heartbeats, decoding with and without the tag, and the worst-case HEARTBEAT's size
 * with its tag. The run checks that every heartbeat was applied and none failed authentication,
 * and ends by changing one heartbeat after it was sealed: the authenticating control must refuse
 * it (the checks were on) and the other take it. No forced collection between intervals: with
 * --expose-gc and gc() before each, both modes ran 3 to 4 times slower and far noisier.
 *
 * Prints a table, then as its last line one JSON object.
 *
 *   npm run bench:auth [-- --nodes 1000 --rounds 60 --intervals 1 --topology tiered|tree]
 */
import { generateKeyPairSync } from "node:crypto";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { ControlLink } from "../common/control-link.js";
import { ControlCenter } from "../control/control-center.js";
import { parseRegionPolicy } from "../control/regions.js";
import { SqliteNodeStore } from "../control/store.js";
import { checkTag, encodeTagged, rawPublicKey } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { HEARTBEAT_BUDGET_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  JoinError,
  type JoinBody,
  type LinkState,
  type MessageOf,
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

const NODES = Number(option("nodes", "1000"));
const ROUNDS = Number(option("rounds", "60"));
const INTERVALS = Number(option("intervals", "1"));
const TOPOLOGY = option("topology", "tiered") as "tiered" | "tree";
if (![NODES, ROUNDS, INTERVALS].every((n) => Number.isInteger(n) && n > 0) || ROUNDS < 4)
  throw new Error("--nodes, --intervals: positive integers; --rounds: 4 or more");
/** Pairs that warm up the JIT and are not counted. */
const WARMUP = Math.max(1, Math.floor(ROUNDS / 10));
if (TOPOLOGY !== "tiered" && TOPOLOGY !== "tree") throw new Error("--topology: tiered or tree");

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
/** Join rates are not what this measures: no limit. */
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
  #plainSeq = 0;

  constructor(
    readonly bench: Bench,
    address: string,
    readonly join: JoinBody,
  ) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const identity = { privateKey, publicKey: rawPublicKey(privateKey) };
    join.key = identity.publicKey;
    this.transport = bench.net.bind(address);
    this.link = new ControlLink({ identity, controlKey: bench.control.publicKey });
    this.transport.onDatagram((buf) => this.#onDatagram(buf));
  }

  get from(): Address {
    return this.transport.local;
  }

  sendJoin(): void {
    this.link.restart();
    this.transport.send(this.link.join(this.join, this.bench.clock.now()), CONTROL);
  }

  #onDatagram(buf: Buffer): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    if (msg.type === MsgType.COOKIE) {
      if (this.link.onCookie(msg.body))
        this.transport.send(this.link.join(this.join, this.bench.clock.now()), CONTROL);
    } else if (msg.type === MsgType.JOIN_ACK) {
      const verdict = this.link.onJoinAck(buf, msg.body, msg.auth !== undefined);
      if (verdict === "accepted" && msg.body.error === JoinError.NONE) this.id = msg.body.node;
    } else if (msg.type === MsgType.ASSIGN && this.link.open(buf, msg.seq)) {
      const a = msg.body;
      const now = this.assign;
      // A large ASSIGN (the origin's) comes in parts: children and mesh are split over them.
      if (now === undefined || a.version > now.version) this.assign = { ...a, children: [...a.children] };
      else if (a.version === now.version && (a.part ?? 0) > 0) now.children.push(...a.children);
    }
  }

  /** The HEARTBEAT its session sends at `ts`: links from its ASSIGN, `seq` the low bits of the stream position. */
  heartbeat(ts: number, lastSeq: number, n: number): MessageOf<MsgType.HEARTBEAT> {
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
        uploadKbps: (this.join.uploadKbps * (n % 10)) / 10,
        nat: NatType.PORT_RESTRICTED,
        cacheBytes: 40_000_000 + n * 1_316,
        cpuPct: 3 + (n % 20),
        rssMB: 60 + (n % 30),
        loss: (n % 50) / 5000,
      },
      newestSegment: 1_000 + Math.floor(n / 2),
    };
    return { v: WIRE_VERSION, type: MsgType.HEARTBEAT, sender: this.id, seq: 0, ts, body };
  }

  /** Sealed by the session (its next counter and the tag), or plain (the next counter, no tag). */
  encode(msg: ControlMessage, tagged: boolean): Buffer {
    return tagged ? this.link.seal(msg) : encodeControl({ ...msg, seq: ++this.#plainSeq });
  }
}

/** One control center and its nodes. */
class Bench {
  readonly clock = new ManualClock(START);
  readonly net = new MemoryNetwork(this.clock, { latencyMs: 1 });
  readonly transport: MemoryTransport;
  readonly control: ControlCenter;
  readonly nodes: BenchNode[] = [];
  /** The stream position the heartbeats report (the same on every link: no link lags). */
  #position = 2 ** 31;

  constructor(readonly verify: boolean) {
    this.transport = this.net.bind(CONTROL.address, CONTROL.port);
    const { privateKey } = generateKeyPairSync("ed25519");
    this.control = new ControlCenter(
      {
        clock: this.clock,
        transport: this.transport,
        store: new SqliteNodeStore(":memory:"),
        logger: jsonLogger(this.clock, { proc: "control", level: "info", write: () => {} }),
        identity: { privateKey, publicKey: rawPublicKey(privateKey) },
      },
      {
        heartbeatMs: HB_MS,
        regions: REGIONS,
        topology: TOPOLOGY,
        trust: { verify, limits: NO_LIMITS },
      },
    );
    this.control.start();
  }

  /** The origin and NODES agents join through the handshake, then heartbeat until each has its place; seconds of each. */
  setUp(): { joinS: number; settleS: number } {
    const t0 = performance.now();
    const origin = new BenchNode(this, "10.0.0.2", {
      key: new Uint8Array(0),
      role: Role.ORIGIN,
      channels: ["live"],
      uploadKbps: 40 * STREAM_KBPS,
      nat: NatType.OPEN,
      httpPort: 8080,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://10.0.0.2:8080",
    });
    origin.sendJoin();
    this.clock.advance(10);
    this.nodes.push(origin);
    for (let i = 0; i < NODES; i++) {
      const node = new BenchNode(
        this,
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
      this.nodes.push(node);
      if (i % 50 === 49) this.clock.advance(10);
    }
    this.clock.advance(10);
    const unjoined = this.nodes.filter((n) => n.id === 0 || !n.link.established).length;
    if (unjoined > 0) throw new Error(`${unjoined} nodes did not complete the handshake`);
    const t1 = performance.now();
    // Probation ends after two authenticated heartbeats; then ASSIGNs come and settle.
    for (let i = 0; i < 6; i++) {
      for (const n of this.nodes) n.transport.send(n.encode(this.#heartbeat(n), true), CONTROL);
      this.clock.advance(HB_MS);
      this.#position += 1_000;
    }
    const unplaced = this.nodes.filter((n) => n.assign === undefined).length;
    if (unplaced > 0) throw new Error(`${unplaced} nodes have no ASSIGN`);
    return { joinS: (t1 - t0) / 1000, settleS: (performance.now() - t1) / 1000 };
  }

  #heartbeat(n: BenchNode): MessageOf<MsgType.HEARTBEAT> {
    return n.heartbeat(this.clock.now(), this.#position & 0xffff, n.id + this.#position);
  }

  /** The heartbeat of every node for the coming interval, encoded (tagged by its session in auth). */
  encodeInterval(): Buffer[] {
    const ts = this.clock.now();
    const position = this.#position;
    return this.nodes.map((n) => n.encode(n.heartbeat(ts, position & 0xffff, n.id + position), this.verify));
  }

  /**
   * `intervals` heartbeat intervals: each interval's heartbeats are encoded from the nodes' current
   * ASSIGNs (untimed), handed to control one after another (timed), then the clock moves one
   * interval on (untimed). The time spent in control, ms: wall clock, and this process's CPU time.
   */
  run(intervals: number): { ms: number; cpuMs: number } {
    const before = this.#counters();
    const deliver = this.transport;
    const from = this.nodes.map((n) => n.from);
    let ms = 0;
    let cpuMs = 0;
    for (let k = 0; k < intervals; k++) {
      const interval = this.encodeInterval();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < interval.length; i++) deliver.receive(interval[i]!, from[i]!);
      ms += performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpuMs += (c.user + c.system) / 1000;
      this.clock.advance(HB_MS);
      this.#position += 1_000;
    }
    const after = this.#counters();
    const sent = intervals * this.nodes.length;
    if (after.heartbeats - before.heartbeats !== sent || after.failed !== before.failed || after.errors !== 0)
      throw new Error(
        `${this.verify ? "auth" : "plain"}: ${after.heartbeats - before.heartbeats} of ${sent} heartbeats applied, ` +
          `${after.failed - before.failed} failed authentication, ${after.errors} handler errors`,
      );
    return { ms, cpuMs };
  }

  /** One heartbeat of the first agent with a field changed after it was sealed (its tag kept): whether control applied it. */
  tamperedApplied(): boolean {
    const n = this.nodes[1]!;
    const r = decodeControl(n.encode(n.heartbeat(this.clock.now(), this.#position & 0xffff, 0), this.verify));
    if (!r.ok || r.value.type !== MsgType.HEARTBEAT)
      throw new Error("the node's own heartbeat does not decode");
    const forged = encodeControl({ ...r.value, body: { ...r.value.body, newestSegment: 0xfffffff0 } });
    const before = this.control.metrics.heartbeats;
    this.transport.receive(forged, n.from);
    return this.control.metrics.heartbeats > before;
  }

  #counters(): { heartbeats: number; failed: number; errors: number } {
    const m = this.control.metrics;
    return {
      heartbeats: m.heartbeats,
      failed: [...m.authFailed.values()].reduce((a, b) => a + b, 0) + m.unknownSender,
      errors: m.handlerErrors,
    };
  }
}

/** Keeps results alive so the JIT cannot drop the work. */
let sink: unknown;

function usPerOp(fn: (i: number) => unknown, ms = 600): number {
  let i = 0;
  const warmEnd = performance.now() + 200;
  while (performance.now() < warmEnd) for (let b = 0; b < 64; b++) sink = fn(i++);
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let b = 0; b < 64; b++) sink = fn(i++);
    ops += 64;
    now = performance.now();
  }
  return ((now - start) * 1000) / ops;
}

/** The q-quantile (0..1) of xs, linear between ranks. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}

const median = (xs: number[]): number => quantile(xs, 0.5);

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Other processes on the machine skew both modes (the pairs' ratio less than the rates). */
const LOAD = loadavg();
const auth = new Bench(true);
const authSetup = auth.setUp();
const plain = new Bench(false);
const plainSetup = plain.setUp();

const resentBefore = { auth: auth.control.metrics.assignsResent, plain: plain.control.metrics.assignsResent };
// A B A B ...: each round's time per heartbeat, µs.
const perHb = { auth: [] as number[], plain: [] as number[] };
// The same rounds in this process's CPU time: what other jobs on a shared machine disturb least.
const cpuPerHb = { auth: [] as number[], plain: [] as number[] };
const perRound = INTERVALS * (NODES + 1);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, b] of [
    ["auth", auth],
    ["plain", plain],
  ] as const) {
    const { ms, cpuMs } = b.run(INTERVALS);
    perHb[name].push((ms * 1000) / perRound);
    cpuPerHb[name].push((cpuMs * 1000) / perRound);
  }
}
const counted = { auth: perHb.auth.slice(WARMUP), plain: perHb.plain.slice(WARMUP) };
const authUs = median(counted.auth);
const plainUs = median(counted.plain);
const authCpuUs = median(cpuPerHb.auth.slice(WARMUP));
const plainCpuUs = median(cpuPerHb.plain.slice(WARMUP));
// Each pair ran back to back: the ratio of a pair is what noise spares most.
const pairCosts = counted.auth.map((a, i) => (a / counted.plain[i]! - 1) * 100);
const authCostPct = median(pairCosts);
// The least disturbed round of each mode (on a loaded machine, the closest to the cost itself).
const bestAuthUs = Math.min(...counted.auth);
const bestPlainUs = Math.min(...counted.plain);
const bestCostPct = (bestAuthUs / bestPlainUs - 1) * 100;
const assignsDuringRun = {
  auth: auth.control.metrics.assignsResent - resentBefore.auth,
  plain: plain.control.metrics.assignsResent - resentBefore.plain,
};

// The checks were on in one and off in the other.
const tampered = { auth: auth.tamperedApplied(), plain: plain.tamperedApplied() };
if (tampered.auth || !tampered.plain)
  throw new Error(`a tampered heartbeat: applied by auth ${tampered.auth}, by plain ${tampered.plain}`);

// checkTag alone, over the run's own heartbeats (the sizes the tree gives them).
const sample = auth.encodeInterval();
const keyOf = new Map<Buffer, Uint8Array>();
for (const [i, n] of auth.nodes.entries()) {
  const s = auth.control.sessions.get(n.id);
  if (s === undefined) throw new Error(`node ${n.id} has no session at control`);
  keyOf.set(sample[i]!, s.keys.nodeToControl);
}
if (!sample.every((b) => checkTag(b, keyOf.get(b)!))) throw new Error("a heartbeat does not check");
const checkTagUs = usPerOp((i) => {
  const b = sample[i % sample.length]!;
  return checkTag(b, keyOf.get(b)!);
});
// What control runs per heartbeat to authenticate it: the session's tag, then its replay window
// (the first call records each counter; the rest are replays, refused after the same tag check).
const counterOf = new Map<Buffer, number>();
for (const b of sample) {
  const r = decodeControl(b);
  if (!r.ok) throw r.error;
  counterOf.set(b, r.value.seq);
}
const sessionOf = new Map(sample.map((b, i) => [b, auth.control.sessions.get(auth.nodes[i]!.id)!] as const));
const sessionOpenUs = usPerOp((i) => {
  const b = sample[i % sample.length]!;
  return auth.control.sessions.open(sessionOf.get(b)!, b, counterOf.get(b)!);
});
if (sink === Symbol.for("never")) console.log(sink);

const plainSample = plain.encodeInterval();
// Decoding alone, the same heartbeats with and without their tag (the tag is 18 bytes more to read).
const decodeTaggedUs = usPerOp((i) => decodeControl(sample[i % sample.length]!));
const decodePlainUs = usPerOp((i) => decodeControl(plainSample[i % plainSample.length]!));
const meanBytes = (bs: Buffer[]): number => bs.reduce((a, b) => a + b.length, 0) / bs.length;
const maxBytes = (bs: Buffer[]): number => Math.max(...bs.map((b) => b.length));

/**
 * 4 parents, 8 children, every field at its largest, as test/protocol-limits.test.ts has it: one
 * parent flagged `suspect` (an agent flags at most one per heartbeat). `flagged` parents instead:
 * what the wire would carry if a node flagged more.
 */
function worstHeartbeat(flagged = 1): MessageOf<MsgType.HEARTBEAT> {
  const M = 0xffffffff;
  const link: LinkState = { node: M, ageMs: M, lastSeq: M };
  return {
    v: WIRE_VERSION,
    type: MsgType.HEARTBEAT,
    sender: M,
    seq: M,
    ts: Number.MAX_SAFE_INTEGER,
    body: {
      channel: M,
      assignVersion: M,
      parents: [0, 1, 2, 3].map((i) => (i < flagged ? { ...link, suspect: true } : link)),
      children: Array.from({ length: 8 }, () => link),
      buffers: [M, M, M, M],
      resources: {
        uploadKbps: M,
        nat: NatType.SYMMETRIC,
        cacheBytes: Number.MAX_SAFE_INTEGER,
        cpuPct: M,
        rssMB: M,
        loss: 1,
        shed: 255,
      },
      newestSegment: M,
    },
  };
}
const worstTaggedBytes = encodeTagged(worstHeartbeat(), new Uint8Array(32)).length;
const worstTaggedBytesAllFlagged = encodeTagged(worstHeartbeat(4), new Uint8Array(32)).length;

const rate = (us: number): number => Math.round(1e6 / us);
const fmt = (n: number): string => n.toLocaleString("en-US");
console.log(
  `control's heartbeat path on node ${process.version}, one core: ${NODES} agents + an origin per control ` +
    `(${TOPOLOGY} topology); set-up (handshakes, then 6 intervals to place every node): ` +
    `auth ${authSetup.joinS.toFixed(1)} + ${authSetup.settleS.toFixed(1)} s, ` +
    `plain ${plainSetup.joinS.toFixed(1)} + ${plainSetup.settleS.toFixed(1)} s`,
);
console.log(
  `${ROUNDS} rounds each, alternating auth, plain, auth, ...; ${INTERVALS} interval(s) x ${NODES + 1} heartbeats ` +
    `per round; the first ${WARMUP} pair(s) warm up; load average at start ${LOAD.map((l) => l.toFixed(1)).join(" ")}`,
);
const q = (xs: number[], unit: string): string =>
  [0, 0.25, 0.5, 0.75, 1].map((x) => `${quantile(xs, x).toFixed(1)}${unit}`.padStart(10)).join("");
console.log(
  `${"µs per heartbeat, by round".padEnd(28)}${["min", "p25", "median", "p75", "max"].map((h) => h.padStart(10)).join("")}`,
);
console.log(`${"  auth".padEnd(28)}${q(counted.auth, "")}`);
console.log(`${"  plain".padEnd(28)}${q(counted.plain, "")}`);
console.log(`${"  cost of each pair".padEnd(28)}${q(pairCosts, " %")}`);
const rows: Array<[string, string]> = [
  ["auth: tag + counter checked, then applied", `${fmt(rate(authUs))} hb/s  (${authUs.toFixed(2)} µs)`],
  ["CPU time per heartbeat (median): auth, plain", `${authCpuUs.toFixed(2)} µs, ${plainCpuUs.toFixed(2)} µs`],
  ["plain: untagged, applied unchecked", `${fmt(rate(plainUs))} hb/s  (${plainUs.toFixed(2)} µs)`],
  ["auth cost (median of the pairs)", `${authCostPct.toFixed(1)} %  (limit 25 %)`],
  [
    "best round of each",
    `auth ${bestAuthUs.toFixed(2)} µs, plain ${bestPlainUs.toFixed(2)} µs: ${bestCostPct.toFixed(1)} %`,
  ],
  [
    "ASSIGNs resent (stale version) during the run",
    `auth ${assignsDuringRun.auth}, plain ${assignsDuringRun.plain}`,
  ],
  ["a tampered heartbeat", "refused by auth, applied by plain"],
  ["checkTag alone (HMAC-SHA256, per heartbeat)", `${checkTagUs.toFixed(2)} µs`],
  ["control's session check (tag, replay window)", `${sessionOpenUs.toFixed(2)} µs`],
  ["decode alone: tagged, plain", `${decodeTaggedUs.toFixed(2)} µs, ${decodePlainUs.toFixed(2)} µs`],
  [
    "heartbeat bytes in this run (mean, max)",
    `tagged ${meanBytes(sample).toFixed(0)}, ${maxBytes(sample)}; plain ${meanBytes(plainSample).toFixed(0)}, ${maxBytes(plainSample)}`,
  ],
  [
    "worst-case HEARTBEAT with its tag",
    `${worstTaggedBytes} bytes (budget ${HEARTBEAT_BUDGET_BYTES}); with all 4 parents suspect ${worstTaggedBytesAllFlagged}`,
  ],
];
for (const [name, value] of rows) console.log(`${name.padEnd(48)}${value}`);
console.log(
  JSON.stringify({
    nodes: NODES + 1,
    topology: TOPOLOGY,
    rounds: ROUNDS - WARMUP,
    heartbeatsPerRound: perRound,
    authHeartbeatsPerSec: rate(authUs),
    plainHeartbeatsPerSec: rate(plainUs),
    authUsPerHeartbeat: round2(authUs),
    plainUsPerHeartbeat: round2(plainUs),
    authCpuUsPerHeartbeat: round2(authCpuUs),
    plainCpuUsPerHeartbeat: round2(plainCpuUs),
    authCostPct: round2(authCostPct),
    authCostPctP25: round2(quantile(pairCosts, 0.25)),
    authCostPctP75: round2(quantile(pairCosts, 0.75)),
    authCostPctBestRounds: round2(bestCostPct),
    checkTagUs: round2(checkTagUs),
    sessionCheckUs: round2(sessionOpenUs),
    decodeTaggedUs: round2(decodeTaggedUs),
    decodePlainUs: round2(decodePlainUs),
    heartbeatBytesMeanTagged: Math.round(meanBytes(sample)),
    heartbeatBytesMeanPlain: Math.round(meanBytes(plainSample)),
    worstHeartbeatTaggedBytes: worstTaggedBytes,
    worstHeartbeatTaggedBytesAllParentsSuspect: worstTaggedBytesAllFlagged,
    heartbeatBudgetBytes: HEARTBEAT_BUDGET_BYTES,
    loadAverage: round2(LOAD[0]!),
  }),
);
