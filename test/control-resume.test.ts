// A node's session moves to another control server of the same deployment (a failover:
// docs/resilience.md): RESUME with the ticket from its JOIN_ACK, tagged with the resumption key,
// answered by a RESUME_ACK tagged with the resumed keys; heartbeats then go on at the new server
// and are acknowledged. The test plays the node's crypto from the ticket's contents (it holds
// control's identity, so it can open the ticket the node cannot read): the node's own side is
// common/control-link.ts's, tested in test/agent-failover.test.ts.
// Attacks: a bad tag, a forged ticket, another node's id, a revoked key, a replayed RESUME; and
// the negative control (verification off) accepts the forged tag.
import test from "ava";
import { randomBytes } from "node:crypto";
import { checkTag, encodeTagged } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { resumedSessionKeys, resumeTagKey, type SessionKeys } from "../protocol/handshake.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type ControlMessage,
  type HeartbeatBody,
  JoinError,
  type MessageOf,
  MsgType,
  NatType,
  type ResumeAckBody,
} from "../protocol/messages.js";
import { ControlCenter, type ControlConfig } from "../control/control-center.js";
import { SqliteNodeStore } from "../control/store.js";
import { TicketSealer } from "../control/trust/ticket.js";
import type { MemoryTransport } from "../seams/memory-transport.js";
import { type FakeNode, Harness, HB, newIdentity, policy } from "./helpers/control-harness.js";

const B = { address: "127.0.0.1", port: 7701 };
const B_EPOCH = 42;

interface Pair {
  h: Harness;
  b: ControlCenter;
  bStore: SqliteNodeStore;
  sealer: TicketSealer;
}

/** Server A (the harness) and server B: same identity, separate stores (as on two machines). */
function pair(config: Partial<ControlConfig> = {}): Pair {
  const identity = newIdentity();
  const h = new Harness(undefined, config, identity);
  const bStore = new SqliteNodeStore(":memory:");
  const b = new ControlCenter(
    {
      clock: h.clock,
      transport: h.net.bind(B.address, B.port),
      store: bStore,
      logger: h.logger,
      identity,
      // B holds the channel's DCM at this fencing epoch (the RSL's).
      routing: { epochOf: () => B_EPOCH },
    },
    { heartbeatMs: HB, regions: policy, ...config, trust: { probationHeartbeats: 0, ...config.trust } },
  );
  b.start();
  return { h, b, bStore, sealer: new TicketSealer(identity.privateKey) };
}

/** What the node holds after its JOIN: the ticket and the resumption secret. */
function held(p: Pair, n: FakeNode): { ticket: Uint8Array; resumption: Uint8Array } {
  const ticket = n
    .acks()
    .filter((a) => a.ticket !== undefined)
    .at(-1)!.ticket!;
  const opened = p.sealer.open(ticket, p.h.clock.now());
  if (!opened.ok) throw new Error(opened.reason);
  return { ticket, resumption: opened.value.resumption };
}

interface Sent {
  nonce: Uint8Array;
  resumption: Uint8Array;
  bytes: Buffer;
}

function resume(
  p: Pair,
  n: FakeNode,
  opts: { sender?: number; tagKey?: Uint8Array; ticket?: Uint8Array; nonce?: Uint8Array; ts?: number } = {},
): Sent {
  const { ticket, resumption } = held(p, n);
  const nonce = opts.nonce ?? randomBytes(16);
  const msg: MessageOf<MsgType.RESUME> = {
    v: WIRE_VERSION,
    type: MsgType.RESUME,
    sender: opts.sender ?? n.id,
    seq: 1,
    ts: opts.ts ?? p.h.clock.now(),
    body: { ticket: opts.ticket ?? ticket, nonce, channel: 1, assignVersion: n.lastAssign()?.version ?? 0 },
  };
  const bytes = encodeTagged(msg, opts.tagKey ?? resumeTagKey(resumption));
  (n.transport as MemoryTransport).send(bytes, B);
  p.h.settle();
  return { nonce, resumption, bytes };
}

/** Every datagram B sent the node, raw (FakeNode keeps only what its own session authenticates). */
function fromB(n: FakeNode): Buffer[] {
  return n.rawFrom(B);
}

function resumeAcks(n: FakeNode): Array<{ body: ResumeAckBody; bytes: Buffer }> {
  return fromB(n).flatMap((bytes) => {
    const r = decodeControl(bytes);
    return r.ok && r.value.type === MsgType.RESUME_ACK ? [{ body: r.value.body, bytes }] : [];
  });
}

function heartbeatAt(p: Pair, n: FakeNode, keys: SessionKeys, seq: number): void {
  const body: HeartbeatBody = {
    channel: 1,
    assignVersion: n.lastAssign()?.version ?? 0,
    parents: [null],
    children: [],
    buffers: [0],
    resources: { uploadKbps: 800, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 40 },
    newestSegment: 0,
  };
  const msg: ControlMessage = {
    v: WIRE_VERSION,
    type: MsgType.HEARTBEAT,
    sender: n.id,
    seq,
    ts: p.h.clock.now(),
    body,
  };
  (n.transport as MemoryTransport).send(encodeTagged(msg, keys.nodeToControl), B);
  p.h.settle();
}

function authFailed(c: ControlCenter, reason: string): number {
  return c.metrics.authFailed.get(reason) ?? 0;
}

test("a node resumes its session at another server in one round trip; heartbeats go on there, acknowledged", (t) => {
  const p = pair();
  const origin = p.h.origin();
  const agent = p.h.agent(1);
  t.truthy(agent.acks().at(-1)!.ticket, "JOIN_ACK carries a ticket");

  // The agent comes first: no origin offers its channel at B yet, so it is held, not refused.
  resume(p, agent);
  t.is(resumeAcks(agent).length, 0);
  t.is(p.b.metrics.resumesHeld, 1);

  const o = resume(p, origin);
  const oAck = resumeAcks(origin).at(-1)!;
  t.is(oAck.body.error, JoinError.NONE);
  t.is(p.b.directory.byName("news")?.origin, origin.id);

  const sent = resume(p, agent);
  const ack = resumeAcks(agent).at(-1)!;
  t.is(ack.body.error, JoinError.NONE);
  t.truthy(ack.body.ticket, "a fresh ticket for the next failover");
  // Without it a node that saw the old owner's epoch would drop the answer as a deposed server's.
  t.is(ack.body.epoch, B_EPOCH, "RESUME_ACK carries the new owner's epoch");
  const keys = resumedSessionKeys(sent.resumption, sent.nonce, ack.body.nonce);
  t.true(checkTag(ack.bytes, keys.controlToNode), "RESUME_ACK is tagged with the resumed keys");
  t.false(checkTag(ack.bytes, resumedSessionKeys(o.resumption, sent.nonce, ack.body.nonce).controlToNode));
  t.is(p.b.clients.get(agent.id)?.key, Buffer.from(agent.key).toString("hex"), "same id, same key");
  t.is(p.b.metrics.sessionsOpened, 2);

  // Heartbeats with the resumed keys are taken and answered; the old keys no longer work at B.
  const before = p.b.metrics.heartbeats;
  heartbeatAt(p, agent, keys, 2);
  t.is(p.b.metrics.heartbeats, before + 1);
  const hbAck = fromB(agent)
    .map((bytes) => ({ bytes, r: decodeControl(bytes) }))
    .filter((x) => x.r.ok && x.r.value.type === MsgType.HEARTBEAT_ACK);
  t.is(hbAck.length, 1);
  t.true(checkTag(hbAck[0]!.bytes, keys.controlToNode));
  t.is(p.b.metrics.handlerErrors, 0);
});

test("a resent RESUME (same nonce) gets the same answer: the resumed keys do not change under the node", (t) => {
  const p = pair();
  const origin = p.h.origin();
  const first = resume(p, origin);
  resume(p, origin, { nonce: first.nonce });
  const acks = resumeAcks(origin);
  t.is(acks.length, 2);
  t.deepEqual(acks[0]!.body.nonce, acks[1]!.body.nonce);
  t.is(p.b.metrics.sessionsOpened, 1);
});

test("attacks on RESUME: bad tag, forged ticket, another node's id, revoked key, replay — dropped and counted", (t) => {
  const p = pair();
  const origin = p.h.origin();
  const agent = p.h.agent(1);
  resume(p, origin);

  resume(p, agent, { tagKey: randomBytes(32) });
  t.is(authFailed(p.b, "resume_tag"), 1);

  const forged = Buffer.from(held(p, agent).ticket);
  forged[forged.length - 1]! ^= 1;
  resume(p, agent, { ticket: forged });
  t.is(authFailed(p.b, "ticket_auth"), 1);
  const hint = fromB(agent)
    .map((b) => decodeControl(b))
    .find((r) => r.ok && r.value.type === MsgType.JOIN_ACK);
  t.truthy(hint, "a refused ticket gets the REJOIN hint: JOIN afresh");

  resume(p, agent, { sender: origin.id });
  t.is(authFailed(p.b, "resume_sender"), 1);
  t.is(resumeAcks(agent).length, 0, "nothing accepted so far");

  const ok = resume(p, agent);
  t.is(resumeAcks(agent).at(-1)?.body.error, JoinError.NONE);
  // The same node resumes again (another failover); its older RESUME replayed is refused.
  p.h.clock.advance(10);
  resume(p, agent);
  (agent.transport as MemoryTransport).send(ok.bytes, B);
  p.h.settle();
  t.is(authFailed(p.b, "resume_replay"), 1);

  p.bStore.revokeKey(agent.key, p.h.clock.now(), "test");
  p.h.clock.advance(10);
  resume(p, agent);
  t.is(authFailed(p.b, "resume_revoked"), 1);
});

test("negative control: with verification off, a RESUME with a forged tag is accepted", (t) => {
  const p = pair({ trust: { verify: false } });
  const origin = p.h.origin();
  resume(p, origin, { tagKey: randomBytes(32) });
  t.is(authFailed(p.b, "resume_tag"), 0);
  t.is(resumeAcks(origin).at(-1)?.body.error, JoinError.NONE);
});

test("a ticket whose id another key holds in this server's store is refused with the REJOIN hint", (t) => {
  const p = pair();
  const origin = p.h.origin();
  // B's store gave the origin's id to another key first (stores that share no id space).
  p.bStore.nodeIdForKey(newIdentity().publicKey, p.h.clock.now());
  resume(p, origin);
  t.is(authFailed(p.b, "resume_id_taken"), 1);
  t.is(resumeAcks(origin).length, 0);
  const hint = fromB(origin)
    .map((b) => decodeControl(b))
    .find((r) => r.ok && r.value.type === MsgType.JOIN_ACK && r.value.body.error === JoinError.REJOIN);
  t.truthy(hint);
});
