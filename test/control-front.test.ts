/**
 * control/rsl/front.ts: HEARTBEATs and LEAVEs are routed from a peek at their channel field
 * (protocol/envelope-peek.ts) exactly as a full decode routed them — to the channel's local
 * server with the bytes untouched, a REDIRECT when another process holds the channel, dropped
 * when nobody does — and whatever the peek cannot read is decoded as before.
 */
import test from "ava";
import { ControlFront, type FrontRouting, type LocalServer } from "../control/rsl/front.js";
import { encodeTagged } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { type ControlMessage, LeaveReason, MsgType } from "../protocol/messages.js";
import { systemClock } from "../seams/clock.js";
import { MemoryLogger } from "../seams/log.js";
import type { Address, DatagramHandler, Transport } from "../seams/transport.js";

const NODE: Address = { address: "10.0.0.7", port: 4000 };

function heartbeat(channel: number): ControlMessage {
  return {
    v: WIRE_VERSION,
    type: MsgType.HEARTBEAT,
    sender: 77,
    seq: 5,
    ts: 1_779_021_356_789,
    body: {
      channel,
      assignVersion: 3,
      parents: [{ node: 2, ageMs: 5, lastSeq: 100 }, null],
      children: [{ node: 9, ageMs: 5, lastSeq: 99 }],
      buffers: [12, 13],
      resources: { uploadKbps: 4000, nat: 0, cacheBytes: 40_000_000, cpuPct: 10, rssMB: 60 },
      newestSegment: 41,
    },
  } as ControlMessage;
}

function leave(channel: number): ControlMessage {
  return {
    v: WIRE_VERSION,
    type: MsgType.LEAVE,
    sender: 77,
    seq: 6,
    ts: 1_779_021_356_790,
    body: { channel, reason: LeaveReason.SHUTDOWN },
  } as ControlMessage;
}

function harness() {
  const delivered: Array<{ server: string; data: Buffer }> = [];
  const sent: Array<{ data: Uint8Array; to: Address }> = [];
  const server = (id: string): LocalServer => ({
    id,
    deliver: (data) => delivered.push({ server: id, data }),
  });
  const here = server("w1");
  // channel 1 "live": served here; channel 2 "far": another process's; channel 3 "idle": nobody's
  const names = new Map([
    [1, "live"],
    [2, "far"],
    [3, "idle"],
  ]);
  const owners = new Map([
    ["live", "w1"],
    ["far", "p2"],
  ]);
  const routing: FrontRouting = {
    ownerOf: (c) => owners.get(c),
    channelName: (id) => names.get(id),
    channelId: (name) => [...names].find(([, n]) => n === name)?.[0],
    want: () => Promise.resolve(),
    local: (id) => (id === "w1" ? here : undefined),
    anyLocal: () => here,
    endpointOf: (id) => (id === "p2" ? { address: "10.0.0.2", port: 7000 } : undefined),
  };
  let handler: DatagramHandler = () => {};
  const transport: Transport = {
    local: { address: "10.0.0.1", port: 7000 },
    send: (data, to) => void sent.push({ data, to }),
    onDatagram: (h) => void (handler = h),
    close: () => Promise.resolve(),
  };
  const front = new ControlFront({ clock: systemClock, transport, routing, logger: new MemoryLogger() });
  front.start();
  return { front, delivered, sent, receive: (data: Buffer) => handler(data, NODE) };
}

const key = new Uint8Array(32).fill(3);

test("a HEARTBEAT or LEAVE for a channel served here reaches its server with its bytes untouched", (t) => {
  const h = harness();
  const hb = encodeTagged(heartbeat(1), key);
  const lv = encodeTagged(leave(1), key);
  h.receive(hb);
  h.receive(lv);
  t.deepEqual(
    h.delivered.map((d) => d.server),
    ["w1", "w1"],
  );
  t.true(h.delivered[0]!.data.equals(hb));
  t.true(h.delivered[1]!.data.equals(lv));
  t.is(h.front.metrics.routed, 2);
  t.is(h.front.metrics.dropped.size, 0);
});

test("a HEARTBEAT for another process's channel gets a REDIRECT to it; for nobody's channel, or an unknown id, it is dropped", (t) => {
  const h = harness();
  h.receive(encodeTagged(heartbeat(2), key));
  t.is(h.sent.length, 1);
  const r = decodeControl(h.sent[0]!.data);
  t.true(r.ok && r.value.type === MsgType.REDIRECT);
  t.deepEqual(h.sent[0]!.to, NODE);
  h.receive(encodeTagged(heartbeat(3), key));
  h.receive(encodeTagged(leave(99), key));
  t.is(h.front.metrics.dropped.get("no_owner"), 2);
  t.is(h.delivered.length, 0);
});

test("bytes the peek cannot read are decoded: a malformed datagram is dropped as before", (t) => {
  const h = harness();
  const hb = encodeControl(heartbeat(1));
  // keys 2 and 3 swapped in place: a valid map the peek does not take (not the canonical order)
  const odd = Buffer.from(hb);
  odd[5] = 0x03;
  h.receive(odd);
  h.receive(Buffer.from([0xa6, 0x00]));
  t.is(h.front.metrics.dropped.get("malformed"), 2);
  t.is(h.delivered.length, 0);
});
