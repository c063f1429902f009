/**
 * A DCM worker's inbound queue (control/rsl/inbound.ts): the envelope peek agrees with the
 * decoder on every message the encoder writes; heartbeats, LEAVEs and RESUMEs go before what arrived
 * ahead of them; a drain yields a turn when its wall-time budget is spent; full lanes drop
 * their oldest. The scheduler and the clock are injected.
 */
import test from "ava";
import fc from "fast-check";
import { DEFAULT_INBOUND, InboundQueue, peekType } from "../control/rsl/inbound.js";
import { encodeControl } from "../protocol/control-codec.js";
import { MsgType } from "../protocol/messages.js";
import type { Address } from "../seams/transport.js";
import { controlMessage } from "./protocol-arbitraries.js";

test("peekType reads the type of every message the encoder writes; junk gives undefined or a guess the decoder checks", (t) => {
  fc.assert(
    fc.property(controlMessage, (msg) => {
      let buf: Buffer;
      try {
        buf = encodeControl(msg);
      } catch {
        return true; // over a limit: never sent
      }
      return peekType(buf) === msg.type;
    }),
    { numRuns: 2000 },
  );
  t.is(peekType(Buffer.from([0xa6, 0x00])), undefined, "too short");
  t.is(peekType(Buffer.from([0x80, 0x00, 0x01, 0x01, 0x03])), undefined, "not a map");
  t.is(peekType(Buffer.from([0xa6, 0x01, 0x01, 0x00, 0x03])), undefined, "keys out of order");
  t.is(peekType(Buffer.from([0xa6, 0x00, 0x01, 0x01, 0x18, 0x20])), undefined, "a type of two bytes");
});

/** A queue on a manual scheduler and clock; each delivery costs `costMs` of the clock. */
function harness(costMs: number, config = DEFAULT_INBOUND) {
  const deferred: Array<() => void> = [];
  let now = 0;
  const delivered: number[] = [];
  const q = new InboundQueue(
    {
      defer: (fn) => deferred.push(fn),
      now: () => now,
      deliver: (data) => {
        delivered.push(data.readUInt16BE(5));
        now += costMs;
      },
    },
    config,
  );
  const from: Address = { address: "127.0.0.1", port: 1 };
  /** A datagram whose envelope says `type`, numbered `n` (bytes 5..6). */
  const push = (type: number, n: number): void => {
    const b = Buffer.alloc(8);
    b.set([0xa6, 0x00, 0x01, 0x01, type]);
    b.writeUInt16BE(n, 5);
    q.push(b, from);
  };
  /** Runs one deferred drain (one loop turn); false when none was scheduled. */
  const turn = (): boolean => {
    const fn = deferred.shift();
    fn?.();
    return fn !== undefined;
  };
  return { q, push, turn, delivered, deferred };
}

test("heartbeats, LEAVEs and RESUMEs go before the JOINs that arrived ahead of them, each lane in order", (t) => {
  const h = harness(0);
  h.push(MsgType.JOIN, 1);
  h.push(MsgType.RESUME, 2);
  h.push(MsgType.HEARTBEAT, 3);
  h.push(MsgType.JOIN, 4);
  h.push(MsgType.LEAVE, 5);
  h.push(MsgType.HEARTBEAT, 6);
  h.push(0x7f, 7); // junk: the last lane
  t.deepEqual(h.delivered, [], "nothing is handled as it arrives");
  t.is(h.deferred.length, 1, "one drain scheduled");
  t.true(h.turn());
  t.deepEqual(h.delivered, [2, 3, 5, 6, 1, 4, 7]);
  t.is(h.q.depth, 0);
  t.false(h.turn(), "nothing left to schedule");
});

test("a drain yields a loop turn once its budget is spent, and goes on at the next", (t) => {
  // 0.5 ms a datagram against an 8 ms budget: the clock is read every 16, so 16 a turn.
  const h = harness(0.5);
  for (let i = 0; i < 40; i++) h.push(MsgType.JOIN, i);
  t.true(h.turn());
  t.is(h.delivered.length, 16);
  // A heartbeat arriving between turns overtakes the JOINs still waiting.
  h.push(MsgType.HEARTBEAT, 1000);
  t.true(h.turn());
  t.is(h.delivered[16], 1000);
  t.true(h.turn());
  t.false(h.turn());
  t.is(h.delivered.length, 41);
  t.is(h.q.yields, 2);
});

test("a full lane drops its oldest datagram and counts it; the other lane is untouched", (t) => {
  const h = harness(0, { budgetMs: 8, maxQueued: 3 });
  for (let i = 0; i < 5; i++) h.push(MsgType.JOIN, i);
  h.push(MsgType.HEARTBEAT, 100);
  t.is(h.q.dropped, 2);
  h.turn();
  t.deepEqual(h.delivered, [100, 2, 3, 4]);
});

test("after stop nothing waiting is handled and nothing new is taken", (t) => {
  const h = harness(0);
  h.push(MsgType.JOIN, 1);
  h.q.stop();
  h.push(MsgType.HEARTBEAT, 2);
  h.turn();
  t.deepEqual(h.delivered, []);
  t.is(h.q.depth, 0);
});
