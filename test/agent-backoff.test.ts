/**
 * Nodes' JOIN back-off and BUSY (issue 13), on a ManualClock and a MemoryNetwork: an agent
 * session and an origin control session against a control that answers every JOIN with BUSY
 * (or not at all), counting the JOINs each sends over a window; and the RESUME schedule after
 * a RESUME_ACK BUSY.
 */
import test from "ava";
import { ControlFailover, JoinBackoff, joinRetryDelayMs, JOIN_BACKOFF } from "../common/control-failover.js";
import { Session } from "../agent/session/session.js";
import { SESSION_TIMING } from "../common/session-timing.js";
import { ControlSession } from "../origin/control-session.js";
import { encodeControl, decodeControl } from "../protocol/control-codec.js";
import { sha256 } from "../protocol/handshake.js";
import { JOIN_ECHO_BYTES, MAX_RETRY_AFTER_MS, WIRE_VERSION } from "../protocol/limits.js";
import { type ControlMessage, JoinError, MsgType, NatType, Role } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";
import { newIdentity } from "./helpers/control-harness.js";
import { idleHeartbeat } from "./helpers/demo-channel.js";

const CONTROL_KEY = newIdentity().publicKey;

/** A control that sees JOINs and answers each (or not) with an unsigned BUSY. */
function busyControl(
  net: MemoryNetwork,
  clock: ManualClock,
  answer: (join: Buffer) => { retryAfterMs: number; echo?: Uint8Array } | undefined,
): { transport: MemoryTransport; joins: number[] } {
  const transport = net.bind("127.0.0.1", 7700);
  const joins: number[] = [];
  transport.onDatagram((buf, from) => {
    const r = decodeControl(buf);
    if (!r.ok || r.value.type !== MsgType.JOIN) return;
    joins.push(clock.now());
    const a = answer(buf);
    if (a === undefined) return;
    transport.send(busyAck(buf, a.retryAfterMs, a.echo), from);
  });
  return { transport, joins };
}

function busyAck(join: Uint8Array, retryAfterMs: number, echo?: Uint8Array): Buffer {
  return encodeControl({
    v: WIRE_VERSION,
    type: MsgType.JOIN_ACK,
    sender: 0,
    seq: 1,
    ts: 0,
    body: {
      error: JoinError.BUSY,
      node: 0,
      region: "",
      heartbeatMs: 0,
      channels: [],
      retryAfterMs,
      echo: echo ?? sha256(join).subarray(0, JOIN_ECHO_BYTES),
    },
  } as ControlMessage);
}

function agent(clock: ManualClock, net: MemoryNetwork, control: Address, random: () => number): Session {
  const self = net.bind("127.0.1.1", 5000);
  const session = new Session(
    {
      clock,
      transport: self,
      logger: new MemoryLogger(),
      random,
      hooks: {
        joined: () => {},
        assigned: () => {},
        heartbeat: idleHeartbeat,
      },
    },
    {
      control,
      channel: "demo",
      identity: newIdentity(),
      controlKey: CONTROL_KEY,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
    },
  );
  self.onDatagram((b, from) => session.onControl(b, from));
  return session;
}

function origin(
  clock: ManualClock,
  net: MemoryNetwork,
  control: Address,
  random: () => number,
): ControlSession {
  const self = net.bind("127.0.9.1", 6000);
  const s = new ControlSession(
    { clock, transport: self, logger: new MemoryLogger(), random },
    { control, identity: newIdentity(), controlKey: CONTROL_KEY },
    {
      joinBody: () => ({
        key: new Uint8Array(32),
        role: Role.ORIGIN,
        channels: ["demo"],
        uploadKbps: 4000,
        nat: NatType.OPEN,
        httpPort: 8080,
        streamKbps: 1000,
        segmentMs: 2000,
        fallbackUrl: "http://127.0.0.1:8080",
      }),
      heartbeatBody: () => undefined,
      onJoinAck: () => {},
      onAssign: () => {},
    },
  );
  self.onDatagram((buf, from) => {
    const r = decodeControl(buf);
    if (r.ok) s.onControl(buf, r.value, from);
  });
  return s;
}

test("joinRetryDelayMs: full jitter above base/2, the ceiling doubling to the cap; a retry-after first", (t) => {
  const lo = (): number => 0;
  const hi = (): number => 0.999999;
  const { baseMs, capMs } = JOIN_BACKOFF;
  const table: Array<[number, number, number]> = [
    [1, baseMs / 2, baseMs],
    [2, baseMs / 2, 2 * baseMs],
    [3, baseMs / 2, 4 * baseMs],
    [5, baseMs / 2, 16 * baseMs],
    [6, baseMs / 2, capMs],
    [60, baseMs / 2, capMs],
  ];
  for (const [attempt, min, max] of table) {
    t.is(joinRetryDelayMs(attempt, lo), min, `attempt ${attempt} at least`);
    t.is(joinRetryDelayMs(attempt, hi), max, `attempt ${attempt} at most`);
  }
  // A BUSY: at least its retry-after, at most half as much again (or half the base) more.
  t.is(joinRetryDelayMs(1, lo, 4000), 4000);
  t.is(joinRetryDelayMs(1, hi, 4000), 6000);
  t.is(joinRetryDelayMs(1, hi, 100), 100 + baseMs / 2);
  // A retry-after beyond MAX_RETRY_AFTER_MS (a forged one) is clamped.
  t.is(joinRetryDelayMs(1, lo, 10 * MAX_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
  const b = new JoinBackoff(lo);
  b.sent();
  t.is(b.busy(2000), 2000);
  t.is(b.busy(2000), undefined, "one BUSY per JOIN sent");
  b.sent();
  t.is(b.busy(2000), 2000);
  b.reset();
  t.is(b.attempts, 0);
});

test("an agent backs off exponentially while its JOINs go unanswered (no fixed 1 s resend)", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = busyControl(net, clock, () => undefined);
  // The longest waits: 1, 2, 4, 8, 16 s ... after the first JOIN at 0.
  const s = agent(clock, net, control.transport.local, () => 0.999999);
  const start = clock.now();
  s.start();
  clock.advance(60_000);
  const at = control.joins.map((ms) => Math.round((ms - start) / 1000));
  t.deepEqual(
    at,
    [0, 1, 3, 7, 15, 31, 61].filter((x) => x <= 60),
  );
  t.is(s.stats.joinsSent, control.joins.length);
  // A fixed 1 s resend would have sent 61.
  t.true(control.joins.length <= 6, `${control.joins.length} JOINs in 60 s`);
});

test("an agent answered BUSY waits at least the retry-after before each JOIN", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = busyControl(net, clock, () => ({ retryAfterMs: 5000 }));
  const s = agent(clock, net, control.transport.local, () => 0.5);
  s.start();
  clock.advance(60_000);
  const gaps = control.joins.slice(1).map((ms, i) => ms - control.joins[i]!);
  t.true(gaps.length >= 5, `${gaps.length} resends`);
  // 5 s + jitter up to 2.5 s (here 1.25 s), plus the round trip.
  for (const g of gaps) t.true(g >= 5000 && g <= 7600, `gap ${g} ms`);
  t.is(s.stats.busy, control.joins.length);
  t.is(s.phase, "joining");
});

test("a BUSY that does not echo our JOIN is forged: ignored, counted", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = busyControl(net, clock, () => ({
    retryAfterMs: 20_000,
    echo: new Uint8Array(JOIN_ECHO_BYTES),
  }));
  const s = agent(clock, net, control.transport.local, () => 0.999999);
  s.start();
  clock.advance(8000);
  // The back-off alone: JOINs at 0, 1, 3, 7 s; a 20 s wait was not honoured.
  t.is(control.joins.length, 4);
  t.is(s.stats.busy, 0);
  t.is(s.stats.authFailed.busy_echo, 4);
});

test("repeated BUSYs for one JOIN push it out once, not again and again", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  let last: Buffer | undefined;
  const control = busyControl(net, clock, (join) => {
    last = join;
    return { retryAfterMs: 3000 };
  });
  const s = agent(clock, net, control.transport.local, () => 0);
  s.start();
  clock.advance(100);
  // An on-path attacker replays the BUSY every 2 s: the JOIN goes out 3 s after the first.
  for (let i = 0; i < 3; i++) {
    control.transport.send(busyAck(last!, 3000), { address: "127.0.1.1", port: 5000 });
    clock.advance(1000);
  }
  clock.advance(100);
  t.is(control.joins.length, 2, "the JOIN after the first retry-after went out");
  t.true(control.joins[1]! - control.joins[0]! <= 3100);
  t.true(s.stats.busyIgnored >= 1);
});

test("the origin backs off and honours BUSY as the agent does", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = busyControl(net, clock, () => ({ retryAfterMs: 4000 }));
  const o = origin(clock, net, control.transport.local, () => 0);
  o.start();
  clock.advance(30_000);
  const gaps = control.joins.slice(1).map((ms, i) => ms - control.joins[i]!);
  for (const g of gaps) t.true(g >= 4000 && g <= 4100, `gap ${g} ms`);
  t.true(control.joins.length >= 6 && control.joins.length <= 8, `${control.joins.length} JOINs`);
  t.is(o.stats.busy, control.joins.length);

  const quiet = new ManualClock();
  const net2 = new MemoryNetwork(quiet, { latencyMs: 1 });
  const silent = busyControl(net2, quiet, () => undefined);
  const o2 = origin(quiet, net2, silent.transport.local, () => 0.999999);
  o2.start();
  quiet.advance(60_000);
  t.is(silent.joins.length, 6, "0, 1, 3, 7, 15, 31 s");
});

test("ControlFailover: a RESUME answered BUSY is sent again only after the retry-after", (t) => {
  const clock = new ManualClock();
  const a = { address: "127.0.0.1", port: 7700 };
  const sent: number[] = [];
  const f = new ControlFailover(
    {
      clock,
      random: () => 0,
      hooks: {
        probe: () => {},
        canResume: () => true,
        sendResume: () => {
          sent.push(clock.now());
          return true;
        },
        fallBack: () => t.fail("gave up on a busy server"),
      },
    },
    { endpoints: [a] },
  );
  f.established(a, 1000);
  t.true(f.start("silence"));
  const t0 = clock.now();
  t.is(sent.length, 1);
  t.true(f.busy(a, 8000));
  t.false(f.busy(a, 8000), "one BUSY per RESUME sent");
  clock.advance(7999);
  t.is(sent.length, 1, "no RESUME before the retry-after");
  clock.advance(1);
  t.is(sent.length, 2);
  t.is(sent[1]! - t0, 8000);
  // Busy for longer than RESUME_GIVE_UP_MS in all: still resuming, not JOINing.
  for (let i = 0; i < 5; i++) {
    t.true(f.busy(a, 10_000));
    clock.advance(10_000);
  }
  t.true(f.resuming);
  t.is(f.stats.busy, 6);
  t.is(sent.length, 7);
});
