// The agent's side of a control failover (issue 12, claim 10; docs/agent.md "Failover"): the
// session on scripted control servers of one deployment (test/helpers/scripted-servers.ts: one
// control identity, real tickets) over the memory network, on a ManualClock. Detection (every
// heartbeat is answered; two unanswered in a row, the second an early re-send), RESUME at another
// configured endpoint with the resumed keys, REJOIN hints and REDIRECTs, epoch fencing, and the
// `--control` list.
import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "../agent/agent.js";
import { MemoryChunkStore } from "../agent/store/chunk-store.js";
import { ROUTER_TUNING } from "../agent/config.js";
import { agentCommand } from "../agent/main.js";
import { Session } from "../agent/session/session.js";
import type { SessionHooks } from "../agent/session/session-state.js";
import { SESSION_TIMING } from "../common/session-timing.js";
import { parseOptions, UsageError } from "../common/options.js";
import { ackTimeoutMs, HINT_RESUME_TRIES, hintResumeMs, RESUME_HINT_MS } from "../common/control-failover.js";
import { originCommand } from "../origin/main.js";
import { encodeTagged } from "../protocol/auth.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  JoinError,
  MsgType,
  NatType,
  Role,
  TierRole,
} from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { addressKey } from "../seams/transport.js";
import { ControlCenter } from "../control/control-center.js";
import { SqliteNodeStore } from "../control/store.js";
import { Origin } from "../origin/origin.js";
import { CONTROL, Harness, HB as CONTROL_HB, newIdentity, policy } from "./helpers/control-harness.js";
import { DEMO_CHANNEL as CHANNEL, idleHeartbeat } from "./helpers/demo-channel.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { type ScriptedServer, ScriptedServers } from "./helpers/scripted-servers.js";

const HB = 500;
const NODE = newIdentity();
const HEARTBEAT = idleHeartbeat();

/**
 * Servers A, B and C (configured, in that order) and D (not configured), an agent session
 * joined at A. `configured` picks how many of A, B, C the agent is given.
 */
function setup(configured = 2) {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const group = new ScriptedServers(clock, { channels: [CHANNEL] });
  const [a, b, c, d] = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"].map((ip) =>
    group.add(net.bind(ip, 7700)),
  ) as [ScriptedServer, ScriptedServer, ScriptedServer, ScriptedServer];
  const self = net.bind("127.0.1.1", 5000);
  const assigned: AssignBody[] = [];
  let joins = 0;
  const hooks: SessionHooks = {
    joined: () => joins++,
    assigned: (x) => assigned.push(x),
    heartbeat: () => HEARTBEAT,
  };
  const logger = new MemoryLogger();
  const session = new Session(
    { clock, transport: self, logger, hooks },
    {
      control: [a, b, c].slice(0, configured).map((s) => s.address),
      channel: "demo",
      identity: NODE,
      controlKey: group.publicKey,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
    },
  );
  self.onDatagram((buf, from) => session.onControl(buf, from));
  session.start();
  clock.advance(5);
  /** An ASSIGN from `server` tagged with its session (the epoch as given). */
  const assign = (server: ScriptedServer, version: number, over: Partial<AssignBody> = {}): void => {
    const body: AssignBody = { channel: 9, version, k: 1, tier: 0, parents: [null], children: [], ...over };
    server.send(server.seal(42, MsgType.ASSIGN, body), self.local);
    clock.advance(2);
  };
  /** Advances 1 ms at a time until `done` (at most `limit` ms); returns the time it took. */
  const until = (done: () => boolean, limit: number): number => {
    const t0 = clock.now();
    while (!done() && clock.now() - t0 < limit) clock.advance(1);
    return clock.now() - t0;
  };
  const joinsSent = (): number => [a, b, c, d].reduce((n, s) => n + s.of(MsgType.JOIN).length, 0);
  return {
    clock,
    net,
    group,
    a,
    b,
    c,
    d,
    self,
    session,
    logger,
    assigned,
    assign,
    until,
    joinsSent,
    hooks: () => joins,
  };
}

const on = (s: Session, server: { address: { address: string; port: number } }): boolean =>
  s.phase === "joined" && addressKey(s.endpoint) === addressKey(server.address);

test("joined at the first endpoint with a ticket; acknowledged heartbeats: no failover, and one lost ack costs only an early re-send", (t) => {
  const s = setup();
  t.true(on(s.session, s.a));
  t.truthy(s.session.link.ticket, "the JOIN_ACK's ticket is kept");
  s.clock.advance(10 * HB);
  t.is(s.session.stats.failover.failovers, 0);
  t.is(s.session.stats.failover.probes, 0);
  t.is(s.b.inbox.length, 0, "nothing goes to B");
  t.true(s.a.got(MsgType.HEARTBEAT).length >= 10);
  // One heartbeat's ack is lost: the early re-send is answered, nothing else happens.
  s.until(() => s.a.got(MsgType.HEARTBEAT).at(-1)!.at === s.clock.now(), HB);
  s.clock.advance(HB - 3);
  s.a.behaviour.ackHeartbeats = false;
  s.clock.advance(5); // the next heartbeat goes out unanswered
  s.a.behaviour.ackHeartbeats = true;
  s.clock.advance(4 * HB);
  t.is(s.session.stats.failover.probes, 1);
  t.is(s.session.stats.failover.failovers, 0);
  t.true(on(s.session, s.a));
  t.is(s.b.inbox.length, 0);
});

test("A goes silent: the agent RESUMEs at B within 2 heartbeat intervals, without a JOIN; heartbeats go on at B with the resumed keys", (t) => {
  const s = setup();
  s.assign(s.a, 3, {
    tier: 2,
    role: TierRole.TIER2,
    cluster: 4,
    fec: { k: 4, n: 2 },
    mesh: [{ node: 77, address: "127.0.9.1", port: 6000 }],
  });
  t.is(s.assigned.length, 1);
  // The worst moment: just after a heartbeat was acknowledged.
  s.until(() => s.a.got(MsgType.HEARTBEAT).at(-1)!.at === s.clock.now() - 2, HB);
  s.a.kill();
  const killedAt = s.clock.now();
  const took = s.until(() => on(s.session, s.b), 3 * HB);
  t.true(on(s.session, s.b), "the session is at B");
  t.log(`reassociated ${took} ms after the kill`);
  t.true(
    took <= 2 * HB,
    `reassociated ${took} ms after the kill (documented: <= heartbeatMs + 2 x ackTimeoutMs + a round trip)`,
  );
  t.true(took <= HB + 2 * ackTimeoutMs(HB) + 5, `${took} ms`);
  t.is(s.joinsSent(), 1, "no JOIN but the first");
  t.is(s.hooks(), 1, "the data plane saw no new session");
  const resume = s.b.got(MsgType.RESUME);
  t.is(resume.length, 1);
  t.true(resume[0]!.tagged, "tagged with the resumption key, sender = our node id");
  t.true(resume[0]!.at >= killedAt);
  t.like(resume[0]!.msg, {
    sender: 42,
    body: {
      channel: 9,
      assignVersion: 3,
      placement: { tier: 2, role: TierRole.TIER2, cluster: 4, fec: { k: 4, n: 2 }, mesh: [77] },
    },
  });
  // Heartbeats continue at B, at once and every interval, tagged with the resumed keys.
  s.clock.advance(3 * HB + 5);
  const hbs = s.b.got(MsgType.HEARTBEAT);
  t.true(hbs.length >= 4, `${hbs.length} heartbeats at B`);
  t.true(
    hbs.every((r) => r.tagged),
    "B verifies every heartbeat with the resumed keys",
  );
  t.true(
    hbs.every(
      (r) => (r.msg as Extract<ControlMessage, { type: MsgType.HEARTBEAT }>).body.assignVersion === 3,
    ),
  );
  t.is(s.session.stats.failover.failovers, 1);
  t.deepEqual(s.session.stats.failover.resumes, { ok: 1, refused: 0, unanswered: 0 });
  t.is(s.session.stats.failover.probes, 1, "one early re-send before giving A up");
  t.is(s.session.link.stats.resumed, 1);
  // B's ASSIGN (resumed keys) is applied; A, back from the dead with the old keys, is not believed.
  s.assign(s.b, 4);
  s.a.revive();
  s.assign(s.a, 9);
  t.deepEqual(
    s.assigned.map((x) => x.version),
    [3, 4],
  );
  t.is(s.session.stats.authFailed.tag, 1);
  t.true(s.logger.lines.some((l) => l.event === "resumed"));
});

test("a RESUME_ACK that does not carry the resumed keys' tag is ignored; the genuine one is taken", (t) => {
  const s = setup();
  s.b.behaviour.resume = "ignore";
  s.a.kill();
  s.until(() => s.b.got(MsgType.RESUME).length > 0, 3 * HB);
  t.is(s.session.phase, "resuming");
  const forged = (key: Uint8Array, auth: boolean): Buffer => {
    const msg = {
      v: WIRE_VERSION,
      type: MsgType.RESUME_ACK,
      sender: 0,
      seq: 1,
      ts: s.clock.now(),
      body: { error: JoinError.NONE, nonce: randomBytes(16), heartbeatMs: HB, epoch: 99 },
    } as ControlMessage;
    return auth ? encodeTagged(msg, key) : s.b.plain(MsgType.RESUME_ACK, msg.body);
  };
  s.b.send(forged(randomBytes(32), true), s.self.local);
  s.b.send(forged(randomBytes(32), false), s.self.local);
  // Tagged with the old session's key: not the resumed keys either.
  s.b.send(forged(s.a.sessions.get(42)!.keys.controlToNode, true), s.self.local);
  s.clock.advance(2);
  t.is(s.session.phase, "resuming");
  t.is(s.session.stats.authFailed.resume_tag, 2);
  t.is(s.session.stats.authFailed.resume_unsigned, 1);
  s.b.behaviour.resume = "accept";
  s.until(() => on(s.session, s.b), 3 * HB);
  t.true(on(s.session, s.b));
  t.is(s.session.assignEpoch, 0, "the forged epoch was not believed");
  t.is(s.joinsSent(), 1);
});

test("a REJOIN hint with a ticket costs a RESUME, not a JOIN; hints are honoured at most once per RESUME_HINT_MS", (t) => {
  const s = setup();
  s.a.hint(s.self.local);
  s.clock.advance(5);
  t.true(on(s.session, s.a), "resumed at the hinting endpoint");
  t.is(s.a.got(MsgType.RESUME).length, 1);
  t.is(s.joinsSent(), 1);
  t.is(s.session.stats.rejoins, 0);
  t.deepEqual(s.session.stats.failover.resumes, { ok: 1, refused: 0, unanswered: 0 });
  // Heartbeats go on at A with the resumed keys.
  s.clock.advance(HB);
  t.true(s.a.got(MsgType.HEARTBEAT).at(-1)!.tagged);
  // A flood of (spoofed) hints: one RESUME per RESUME_HINT_MS at most.
  for (let i = 0; i < 20; i++) {
    s.a.hint(s.self.local);
    s.clock.advance(10);
  }
  t.is(s.a.got(MsgType.RESUME).length, 1);
  t.true(s.session.stats.hintsIgnored >= 19);
  s.clock.advance(RESUME_HINT_MS);
  s.a.hint(s.self.local);
  s.clock.advance(5);
  t.is(s.a.got(MsgType.RESUME).length, 2);
  t.true(on(s.session, s.a));
});

test("a REJOIN hint whose RESUME is refused (RESUME_ACK REJOIN, the REJOIN hint) or unanswered ends in a full JOIN", (t) => {
  for (const how of ["refuse", "hint", "ignore"] as const) {
    const s = setup();
    s.a.behaviour.resume = how;
    const hintAt = s.clock.now();
    s.a.hint(s.self.local);
    s.until(() => s.joinsSent() > 1, 3000);
    t.is(s.joinsSent(), 2, `${how}: a JOIN follows`);
    const resumes = s.a.got(MsgType.RESUME).length;
    if (how === "ignore") {
      // Unanswered RESUMEs go on for 1.5 intervals (the origin may not have resumed there yet).
      t.true(resumes >= HINT_RESUME_TRIES, `${resumes} RESUMEs`);
      t.true(s.clock.now() - hintAt >= hintResumeMs(HB), "not before hintResumeMs");
    } else t.is(resumes, 1, how);
    t.is(s.session.stats.rejoins, 1, how);
    t.is(s.session.stats.failover.resumes[how === "ignore" ? "unanswered" : "refused"], 1, how);
    s.clock.advance(5);
    t.true(on(s.session, s.a), `${how}: joined again at A`);
    t.is(s.hooks(), 2, `${how}: a new session`);
  }
});

test("a hint's RESUMEs held by the server until its origin resumes there, one interval later, end in a RESUME, not a JOIN", (t) => {
  const s = setup();
  s.a.behaviour.resume = "ignore"; // held: the channel's origin has not resumed at A yet
  s.a.hint(s.self.local);
  // The origin notices at its next heartbeat, up to an interval later, and resumes.
  s.clock.advance(HB + 20);
  t.is(s.joinsSent(), 1, "still resuming");
  s.a.behaviour.resume = "accept";
  s.until(() => on(s.session, s.a), HB);
  t.true(on(s.session, s.a), "resumed at the hinting endpoint");
  t.is(s.joinsSent(), 1, "no JOIN, so no UNKNOWN_CHANNEL and no JOIN retry");
  t.is(s.session.stats.rejoins, 0);
  t.deepEqual(s.session.stats.failover.resumes, { ok: 1, refused: 0, unanswered: 0 });
});

test("REDIRECT: a configured endpoint is tried at once, an unconfigured one never", (t) => {
  const s = setup(3);
  // While joined: a REDIRECT naming only D (not configured) or another channel is ignored.
  s.a.send(s.a.plain(MsgType.REDIRECT, { channel: 9, endpoints: [s.d.address] }), s.self.local);
  s.a.send(s.a.plain(MsgType.REDIRECT, { channel: 8, endpoints: [s.b.address] }), s.self.local);
  s.clock.advance(5);
  t.true(on(s.session, s.a));
  t.is(s.session.stats.failover.redirectsIgnored, 2);
  // A dies; B does not serve the channel and names D and C: D is skipped, C tried at once
  // (not one back-off later, when its turn would come).
  s.b.behaviour.resume = "redirect";
  s.b.behaviour.redirectTo = [s.d.address, s.c.address];
  s.c.behaviour.resume = "accept";
  s.a.kill();
  s.until(() => on(s.session, s.c), 3 * HB);
  t.true(on(s.session, s.c));
  const atB = s.b.got(MsgType.RESUME)[0]!.at;
  const atC = s.c.got(MsgType.RESUME)[0]!.at;
  t.true(atC - atB <= 3, `C tried ${atC - atB} ms after B`);
  t.is(s.d.inbox.length, 0, "D is not one of ours");
  // While joined at C: a REDIRECT naming B moves the session there (one RESUME).
  s.b.behaviour.resume = "accept";
  s.clock.advance(RESUME_HINT_MS);
  s.c.send(s.c.plain(MsgType.REDIRECT, { channel: 9, endpoints: [s.d.address, s.b.address] }), s.self.local);
  s.clock.advance(5);
  t.true(on(s.session, s.b), "moved to B");
  t.is(s.d.inbox.length, 0);
  t.is(s.joinsSent(), 1);
  // A flood of spoofed REDIRECTs while resuming at most doubles the RESUMEs.
  s.b.kill();
  s.a.revive();
  s.a.behaviour.resume = "ignore";
  s.c.behaviour.resume = "ignore";
  s.until(() => s.session.phase === "resuming", 3 * HB);
  const resumes = (): number => [s.a, s.b, s.c].reduce((n, x) => n + x.got(MsgType.RESUME).length, 0);
  s.clock.advance(2 * HB); // the schedule at its steadiest
  const quiet0 = resumes();
  s.clock.advance(2 * HB);
  const quiet = resumes() - quiet0;
  const before = resumes();
  const t0 = s.clock.now();
  while (s.clock.now() - t0 < 2 * HB) {
    s.c.send(s.c.plain(MsgType.REDIRECT, { channel: 9, endpoints: [s.a.address] }), s.self.local);
    s.clock.advance(2);
  }
  const during = resumes() - before;
  t.log(`${during} RESUMEs under 500 REDIRECTs, ${quiet} without`);
  t.true(during <= 2 * quiet + 4, `${during} RESUMEs under 500 REDIRECTs, ${quiet} without`);
});

test("fencing: an ASSIGN with a lower epoch is dropped, a higher one applied whatever its version; a deposed server's RESUME_ACK is ignored", (t) => {
  const s = setup();
  s.assign(s.a, 5, { epoch: 5 });
  s.assign(s.a, 9, { epoch: 3 });
  t.deepEqual(
    s.assigned.map((x) => x.version),
    [5],
  );
  t.is(s.session.stats.fenced.assign, 1);
  t.true(s.logger.lines.some((l) => l.event === "assign_fenced"));
  s.assign(s.a, 6, { epoch: 5 });
  s.assign(s.a, 2, { epoch: 7 }); // a new DCM numbers its versions as it likes
  s.assign(s.a, 1, { epoch: 7 }); // but within its epoch they grow
  t.deepEqual(
    s.assigned.map((x) => x.version),
    [5, 6, 2],
  );
  t.is(s.session.assignEpoch, 7);
  // A HEARTBEAT_ACK with an older epoch is no answer: A is deposed, the agent moves.
  s.a.behaviour.epoch = 6;
  s.b.behaviour.epoch = 6;
  s.b.behaviour.resume = "accept";
  s.until(() => s.session.phase === "resuming", 3 * HB);
  t.is(s.session.phase, "resuming");
  t.true(s.session.stats.fenced.heartbeatAck >= 2);
  // B answers with epoch 6 as well: below what was seen, ignored; then B holds epoch 8.
  s.until(() => s.b.got(MsgType.RESUME).length > 0, HB);
  s.clock.advance(5);
  t.is(s.session.phase, "resuming");
  t.is(s.session.stats.fenced.resumeAck, 1);
  s.b.behaviour.epoch = 8;
  s.until(() => on(s.session, s.b), 3 * HB);
  t.true(on(s.session, s.b));
  t.is(s.session.fence.highest(9), 8);
  t.is(s.joinsSent(), 1);
});

test("an idle box heartbeats (channel 0 until recruited) and fails over like any agent", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const group = new ScriptedServers(clock, { channels: [] });
  const a = group.add(net.bind("127.0.0.1", 7700));
  const b = group.add(net.bind("127.0.0.2", 7700));
  const self = net.bind("127.0.1.1", 5000);
  let channel = 0;
  const session = new Session(
    {
      clock,
      transport: self,
      logger: new MemoryLogger(),
      hooks: {
        joined: () => {},
        assigned: (x) => (channel = x.channel),
        heartbeat: () => ({ ...HEARTBEAT, channel }),
      },
    },
    {
      control: [a.address, b.address],
      channel: "demo",
      idle: true,
      identity: NODE,
      controlKey: group.publicKey,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
    },
  );
  self.onDatagram((buf, from) => session.onControl(buf, from));
  session.start();
  clock.advance(5);
  t.is(session.phase, "joined");
  t.like(a.of(MsgType.HEARTBEAT)[0], { sender: 42, body: { channel: 0 } });
  a.send(
    a.seal(42, MsgType.ASSIGN, { channel: 77, version: 1, k: 1, tier: 1, parents: [null], children: [] }),
    self.local,
  );
  clock.advance(HB + 5);
  t.is(a.of(MsgType.HEARTBEAT).at(-1)!.body.channel, 77, "the channel it was recruited for");
  a.kill();
  clock.advance(2 * HB);
  t.true(on(session, b));
  t.like(b.of(MsgType.RESUME)[0], { body: { channel: 77, assignVersion: 1 } });
});

test("a full JOIN rotates through the endpoints while unanswered; control datagrams from any configured endpoint count", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const group = new ScriptedServers(clock, { channels: [CHANNEL] });
  const a = group.add(net.bind("127.0.0.1", 7700));
  const b = group.add(net.bind("127.0.0.2", 7700));
  const stranger = group.add(net.bind("127.0.0.9", 7700));
  a.kill();
  const self = net.bind("127.0.1.1", 5000);
  const session = new Session(
    {
      clock,
      transport: self,
      logger: new MemoryLogger(),
      hooks: { joined: () => {}, assigned: () => {}, heartbeat: () => HEARTBEAT },
    },
    {
      control: [a.address, b.address],
      channel: "demo",
      identity: NODE,
      controlKey: group.publicKey,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
    },
  );
  self.onDatagram((buf, from) => session.onControl(buf, from));
  session.start();
  clock.advance(SESSION_TIMING.joinRetryMs + 10);
  t.is(a.of(MsgType.JOIN).length, 1, "the first JOIN goes to the first endpoint");
  t.is(b.of(MsgType.JOIN).length, 1, "unanswered, the next goes to the second");
  t.is(session.phase, "joined");
  t.is(addressKey(session.endpoint), addressKey(b.address));
  stranger.hint(self.local);
  clock.advance(5);
  t.is(session.stats.rejected, 1, "not a configured endpoint");
});

test("the agent's /status names its control endpoint; /metrics counts failovers, resumes and fenced ASSIGNs", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const group = new ScriptedServers(clock, { channels: [CHANNEL] });
  const a = group.add(net.bind("127.0.0.1", 7700));
  const b = group.add(net.bind("127.0.0.2", 7700));
  const self = net.bind("127.0.1.1", 5000);
  const agent = new Agent(
    {
      clock,
      transport: self,
      store: new MemoryChunkStore(16 * 1024 * 1024),
      logger: new MemoryLogger(),
      identity: NODE,
      startedAt: clock.now(),
      fetch: (async () => new Response("no", { status: 404 })) as typeof fetch,
    },
    {
      control: [a.address, b.address],
      controlKey: group.publicKey,
      channel: "demo",
      role: "agent",
      uploadKbps: 8000,
      httpPort: 8081,
      nat: NatType.UNKNOWN,
      tuning: ROUTER_TUNING,
    },
  );
  agent.start();
  clock.advance(5);
  t.like(agent.status().control, { endpoint: "127.0.0.1:7700", phase: "joined" });
  a.send(
    a.seal(42, MsgType.ASSIGN, {
      channel: 9,
      version: 2,
      k: 1,
      tier: 0,
      parents: [null],
      children: [],
      epoch: 4,
    }),
    self.local,
  );
  a.send(
    a.seal(42, MsgType.ASSIGN, {
      channel: 9,
      version: 3,
      k: 1,
      tier: 0,
      parents: [null],
      children: [],
      epoch: 1,
    }),
    self.local,
  );
  clock.advance(5);
  a.kill();
  b.behaviour.epoch = 4;
  clock.advance(3 * HB);
  t.like(agent.status().control, { endpoint: "127.0.0.2:7700", phase: "joined", epoch: 4, failovers: 1 });
  const m = agent.metrics();
  t.regex(m, /tiercast_agent_control_failovers_total\{channel="demo"\} 1/);
  t.regex(m, /tiercast_agent_control_resumes_total\{channel="demo",result="ok"\} 1/);
  t.regex(m, /tiercast_agent_assign_fenced_total\{channel="demo"\} 1/);
  agent.stop();
});

test("--control takes several endpoints (flag, environment, config string or array); a bad one is an error naming the field", (t) => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    parseOptions(agentCommand, argv, env)?.control;
  t.deepEqual(parse(["--control", "a:1,b:2"]), [
    { host: "a", port: 1 },
    { host: "b", port: 2 },
  ]);
  t.deepEqual(parse([]), [{ host: "127.0.0.1", port: 7700 }]);
  t.deepEqual(parse([], { TIERCAST_CONTROL: "10.0.0.1:7700, [::1]:7701" }), [
    { host: "10.0.0.1", port: 7700 },
    { host: "::1", port: 7701 },
  ]);
  const dir = mkdtempSync(join(tmpdir(), "failover-"));
  const asArray = join(dir, "array.json");
  writeFileSync(asArray, JSON.stringify({ control: ["10.0.0.1:7700", "10.0.0.2:7700"] }));
  const asString = join(dir, "string.json");
  writeFileSync(asString, JSON.stringify({ control: "10.0.0.1:7700,10.0.0.2:7700" }));
  for (const f of [asArray, asString]) {
    t.deepEqual(parse(["--config", f]), [
      { host: "10.0.0.1", port: 7700 },
      { host: "10.0.0.2", port: 7700 },
    ]);
  }
  const bad = (argv: string[], re: RegExp, env: NodeJS.ProcessEnv = {}): void => {
    const e = t.throws(() => parseOptions(agentCommand, argv, env), { instanceOf: UsageError });
    t.regex(e!.message, re);
  };
  bad(["--control", "a:1,b:x"], /control \(flag --control\): entry 2 \("b:x"\): expected host:port/);
  bad(["--control", "a:1,"], /control \(flag --control\): entry 2/);
  bad(["--control", "a:1,a:1"], /control \(flag --control\): entry 2 \("a:1"\) is named twice/);
  bad([], /control \(environment TIERCAST_CONTROL\): entry 1/, { TIERCAST_CONTROL: "a:99999" });
  const badFile = join(dir, "bad.json");
  writeFileSync(badFile, JSON.stringify({ control: ["10.0.0.1:7700", 7] }));
  bad(["--config", badFile], /control \(config .*bad\.json\): entry 2 \(7\)/);
  // The origin takes the same list.
  t.deepEqual(parseOptions(originCommand, ["--control", "a:1,b:2"], {})?.control, [
    { host: "a", port: 1 },
    { host: "b", port: 2 },
  ]);
});

test("against two real control servers of one deployment: the origin and an agent resume at B when A dies, without a JOIN", (t) => {
  const identity = newIdentity();
  const h = new Harness(undefined, {}, identity);
  const bAt = { address: "127.0.0.5", port: 7700 };
  const bCenter = new ControlCenter(
    {
      clock: h.clock,
      transport: h.net.bind(bAt.address, bAt.port),
      store: new SqliteNodeStore(":memory:"),
      logger: h.logger,
      identity,
    },
    { heartbeatMs: CONTROL_HB, regions: policy, trust: { probationHeartbeats: 0 } },
  );
  bCenter.start();
  const endpoints = [CONTROL, bAt];
  const origin = new Origin(
    {
      clock: h.clock,
      transport: h.net.bind("127.0.9.1", 5000),
      logger: h.logger.child({ proc: "origin" }),
      signingKey: TEST_ORIGIN.privateKey,
      resources: () => ({ cpuPct: 1, rssMB: 40 }),
    },
    {
      control: endpoints,
      channel: "news",
      key: TEST_ORIGIN.publicKey,
      controlKey: identity.publicKey,
      streamKbps: 1000,
      segmentMs: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
      httpPort: 8080,
    },
  );
  origin.start();
  let parents: AssignBody["parents"] = [];
  const self = h.net.bind("127.0.1.1", 5000);
  const session: Session = new Session(
    {
      clock: h.clock,
      transport: self,
      logger: h.logger.child({ proc: "agent" }),
      hooks: {
        joined: () => {},
        assigned: (a) => (parents = a.parents),
        heartbeat: (): HeartbeatBody => ({
          ...HEARTBEAT,
          assignVersion: 0,
          channel: session.liveChannelId,
          parents: parents.map((p) => (p === null ? null : { node: p.node, ageMs: 5, lastSeq: 0 })),
        }),
      },
    },
    {
      control: endpoints,
      channel: "news",
      identity: newIdentity(),
      controlKey: identity.publicKey,
      role: Role.AGENT,
      uploadKbps: 4000,
      nat: NatType.UNKNOWN,
      httpPort: 8081,
      ...SESSION_TIMING,
    },
  );
  self.onDatagram((buf, from) => session.onControl(buf, from));
  h.clock.advance(100);
  session.start();
  h.clock.advance(3 * CONTROL_HB);
  t.is(session.phase, "joined");
  t.true(session.assignVersion > 0, "placed under the origin");
  t.deepEqual(
    parents.map((p) => p?.node),
    [origin.node],
  );
  const version = session.assignVersion;
  const joins = session.stats.joinsSent; // the JOIN and its resend with control's COOKIE
  const originJoins = (origin.status().control as { joinsSent: number }).joinsSent;

  h.control.stop();
  void h.transport.close(); // A is gone: what is sent there is lost
  const killedAt = h.clock.now();
  let originAt: number | undefined;
  let agentAt: number | undefined;
  while (h.clock.now() - killedAt < 4 * CONTROL_HB && (originAt === undefined || agentAt === undefined)) {
    h.clock.advance(1);
    const oc = origin.status().control as { endpoint: string; resuming: boolean };
    if (originAt === undefined && oc.endpoint === addressKey(bAt) && !oc.resuming) originAt = h.clock.now();
    if (agentAt === undefined && on(session, { address: bAt })) agentAt = h.clock.now();
  }
  t.log(`resumed at B: origin ${originAt! - killedAt} ms, agent ${agentAt! - killedAt} ms after the kill`);
  t.truthy(originAt, "the origin resumed at B");
  t.truthy(agentAt, "the agent resumed at B");
  t.true(originAt! - killedAt <= 2 * CONTROL_HB, `origin: ${originAt! - killedAt} ms`);
  t.true(agentAt! - killedAt <= 2 * CONTROL_HB, `agent: ${agentAt! - killedAt} ms`);
  t.is(session.stats.joinsSent, joins, "the agent never JOINed again");
  t.is((origin.status().control as { joinsSent: number }).joinsSent, originJoins, "nor the origin");
  t.is(session.stats.rejoins, 0);
  // B adopted the plan: the agent keeps its parent; heartbeats are answered there.
  h.clock.advance(3 * CONTROL_HB);
  t.true(on(session, { address: bAt }));
  t.is(session.stats.failover.failovers, 1);
  t.true(session.assignVersion >= version);
  t.deepEqual(
    parents.map((p) => p?.node),
    [origin.node],
  );
  t.is(bCenter.metrics.handlerErrors, 0);
  bCenter.stop();
});
