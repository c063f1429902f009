/**
 * The control center on a ManualClock and a MemoryNetwork: nodes are scripted endpoints
 * that speak the real codec.
 */
import test from "ava";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ControlCenter } from "../control/control-center.js";
import { parseRegionPolicy } from "../control/regions.js";
import { SqliteNodeStore, type NodeStore } from "../control/store.js";
import { treeCapacity } from "../control/topology/tree.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { encodeData } from "../protocol/data-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  LeaveReason,
  type MessageOf,
  MsgType,
  NatType,
  Role,
} from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";

const STREAM_KBPS = 1000;
const HB = 1000;
const CONTROL = { address: "127.0.0.1", port: 7700 };

const policy = parseRegionPolicy({
  default: "default",
  regions: [
    { name: "east", prefixes: ["127.0.1.0/24"] },
    { name: "west", prefixes: ["127.0.2.0/24"] },
  ],
});

class FakeNode {
  readonly received: ControlMessage[] = [];
  readonly transport: MemoryTransport;
  id = 0;
  #seq = 0;

  constructor(
    readonly h: Harness,
    address: string,
    readonly key: Uint8Array = randomBytes(32),
  ) {
    this.transport = h.net.bind(address);
    this.transport.onDatagram((buf) => {
      const r = decodeControl(buf);
      if (r.ok) this.received.push(r.value);
    });
  }

  send(msg: Omit<ControlMessage, "v" | "seq" | "ts" | "sender"> & { sender?: number }): void {
    const full = { v: WIRE_VERSION, sender: this.id, seq: this.#seq++, ts: this.h.clock.now(), ...msg };
    this.transport.send(encodeControl(full as ControlMessage), CONTROL);
  }

  join(body: Partial<JoinBody> & { channels: string[] }): JoinAckBody {
    this.send({
      type: MsgType.JOIN,
      sender: 0,
      body: { key: this.key, role: Role.AGENT, uploadKbps: 0, nat: NatType.OPEN, httpPort: 8080, ...body },
    });
    this.h.settle();
    const ack = this.acks().at(-1)!;
    if (ack.error === JoinError.NONE) this.id = ack.node;
    return ack;
  }

  heartbeat(
    assignVersion = this.lastAssign()?.version ?? 0,
    channel = this.lastAssign()?.channel ?? 1,
  ): void {
    const body: HeartbeatBody = {
      channel,
      assignVersion,
      parents: [null],
      children: [],
      buffers: [0],
      resources: { uploadKbps: 800, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 40 },
      newestSegment: 0,
    };
    this.send({ type: MsgType.HEARTBEAT, body });
  }

  acks(): JoinAckBody[] {
    return this.of(MsgType.JOIN_ACK);
  }

  assigns(): AssignBody[] {
    return this.of(MsgType.ASSIGN);
  }

  lastAssign(): AssignBody | undefined {
    return this.assigns().at(-1);
  }

  parent(): number | null | undefined {
    const a = this.lastAssign();
    return a === undefined ? undefined : (a.parents[0]?.node ?? null);
  }

  children(): number[] {
    return this.lastAssign()?.children.map((c) => c.node) ?? [];
  }

  of<T extends MsgType>(type: T): Array<MessageOf<T>["body"]> {
    return this.received.filter((m) => m.type === type).map((m) => m.body) as Array<MessageOf<T>["body"]>;
  }
}

class Harness {
  readonly clock = new ManualClock();
  readonly net = new MemoryNetwork(this.clock, { latencyMs: 1 });
  readonly logger = new MemoryLogger();
  readonly control: ControlCenter;
  readonly transport: MemoryTransport;
  #hosts = 0;

  constructor(readonly store: NodeStore = new SqliteNodeStore(":memory:")) {
    this.transport = this.net.bind(CONTROL.address, CONTROL.port);
    this.control = new ControlCenter(
      { clock: this.clock, transport: this.transport, store: this.store, logger: this.logger },
      { heartbeatMs: HB, regions: policy },
    );
    this.control.start();
  }

  /** Lets every datagram in flight arrive (and the answers to them). */
  settle(): void {
    this.clock.advance(5);
  }

  node(subnet = 1, key?: Uint8Array): FakeNode {
    return new FakeNode(this, `127.0.${subnet}.${++this.#hosts}`, key);
  }

  origin(children = 2, channels = ["news"]): FakeNode {
    const o = this.node(9);
    const ack = o.join({
      role: Role.ORIGIN,
      channels,
      uploadKbps: children * STREAM_KBPS,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
    });
    if (ack.error !== JoinError.NONE) throw new Error(`origin refused: ${JoinError[ack.error]}`);
    return o;
  }

  agent(children: number, subnet = 1, channel = "news"): FakeNode {
    const a = this.node(subnet);
    const ack = a.join({ channels: [channel], uploadKbps: children * STREAM_KBPS });
    if (ack.error !== JoinError.NONE) throw new Error(`agent refused: ${JoinError[ack.error]}`);
    return a;
  }

  events(name: string): Array<Record<string, unknown>> {
    return this.logger.lines.filter((l) => l.event === name);
  }

  /** One heartbeat interval: every node in `alive` heartbeats, then time moves on by heartbeatMs. */
  interval(alive: FakeNode[]): void {
    for (const n of alive) n.heartbeat();
    this.clock.advance(HB);
  }
}

test("JOIN gets a JOIN_ACK with a stable id, region, heartbeat interval and channel info", (t) => {
  const h = new Harness();
  const o = h.origin();
  const a = h.node(2);
  const ack = a.join({ channels: ["news"], uploadKbps: 500, regionHint: "east" });
  t.is(ack.error, JoinError.NONE);
  t.true(ack.node > 0 && ack.node !== o.id);
  t.is(ack.region, "west"); // the prefix beats the hint
  t.is(ack.heartbeatMs, HB);
  t.deepEqual(ack.channels, [
    {
      name: "news",
      id: 1,
      k: 1,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
    },
  ]);
  // A resent JOIN (the ack was lost) gets the same id again and no second session.
  const again = a.join({ channels: ["news"], uploadKbps: 500 });
  t.is(again.node, ack.node);
  t.is(h.control.clients.size, 2);
  t.is(h.events("node_joined").length, 2);
});

test("the id of an identity key survives a control restart (store reopened)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "control.db");
  const keyA = new Uint8Array(32).fill(0xaa);
  const keyB = new Uint8Array(32).fill(0xbb);

  const first = new Harness(new SqliteNodeStore(file));
  first.origin();
  const idA = first.node(1, keyA).join({ channels: ["news"] }).node;
  const idB = first.node(1, keyB).join({ channels: ["news"] }).node;
  first.control.stop();
  first.store.close();

  const second = new Harness(new SqliteNodeStore(file));
  second.origin();
  t.is(second.node(1, keyB).join({ channels: ["news"] }).node, idB);
  t.is(second.node(1, keyA).join({ channels: ["news"] }).node, idA);
  t.not(idA, idB);
  const sessions = second.store.sessions(idA, 10);
  t.is(sessions.length, 2);
  t.is(sessions[1]!.reason, "control_stop");
  second.store.close();
});

test("an agent asking for a channel no origin offers gets UNKNOWN_CHANNEL", (t) => {
  const h = new Harness();
  const a = h.node();
  const ack = a.join({ channels: ["news"] });
  t.is(ack.error, JoinError.UNKNOWN_CHANNEL);
  t.is(ack.node, 0);
  t.is(h.control.clients.size, 0);
  // Once the origin is there, the retry succeeds.
  h.origin();
  t.is(a.join({ channels: ["news"] }).error, JoinError.NONE);
  t.is(h.control.metrics.joinAcks.get("UNKNOWN_CHANNEL"), 1);
});

test("bad JOINs get BAD_REQUEST", (t) => {
  const h = new Harness();
  t.is(
    h.node().join({ role: Role.ORIGIN, channels: ["news"], uploadKbps: 1000 }).error,
    JoinError.BAD_REQUEST,
  );
  h.origin();
  t.is(h.node().join({ channels: ["news", "sport"] }).error, JoinError.BAD_REQUEST);
  t.is(h.node().join({ channels: [] }).error, JoinError.BAD_REQUEST);
  // A second origin may not take a channel a live origin offers.
  const rival = h.node(9).join({
    role: Role.ORIGIN,
    channels: ["news"],
    uploadKbps: 1000,
    streamKbps: STREAM_KBPS,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:9090",
  });
  t.is(rival.error, JoinError.BAD_REQUEST);
});

test("an origin and 5 agents: every agent is placed, capacities hold, the tree is shallow", (t) => {
  const h = new Harness();
  const o = h.origin(2);
  const caps = [0, 3, 1, 2, 0];
  const agents = caps.map((c, i) => h.agent(c, 1 + (i % 2)));
  const all = [o, ...agents];
  const capOf = new Map(all.map((n, i) => [n.id, i === 0 ? 2 : caps[i - 1]!]));

  // What each node was last told, checked for consistency: parent of x <=> x among its children.
  for (const a of agents) {
    const p = a.parent();
    t.not(p, null, `agent ${a.id} was not placed`);
    const parent = all.find((n) => n.id === p)!;
    t.true(parent.children().includes(a.id));
    t.deepEqual(a.lastAssign()!.parents[0], {
      node: parent.id,
      address: parent.transport.local.address,
      port: parent.transport.local.port,
    });
  }
  for (const n of all) t.true(n.children().length <= capOf.get(n.id)!, `node ${n.id} over capacity`);
  t.is(o.lastAssign()!.parents[0], null);
  t.is(o.lastAssign()!.k, 1);
  t.is(o.lastAssign()!.children[0]!.substreams, 1);

  const dcm = h.control.directory.byName("news")!.dcm;
  t.true(dcm.plan.depth <= 2, `depth ${dcm.plan.depth}`);
  t.deepEqual(dcm.plan.unplaced, []);
  // Versions are monotonic per node and the last one is what control holds.
  for (const n of all) {
    const versions = n.assigns().map((a) => a.version);
    t.deepEqual(
      versions,
      versions.map((_, i) => i + 1),
    );
    t.is(dcm.assignment(n.id)?.version, versions.at(-1));
  }
  t.is(treeCapacity(2 * STREAM_KBPS, STREAM_KBPS), 2);
});

test("a node that stops heartbeating is lost after 3 intervals and its children get new parents", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(2); // under the origin
  const b = h.agent(1); // under a
  const c = h.agent(0); // under a
  t.is(a.parent(), o.id);
  t.is(b.parent(), a.id);
  t.is(c.parent(), a.id);
  const before = { o: o.assigns().length, b: b.assigns().length, c: c.assigns().length };

  // a goes silent; the others keep heartbeating.
  for (let i = 0; i < 3; i++) h.interval([o, b, c]);
  t.truthy(h.control.clients.get(a.id), "lost too early");
  h.interval([o, b, c]);
  h.settle();
  t.is(h.control.clients.get(a.id), undefined);
  const lost = h.events("node_lost");
  t.is(lost.length, 1);
  t.is(lost[0]!.node, a.id);

  t.true(o.assigns().length > before.o && b.assigns().length > before.b && c.assigns().length > before.c);
  t.is(b.parent(), o.id);
  t.is(c.parent(), b.id);
  t.deepEqual(o.children(), [b.id]);
  t.is(h.control.metrics.lost, 1);
  t.is(h.store.sessions(a.id, 1)[0]!.reason, "lost");
});

test("LEAVE removes a node at once and its children are reassigned", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(1);
  const b = h.agent(0);
  t.is(b.parent(), a.id);
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(h.control.clients.get(a.id), undefined);
  t.is(b.parent(), o.id);
  t.is(h.events("node_left").length, 1);
});

test("ASSIGN is sent again when a heartbeat reports an older version, and jumps past a newer one", (t) => {
  const h = new Harness();
  h.origin();
  const a = h.agent(0);
  const first = a.lastAssign()!;
  t.is(first.version, 1);

  a.heartbeat(1); // up to date: nothing
  h.settle();
  t.is(a.assigns().length, 1);

  a.heartbeat(0); // the ASSIGN was lost
  h.settle();
  t.is(a.assigns().length, 2);
  t.deepEqual(a.lastAssign(), first);

  a.heartbeat(7); // control restarted and forgot: the node holds a newer version
  h.settle();
  t.is(a.lastAssign()!.version, 8);
  t.deepEqual({ ...a.lastAssign()!, version: 1 }, first);
  t.is(h.control.metrics.assignsResent, 2);
});

test("a heartbeat from an id control does not know gets JOIN_ACK error REJOIN", (t) => {
  const h = new Harness();
  const n = h.node();
  n.id = 42;
  n.heartbeat(3, 1);
  h.settle();
  const ack = n.acks().at(-1)!;
  t.is(ack.error, JoinError.REJOIN);
  t.is(ack.node, 0);
});

test("heartbeats are recorded: sizes, last body, acked version; a moved node's neighbours are told", (t) => {
  const h = new Harness();
  const o = h.origin(1);
  const a = h.agent(1);
  a.heartbeat();
  h.clock.advance(HB);
  a.heartbeat();
  h.settle();
  const rec = h.control.clients.get(a.id)!;
  t.is(rec.heartbeats, 2);
  t.true(rec.heartbeatBytesMax > 20 && rec.heartbeatBytesMax < 256);
  t.is(rec.assignVersionAcked, 1);
  t.is(rec.heartbeat?.resources.rssMB, 40);
  t.is(Math.round(rec.uploadBytes), (800 * HB) / 8);

  // NAT rebinding: the same id heartbeats from a new port; the origin gets the new address.
  const moved = h.net.bind("127.0.1.99");
  const hb = decodeControl(
    encodeControl({
      v: WIRE_VERSION,
      type: MsgType.HEARTBEAT,
      sender: a.id,
      seq: 9,
      ts: h.clock.now(),
      body: { ...rec.heartbeat!, assignVersion: 1 },
    }),
  );
  if (!hb.ok) throw hb.error;
  moved.send(encodeControl(hb.value), CONTROL);
  h.settle();
  t.deepEqual(o.lastAssign()!.children[0], {
    node: a.id,
    address: "127.0.1.99",
    port: moved.local.port,
    substreams: 1,
  });
  t.is(h.events("node_moved").length, 1);
});

test("malformed, truncated, oversized and data datagrams are counted and dropped, never thrown", (t) => {
  const h = new Harness();
  h.origin();
  const n = h.node();
  const send = (b: Uint8Array) => n.transport.send(b, CONTROL);
  const join = encodeControl({
    v: WIRE_VERSION,
    type: MsgType.JOIN,
    sender: 0,
    seq: 0,
    ts: 1,
    body: {
      key: new Uint8Array(32),
      role: Role.AGENT,
      channels: ["news"],
      uploadKbps: 0,
      nat: 0,
      httpPort: 1,
    },
  });
  send(new Uint8Array(0));
  send(join.subarray(0, join.length - 3)); // truncated
  send(new Uint8Array(1500).fill(0xa1)); // oversized
  send(Buffer.from([0xff, 0x00, 0x13]));
  send(
    encodeData(
      { channel: 1, seq: 1, substream: 0, flags: 0, fecGroup: 0, fecIndex: 0, segmentId: 1, offset: 0 },
      new Uint8Array(10),
    ),
  );
  // A future wire version: logged once per sender, counted every time.
  const v2 = Buffer.from(join);
  t.is(v2[1], 0x00); // key 0 = version
  v2[2] = 0x02;
  send(v2);
  send(v2);
  // Something control never accepts.
  n.send({
    type: MsgType.ASSIGN,
    body: { channel: 1, version: 1, k: 1, tier: 0, parents: [null], children: [] },
  });
  h.settle();

  const m = h.control.metrics;
  t.is(m.malformed.get("E_EMPTY"), 1);
  t.is(m.malformed.get("E_TRUNCATED"), 1);
  t.is(m.malformed.get("E_TOO_LARGE"), 1);
  t.is(m.malformed.get("E_BAD_VERSION"), 2);
  t.is(
    [...m.malformed.values()].reduce((a, b) => a + b, 0),
    6,
  );
  t.is(m.dataDropped, 1);
  t.is(m.unexpected, 1);
  t.is(m.handlerErrors, 0);
  t.is(h.events("unknown_version").length, 1);
  t.is(h.control.clients.size, 1);
});

test("random bytes never throw out of the control center", (t) => {
  const h = new Harness();
  h.origin();
  const n = h.node();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asMap) => {
      const b =
        asMap && bytes.length > 0 ? Buffer.from([0xa0 | (bytes[0]! & 0x1f), ...bytes.subarray(1)]) : bytes;
      n.transport.send(b, CONTROL);
      h.settle();
    }),
    { numRuns: 500 },
  );
  t.is(h.control.metrics.handlerErrors, 0);
});

test("origin lost: its channel loses its root, agents are unplaced; the origin's return re-plans", (t) => {
  const h = new Harness();
  const o = h.origin(2);
  const a = h.agent(0);
  for (let i = 0; i < 5; i++) h.interval([a]);
  h.settle();
  t.is(h.control.clients.get(o.id), undefined);
  t.is(a.parent(), null);
  t.is(h.control.directory.byName("news")!.origin, null);
  // An agent cannot join a channel no origin offers any more.
  t.is(h.node().join({ channels: ["news"] }).error, JoinError.UNKNOWN_CHANNEL);
  o.join({
    role: Role.ORIGIN,
    channels: ["news"],
    uploadKbps: 2 * STREAM_KBPS,
    streamKbps: STREAM_KBPS,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:8080",
  });
  t.is(a.parent(), o.id);
});

test("stop() closes the open sessions and stops the liveness timer", (t) => {
  const h = new Harness();
  const o = h.origin();
  o.heartbeat();
  h.settle();
  h.control.stop();
  t.like(h.store.sessions(o.id, 1)[0], { reason: "control_stop", heartbeats: 1 });
  t.is(h.clock.pendingTimers, 0);
});
