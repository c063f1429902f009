/**
 * Admission (issue 13): the pure queue and slicer (control/admission.ts), then the control
 * center on a ManualClock and a MemoryNetwork (helpers/control-harness.ts): heartbeats before
 * queued JOINs, BUSY beyond the queue, ASSIGN pacing; and the BUSY wire format.
 */
import test from "ava";
import { AdmissionQueue, DEFAULT_ADMISSION, Slicer, type SlicerConfig } from "../control/admission.js";
import { encodeControl, decodeControl } from "../protocol/control-codec.js";
import { JOIN_ECHO_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import { type ControlMessage, JoinError, MsgType } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { ControlCenter } from "../control/control-center.js";
import { SqliteNodeStore } from "../control/store.js";
import { HB, Harness, newIdentity, policy, STREAM_KBPS, type FakeNode } from "./helpers/control-harness.js";

const T0 = 1_700_000_000_000;

test("AdmissionQueue: RESUMEs before JOINs, a resend keeps its turn, bounded, stale ones dropped", (t) => {
  const q = new AdmissionQueue<string>({ ...DEFAULT_ADMISSION, maxQueue: 3, maxWaitMs: 1000 }, T0);
  t.is(q.offer("join", "a", "a1", T0), "queued");
  t.is(q.offer("join", "b", "b1", T0), "queued");
  t.is(q.offer("resume", "r", "r1", T0), "queued");
  t.is(q.offer("join", "c", "c1", T0), "full");
  t.is(q.offer("join", "a", "a2", T0 + 10), "replaced", "a resend takes no room");
  t.is(q.depth, 3);
  t.is(q.take(T0 + 20), "r1", "the RESUME first");
  t.is(q.take(T0 + 20), "a2", "the newest datagram, in the first one's turn");
  t.is(q.offer("join", "c", "c1", T0 + 20), "queued");
  t.is(q.take(T0 + 1005), "c1", "b1 waited over maxWaitMs: dropped");
  t.is(q.expired, 1);
  t.is(q.take(T0 + 1005), undefined);
});

test("AdmissionQueue: no new entry beyond maxWaitMs of work at the recent rate; an idle second does not lower the rate", (t) => {
  const q = new AdmissionQueue<number>(
    { ...DEFAULT_ADMISSION, initialRatePerSec: 10, maxWaitMs: 1000, maxQueue: 1000 },
    T0,
  );
  const offers = Array.from({ length: 15 }, (_, i) => q.offer("join", String(i), i, T0));
  t.is(offers.filter((o) => o === "queued").length, 10, "a second of work at 10/s");
  t.is(offers.at(-1), "full");
  // 2 taken in a second with the queue still backlogged: the rate is 2/s.
  q.take(T0 + 100);
  q.take(T0 + 200);
  t.is(q.ratePerSec(T0 + 1000), 2);
  t.is(q.offer("join", "x", 99, T0 + 1000), "full", "8 waiting is 4 s of work");
  // Emptied, then a quiet second with a single request: the rate stays.
  while (q.take(T0 + 1100) !== undefined);
  q.offer("join", "y", 1, T0 + 1100);
  q.take(T0 + 1200);
  t.is(q.ratePerSec(T0 + 2500), 2 * 1, "not lowered by an idle second");
  // A RESUME is queued whatever the backlog: a BUSY would keep its node silent until it is lost.
  for (let i = 0; i < 12; i++) t.is(q.offer("resume", `r${i}`, 100 + i, T0 + 2500), "queued");
  t.is(q.offer("join", "z", 2, T0 + 2500), "full", "a JOIN still is turned away");
});

test("AdmissionQueue: a RESUME is never turned away for JOINs: it goes ahead, the newest JOIN makes room", (t) => {
  const q = new AdmissionQueue<string>({ ...DEFAULT_ADMISSION, maxQueue: 3, initialRatePerSec: 1000 }, T0);
  for (const k of ["a", "b", "c"]) q.offer("join", k, k, T0);
  t.is(q.offer("join", "d", "d", T0), "full");
  t.is(q.offer("resume", "r", "r", T0), "queued");
  t.is(q.evicted, 1);
  t.deepEqual([q.take(T0), q.take(T0), q.take(T0), q.take(T0)], ["r", "a", "b", undefined]);
});

test("AdmissionQueue: retry-after is the backlog at the recent rate, within floor and cap", (t) => {
  const cfg = {
    ...DEFAULT_ADMISSION,
    initialRatePerSec: 100,
    retryAfterFloorMs: 250,
    retryAfterCapMs: 15_000,
    maxWaitMs: 60_000,
  };
  const q = new AdmissionQueue<number>(cfg, T0);
  t.is(q.retryAfterMs(T0), 250, "empty: the floor");
  for (let i = 0; i < 99; i++) q.offer("join", String(i), i, T0);
  t.is(q.retryAfterMs(T0), 1000, "100 ahead at 100/s");
  // 50 taken over the next second: the rate is 50/s from then on.
  for (let i = 0; i < 50; i++) q.take(T0 + 10 * i);
  t.is(q.ratePerSec(T0 + 1000), 50);
  t.is(q.retryAfterMs(T0 + 1000), 1000, "49 waiting + 1 at 50/s");
  for (let i = 1000; i < 3000; i++) q.offer("join", String(i), i, T0 + 1000);
  t.is(q.retryAfterMs(T0 + 1000), 15_000, "capped");
  t.is(q.retryAfterMs(T0 + 1000, 0) >= 250, true);
});

function slicer(
  clock: ManualClock,
  config: Partial<SlicerConfig>,
  work: number[],
  cpuNow?: () => number,
): { s: Slicer; done: Array<[number, number]> } {
  const done: Array<[number, number]> = [];
  const s = new Slicer(
    { clock, cpuNow },
    { perSlice: 3, budgetMs: 5, gapMs: 2, busyInbound: 4, maxDefers: 2, ...config },
    () => {
      const w = work.shift();
      if (w === undefined) return 0;
      done.push([clock.now() - T0, w]);
      return 1;
    },
  );
  return { s, done };
}

test("Slicer: a count per slice, a gap between slices on the clock", (t) => {
  const clock = new ManualClock(T0);
  const { s, done } = slicer(clock, {}, [1, 2, 3, 4, 5, 6, 7]);
  s.kick();
  t.is(done.length, 0, "nothing runs inside kick()");
  clock.advance(0);
  t.deepEqual(
    done.map((d) => d[0]),
    [0, 0, 0],
  );
  clock.advance(10);
  t.deepEqual(
    done.map((d) => d[0]),
    [0, 0, 0, 2, 2, 2, 4],
  );
  t.is(s.slices, 3);
});

test("Slicer: a CPU budget ends a slice early (injected CPU clock)", (t) => {
  const clock = new ManualClock(T0);
  let cpu = 0;
  const work = [1, 2, 3, 4, 5, 6];
  const { s, done } = slicer(clock, { perSlice: 100 }, work, () => (cpu += 2));
  s.kick();
  clock.advance(0);
  // Each step costs 2 ms of CPU here: after the third, 6 ms are spent (budget 5): the slice ends.
  t.is(done.length, 3);
  clock.advance(2);
  t.is(done.length, 6);
});

test("Slicer: a busy socket puts the next slice off, at most maxDefers times", (t) => {
  const clock = new ManualClock(T0);
  const { s, done } = slicer(clock, { perSlice: 1 }, [1, 2, 3]);
  s.kick();
  clock.advance(0);
  t.is(done.length, 1);
  // Heartbeats keep coming: 4 datagrams in each gap.
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 4; k++) s.inbound();
    clock.advance(2);
  }
  t.is(done.length, 2, "put off twice, then run");
  t.is(s.deferred, 2);
  t.deepEqual(done[1], [6, 2]);
});

/** JOIN datagrams from `nodes` sent now (their cookies already held), not settled. */
function joinAll(h: Harness, nodes: FakeNode[], uploadKbps = 0): void {
  for (const n of nodes) {
    n.link.restart();
    n.sendJoin({
      key: n.key,
      role: 1,
      channels: ["news"],
      uploadKbps,
      nat: 1,
      httpPort: 8080,
    });
  }
  void h;
}

test("heartbeats are handled before JOINs waiting in the admission queue", (t) => {
  const h = new Harness(undefined, { admission: { slice: { perSlice: 1, gapMs: 1 } } });
  const o = h.origin();
  const a = h.agent(2);
  h.interval([o, a]);
  // 6 new nodes get their cookies first (one JOIN each, answered COOKIE, re-sent with it).
  const fresh = Array.from({ length: 6 }, () => h.node(2));
  joinAll(h, fresh);
  h.clock.advance(3);
  // Now the JOINs with cookies sit in the queue; an established node's heartbeat arrives.
  const acksBefore = h.control.metrics.heartbeatAcks;
  a.heartbeat();
  h.clock.advance(1);
  t.is(h.control.metrics.heartbeatAcks, acksBefore + 1, "answered at once");
  t.true(h.control.metrics.admissionDepth >= 3, `${h.control.metrics.admissionDepth} JOINs still waiting`);
  h.clock.advance(100);
  t.is(h.control.metrics.admissionDepth, 0);
  t.true(fresh.every((n) => n.acks().at(-1)?.error === JoinError.NONE));
  t.is(h.control.metrics.admitted.get("join"), 6 + 2);
});

test("JOINs beyond the queue get BUSY with a retry-after; the established keep their liveness", (t) => {
  const h = new Harness(undefined, {
    admission: { maxQueue: 2, retryAfterFloorMs: 300, slice: { perSlice: 1, gapMs: 1 } },
  });
  const o = h.origin();
  const a = h.agent(2);
  const crowd = Array.from({ length: 8 }, (_, i) => h.node(3 + i));
  joinAll(h, crowd);
  h.clock.advance(4);
  const busy = crowd.filter((n) => n.acks().at(-1)?.error === JoinError.BUSY);
  t.true(busy.length >= 5, `${busy.length} answered BUSY`);
  for (const n of busy) {
    const ack = n.acks().at(-1)!;
    t.true(ack.retryAfterMs! >= 300 && ack.retryAfterMs! <= 15_000, `retryAfterMs ${ack.retryAfterMs}`);
    t.is(ack.node, 0);
  }
  t.is(h.control.metrics.busy.get("join/full"), busy.length);
  // Several intervals of the crowd retrying while the established heartbeat: nobody is lost.
  for (let i = 0; i < 5; i++) {
    joinAll(h, busy);
    h.interval([o, a]);
  }
  // (the crowd's admitted nodes never heartbeat here: they are lost, as they should be)
  t.deepEqual(
    h.events("node_lost").filter((e) => e.node === o.id || e.node === a.id),
    [],
  );
  t.true(crowd.filter((n) => n.acks().at(-1)?.error === JoinError.NONE).length >= 2);
});

test("ASSIGN pacing: a burst goes out in slices of bounded bytes, a newer ASSIGN replacing a queued one", (t) => {
  const h = new Harness(undefined, { assignPacing: { perSlice: 400, gapMs: 5 } });
  const o = h.origin(3);
  // 12 agents join in the same instant: their JOINs are admitted in one slice and placed by
  // one reconcile, whose ASSIGNs pile up in that instant.
  const agents = Array.from({ length: 12 }, () => h.node(1));
  joinAll(h, agents, 2 * STREAM_KBPS);
  h.clock.advance(3);
  t.true(h.control.metrics.assignDepth > 0, "ASSIGNs wait in the pacer");
  h.clock.advance(200);
  for (const n of agents) n.id = n.acks().at(-1)!.node;
  const dcm = h.control.directory.byName("news")!.dcm;
  t.true(h.control.metrics.assignsPaced > 0, "some ASSIGNs waited");
  t.is(h.control.metrics.assignDepth, 0, "all went out in the end");
  // A newer ASSIGN for a node whose ASSIGN waits replaces it: one goes out, the newer.
  const last = agents.at(-1)!;
  const current = dcm.assignment(last.id)!;
  const to = last.transport.local;
  const sent = last.assigns().length;
  // The origin's resends fill this window: what follows waits in the pacer.
  for (let i = 0; i < 8; i++)
    h.control.sendAssign({ node: o.id, to: o.transport.local, body: dcm.assignment(o.id)! }, true);
  t.true(h.control.metrics.assignDepth > 0);
  const replaced = h.control.metrics.assignsReplaced;
  h.control.sendAssign({ node: last.id, to, body: { ...current, version: current.version + 1 } }, false);
  h.control.sendAssign({ node: last.id, to, body: { ...current, version: current.version + 2 } }, false);
  t.is(h.control.metrics.assignsReplaced - replaced, 1, "the newer replaced the queued one");
  h.clock.advance(50);
  t.deepEqual(
    last
      .assigns()
      .slice(sent)
      .map((a) => a.version),
    [current.version + 2],
    "only the newest went out",
  );
  // Every node ends on the version control holds for it, and was placed.
  for (const n of [o, ...agents.slice(0, -1)]) t.is(n.lastAssign()?.version, dcm.assignment(n.id)?.version);
  for (const n of agents) t.not(n.parent(), null);
  // No instant carried more than a slice's bytes and one ASSIGN (the one that crosses the line).
  const perMs = new Map<number, number>();
  let largest = 0;
  for (const n of [o, ...agents])
    for (const buf of n.rawFrom({ address: "127.0.0.1", port: 7700 })) {
      const r = decodeControl(buf);
      if (!r.ok || r.value.type !== MsgType.ASSIGN) continue;
      perMs.set(r.value.ts, (perMs.get(r.value.ts) ?? 0) + buf.length);
      largest = Math.max(largest, buf.length);
    }
  const max = Math.max(...perMs.values());
  t.true(max < 400 + largest, `${max} bytes of ASSIGN in one instant (largest ASSIGN ${largest})`);
  t.true(perMs.size >= 3, `ASSIGNs went out in ${perMs.size} instants`);
  h.interval([o, ...agents]);
  t.deepEqual(h.events("node_lost"), []);
});

test("a replayed JOIN that finds its original waiting is dropped and counted, a resend replaces it", (t) => {
  const h = new Harness(undefined, { admission: { slice: { perSlice: 1, gapMs: 1 } } });
  h.origin();
  // One JOIN a slice, a slice a ms: the last of 6 waits about 5 ms.
  const crowd = Array.from({ length: 6 }, () => h.node(5));
  joinAll(h, crowd);
  h.clock.advance(2); // each holds its cookie; its JOIN with it is on the way
  const last = crowd[5]!;
  const captured: Buffer[] = [];
  const send = last.transport.send.bind(last.transport);
  last.transport.send = (buf, to) => {
    captured.push(Buffer.from(buf));
    send(buf, to);
  };
  // A genuine resend (newer timestamp) while the first waits, then the resend replayed twice.
  h.clock.advance(1);
  last.sendJoin({ key: last.key, role: 1, channels: ["news"], uploadKbps: 0, nat: 1, httpPort: 8080 });
  h.clock.advance(1);
  send(captured.at(-1)!, { address: "127.0.0.1", port: 7700 });
  send(captured.at(-1)!, { address: "127.0.0.1", port: 7700 });
  h.clock.advance(1);
  t.is(h.control.metrics.authFailed.get("join_replay"), 2);
  h.clock.advance(20);
  t.is(last.acks().at(-1)?.error, JoinError.NONE, "the resend was admitted");
  t.is(h.control.metrics.admitted.get("join"), 1 + 6, "one admission per node");
});

test("a RESUME that finds the queue full gets an untagged RESUME_ACK BUSY echoing its nonce; a bad tag gets nothing", (t) => {
  // Server A admits the node; server B (same identity: it opens A's tickets) has no room.
  const identity = newIdentity();
  const h = new Harness(undefined, {}, identity);
  const B = { address: "127.0.0.1", port: 7711 };
  const b = new ControlCenter(
    {
      clock: h.clock,
      transport: h.net.bind(B.address, B.port),
      store: new SqliteNodeStore(":memory:"),
      logger: h.logger,
      identity,
    },
    { heartbeatMs: HB, regions: policy, admission: { maxQueue: 0 } },
  );
  b.start();
  h.origin();
  const a = h.agent(1);
  t.true(a.link.canResume);
  const buf = a.link.resume(a.id, h.clock.now(), { channel: 1, assignVersion: 1 }, true)!;
  a.transport.send(buf, B);
  h.settle();
  const answers = a.rawFrom(B).map((raw) => ({ raw, r: decodeControl(raw) }));
  t.is(answers.length, 1);
  const { raw, r } = answers[0]!;
  if (!r.ok || r.value.type !== MsgType.RESUME_ACK) return t.fail("not a RESUME_ACK");
  t.is(r.value.body.error, JoinError.BUSY);
  t.is(r.value.auth, undefined, "untagged");
  t.true(raw.length <= buf.length, "no larger than the RESUME");
  t.true(r.value.body.retryAfterMs! >= DEFAULT_ADMISSION.retryAfterFloorMs);
  t.is(a.link.onResumeAck(raw, r.value.body, r.value.seq, false), "busy", "the echo is our nonce");
  const forged = { ...r.value.body, nonce: new Uint8Array(16) };
  t.is(a.link.onResumeAck(raw, forged, r.value.seq, false), "forged", "another nonce is not ours");
  t.is(b.metrics.busy.get("resume/full"), 1);
  // A RESUME whose tag does not verify never reaches the queue, nor gets a BUSY.
  const bad = Buffer.from(a.link.resume(a.id, h.clock.now(), { channel: 1, assignVersion: 1 }, false)!);
  bad[bad.length - 1]! ^= 1;
  a.transport.send(bad, B);
  h.settle();
  t.is(a.rawFrom(B).length, 1);
  t.is(b.metrics.authFailed.get("resume_tag"), 1);
  b.stop();
});

test("BUSY on the wire: JOIN_ACK retryAfterMs and echo, RESUME_ACK retryAfterMs; bad ones refused", (t) => {
  const echo = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const ack = {
    v: WIRE_VERSION,
    type: MsgType.JOIN_ACK,
    sender: 0,
    seq: 7,
    ts: 1000,
    body: {
      error: JoinError.BUSY,
      node: 0,
      region: "",
      heartbeatMs: 0,
      channels: [],
      retryAfterMs: 2500,
      echo,
    },
  } as ControlMessage;
  const buf = encodeControl(ack);
  t.is(
    buf.toString("hex"),
    // envelope a6: v 1, type 2, sender 0, seq 7, ts 1000; body a7: error 6 (BUSY), node 0,
    // region "", heartbeatMs 0, channels [], 7 retryAfterMs 2500, 8 echo (8 bytes)
    "a6" +
      "0001" +
      "0102" +
      "0200" +
      "0307" +
      "041903e8" +
      "05a7" +
      "0006" +
      "0100" +
      "0260" +
      "0300" +
      "0480" +
      "071909c4" +
      "08480102030405060708",
  );
  const r = decodeControl(buf);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value, ack);
  const resume = {
    v: WIRE_VERSION,
    type: MsgType.RESUME_ACK,
    sender: 0,
    seq: 1,
    ts: 1,
    body: { error: JoinError.BUSY, nonce: new Uint8Array(16).fill(9), heartbeatMs: 0, retryAfterMs: 700 },
  } as ControlMessage;
  const back = decodeControl(encodeControl(resume));
  t.true(back.ok);
  if (back.ok) t.deepEqual(back.value, resume);
  t.throws(() =>
    encodeControl({
      ...ack,
      body: { ...ack.body, echo: new Uint8Array(JOIN_ECHO_BYTES + 1) },
    } as ControlMessage),
  );
  t.throws(() => encodeControl({ ...ack, body: { ...ack.body, retryAfterMs: -1 } } as ControlMessage));
});

test("BUSY goes only to a proven source: a JOIN without a cookie still gets a COOKIE", (t) => {
  const h = new Harness(undefined, { admission: { maxQueue: 0 } });
  const n = h.node(4);
  const ack = n.tryJoin({ channels: ["news"] });
  t.is(h.control.metrics.cookiesSent, 1, "the first JOIN (no cookie) got a COOKIE, not a BUSY");
  t.is(ack?.error, JoinError.BUSY, "the JOIN with the cookie got BUSY: no room");
  t.is(n.acks().length, 1);
  t.is(h.control.clients.size, 0);
});
