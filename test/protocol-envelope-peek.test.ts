/**
 * protocol/envelope-peek.ts: the channel a HEARTBEAT or LEAVE names, read without decoding, agrees
 * with the decoder on every message the encoders write (plain and tagged); other types peek as
 * undefined; and on 100,000 corrupted datagrams it never throws and never names a channel other
 * than the one the decoder reads from bytes that decode.
 */
import test from "ava";
import fc from "fast-check";
import { encodeTagged } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { peekChannel, peekType } from "../protocol/envelope-peek.js";
import { type ControlMessage, MsgType } from "../protocol/messages.js";
import { controlByType, controlMessage, key32 } from "./protocol-arbitraries.js";
import { mulberry32 } from "../seams/prng.js";

function encoded(msg: ControlMessage, key?: Uint8Array): Buffer | undefined {
  try {
    return key === undefined ? encodeControl(msg) : encodeTagged(msg, key);
  } catch {
    return undefined; // over a limit: never sent
  }
}

const channelOf = (msg: ControlMessage): number | undefined =>
  msg.type === MsgType.HEARTBEAT || msg.type === MsgType.LEAVE ? msg.body.channel : undefined;

test("peekChannel reads the channel of every HEARTBEAT and LEAVE the encoders write, and nothing of other types", (t) => {
  let named = 0;
  fc.assert(
    fc.property(controlMessage, fc.option(key32, { nil: undefined }), (msg, key) => {
      const buf = encoded(msg, key);
      if (buf === undefined) return true;
      const c = peekChannel(buf);
      if (c !== undefined) named++;
      return c === channelOf(msg);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.oneof(controlByType.HEARTBEAT, controlByType.LEAVE), key32, (msg, key) => {
      const buf = encoded(msg, key);
      return buf === undefined || peekChannel(buf) === channelOf(msg);
    }),
    { numRuns: 2000 },
  );
  t.true(named > 0, "some messages were HEARTBEATs or LEAVEs");
});

test("peekChannel: what is not the canonical layout peeks as undefined", (t) => {
  // LEAVE channel 3, SHUTDOWN, from node 123457 (control-codec.ts's example)
  const leave = Buffer.from("a600010105021a0001e241031a80000063041b0000019e35ef9ef505a200030100", "hex");
  t.is(peekType(leave), MsgType.LEAVE);
  t.is(peekChannel(leave), 3);
  const wide = Buffer.from(
    "a600010105021a0001e241031a80000063041b0000019e35ef9ef505a2001a010203040100",
    "hex",
  );
  t.is(peekChannel(wide), 0x01020304, "a u32 channel");
  // Cut before the channel's last byte: nothing to read. (Cut after it, the peek still names the
  // channel: it only routes, and the server's decoder refuses the datagram.)
  for (let n = 0; n <= 30; n++) t.is(peekChannel(leave.subarray(0, n)), undefined, `cut at ${n}`);
  const swap = Buffer.from(leave);
  swap[5] = 0x03; // key 3 where key 2 belongs
  t.is(peekChannel(swap), undefined, "keys out of order");
  const bodyKey = Buffer.from(leave);
  bodyKey[bodyKey.length - 4] = 0x01; // the body's first key is not 0
  t.is(peekChannel(bodyKey), undefined, "channel not first");
  const big = Buffer.from("a60001010502000300040005a2001b00000000000000030100", "hex");
  t.is(peekChannel(big), undefined, "an 8-byte channel");
  const text = Buffer.from("a6000101050200030004000561780100", "hex");
  t.is(peekChannel(text), undefined, "a body that is not a map");
});

test("peekChannel: 100,000 corrupted HEARTBEATs and LEAVEs: never throws, never disagrees with a decode", (t) => {
  const key = new Uint8Array(32).fill(7);
  const corpus = [
    ...fc.sample(controlByType.HEARTBEAT, { seed: 13, numRuns: 40 }),
    ...fc.sample(controlByType.LEAVE, { seed: 14, numRuns: 20 }),
  ]
    .map((m) => encoded(m, key))
    .filter((b): b is Buffer => b !== undefined);
  const r = mulberry32(0x9ee4);
  const pick = (n: number): number => Math.floor(r() * n);
  let peeked = 0;
  let decodedAgree = 0;
  for (let i = 0; i < 100_000; i++) {
    const b = Buffer.from(corpus[pick(corpus.length)]!);
    let m: Buffer = b;
    const edits = 1 + pick(3);
    for (let e = 0; e < edits; e++) {
      const at = pick(Math.max(1, Math.min(m.length, 40)));
      const kind = pick(4);
      if (kind === 0) m[at] = pick(256);
      else if (kind === 1) m = m.subarray(0, at);
      else if (kind === 2) m = Buffer.concat([m.subarray(0, at), Buffer.of(pick(256)), m.subarray(at)]);
      else m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
    }
    const c = peekChannel(m);
    if (c === undefined) continue;
    peeked++;
    t.true(Number.isInteger(c) && c >= 0 && c <= 0xffffffff);
    const d = decodeControl(m);
    if (!d.ok) continue;
    if (channelOf(d.value) !== c)
      return t.fail(`${m.toString("hex")}: peek ${c}, decoded ${JSON.stringify(d.value)}`);
    decodedAgree++;
  }
  t.log(`100,000 mutants: ${peeked} peeked a channel, ${decodedAgree} of them decoded (the same channel)`);
  t.true(peeked > 0 && decodedAgree > 0);
});
