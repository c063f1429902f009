/**
 * Encoding an ASSIGN as control does (issue 13: ~15 % of control's time in the 10^5-node flash
 * crowd went to sending ASSIGNs): `encodeAssign(body, encode)` with control's `encode`, an
 * envelope with the next seq and the session tag (encodeTagged, a 32-byte key), on typical bodies:
 *
 *   tier-3    k = 4 parents (IPv4), 0..2 children, parentHttpPorts, epoch
 *   tier-2    fec 4+2: 6 coded parents, 8 children
 *   tier-1    40 / 100 / 200 children and 8 mesh neighbours (fec 4+2, half the links FEC_TREE): split
 *   origin    64 / 300 children (IPv4) and 300 (IPv6): split
 *
 * Old path vs new path side by side in one run: the old is protocol/ as it was at `--old <rev>`
 * (default: the commit before the direct ASSIGN encoder), extracted with `git archive` into a
 * temporary directory and imported from there; the new is protocol/ as it is. Before timing, each
 * body's datagrams from both paths are compared byte for byte (same seq, ts and key: same tags).
 * Rounds alternate old, new, new, old, ... per body kind; each round runs the kind's bodies for
 * about --round-ms of CPU (a count calibrated per path) and is timed in this process's CPU time (process.cpuUsage: what other jobs on the
 * machine take counts less than on the wall clock). A full collection before each round, untimed
 * (--expose-gc), keeps a round from paying for the round before's garbage: the old path leaves much
 * more, and a collection's helper threads count in the process's CPU time. A kind's figure is the median round; the
 * speed-up is the median over round pairs of old/new. The first two pairs warm up, uncounted.
 *
 * Prints a table, then as its last line one JSON object.
 *
 *   npm run bench:assign [-- --rounds 12 --round-ms 150 --old <rev>]
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { encodeAssign } from "../protocol/assign-parts.js";
import type { encodeTagged } from "../protocol/auth.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ChildLink,
  type ControlMessage,
  LinkAlgorithm,
  MsgType,
  type Peer,
  TierRole,
} from "../protocol/messages.js";

/** The commit before the direct ASSIGN encoder and the linear split. */
const DEFAULT_OLD = "1b4c5c9";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(arg("rounds", "12"));
const OLD_REV = arg("old", DEFAULT_OLD);
const WARM_PAIRS = 2;
/** CPU time a round takes, per path. */
const ROUND_MS = Number(arg("round-ms", "150"));

type EncodeAssign = typeof encodeAssign;
type EncodeTagged = typeof encodeTagged;

interface Path {
  encodeAssign: EncodeAssign;
  encodeTagged: EncodeTagged;
}

const root = resolve(import.meta.dirname, "..");

/** encodeAssign and encodeTagged from the copy of protocol/ in `dir`. */
async function load(dir: string): Promise<Path> {
  const parts = (await import(pathToFileURL(join(dir, "protocol/assign-parts.ts")).href)) as {
    encodeAssign: EncodeAssign;
  };
  const auth = (await import(pathToFileURL(join(dir, "protocol/auth.ts")).href)) as {
    encodeTagged: EncodeTagged;
  };
  return { encodeAssign: parts.encodeAssign, encodeTagged: auth.encodeTagged };
}

const KEY = new Uint8Array(32).fill(7);
const TS = 1_780_000_000_000;

/** The datagrams of `body` as control sends them, by `path`; seq counts from 1 per call. */
function send(path: Path, body: AssignBody): Buffer[] {
  let seq = 0;
  return path.encodeAssign(body, (part) => {
    const msg: ControlMessage = {
      v: WIRE_VERSION,
      type: MsgType.ASSIGN,
      sender: 0,
      seq: ++seq,
      ts: TS,
      body: part,
    };
    return path.encodeTagged(msg, KEY);
  });
}

const v4 = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number): string => `2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`;
const peer = (i: number, addr: (i: number) => string = v4): Peer => ({
  node: 100_000 + i * 7919,
  address: addr(i),
  port: 40_000 + (i % 20_000),
});
// Links as control/assign-body.ts builds them: object literals with their fields written out. On
// Node 20 a spread copy with a field added (`{ ...peer, substreams }`) gets a hidden class of its
// own, which makes every field read of the encoder megamorphic (4 times the writer's cost).
const link = (i: number, substreams: number, addr: (i: number) => string = v4): ChildLink => {
  const p = peer(i, addr);
  return { node: p.node, address: p.address, port: p.port, substreams };
};
const coded = (i: number, substreams: number): ChildLink => {
  const p = peer(i);
  return { node: p.node, address: p.address, port: p.port, substreams, algorithm: LinkAlgorithm.FEC_TREE };
};

function tier3(i: number): AssignBody {
  return {
    channel: 3,
    version: 1000 + i,
    k: 4,
    tier: 3,
    role: TierRole.TIER3,
    cluster: 17 + (i % 50),
    parents: [0, 1, 2, 3].map((p) => peer(i * 4 + p)),
    children: Array.from({ length: i % 3 }, (_, c) => link(50_000 + i * 3 + c, 1 << c)),
    parentHttpPorts: [8081, 8081, 0, 8081],
    epoch: 12,
  };
}

function tier2(i: number): AssignBody {
  return {
    channel: 3,
    version: 2000 + i,
    k: 4,
    tier: 2,
    role: TierRole.TIER2,
    cluster: 5 + (i % 20),
    fec: { k: 4, n: 2 },
    parents: [0, 1, 2, 3, 4, 5].map((p): Peer => {
      const { node, address, port } = peer(i * 6 + p);
      return { node, address, port, algorithm: LinkAlgorithm.FEC_TREE };
    }),
    children: Array.from({ length: 8 }, (_, c) => link(60_000 + i * 8 + c, 0b1111)),
    epoch: 12,
  };
}

function tier1(children: number, i: number): AssignBody {
  return {
    channel: 3,
    version: 3000 + i,
    k: 4,
    tier: 1,
    role: TierRole.TIER1,
    fec: { k: 4, n: 2 },
    parents: [0, 1, 2, 3].map((p) => peer(i * 4 + p)),
    children: Array.from({ length: children }, (_, c) =>
      c % 2 === 0 ? coded(70_000 + i * children + c, 1 << (c % 6)) : link(70_000 + i * children + c, 0b1111),
    ),
    mesh: Array.from({ length: 8 }, (_, m) => peer(90_000 + m)),
    epoch: 12,
  };
}

function origin(children: number, i: number, addr: (i: number) => string = v4): AssignBody {
  return {
    channel: 3,
    version: 4000 + i,
    k: 4,
    tier: 0,
    role: TierRole.ORIGIN,
    fec: { k: 4, n: 2 },
    parents: [null, null, null, null],
    children: Array.from({ length: children }, (_, c) => link(c + i, 0b1111, addr)),
    epoch: 12,
  };
}

interface Kind {
  name: string;
  bodies: AssignBody[];
}

const VARIANTS = 16;
const variants = (f: (i: number) => AssignBody): AssignBody[] =>
  Array.from({ length: VARIANTS }, (_, i) => f(i));
const kinds: Kind[] = [
  { name: "tier-3 (4 parents, 0-2 children)", bodies: variants(tier3) },
  { name: "tier-2 (fec 4+2, 8 children)", bodies: variants(tier2) },
  { name: "tier-1, 40 children + 8 mesh", bodies: variants((i) => tier1(40, i)) },
  { name: "tier-1, 100 children + 8 mesh", bodies: variants((i) => tier1(100, i)) },
  { name: "tier-1, 200 children + 8 mesh", bodies: variants((i) => tier1(200, i)) },
  { name: "origin, 64 children", bodies: variants((i) => origin(64, i)) },
  { name: "origin, 300 children", bodies: variants((i) => origin(300, i)) },
  { name: "origin, 300 children (IPv6)", bodies: variants((i) => origin(300, i, v6)) },
];

let sink = 0;
const collect = (globalThis as { gc?: () => void }).gc ?? ((): void => {});

/** CPU µs per ASSIGN over `count` ASSIGNs of kind `k`. */
function round(path: Path, k: Kind, count: number): number {
  // What the round before left is collected here, untimed.
  collect();
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) sink += send(path, k.bodies[i % VARIANTS]!).length;
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

/** ASSIGNs a round of `path` on `k` takes to last about ROUND_MS (from a short trial). */
function calibrate(path: Path, k: Kind): number {
  let n = VARIANTS;
  for (;;) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) sink += send(path, k.bodies[i % VARIANTS]!).length;
    const used = process.cpuUsage(start);
    const us = used.user + used.system;
    if (us >= 20_000) return Math.max(VARIANTS, Math.round((n * ROUND_MS * 1000) / us));
    n *= 4;
  }
}

type Request =
  { op: "datagrams" } | { op: "calibrate"; kind: number } | { op: "round"; kind: number; count: number };

/** A worker running one path; `ask` sends a request and resolves with its answer. */
function worker(dir: string): { ask: <T>(req: Request) => Promise<T>; stop: () => Promise<number> } {
  // Node 20 runs no --import hooks in a worker: the worker loads this file through tsx's API.
  const boot = `import("tsx/esm/api").then((tsx) => tsx.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
  const w = new Worker(boot, { eval: true, workerData: { dir } });
  return {
    ask: <T>(req: Request) =>
      new Promise<T>((resolveAnswer, reject) => {
        w.once("message", (v: T) => resolveAnswer(v));
        w.once("error", reject);
        w.postMessage(req);
      }),
    stop: () => w.terminate(),
  };
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: () => void }).gc === undefined)
    console.log(
      "(run with node --expose-gc, as npm run bench:assign does: a full collection precedes each round)",
    );
  // Both paths are copies of protocol/ outside the tree, each loaded the same way by a worker of
  // its own: two copies in one isolate share its megamorphic caches and heap, and the same code
  // loaded second ran 10-40 % slower than loaded first.
  const dirs: string[] = [];
  const copy = (fill: (dir: string) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), "assign-bench-"));
    dirs.push(dir);
    fill(dir);
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    return dir;
  };
  try {
    const old = worker(
      copy((dir) => {
        const tar = execFileSync("git", ["-C", root, "archive", OLD_REV, "protocol"], {
          maxBuffer: 64 << 20,
        });
        execFileSync("tar", ["-x", "-C", dir], { input: tar });
      }),
    );
    const now = worker(
      copy((dir) => cpSync(join(root, "protocol"), join(dir, "protocol"), { recursive: true })),
    );
    try {
      await report(old, now);
    } finally {
      await old.stop();
      await now.stop();
    }
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row {
  kind: string;
  datagrams: number;
  bytes: number;
  oldUs: number;
  newUs: number;
  speedup: number;
  ratioSpread: [number, number];
}

type Runner = ReturnType<typeof worker>;

async function report(old: Runner, now: Runner): Promise<void> {
  // Same datagrams, byte for byte, before anything is timed.
  const a = await old.ask<Uint8Array[][][]>({ op: "datagrams" });
  const n = await now.ask<Uint8Array[][][]>({ op: "datagrams" });
  const equal = (x: Uint8Array, y: Uint8Array): boolean => Buffer.from(x).equals(Buffer.from(y));
  for (const [i, k] of kinds.entries()) {
    for (const [j] of k.bodies.entries()) {
      const o = a[i]![j]!;
      const w = n[i]![j]!;
      if (o.length !== w.length || o.some((buf, d) => !equal(buf, w[d]!)))
        throw new Error(`${k.name}: the new path's datagrams differ from the old path's`);
    }
  }
  const rows: Row[] = [];
  for (const [i, k] of kinds.entries()) {
    const oldUs: number[] = [];
    const newUs: number[] = [];
    const oldCount = await old.ask<number>({ op: "calibrate", kind: i });
    const newCount = await now.ask<number>({ op: "calibrate", kind: i });
    for (let r = 0; r < ROUNDS + WARM_PAIRS; r++) {
      // Which path goes first alternates; one worker runs at a time.
      let o: number;
      let w: number;
      if (r % 2 === 0) {
        o = await old.ask<number>({ op: "round", kind: i, count: oldCount });
        w = await now.ask<number>({ op: "round", kind: i, count: newCount });
      } else {
        w = await now.ask<number>({ op: "round", kind: i, count: newCount });
        o = await old.ask<number>({ op: "round", kind: i, count: oldCount });
      }
      if (r < WARM_PAIRS) continue;
      oldUs.push(o);
      newUs.push(w);
    }
    const ratios = oldUs.map((o, r) => o / newUs[r]!).sort((x, y) => x - y);
    const sample = n[i]![0]!;
    rows.push({
      kind: k.name,
      datagrams: sample.length,
      bytes: sample.reduce((sum, b) => sum + b.length, 0),
      oldUs: median(oldUs),
      newUs: median(newUs),
      speedup: median(ratios),
      ratioSpread: [ratios[0]!, ratios[ratios.length - 1]!],
    });
  }
  print(rows);
}

function print(rows: Row[]): void {
  console.log(`ASSIGN encode (encodeAssign + encodeTagged, as control sends) on node ${process.version}`);
  console.log(
    `old = protocol/ at ${OLD_REV}; CPU µs per ASSIGN, median of ${ROUNDS} rounds each, old/new interleaved`,
  );
  console.log(
    `${"body".padEnd(34)}${"dgrams".padStart(7)}${"bytes".padStart(7)}${"old µs".padStart(10)}${"new µs".padStart(10)}${"old/new".padStart(9)}  min..max`,
  );
  for (const r of rows) {
    console.log(
      `${r.kind.padEnd(34)}${String(r.datagrams).padStart(7)}${String(r.bytes).padStart(7)}${r.oldUs.toFixed(2).padStart(10)}${r.newUs.toFixed(2).padStart(10)}${r.speedup.toFixed(2).padStart(9)}  ${r.ratioSpread[0].toFixed(2)}..${r.ratioSpread[1].toFixed(2)}`,
    );
  }
  const round2 = (x: number): number => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      old: OLD_REV,
      rounds: ROUNDS,
      kinds: rows.map((r) => ({
        kind: r.kind,
        datagrams: r.datagrams,
        bytes: r.bytes,
        oldUsPerAssign: round2(r.oldUs),
        newUsPerAssign: round2(r.newUs),
        speedup: round2(r.speedup),
      })),
    }),
  );
}

if (!isMainThread) {
  // A worker: one path, in an isolate of its own (its own heap, JIT feedback and caches).
  const path = await load((workerData as { dir: string }).dir);
  const port = parentPort!;
  port.on("message", (req: Request) => {
    if (req.op === "datagrams") port.postMessage(kinds.map((k) => k.bodies.map((b) => send(path, b))));
    else if (req.op === "calibrate") port.postMessage(calibrate(path, kinds[req.kind]!));
    else port.postMessage(round(path, kinds[req.kind]!, req.count));
    if (sink === -1) console.log(sink);
  });
} else {
  await main();
}
