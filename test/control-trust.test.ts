/**
 * Control's defences one by one, on a ManualClock and a MemoryNetwork (helpers/control-harness.ts):
 * the cookie round trip, JOIN signatures and replays, session tags and counters, the origin key
 * binding, the enrolment policies, revocation, probation of new keys and the stall guard. Each
 * test shows the attack that the defence stops; the attack suite (trust-attacks.test.ts) runs
 * them all against real processes.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { encodeSigned } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { joinContext } from "../protocol/handshake.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { type ControlMessage, JoinError, LeaveReason, MsgType, NatType, Role } from "../protocol/messages.js";
import { hashToken, newEnrolmentToken } from "../control/trust/enrolment.js";
import { prefixOf } from "../control/trust/join-limiter.js";
import { CONTROL, HB, Harness, newIdentity, STREAM_KBPS } from "./helpers/control-harness.js";

const agentJoin = (key: Uint8Array, over: Partial<ControlMessage> = {}): ControlMessage =>
  ({
    v: WIRE_VERSION,
    type: MsgType.JOIN,
    sender: 0,
    seq: 0,
    ts: Date.now(),
    body: {
      key,
      role: Role.AGENT,
      channels: ["news"],
      uploadKbps: 1000,
      nat: NatType.OPEN,
      httpPort: 8080,
      epk: new Uint8Array(randomBytes(32)),
    },
    ...over,
  }) as ControlMessage;

test("a JOIN without a cookie gets a COOKIE no larger than itself, and control keeps nothing", (t) => {
  const h = new Harness();
  const n = h.node(1);
  const got: Buffer[] = [];
  n.transport.onDatagram((b) => got.push(b));
  const join = encodeSigned(agentJoin(n.key), n.identity.privateKey, joinContext(h.control.publicKey));
  n.transport.send(join, CONTROL);
  h.settle();
  t.is(got.length, 1);
  const r = decodeControl(got[0]!);
  t.true(r.ok && r.value.type === MsgType.COOKIE);
  t.true(got[0]!.length <= join.length, `${got[0]!.length} <= ${join.length}`);
  t.is(h.control.clients.size, 0);
  t.false(h.store.isEnrolled(n.key), "no row for a node that did not finish the handshake");
  // A JOIN too small to pay for its COOKIE gets nothing at all.
  const tiny = encodeControl({
    ...agentJoin(new Uint8Array(1)),
    body: { ...agentJoin(new Uint8Array(1)).body, epk: undefined },
  } as ControlMessage);
  n.transport.send(tiny, CONTROL);
  h.settle();
  t.is(got.length, 1);
  t.is(h.control.metrics.authFailed.get("join_too_small"), 1);
});

test("a JOIN with the cookie but a bad signature, or replayed, is dropped and counted", (t) => {
  const h = new Harness();
  const n = h.node(1);
  const ack = n.join({ channels: ["news"] });
  t.is(ack.error, JoinError.UNKNOWN_CHANNEL); // the handshake worked; no origin yet
  const joins = n.link.stats.cookies;
  t.is(joins, 1);
  // Replay the last JOIN (the one with the cookie) from the same address: refused as a replay.
  const sent: Buffer[] = [];
  const send = n.transport.send.bind(n.transport);
  n.transport.send = (b, to) => {
    sent.push(Buffer.from(b));
    send(b, to);
  };
  n.sendJoin({
    key: n.key,
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 0,
    nat: NatType.OPEN,
    httpPort: 8080,
  });
  h.settle();
  const acks = n.acks().length;
  send(sent.at(-1)!, CONTROL);
  h.settle();
  t.is(n.acks().length, acks, "no answer to a replayed JOIN");
  t.is(h.control.metrics.authFailed.get("join_replay"), 1);
  // The same JOIN with one signature byte flipped.
  const forged = Buffer.from(sent.at(-1)!);
  forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
  send(forged, CONTROL);
  h.settle();
  t.is(h.control.metrics.authFailed.get("join_signature"), 1);
});

test("forged and replayed HEARTBEAT and LEAVE for a node's id are dropped: it is neither moved nor removed", (t) => {
  const h = new Harness();
  const o = h.origin();
  const a = h.agent(1);
  const attacker = h.net.bind("127.0.7.7");
  const msg = (type: MsgType, body: unknown, auth?: Uint8Array): Buffer =>
    encodeControl({
      v: WIRE_VERSION,
      type,
      sender: a.id,
      seq: 99,
      ts: 0,
      body,
      ...(auth ? { auth } : {}),
    } as ControlMessage);
  const hb = {
    channel: 1,
    assignVersion: 0,
    parents: [null],
    children: [],
    buffers: [0],
    resources: { uploadKbps: 1, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 0, rssMB: 0 },
    newestSegment: 0,
  };
  attacker.send(msg(MsgType.HEARTBEAT, hb), CONTROL);
  attacker.send(msg(MsgType.HEARTBEAT, hb, randomBytes(16)), CONTROL);
  attacker.send(msg(MsgType.LEAVE, { channel: 1, reason: LeaveReason.SHUTDOWN }, randomBytes(16)), CONTROL);
  h.settle();
  t.is(h.events("node_moved").length, 0);
  t.is(h.events("node_left").length, 0);
  t.is(h.control.clients.get(a.id)?.address, a.transport.local.address);
  t.is(h.control.metrics.authFailed.get("tag"), 3);
  // A genuine LEAVE captured and replayed after the node joined again (a new session): dropped.
  let captured: Buffer | undefined;
  const send = a.transport.send.bind(a.transport);
  a.transport.send = (b, to) => {
    captured = Buffer.from(b);
    send(b, to);
  };
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(h.events("node_left").length, 1);
  a.transport.send = send;
  t.is(a.join({ channels: ["news"] }).error, JoinError.NONE);
  attacker.send(captured!, CONTROL);
  h.settle();
  t.is(h.events("node_left").length, 1, "the replayed LEAVE removed nobody");
  t.truthy(h.control.clients.get(a.id));
  void o;
});

test("a channel belongs to its origin key: another key can neither take it nor end it", (t) => {
  const h = new Harness();
  const o = h.origin();
  const rogue = h.node(9);
  const origin = {
    role: Role.ORIGIN,
    uploadKbps: 1000,
    streamKbps: STREAM_KBPS,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:9",
  };
  t.is(rogue.join({ ...origin, channels: ["news"] }).error, JoinError.UNAUTHORIZED);
  // Even with the rightful origin gone, the channel stays bound to its key (kept in the store).
  o.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(rogue.join({ ...origin, channels: ["news"] }).error, JoinError.UNAUTHORIZED);
  t.is(h.store.channelOrigin("news"), Buffer.from(o.key).toString("hex"));
  // A configured origin key wins over the first-use binding.
  const configured = newIdentity();
  const h2 = new Harness(undefined, {
    trust: {
      policy: {
        enrolment: "open",
        allowKeys: new Set(),
        originKeys: new Map([["news", new Set([Buffer.from(configured.publicKey).toString("hex")])]]),
      },
    },
  });
  t.is(h2.node(9).join({ ...origin, channels: ["news"] }).error, JoinError.UNAUTHORIZED);
  t.is(h2.node(9, configured).join({ ...origin, channels: ["news"] }).error, JoinError.NONE);
});

test("token enrolment: a new key needs a token (hashed in the store, limited in uses and roles); known keys need none; revoked keys never", (t) => {
  const policy = {
    enrolment: "token" as const,
    allowKeys: new Set<string>(),
    originKeys: new Map<string, Set<string>>(),
  };
  const h = new Harness(undefined, { trust: { policy } });
  const { token, row } = newEnrolmentToken(["agent"], 1, 0, "lab");
  h.store.addEnrolmentToken(row);
  t.is(row.hash, hashToken(token));
  t.false(JSON.stringify(h.store.enrolmentTokens()).includes(token), "only the hash is stored");
  const a = h.node(1);
  t.is(a.join({ channels: ["news"] }).error, JoinError.UNAUTHORIZED);
  t.is(a.join({ channels: ["news"], token: "tce_wrong" }).error, JoinError.UNAUTHORIZED);
  t.is(
    a.join({ channels: ["news"], token }).error,
    JoinError.UNKNOWN_CHANNEL,
    "enrolled; the channel is not offered yet",
  );
  t.is(
    a.join({ channels: ["news"] }).error,
    JoinError.UNKNOWN_CHANNEL,
    "an enrolled key needs no token again",
  );
  t.is(
    h.node(1).join({ channels: ["news"], token }).error,
    JoinError.UNAUTHORIZED,
    "the token's one use is spent",
  );
  const b = h.node(1);
  const { token: t2, row: r2 } = newEnrolmentToken(["origin"], 5, 0);
  h.store.addEnrolmentToken(r2);
  t.is(
    b.join({ channels: ["news"], token: t2 }).error,
    JoinError.UNAUTHORIZED,
    "a token for origins does not enrol an agent",
  );
  h.store.revokeKey(a.key, 0, "test");
  t.is(a.join({ channels: ["news"] }).error, JoinError.UNAUTHORIZED, "revoked");
});

test("allowlist enrolment admits only the listed keys", (t) => {
  const listed = newIdentity();
  const policy = {
    enrolment: "allowlist" as const,
    allowKeys: new Set([Buffer.from(listed.publicKey).toString("hex")]),
    originKeys: new Map<string, Set<string>>(),
  };
  const h = new Harness(undefined, { trust: { policy } });
  t.is(h.node(1).join({ channels: ["news"] }).error, JoinError.UNAUTHORIZED);
  t.is(h.node(1, listed).join({ channels: ["news"] }).error, JoinError.UNKNOWN_CHANNEL);
});

test("revoking a key ends its session at once; its children get other parents", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(1);
  const b = h.agent(0);
  t.is(b.parent(), a.id);
  t.true(h.control.revokeKey(a.key, "stolen box"));
  h.settle();
  t.is(h.control.clients.get(a.id), undefined);
  t.is(h.store.sessions(a.id, 1)[0]!.reason, "revoked");
  t.is(b.parent(), o.id);
  a.heartbeat();
  h.settle();
  t.is(h.control.metrics.authFailed.get("no_session"), 1, "its old session is gone");
  t.is(a.join({ channels: ["news"] }).error, JoinError.UNAUTHORIZED);
});

test("a new key gets no place in the topology until it has heartbeated (probation); a silent one never does", (t) => {
  const h = new Harness(undefined, { trust: { probationHeartbeats: 2 } });
  const o = h.origin(1);
  const a = h.agent(4);
  const dcm = h.control.directory.byName("news")!.dcm;
  t.is(a.lastAssign(), undefined, "acknowledged, not placed: it plays from the fallback meanwhile");
  t.false(dcm.has(a.id));
  const sybil = h.agent(100); // joins and never says another word
  h.interval([o, a]);
  h.interval([o, a]);
  h.settle();
  t.is(a.parent(), o.id, "placed after two heartbeats");
  const b = h.agent(0);
  h.interval([o, a, b]);
  h.interval([o, a, b]);
  h.settle();
  t.is(b.parent(), a.id, "and now it may relay");
  h.interval([o, a, b]);
  h.interval([o, a, b]);
  t.is(sybil.lastAssign(), undefined);
  t.false(dcm.has(sybil.id));
  t.true(
    h.events("node_lost").some((e) => e.node === sybil.id),
    "the silent key is lost without ever being placed",
  );
});

test("control never declares nodes lost because control itself was stalled", (t) => {
  const h = new Harness();
  const o = h.origin();
  const a = h.agent(1);
  h.interval([o, a]);
  h.interval([o, a]);
  // The event loop is blocked for 5 intervals; the nodes' heartbeats wait in the socket meanwhile.
  h.clock.stall(5 * HB);
  o.heartbeat();
  a.heartbeat();
  h.settle();
  t.is(h.events("node_lost").length, 0);
  t.is(h.control.metrics.stalls, 1);
  t.true(h.control.metrics.maxStallMs >= 4 * HB);
  // A node that really went silent is still lost on time.
  for (let i = 0; i < 4; i++) h.interval([o]);
  t.deepEqual(
    h.events("node_lost").map((e) => e.node),
    [a.id],
  );
});

test("JOIN rate limits per source prefix: /24 for IPv4, /48 for IPv6", (t) => {
  t.is(prefixOf("10.1.2.3"), "10.1.2.0/24");
  t.is(prefixOf("::ffff:10.1.2.3"), "10.1.2.0/24");
  t.is(prefixOf("2001:db8:1:2::5"), "2001:db8:1::/48");
  t.is(prefixOf("::1"), "0:0:0::/48");
  const h = new Harness(undefined, {
    trust: { limits: { perPrefixPerSec: 1, perPrefixBurst: 3, totalPerSec: 100, totalBurst: 100 } },
  });
  h.origin();
  const answers = Array.from({ length: 6 }, () => h.node(1).tryJoin({ channels: ["news"] }));
  const acks = answers.map((a) => a?.error);
  t.deepEqual(acks.slice(0, 3), [JoinError.NONE, JoinError.NONE, JoinError.NONE]);
  // The rest proved their address (the cookie): told BUSY, unsigned, with a retry-after (issue 13).
  t.true(
    answers.slice(3).every((a) => a?.error === JoinError.BUSY && (a.retryAfterMs ?? 0) > 0),
    "the rest are answered BUSY with a retry-after",
  );
  t.is(h.control.clients.size, 4, "none of them was admitted");
  t.is(h.control.metrics.joinsLimited.get("proven"), 3);
  t.is(h.node(2).join({ channels: ["news"] }).error, JoinError.NONE, "another prefix is not held back");
});

test("a child that reports its parent for a forged META is moved away; two children's reports mark the parent", (t) => {
  const h = new Harness(undefined, { topology: "tiered" });
  const o = h.origin(1);
  const nodes = Array.from({ length: 6 }, (_, i) => h.agent(i < 2 ? 8 : 1, 1 + (i % 2)));
  h.interval([o, ...nodes]);
  const parentOf = (n: (typeof nodes)[number]): Array<number | undefined> =>
    n.lastAssign()?.parents.map((p) => p?.node) ?? [];
  const relay = nodes.find((n) => nodes.filter((c) => parentOf(c).includes(n.id)).length >= 2)!;
  const [c1, c2] = nodes.filter((c) => parentOf(c).includes(relay.id));
  const report = (child: NonNullable<typeof c1>): void =>
    child.send({
      type: MsgType.HEARTBEAT,
      body: {
        channel: 1,
        assignVersion: child.lastAssign()!.version,
        parents: [{ node: relay.id, ageMs: 0, lastSeq: 0, suspect: true }],
        children: [],
        buffers: [0],
        resources: { uploadKbps: 0, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 0, rssMB: 1 },
        newestSegment: 0,
      },
    });
  report(c1!);
  h.settle();
  t.false(parentOf(c1!).includes(relay.id), "the reporting child has another parent");
  t.true(parentOf(c2!).includes(relay.id), "one report does not mark the parent");
  t.is(h.events("parent_marked").length, 0);
  report(c2!);
  h.settle();
  t.deepEqual(
    h.events("parent_marked").map((e) => e.node),
    [relay.id],
  );
  t.true(
    nodes.every((n) => !parentOf(n).includes(relay.id)),
    "a marked parent relays nothing",
  );
  t.is(h.control.metrics.suspectReports, 2);
});

test("probation cannot be skipped: not by JOIN, LEAVE, JOIN, nor by claiming to be a waypoint", (t) => {
  const h = new Harness(undefined, { trust: { probationHeartbeats: 2 } });
  const o = h.origin(1);
  const dcm = h.control.directory.byName("news")!.dcm;
  const a = h.agent(4);
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(a.join({ channels: ["news"], uploadKbps: 4000 }).error, JoinError.NONE);
  t.false(dcm.has(a.id), "a closed session without heartbeats is no history");
  const w = h.node(2);
  t.is(w.join({ channels: ["news"], role: Role.WAYPOINT, uploadKbps: 100_000 }).error, JoinError.NONE);
  t.false(dcm.has(w.id), "a waypoint claim is on probation too");
  // A node that heartbeated in an earlier session has a history: placed at once next time.
  h.interval([o, a]);
  h.interval([o, a]);
  t.true(dcm.has(a.id));
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  a.join({ channels: ["news"], uploadKbps: 4000 });
  t.true(dcm.has(a.id));
});
