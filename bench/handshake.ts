/**
 * bench: control's side of the JOIN handshake in process (control/trust/responder.ts), with its
 * cryptography done ahead on libuv's thread pool (trust/off-thread.ts) and without, side by side
 * and alternated: the CPU time the thread running it spends per JOIN (what a DCM worker's event
 * loop pays: its critical path), and the whole process's (the pool's threads included).
 *
 *   node --import tsx bench/handshake.ts [--joins 2000] [--reps 3] [--slice 64]
 *
 * Each rep makes `--joins` node identities and their proven JOINs (cookie round trip, untimed),
 * then times: the JOINs arrive `--slice` at a time (checkAddress: cookie, limits, and with the
 * pool on, the signature check handed to it), one loop turn passes, and the slice before takes
 * its turn (verifyJoin: signature, freshness, key agreement; sendJoinAck: session, ticket,
 * signature) — JOINs wait one slice in the queue, as in a burst. No store, handler or placement.
 * CPU from /proc/self/task/<tid>/stat (10 ms resolution: thousands of JOINs per rep). Prints a
 * table, then one JSON object as the last line.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ControlLink } from "../common/control-link.js";
import { ControlMetrics } from "../control/metrics.js";
import { SqliteNodeStore } from "../control/store.js";
import { OPEN_POLICY } from "../control/trust/enrolment.js";
import { DEFAULT_JOIN_LIMITS } from "../control/trust/join-limiter.js";
import { type Handshake, HandshakeResponder } from "../control/trust/responder.js";
import { SessionTable } from "../control/trust/sessions.js";
import { rawPublicKey } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { JoinError, type MessageOf, MsgType, NatType, Role } from "../protocol/messages.js";
import { systemClock } from "../seams/clock.js";
import { MemoryLogger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";

const { values: opt } = parseArgs({
  options: {
    joins: { type: "string", default: "2000" },
    reps: { type: "string", default: "3" },
    slice: { type: "string", default: "64" },
  },
});
const JOINS = Number(opt.joins);
const REPS = Number(opt.reps);
const SLICE = Number(opt.slice);

/** This thread's CPU time (user + system), µs; the main thread's id is the pid. */
function threadCpuUs(): number {
  const text = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}

function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Join {
  msg: MessageOf<MsgType.JOIN>;
  data: Buffer;
  from: Address;
}

function responder(offThread: boolean): { r: HandshakeResponder; sent: Buffer[] } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const sent: Buffer[] = [];
  const r = new HandshakeResponder(
    {
      clock: systemClock,
      logger: new MemoryLogger(),
      store: new SqliteNodeStore(":memory:"),
      metrics: new ControlMetrics(),
      sessions: new SessionTable(),
      identity: { privateKey, publicKey: rawPublicKey(privateKey) },
      send: (buf) => sent.push(Buffer.from(buf)),
    },
    { policy: OPEN_POLICY, limits: DEFAULT_JOIN_LIMITS, verify: true, offThread },
  );
  return { r, sent };
}

/** `n` proven JOINs for `r` (each through its cookie round trip), from distinct sources. */
function provenJoins(r: HandshakeResponder, sent: Buffer[], controlKey: Uint8Array, n: number): Join[] {
  const out: Join[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const identity = { privateKey, publicKey: rawPublicKey(privateKey) };
    const link = new ControlLink({ identity, controlKey });
    const body = {
      key: identity.publicKey,
      role: Role.AGENT,
      channels: ["news"],
      uploadKbps: 1000,
      nat: NatType.OPEN,
      httpPort: 8080,
    };
    const from = { address: `127.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 5000 };
    const first = link.join(body, systemClock.now());
    const m1 = decodeControl(first);
    if (!m1.ok || m1.value.type !== MsgType.JOIN) throw new Error("no JOIN");
    r.checkAddress(m1.value, first, from);
    const cookie = decodeControl(sent.at(-1)!);
    if (!cookie.ok || cookie.value.type !== MsgType.COOKIE || !link.onCookie(cookie.value.body))
      throw new Error("no COOKIE");
    const data = link.join(body, systemClock.now());
    const m2 = decodeControl(data);
    if (!m2.ok || m2.value.type !== MsgType.JOIN) throw new Error("no JOIN");
    out.push({ msg: m2.value, data, from });
  }
  return out;
}

interface Result {
  offThread: boolean;
  threadUsPerJoin: number;
  processUsPerJoin: number;
  wallUsPerJoin: number;
  accepted: number;
  signaturesUsed: number;
  ephemeralsTaken: number;
}

async function rep(offThread: boolean): Promise<Result> {
  const { r, sent } = responder(offThread);
  const controlKey = decodeControl(
    (() => {
      // The control key as a node learns it: from a COOKIE (any JOIN without one gets it).
      const { privateKey } = generateKeyPairSync("ed25519");
      const link = new ControlLink({
        identity: { privateKey, publicKey: rawPublicKey(privateKey) },
        trustOnFirstUse: true,
      });
      const buf = link.join(
        {
          key: rawPublicKey(privateKey),
          role: Role.AGENT,
          channels: [],
          uploadKbps: 0,
          nat: NatType.OPEN,
          httpPort: 8080,
        },
        systemClock.now(),
      );
      const m = decodeControl(buf);
      if (!m.ok || m.value.type !== MsgType.JOIN) throw new Error("no JOIN");
      r.checkAddress(m.value, buf, { address: "127.1.1.1", port: 1 });
      return sent.at(-1)!;
    })(),
  );
  if (!controlKey.ok || controlKey.value.type !== MsgType.COOKIE) throw new Error("no COOKIE");
  const joins = provenJoins(r, sent, controlKey.value.body.controlKey!, JOINS);
  // The ephemeral stock fills, the pool is warm: as in a control that has been running.
  for (let i = 0; i < 50; i++) await turn();
  let accepted = 0;
  const take = (batch: Join[]): void => {
    for (const j of batch) {
      const hs: Handshake | undefined = r.verifyJoin(j.msg, j.data, j.from);
      if (hs === undefined) continue;
      accepted++;
      r.sendJoinAck(j.from, hs, accepted, {
        error: JoinError.NONE,
        node: accepted,
        region: "default",
        heartbeatMs: 5000,
        channels: [],
      });
    }
  };
  const t0 = threadCpuUs();
  const p0 = processCpuUs();
  const w0 = performance.now();
  let waiting: Join[] = [];
  for (let at = 0; at < joins.length || waiting.length > 0; at += SLICE) {
    const arriving = joins.slice(at, at + SLICE);
    for (const j of arriving) r.checkAddress(j.msg, j.data, j.from);
    await turn();
    take(waiting);
    waiting = arriving;
  }
  // The pool's last answers (uncounted work would flatter the pool).
  for (let i = 0; i < 1000 && r.offThread.signaturesInFlight > 0; i++) await turn();
  const n = joins.length;
  return {
    offThread,
    threadUsPerJoin: (threadCpuUs() - t0) / n,
    processUsPerJoin: (processCpuUs() - p0) / n,
    wallUsPerJoin: ((performance.now() - w0) * 1000) / n,
    accepted,
    signaturesUsed: r.offThread.signaturesUsed,
    ephemeralsTaken: r.offThread.ephemeralsTaken,
  };
}

const results: Result[] = [];
for (let i = 0; i < REPS; i++)
  for (const offThread of i % 2 === 0 ? [false, true] : [true, false]) {
    const res = await rep(offThread);
    results.push(res);
    process.stdout.write(
      `${offThread ? "pool  " : "thread"}  thread ${res.threadUsPerJoin.toFixed(0).padStart(5)} µs/JOIN  process ${res.processUsPerJoin.toFixed(0).padStart(5)} µs/JOIN  wall ${res.wallUsPerJoin.toFixed(0).padStart(5)} µs/JOIN  accepted ${res.accepted}/${JOINS}  pool verdicts ${res.signaturesUsed}  stocked ephemerals ${res.ephemeralsTaken}\n`,
    );
  }
const of = (off: boolean, k: keyof Result): number[] =>
  results.filter((r) => r.offThread === off).map((r) => Math.round(r[k] as number));
process.stdout.write(
  JSON.stringify({
    joins: JOINS,
    reps: REPS,
    slice: SLICE,
    threadUsPerJoin: { thread: of(false, "threadUsPerJoin"), pool: of(true, "threadUsPerJoin") },
    processUsPerJoin: { thread: of(false, "processUsPerJoin"), pool: of(true, "processUsPerJoin") },
    wallUsPerJoin: { thread: of(false, "wallUsPerJoin"), pool: of(true, "wallUsPerJoin") },
    loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number),
  }) + "\n",
);
