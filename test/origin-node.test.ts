/**
 * The origin node on a simulated network (ManualClock + MemoryNetwork) against a fake control
 * that speaks the real codec, and a child that records what it receives.
 */
import { PAYLOAD_SHARE_OF_WIRE } from "../protocol/limits.js";
import test from "ava";
import { createHash } from "node:crypto";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryLogger } from "../seams/log.js";
import { MemoryNetwork, type MemoryTransport } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { decodeData } from "../protocol/data-codec.js";
import { FLAG_END, FLAG_META, MAX_CODED_PAYLOAD_BYTES } from "../protocol/limits.js";
import {
  JoinError,
  MsgType,
  Role,
  type AssignBody,
  type ControlMessage,
  type DataPacket,
  type JoinAckBody,
  type MessageOf,
} from "../protocol/messages.js";
import { decodeSegmentMeta, verifySegmentMeta } from "../protocol/segment-meta.js";
import { Origin, type OriginConfig } from "../origin/origin.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";

const CONTROL: Address = { address: "127.0.0.1", port: 7700 };
const CHANNEL_ID = 7;

class FakeControl {
  readonly got: Array<{ msg: ControlMessage; at: number }> = [];
  /** Signs JOIN_ACKs over the JOIN it saw last and tags ASSIGNs (the real handshake, by hand). */
  readonly sc = new ScriptedControl();
  constructor(
    readonly t: MemoryTransport,
    readonly clock: ManualClock,
  ) {
    t.onDatagram((data) => {
      const m = this.sc.saw(data);
      if (m === undefined) throw new Error("control got an undecodable datagram");
      this.got.push({ msg: m, at: clock.now() });
    });
  }
  of<T extends MsgType>(type: T): Array<MessageOf<T>> {
    return this.got.filter((g) => g.msg.type === type).map((g) => g.msg as MessageOf<T>);
  }
  times(type: MsgType): number[] {
    return this.got.filter((g) => g.msg.type === type).map((g) => g.at);
  }
  send(
    to: Address,
    msg: { type: MsgType.JOIN_ACK; body: JoinAckBody } | { type: MsgType.ASSIGN; body: AssignBody },
  ): void {
    const buf = msg.type === MsgType.JOIN_ACK ? this.sc.ack(msg.body) : this.sc.seal(msg.type, msg.body);
    this.t.send(buf, to);
  }
  ack(to: Address, error = JoinError.NONE, node = 1): void {
    this.send(to, {
      type: MsgType.JOIN_ACK,
      body: {
        error,
        node: error === JoinError.NONE ? node : 0,
        region: "A",
        heartbeatMs: 500,
        channels:
          error === JoinError.NONE
            ? [
                {
                  name: "demo",
                  id: CHANNEL_ID,
                  k: 1,
                  streamKbps: 700,
                  segmentMs: 1000,
                  fallbackUrl: "http://127.0.0.1:8080",
                },
              ]
            : [],
      },
    });
  }
  assign(to: Address, version: number, k: number, children: AssignBody["children"]): void {
    this.send(to, {
      type: MsgType.ASSIGN,
      body: {
        channel: CHANNEL_ID,
        version,
        k,
        tier: 1,
        parents: Array.from({ length: k }, () => null),
        children,
      },
    });
  }
}

class Child {
  readonly packets: DataPacket[] = [];
  constructor(readonly t: MemoryTransport) {
    t.onDatagram((data) => {
      const r = decodeData(data);
      if (!r.ok) throw new Error(`child got an undecodable datagram: ${r.error.message}`);
      this.packets.push({ ...r.value, payload: Buffer.from(r.value.payload) });
    });
  }
  peer(node: number, substreams: number): AssignBody["children"][number] {
    return { node, address: this.t.local.address, port: this.t.local.port, substreams };
  }
}

function segmentBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

function setup(over: Partial<OriginConfig> = {}) {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const logger = new MemoryLogger();
  const control = new FakeControl(net.bind(CONTROL.address, CONTROL.port), clock);
  const transport = net.bind("127.0.0.1", 5000);
  const origin = new Origin(
    {
      clock,
      transport,
      logger,
      signingKey: TEST_ORIGIN.privateKey,
      resources: () => ({ cpuPct: 3, rssMB: 50 }),
      // The back-off's jitter at its middle: the JOIN schedule is fixed (0, 750, 2000, 4250 ms...).
      random: () => 0.5,
    },
    {
      control: CONTROL,
      channel: "demo",
      key: TEST_ORIGIN.publicKey,
      controlKey: control.sc.publicKey,
      streamKbps: 700,
      segmentMs: 1000,
      fallbackUrl: "http://127.0.0.1:8080",
      httpPort: 8080,
      ...over,
    },
  );
  return { clock, net, logger, control, origin, at: transport.local };
}

test("JOINs as ORIGIN on the back-off until JOIN_ACK, then heartbeats every heartbeatMs", (t) => {
  const { clock, control, origin, at } = setup();
  origin.start();
  clock.advance(2500);
  const joins = control.of(MsgType.JOIN);
  t.is(joins.length, 3, "at 0, 750 and 2000 ms");
  const j = joins[0]!;
  t.is(j.sender, 0);
  t.like(j.body, {
    role: Role.ORIGIN,
    channels: ["demo"],
    streamKbps: 700,
    segmentMs: 1000,
    fallbackUrl: "http://127.0.0.1:8080",
    httpPort: 8080,
    // The budget (2 children x 1.25) counted in stream payload: the pacer charges headers.
    uploadKbps: Math.floor(Math.ceil(2 * 700 * 1.25) * PAYLOAD_SHARE_OF_WIRE),
  });
  t.is(j.body.key.length, 32);

  control.ack(at); // arrives at 2501: a heartbeat at once, then at 3001, 3501, 4001, 4501 (+1 ms latency each)
  clock.advance(2002);
  t.is(control.of(MsgType.JOIN).length, 3, "no JOIN after the ACK");
  t.true(origin.joined);
  t.is(origin.node, 1);
  const hbs = control.of(MsgType.HEARTBEAT);
  t.is(hbs.length, 5, `one at once, then every 500 ms: ${control.times(MsgType.HEARTBEAT).join(",")}`);
  const hb = hbs[hbs.length - 1]!;
  t.is(hb.sender, 1);
  t.like(hb.body, { channel: CHANNEL_ID, assignVersion: 0, parents: [], children: [], newestSegment: 0 });
  t.like(hb.body.resources, { cpuPct: 3, rssMB: 50 });
  const seqs = control.got.map((g) => g.msg.seq);
  t.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    "envelope seq increases",
  );
});

test("sends META + data + META for each segment to its assigned child; seq continues across segments", (t) => {
  const { clock, net, control, origin, at } = setup();
  const child = new Child(net.bind("127.0.1.1", 6000));
  origin.start();
  clock.advance(1);
  control.ack(at);
  clock.advance(10);
  control.assign(at, 1, 1, [child.peer(2, 0b1)]);
  clock.advance(10);
  t.is(origin.assignVersion, 1);

  const segs = [segmentBytes(5000, 1), segmentBytes(2344, 2), segmentBytes(1, 3)];
  segs.forEach((bytes, i) =>
    origin.publish({ mediaSequence: 100 + i, durationMs: 1000, discontinuity: false, bytes }),
  );
  clock.advance(1000);

  const p = child.packets;
  t.true(p.every((x) => x.channel === CHANNEL_ID && x.substream === 0));
  for (let i = 1; i < p.length; i++) t.is(p[i]!.seq, p[0]!.seq + i, "continuous channel seq");
  let at0 = 0;
  segs.forEach((bytes, i) => {
    const n = Math.ceil(bytes.length / MAX_CODED_PAYLOAD_BYTES);
    const group = p.slice(at0, at0 + n + 2);
    at0 += n + 2;
    t.deepEqual(
      group.map((x) => x.flags),
      [FLAG_META, ...Array<number>(n - 1).fill(0), FLAG_END, FLAG_META],
    );
    t.true(
      group.every((x) => x.segmentId === 100 + i),
      "segment id = media sequence",
    );
    const meta = decodeSegmentMeta(group[0]!.payload);
    if (!meta.ok) return t.fail(meta.error.message);
    t.like(meta.value, {
      segmentId: 100 + i,
      totalBytes: bytes.length,
      packetCount: n,
      firstSeq: group[1]!.seq,
      durationMs: 1000,
    });
    t.is(Buffer.from(meta.value.sha256).toString("hex"), createHash("sha256").update(bytes).digest("hex"));
    const data = Buffer.concat(group.slice(1, -1).map((x) => x.payload));
    t.true(data.equals(bytes));
  });
  t.is(at0, p.length);

  // The heartbeat reports the link to the child with the last seq sent.
  clock.advance(500);
  const hb = control.of(MsgType.HEARTBEAT).at(-1)!;
  t.like(hb.body, { assignVersion: 1, newestSegment: 102 });
  t.is(hb.body.children.length, 1);
  t.like(hb.body.children[0], { node: 2, lastSeq: p[p.length - 1]!.seq });
  t.true(hb.body.children[0]!.ageMs >= 500);
  t.true(
    control.of(MsgType.HEARTBEAT).some((h) => h.body.resources.uploadKbps > 0),
    "measured upload",
  );
  t.is(
    origin.counters().udpDataSent,
    p.reduce((s, x) => s + 28 + x.payload.length, 0),
  );
});

test("k = 2: each child gets the substreams of its bitmask (seq mod k)", (t) => {
  const { clock, net, control, origin, at } = setup();
  const a = new Child(net.bind("127.0.1.1", 6000));
  const b = new Child(net.bind("127.0.1.2", 6000));
  const both = new Child(net.bind("127.0.1.3", 6000));
  origin.start();
  clock.advance(1);
  control.ack(at);
  clock.advance(10);
  control.assign(at, 1, 2, [a.peer(2, 0b01), b.peer(3, 0b10), both.peer(4, 0b11)]);
  clock.advance(10);
  origin.publish({
    mediaSequence: 0,
    durationMs: 1000,
    discontinuity: false,
    bytes: segmentBytes(20_000, 1),
  });
  clock.advance(1000);
  t.true(a.packets.length > 0 && b.packets.length > 0);
  t.true(a.packets.every((x) => x.seq % 2 === 0 && x.substream === 0));
  t.true(b.packets.every((x) => x.seq % 2 === 1 && x.substream === 1));
  t.is(both.packets.length, a.packets.length + b.packets.length);
});

test("old or repeated ASSIGNs are ignored; a newer one replaces the children", (t) => {
  const { clock, net, control, origin, at } = setup();
  const a = new Child(net.bind("127.0.1.1", 6000));
  const b = new Child(net.bind("127.0.1.2", 6000));
  origin.start();
  clock.advance(1);
  control.ack(at);
  clock.advance(10);
  control.assign(at, 5, 1, [a.peer(2, 1)]);
  clock.advance(10);
  control.assign(at, 4, 1, [b.peer(3, 1)]);
  clock.advance(10);
  origin.publish({ mediaSequence: 0, durationMs: 1000, discontinuity: false, bytes: segmentBytes(100, 1) });
  clock.advance(100);
  t.is(b.packets.length, 0);
  t.is(a.packets.length, 3);
  control.assign(at, 6, 1, [b.peer(3, 1)]);
  clock.advance(10);
  origin.publish({ mediaSequence: 1, durationMs: 1000, discontinuity: false, bytes: segmentBytes(100, 2) });
  clock.advance(100);
  t.is(a.packets.length, 3);
  t.is(b.packets.length, 3);
});

test("REJOIN: joins again while still sending on its last assignment, then takes control's new ASSIGN", (t) => {
  const { clock, net, control, origin, at, logger } = setup();
  const child = new Child(net.bind("127.0.1.1", 6000));
  origin.start();
  clock.advance(1);
  control.ack(at);
  clock.advance(10);
  control.assign(at, 9, 1, [child.peer(2, 1)]);
  clock.advance(10);
  const joinsBefore = control.of(MsgType.JOIN).length;

  control.ack(at, JoinError.REJOIN);
  clock.advance(10);
  t.false(origin.joined);
  t.is(control.of(MsgType.JOIN).length, joinsBefore + 1, "JOIN again at once");
  origin.publish({ mediaSequence: 0, durationMs: 1000, discontinuity: false, bytes: segmentBytes(100, 1) });
  clock.advance(1000);
  t.is(child.packets.length, 3, "the data plane kept running");
  t.true(control.of(MsgType.JOIN).length >= joinsBefore + 2, "JOIN resent every second");
  t.true(logger.lines.some((l) => l.event === "rejoin"));

  // The restarted control numbers its ASSIGNs from 1 again.
  control.ack(at, JoinError.NONE, 1);
  clock.advance(10);
  t.true(origin.joined);
  t.is(control.of(MsgType.HEARTBEAT).at(-1)!.body.assignVersion, 0, "reports 0 so control resends");
  control.assign(at, 1, 1, [child.peer(2, 1)]);
  clock.advance(10);
  t.is(origin.assignVersion, 1);
});

test("a refused JOIN (UNKNOWN_CHANNEL) is retried every 2 s", (t) => {
  const { clock, control, origin, at } = setup();
  origin.start();
  clock.advance(1);
  control.ack(at, JoinError.UNKNOWN_CHANNEL);
  clock.advance(4000);
  const times = control.times(MsgType.JOIN);
  const gaps = times.slice(2).map((x, i) => x - times[i + 1]!);
  t.true(gaps.length >= 1);
  t.true(
    gaps.every((g) => g === 2000),
    `gaps ${gaps.join(",")}`,
  );
  t.false(origin.joined);
});

test("drops control messages from strangers and undecodable datagrams; LEAVE on stop", (t) => {
  const { clock, net, control, origin, at } = setup();
  const stranger = net.bind("127.0.9.9", 7700);
  origin.start();
  clock.advance(1);
  // A JOIN_ACK from an address that is not control's is not believed.
  stranger.send(
    control.sc.ack({ error: JoinError.NONE, node: 66, region: "X", heartbeatMs: 100, channels: [] }),
    at,
  );
  stranger.send(Buffer.from([0xa1, 0xff, 0x00]), at);
  stranger.send(Buffer.from([0x01, 0x02, 0x03]), at);
  stranger.send(Buffer.alloc(0), at);
  clock.advance(10);
  t.false(origin.joined);
  const c = origin.counters();
  t.is(c.datagramsMalformed, 1);
  t.is(c.datagramsRejected, 3);

  control.ack(at);
  clock.advance(10);
  origin.stop();
  clock.advance(10);
  const leave = control.of(MsgType.LEAVE);
  t.is(leave.length, 1);
  t.is(leave[0]!.body.channel, CHANNEL_ID);
  const hbCount = control.of(MsgType.HEARTBEAT).length;
  clock.advance(5000);
  t.is(control.of(MsgType.HEARTBEAT).length, hbCount, "no heartbeats after stop");
});

test("segment ids continue from a saved id after a restart, starting with a discontinuity", (t) => {
  const { origin } = setup({ firstSegmentId: 500, firstSeq: 9000 });
  const a = origin.publish({
    mediaSequence: 0,
    durationMs: 1000,
    discontinuity: false,
    bytes: segmentBytes(10, 1),
  });
  const b = origin.publish({
    mediaSequence: 1,
    durationMs: 1000,
    discontinuity: false,
    bytes: segmentBytes(10, 2),
  });
  t.like(a, { id: 500, discontinuity: true });
  t.like(b, { id: 501, discontinuity: false });
  t.is(origin.status().nextSeq, 9006);
});

test("every META is signed with the origin's key for its channel; the fallback's copy too, signed again once the channel id is known", (t) => {
  const { clock, net, control, origin, at } = setup({ key: TEST_ORIGIN.publicKey });
  const child = new Child(net.bind("127.0.1.1", 6000));
  origin.start();
  origin.publish({ mediaSequence: 40, durationMs: 1000, discontinuity: false, bytes: segmentBytes(3000, 4) });
  t.is(origin.signedMeta(40), undefined, "no channel id yet: nothing to sign for");
  clock.advance(1);
  control.ack(at);
  clock.advance(10);
  control.assign(at, 1, 1, [child.peer(2, 0b1)]);
  clock.advance(10);
  const early = origin.signedMeta(40)!;
  t.is(verifySegmentMeta(CHANNEL_ID, early, TEST_ORIGIN.publicKey), "valid");
  t.is(verifySegmentMeta(0, early, TEST_ORIGIN.publicKey), "bad_signature", "not the channel-0 signature");
  origin.publish({ mediaSequence: 41, durationMs: 1000, discontinuity: false, bytes: segmentBytes(3000, 5) });
  clock.advance(1000);
  const metas = child.packets.filter((p) => (p.flags & FLAG_META) !== 0);
  t.true(metas.length >= 2);
  for (const m of metas) t.is(verifySegmentMeta(CHANNEL_ID, m.payload, TEST_ORIGIN.publicKey), "valid");
  t.deepEqual(
    Buffer.from(origin.signedMeta(41)!),
    Buffer.from(metas[0]!.payload),
    "the fallback serves the META sent",
  );
  t.is(origin.signedMeta(99), undefined);
});
