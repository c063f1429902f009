/** The control center on a ManualClock and a MemoryNetwork (harness in helpers/control-harness.ts). */
import test from "ava";

import fc from "fast-check";

import { encodeControl } from "../protocol/control-codec.js";
import { encodeData } from "../protocol/data-codec.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { MsgType, Role } from "../protocol/messages.js";

import { CONTROL, Harness } from "./helpers/control-harness.js";

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
