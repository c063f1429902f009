/**
 * The simulator's parts (sim/, docs/sim.md): the simulated viewer against the real control on its
 * own timers (the UDP load generator's mode), deterministic identities, the ManualClock's heap
 * against a reference, and a whole run repeated with one seed: the same placements.
 */
import { sign, verify } from "node:crypto";
import test from "ava";
import fc from "fast-check";
import { ControlCenter } from "../control/control-center.js";
import { SqliteNodeStore } from "../control/store.js";
import { ed25519Key } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { MsgType, Role } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { simulate } from "../sim/main.js";
import { CompactIdentity, identityFromSeed, joinRetryDelayMs, Viewer } from "../sim/viewer.js";

test("a seed makes the same Ed25519 key, another seed another", (t) => {
  const a = identityFromSeed(7);
  t.deepEqual(identityFromSeed(7).publicKey, a.publicKey);
  t.notDeepEqual(identityFromSeed(8).publicKey, a.publicKey);
  t.is(a.publicKey.length, 32);
});

test("a compact identity is its own Ed25519 key: it signs, its public key verifies, no two alike", (t) => {
  const a = CompactIdentity.fresh();
  const b = CompactIdentity.fresh();
  t.is(a.publicKey.length, 32);
  t.notDeepEqual(a.publicKey, b.publicKey);
  const data = Buffer.from("tiercast");
  const sig = sign(null, data, a.privateKey);
  t.true(verify(null, data, ed25519Key(a.publicKey)!, sig));
  t.false(verify(null, data, ed25519Key(b.publicKey)!, sig));
});

test("a viewer lets its handshake go once the session works: a late JOIN_ACK is dropped, the session goes on", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 2 });
  const store = new SqliteNodeStore(":memory:");
  const identity = identityFromSeed(41);
  const control = new ControlCenter(
    { clock, transport: net.bind("10.0.0.1", 7700), store, logger: new MemoryLogger(), identity },
    { heartbeatMs: 1000, topology: "tiered" },
  );
  control.start();
  const cfg = {
    channel: "live",
    control: { address: "10.0.0.1", port: 7700 },
    controlKey: identity.publicKey,
  };
  const origin = new Viewer(
    { transport: net.bind("10.0.0.2"), clock },
    { ...cfg, seed: 1, role: Role.ORIGIN, uploadKbps: 80_000 },
  );
  origin.start();
  clock.advance(100);
  // The viewer's transport, wrapped: the JOIN_ACK that opened its session is kept to be replayed.
  const inner = net.bind("10.1.0.1");
  let joinAck: Buffer | undefined;
  const transport = {
    local: inner.local,
    send: (d: Uint8Array, to: { address: string; port: number }) => inner.send(d, to),
    close: () => inner.close(),
    onDatagram: (h: (d: Buffer, from: { address: string; port: number }) => void) =>
      inner.onDatagram((d, from) => {
        const m = decodeControl(d);
        if (joinAck === undefined && m.ok && m.value.type === MsgType.JOIN_ACK) joinAck = Buffer.from(d);
        h(d, from);
      }),
  };
  const v = new Viewer({ transport, clock }, { ...cfg, uploadKbps: 4000 });
  v.start();
  t.true(v.compactIdentity?.holding, "its key imported for the JOIN");
  for (let i = 0; i < 5; i++) clock.advance(1000);
  t.true(v.placed);
  t.false(v.compactIdentity?.holding ?? true, "and let go once the session works");
  t.not(joinAck, undefined);
  const hb = v.stats.heartbeatsSent;
  v.onDatagram(joinAck!);
  t.is(v.link.stats.authFailed.ack_settled, 1, "the late JOIN_ACK is not believed");
  for (let i = 0; i < 5; i++) clock.advance(1000);
  t.is(v.phase, "joined");
  t.true(v.stats.heartbeatsSent > hb);
  t.is(control.metrics.authFailed.size, 0, "its heartbeats still authenticate");
  t.is(control.metrics.lost, 0);
  control.stop();
  store.close();
});

test("the viewer retries JOIN on the agent's policy: a BUSY's retry-after at least, else back-off", (t) => {
  t.true(joinRetryDelayMs(1, () => 0.5, 7000) >= 7000);
  const first = joinRetryDelayMs(1, () => 0.99);
  t.true(first > 0 && joinRetryDelayMs(5, () => 0.99) > first, "the ceiling grows with the attempts");
});

test("viewers on their own timers join the real control, are placed, heartbeat, LEAVE, and resume after a restart", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 2 });
  const store = new SqliteNodeStore(":memory:");
  const identity = identityFromSeed(99);
  let transport = net.bind("10.0.0.1", 7700);
  const start = (): ControlCenter => {
    const c = new ControlCenter(
      { clock, transport, store, logger: new MemoryLogger(), identity },
      { heartbeatMs: 1000, topology: "tiered" },
    );
    c.start();
    return c;
  };
  let control = start();
  const make = (host: string, seed: number, role?: Role): Viewer =>
    new Viewer(
      { transport: net.bind(host), clock },
      {
        seed,
        uploadKbps: role === Role.ORIGIN ? 80_000 : 4000,
        channel: "live",
        control: { address: "10.0.0.1", port: 7700 },
        controlKey: identity.publicKey,
        ...(role === undefined ? {} : { role }),
      },
    );
  const origin = make("10.0.0.2", 1, Role.ORIGIN);
  origin.start();
  clock.advance(100);
  t.is(origin.phase, "joined");
  const viewers = Array.from({ length: 30 }, (_, i) => make(`10.1.0.${i + 1}`, 100 + i));
  for (const v of viewers) v.start();
  for (let i = 0; i < 10; i++) clock.advance(1000);
  t.true(
    viewers.every((v) => v.placed),
    "every viewer placed",
  );
  t.is(control.metrics.lost, 0);
  t.true(viewers.every((v) => v.stats.heartbeatsSent >= 5));
  t.is(control.metrics.authFailed.size, 0, "every heartbeat authenticated");

  const leaver = viewers[0]!;
  const leaves = control.metrics.leaves;
  leaver.leave();
  clock.advance(100);
  t.is(control.metrics.leaves, leaves + 1);

  // Control restarts on its store and port: the rest resume with their tickets.
  control.stop();
  void transport.close();
  clock.advance(500);
  transport = net.bind("10.0.0.1", 7700);
  control = start();
  for (let i = 0; i < 10; i++) clock.advance(1000);
  const rest = viewers.slice(1);
  t.true(
    rest.every((v) => v.phase === "joined" && v.placed),
    "every viewer back and placed",
  );
  t.true(
    rest.every((v) => control.clients.get(v.nodeId) !== undefined),
    "the new control knows them all",
  );
  t.true(rest.every((v) => v.stats.resumes + v.stats.rejoins >= 1));
  t.true(
    rest.some((v) => v.stats.resumes >= 1),
    "sessions resumed with their tickets",
  );
  t.is(control.metrics.lost, 0);
  t.is(leaver.phase, "left");
});

test("a run repeats with its seed: the same placements, the same counts", (t) => {
  const run = (seed: number) =>
    simulate({ nodes: 300, scenario: "flash-crowd", seed, heap: false, joinLimits: "open" });
  const a = run(3);
  const b = run(3);
  t.true(a.ok, JSON.stringify(a.checks));
  t.deepEqual(b.placements, a.placements);
  // stallOk is wall time (a loaded machine may stall one run and not the other): not compared.
  const { stallOk: _a, ...fa } = a.figures;
  const { stallOk: _b, ...fb } = b.figures;
  t.deepEqual(fb, fa);
  t.is(b.measured.assignsSent, a.measured.assignsSent);
  t.is(b.measured.heartbeats, a.measured.heartbeats);
  const c = run(4);
  t.notDeepEqual(c.placements, a.placements, "another seed, another run");
});

test("the ManualClock fires as a linear scan would: time order, ties in creation order, cleared never", (t) => {
  type Op =
    | { kind: "set"; ms: number; every: boolean }
    | { kind: "clear"; which: number }
    | { kind: "advance"; ms: number };
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("set" as const),
      ms: fc.integer({ min: 0, max: 50 }),
      every: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("clear" as const), which: fc.nat(40) }),
    fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 60 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops: Op[]) => {
      const clock = new ManualClock(0);
      const fired: string[] = [];
      const expected: string[] = [];
      // Reference: every timer as (at, id, every), picked by a scan.
      const ref: Array<{ id: number; at: number; every: number | undefined; live: boolean }> = [];
      let now = 0;
      const timers: ReturnType<ManualClock["setTimeout"]>[] = [];
      for (const o of ops) {
        if (o.kind === "set") {
          const id = ref.length;
          const fn = (): void => void fired.push(`${id}@${clock.now()}`);
          timers.push(o.every ? clock.setInterval(fn, o.ms) : clock.setTimeout(fn, o.ms));
          ref.push({ id, at: now + o.ms, every: o.every ? Math.max(1, o.ms) : undefined, live: true });
        } else if (o.kind === "clear") {
          if (o.which < timers.length) {
            clock.clearTimeout(timers[o.which]);
            ref[o.which]!.live = false;
          }
        } else {
          const end = now + o.ms;
          for (;;) {
            let next: (typeof ref)[number] | undefined;
            for (const r of ref)
              if (
                r.live &&
                r.at <= end &&
                (next === undefined || r.at < next.at || (r.at === next.at && r.id < next.id))
              )
                next = r;
            if (next === undefined) break;
            now = Math.max(now, next.at);
            if (next.every === undefined) next.live = false;
            else next.at = next.at + next.every <= now ? now + next.every : next.at + next.every;
            expected.push(`${next.id}@${now}`);
          }
          now = end;
          clock.advance(o.ms);
        }
      }
      return fired.join() === expected.join() && clock.pendingTimers === ref.filter((r) => r.live).length;
    }),
  );
  t.pass();
});
