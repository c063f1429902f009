import test from "ava";
import { Session } from "../agent/session/session.js";
import type { SessionHooks } from "../agent/session/session-state.js";
import { REJOIN_HINT_MS, SESSION_TIMING } from "../common/session-timing.js";
import { HEARTBEAT_BUDGET_BYTES } from "../protocol/limits.js";
import {
  JoinError,
  MsgType,
  NatType,
  Role,
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
} from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { newIdentity } from "./helpers/control-harness.js";
import { DEMO_CHANNEL as CHANNEL, idleHeartbeat } from "./helpers/demo-channel.js";
import { ScriptedControl } from "./helpers/scripted-control.js";

const NODE = newIdentity();

function setup(heartbeat?: (ts: number) => Omit<HeartbeatBody, "assignVersion">, idle = false) {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = net.bind("127.0.0.1", 7700);
  const self = net.bind("127.0.1.1", 5000);
  const stranger = net.bind("127.0.0.9", 7700);
  const inbox: ControlMessage[] = [];
  const sc = new ScriptedControl();
  const raw = new Map<ControlMessage, Buffer>();
  control.onDatagram((b) => {
    const m = sc.saw(b);
    if (m === undefined) return;
    inbox.push(m);
    raw.set(m, b);
  });
  const assigned: AssignBody[] = [];
  const joined: JoinAckBody[] = [];
  const hooks: SessionHooks = {
    joined: (ack) => joined.push(ack),
    assigned: (a) => assigned.push(a),
    heartbeat: heartbeat ?? idleHeartbeat,
  };
  const logger = new MemoryLogger();
  const session = new Session(
    // The back-off's jitter at its middle: the JOIN schedule is fixed (0, 750, 2000, 4250 ms...).
    { clock, transport: self, logger, hooks, random: () => 0.5 },
    {
      control: control.local,
      channel: "demo",
      identity: NODE,
      controlKey: sc.publicKey,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
      ...(idle ? { idle: true } : {}),
    },
  );
  self.onDatagram((b, from) => session.onControl(b, from));
  // What control sends: a JOIN_ACK signed over the last JOIN, the REJOIN hint unsigned, the rest tagged.
  const reply = (type: MsgType, body: unknown, from = control): void => {
    const b = body as JoinAckBody;
    if (type === MsgType.JOIN_ACK && !sc.hasJoin) clock.advance(1); // let the first JOIN arrive
    const buf =
      type === MsgType.JOIN_ACK
        ? b.error === JoinError.REJOIN
          ? sc.plain(type, body)
          : sc.ack(b)
        : sc.seal(type, body);
    from.send(buf, self.local);
  };
  const ack = (over: Partial<JoinAckBody> = {}): void =>
    reply(MsgType.JOIN_ACK, {
      error: JoinError.NONE,
      node: 42,
      region: "region-a",
      heartbeatMs: 500,
      channels: [CHANNEL],
      ...over,
    });
  const assign = (version: number, over: Partial<AssignBody> = {}, from = control): void =>
    reply(
      MsgType.ASSIGN,
      { channel: 9, version, k: 1, tier: 0, parents: [null], children: [], ...over },
      from,
    );
  const of = <T extends MsgType>(type: T) =>
    inbox.filter((m): m is Extract<ControlMessage, { type: T }> => m.type === type);
  /** The bytes of the last message of `type` control received. */
  const lastBytes = (type: MsgType): Buffer => raw.get(inbox.filter((m) => m.type === type).at(-1)!)!;
  return {
    ...{ clock, session, inbox, assigned, joined, logger, ack, assign, of, reply, stranger },
    ...{ sc, self, control, lastBytes },
  };
}

test("JOIN at once, then on the back-off until JOIN_ACK; then heartbeats every heartbeatMs", (t) => {
  const s = setup();
  s.session.start();
  s.clock.advance(2500);
  const joins = s.of(MsgType.JOIN);
  t.is(joins.length, 3);
  t.like(joins[0], {
    sender: 0,
    body: { role: Role.AGENT, channels: ["demo"], uploadKbps: 4000, httpPort: 8081 },
  });
  t.deepEqual([...joins[0]!.body.key], [...NODE.publicKey]);
  t.true(joins[1]!.ts > joins[0]!.ts, "each JOIN is newer than the last (control refuses replays)");
  s.ack();
  s.clock.advance(2);
  t.is(s.session.phase, "joined");
  t.is(s.session.nodeId, 42);
  t.is(s.joined.length, 1);
  s.clock.advance(1000);
  t.is(s.of(MsgType.JOIN).length, 3, "no JOIN after JOIN_ACK");
  const hbs = s.of(MsgType.HEARTBEAT);
  t.is(hbs.length, 3, "one at once, then every 500 ms");
  t.like(hbs[0], { sender: 42, body: { channel: 9, assignVersion: 0 } });
  t.is(s.session.stats.heartbeatsSent, 3);
  t.true(s.session.stats.heartbeatBytesMax > 0);
  t.true(s.session.heartbeatBytesMean > 0);
});

test("UNKNOWN_CHANNEL: JOIN every 2 s until the channel exists", (t) => {
  const s = setup();
  s.session.start();
  s.ack({ error: JoinError.UNKNOWN_CHANNEL, node: 0, channels: [] });
  s.clock.advance(2);
  t.is(s.session.phase, "waiting_channel");
  const before = s.of(MsgType.JOIN).length;
  s.clock.advance(4000);
  t.is(s.of(MsgType.JOIN).length - before, 2);
  s.ack();
  s.clock.advance(2);
  t.is(s.session.phase, "joined");
});

test("ASSIGN: newer versions applied, older and other channels ignored; heartbeat reports the version", (t) => {
  const s = setup();
  s.session.start();
  s.ack();
  s.clock.advance(2);
  s.assign(2);
  s.assign(1);
  s.assign(2);
  s.assign(3, { channel: 10 });
  s.assign(3, {}, s.stranger);
  s.clock.advance(2);
  t.deepEqual(
    s.assigned.map((a) => a.version),
    [2],
  );
  t.is(s.session.stats.rejected, 1, "an ASSIGN from a stranger is dropped");
  s.clock.advance(500);
  t.is(s.of(MsgType.HEARTBEAT).at(-1)!.body.assignVersion, 2);
});

test("REJOIN: JOIN again; the new session takes ASSIGN versions from 0", (t) => {
  const s = setup();
  s.session.start();
  s.ack();
  s.clock.advance(2);
  s.assign(7);
  s.clock.advance(2);
  s.ack({ error: JoinError.REJOIN, node: 0, channels: [] });
  s.clock.advance(2);
  t.is(s.session.phase, "joining");
  t.is(s.session.stats.rejoins, 1);
  const joins = s.of(MsgType.JOIN).length;
  s.clock.advance(1000);
  t.is(s.of(MsgType.JOIN).length, joins + 1);
  t.like(s.of(MsgType.JOIN).at(-1), { sender: 0 }); // a JOIN names its key, not an id
  const hbs = s.of(MsgType.HEARTBEAT).length;
  s.clock.advance(1000);
  t.is(s.of(MsgType.HEARTBEAT).length, hbs, "no heartbeat while joining");
  s.ack();
  s.clock.advance(2);
  s.assign(1);
  s.clock.advance(2);
  t.deepEqual(
    s.assigned.map((a) => a.version),
    [7, 1],
  );
});

test("malformed control datagrams are counted; LEAVE on stop; nothing after", (t) => {
  const s = setup();
  s.session.start();
  s.session.onControl(Buffer.from([0xa1, 0xff]), { address: "127.0.0.1", port: 7700 });
  t.is(s.session.malformedTotal, 1);
  s.ack();
  s.clock.advance(2);
  s.session.stop();
  s.clock.advance(5000);
  const leave = s.of(MsgType.LEAVE);
  t.is(leave.length, 1);
  t.like(leave[0], { sender: 42, body: { channel: 9 } });
  t.is(s.inbox.at(-1)!.type, MsgType.LEAVE);
});

test("a heartbeat with 4 parents and 8 children fits the 256-byte budget", (t) => {
  const link = (node: number) => ({ node, ageMs: 1234, lastSeq: 4_000_000_000 });
  const s = setup(() => ({
    channel: 9,
    parents: [1, 2, 3, 4].map(link),
    children: [11, 12, 13, 14, 15, 16, 17, 18].map(link),
    buffers: [300, 300, 300, 300],
    resources: {
      uploadKbps: 40000,
      nat: NatType.UNKNOWN,
      cacheBytes: 64 * 1024 * 1024,
      cpuPct: 12.5,
      rssMB: 80.3,
    },
    newestSegment: 123456,
  }));
  s.session.start();
  s.ack();
  s.clock.advance(2);
  t.true(s.session.stats.heartbeatBytesMax > 0);
  t.true(
    s.session.stats.heartbeatBytesMax <= HEARTBEAT_BUDGET_BYTES,
    `heartbeat is ${s.session.stats.heartbeatBytesMax} bytes`,
  );
});

test("an idle box JOINs with no channel, accepts an ack without one, and applies an ASSIGN for any channel", (t) => {
  const s = setup(undefined, true);
  s.session.start();
  s.clock.advance(10);
  t.deepEqual(s.of(MsgType.JOIN)[0]!.body.channels, []);
  s.ack({ channels: [] });
  s.clock.advance(10);
  t.is(s.session.phase, "joined");
  t.is(s.joined.length, 1);
  s.assign(1, { channel: 77 }); // recruited for channel 77, which it does not watch
  s.clock.advance(10);
  t.deepEqual(
    s.assigned.map((a) => a.channel),
    [77],
  );
});

test("ASSIGN must carry the session's tag and a fresh counter: forged, replayed and pre-session ones are dropped", (t) => {
  const s = setup();
  s.session.start();
  s.ack();
  s.clock.advance(2);
  const body = { channel: 9, k: 1, tier: 0, parents: [null], children: [] };
  // Forged: right shape, no tag (an attacker spoofing control's address) or another key's tag.
  s.control.send(s.sc.plain(MsgType.ASSIGN, { ...body, version: 0xffffffff }), s.self.local);
  const other = new ScriptedControl();
  other.saw(s.lastBytes(MsgType.JOIN));
  other.ack({ error: JoinError.NONE, node: 42, region: "", heartbeatMs: 500, channels: [] });
  s.control.send(other.seal(MsgType.ASSIGN, { ...body, version: 0xfffffffe }), s.self.local);
  s.clock.advance(2);
  t.deepEqual(s.assigned, [], "an ASSIGN without our session's tag is not applied");
  t.is(s.session.stats.authFailed.tag, 2);
  // Genuine, then the same bytes again (a replay), then an older counter than the window allows.
  const genuine = s.sc.seal(MsgType.ASSIGN, { ...body, version: 5 });
  s.control.send(genuine, s.self.local);
  s.clock.advance(2);
  s.control.send(genuine, s.self.local);
  s.clock.advance(2);
  t.deepEqual(
    s.assigned.map((a) => a.version),
    [5],
  );
  t.is(s.session.stats.authFailed.replay, 1);
  // The content of one genuine ASSIGN under the tag of another (same counter): altered bytes.
  const a6 = s.sc.seal(MsgType.ASSIGN, { ...body, version: 6 }, 100);
  const a7 = s.sc.seal(MsgType.ASSIGN, { ...body, version: 7 }, 100);
  t.is(a6.length, a7.length);
  s.control.send(Buffer.concat([a7.subarray(0, a7.length - 16), a6.subarray(a6.length - 16)]), s.self.local);
  s.clock.advance(2);
  t.is(s.assigned.length, 1);
  t.is(s.session.stats.authFailed.tag, 3);
});

test("a JOIN_ACK must be signed by the pinned control key over one of our JOINs", (t) => {
  const s = setup();
  s.session.start();
  s.clock.advance(1);
  // An impostor with its own key answers the same JOIN: ignored.
  const impostor = new ScriptedControl();
  impostor.saw(s.lastBytes(MsgType.JOIN));
  s.control.send(
    impostor.ack({ error: JoinError.NONE, node: 7, region: "x", heartbeatMs: 500, channels: [CHANNEL] }),
    s.self.local,
  );
  // An unsigned JOIN_ACK that accepts: ignored.
  s.control.send(
    s.sc.plain(MsgType.JOIN_ACK, {
      error: JoinError.NONE,
      node: 7,
      region: "x",
      heartbeatMs: 500,
      channels: [CHANNEL],
    }),
    s.self.local,
  );
  s.clock.advance(2);
  t.is(s.session.phase, "joining");
  t.is(s.session.stats.authFailed.ack_signature, 1);
  t.is(s.session.stats.authFailed.ack_unsigned, 1);
  s.ack();
  s.clock.advance(2);
  t.is(s.session.phase, "joined");
  // Heartbeats carry the session's tag now.
  s.clock.advance(500);
  t.true(s.sc.tagged(s.lastBytes(MsgType.HEARTBEAT)));
});

test("an unsigned REJOIN hint is honoured at most once per REJOIN_HINT_MS", (t) => {
  const s = setup();
  s.session.start();
  s.ack();
  s.clock.advance(2);
  const hint = { error: JoinError.REJOIN, node: 0, region: "", heartbeatMs: 0, channels: [] };
  s.reply(MsgType.JOIN_ACK, hint);
  s.clock.advance(2);
  t.is(s.session.stats.rejoins, 1);
  s.ack();
  s.clock.advance(2);
  t.is(s.session.phase, "joined");
  s.reply(MsgType.JOIN_ACK, hint);
  s.clock.advance(2);
  t.is(s.session.phase, "joined", "a second hint soon after is ignored");
  t.is(s.session.stats.hintsIgnored, 1);
  s.clock.advance(REJOIN_HINT_MS);
  s.reply(MsgType.JOIN_ACK, hint);
  s.clock.advance(2);
  t.is(s.session.stats.rejoins, 2);
});
