/**
 * protocol/envelope-heartbeat.ts, decodeControl's fast path for HEARTBEAT: whatever it reads is
 * exactly what the general path (decodeControlTree: the CBOR scan, cbor-x, the field readers)
 * reads from the same bytes, on random heartbeats (plain, tagged, any auth) and on 100,000
 * corrupted ones; it takes every heartbeat the encoders write with a session tag or none; and
 * decodeControl gives the general path's verdict, error code included, on every mutant.
 */
import { isDeepStrictEqual } from "node:util";
import test from "ava";
import fc from "fast-check";
import { encodeTagged } from "../protocol/auth.js";
import { encodeCbor } from "../protocol/cbor.js";
import { controlTree, decodeControl, decodeControlTree, encodeControl } from "../protocol/control-codec.js";
import { readHeartbeatDirect, writeHeartbeatAck } from "../protocol/envelope-heartbeat.js";
import { type ControlMessage, MsgType } from "../protocol/messages.js";
import { controlByType, key32 } from "./protocol-arbitraries.js";
import { mulberry32 } from "../seams/prng.js";

function encoded(msg: ControlMessage, key?: Uint8Array): Buffer | undefined {
  try {
    return key === undefined ? encodeControl(msg) : encodeTagged(msg, key);
  } catch {
    return undefined; // over a limit: never sent
  }
}

test("the fast path reads what the general path reads, and takes every HEARTBEAT sent untagged or with its session tag", (t) => {
  let taken = 0;
  fc.assert(
    fc.property(controlByType.HEARTBEAT, fc.option(key32, { nil: undefined }), (msg, key) => {
      const plain = key === undefined ? { ...msg, auth: undefined } : msg;
      const bytes = [encoded(msg, key), encoded(plain as ControlMessage)];
      for (const buf of bytes) {
        if (buf === undefined) continue;
        const direct = readHeartbeatDirect(buf);
        const tree = decodeControlTree(buf);
        if (!tree.ok) return false;
        if (direct === undefined) {
          // Only an auth field that is not a 16-byte session tag goes the general way.
          if (tree.value.auth === undefined || tree.value.auth.length === 16) return false;
          continue;
        }
        taken++;
        if (!isDeepStrictEqual(direct, tree.value)) return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.true(taken > 3000);
});

test("100,000 corrupted HEARTBEATs: the fast path never throws and never reads what the general path does not; decodeControl's verdict is the general path's", (t) => {
  const key = new Uint8Array(32).fill(9);
  const corpus = fc
    .sample(controlByType.HEARTBEAT, { seed: 31, numRuns: 80 })
    .flatMap((m) => [encoded(m, key), encoded({ ...m, auth: undefined } as ControlMessage)])
    .filter((b): b is Buffer => b !== undefined);
  const r = mulberry32(0xbea7);
  const pick = (n: number): number => Math.floor(r() * n);
  const interesting = [
    0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x80, 0x83, 0x84, 0x98, 0xa7, 0xf6, 0xf7, 0xff,
  ];
  let taken = 0;
  let problem = "";
  for (let i = 0; i < 100_000 && problem === ""; i++) {
    let m: Buffer = Buffer.from(corpus[pick(corpus.length)]!);
    const edits = 1 + pick(3);
    for (let e = 0; e < edits; e++) {
      const at = pick(m.length);
      const kind = pick(5);
      const byte = r() < 0.5 ? pick(256) : interesting[pick(interesting.length)]!;
      if (kind === 0) m[at] = byte;
      else if (kind === 1) m = m.subarray(0, at);
      else if (kind === 2) m = Buffer.concat([m.subarray(0, at), Buffer.of(byte), m.subarray(at)]);
      else if (kind === 3) m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
      else m[at] = m[at]! ^ (1 << pick(8));
    }
    let direct: ControlMessage | undefined;
    try {
      direct = readHeartbeatDirect(m);
    } catch (e) {
      problem = `${m.toString("hex")}: threw ${String(e)}`;
      break;
    }
    const tree = decodeControlTree(m);
    const full = decodeControl(m);
    if (direct !== undefined) {
      taken++;
      if (!tree.ok) problem = `${m.toString("hex")}: fast path read it, general path: ${tree.error.code}`;
      else {
        if (!isDeepStrictEqual(direct, tree.value))
          problem = `${m.toString("hex")}: the two paths read different messages`;
      }
    }
    if (full.ok !== tree.ok || (!full.ok && !tree.ok && full.error.code !== tree.error.code))
      problem ||= `${m.toString("hex")}: decodeControl and the general path disagree`;
  }
  t.is(problem, "");
  t.log(`100,000 mutants: the fast path read ${taken}`);
  t.true(taken > 1000);
});

/** The general path's bytes for `msg`, or the error it throws. */
function generalBytes(msg: ControlMessage): Buffer | string {
  try {
    return encodeCbor(controlTree(msg));
  } catch (e) {
    return String(e);
  }
}

test("a HEARTBEAT_ACK written straight to its bytes is byte for byte the general path's", (t) => {
  const edges = [0, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER];
  const edge = fc.constantFrom(...edges);
  const ack = fc.record(
    {
      v: fc.constant(1),
      type: fc.constant(MsgType.HEARTBEAT_ACK),
      sender: fc.oneof(
        edge.filter((n) => n <= 0xffffffff),
        fc.integer({ min: 0, max: 0xffffffff }),
      ),
      seq: fc.oneof(
        edge.filter((n) => n <= 0xffffffff),
        fc.integer({ min: 0, max: 0xffffffff }),
      ),
      ts: fc.oneof(edge, fc.maxSafeNat()),
      body: fc.record({ epoch: fc.oneof(edge, fc.maxSafeNat()) }, { requiredKeys: [] }),
      auth: fc.uint8Array({ maxLength: 16 }),
    },
    { requiredKeys: ["v", "type", "sender", "seq", "ts", "body"] },
  ) as fc.Arbitrary<unknown> as fc.Arbitrary<ControlMessage>;
  let direct = 0;
  fc.assert(
    fc.property(fc.oneof(ack, controlByType.HEARTBEAT_ACK), (msg) => {
      const mine = writeHeartbeatAck(msg);
      const general = generalBytes(msg);
      if (mine === undefined) return msg.auth !== undefined || typeof general === "string";
      direct++;
      return typeof general !== "string" && mine.equals(general) && encodeControl(msg).equals(general);
    }),
    { numRuns: 5000 },
  );
  t.log(`${direct} of 5,000 written directly (the others carry auth)`);
  t.true(direct > 500);
  // Out of range: declined here, refused by the general path.
  const bad = { v: 1, type: MsgType.HEARTBEAT_ACK, sender: -1, seq: 0, ts: 0, body: {} } as ControlMessage;
  t.is(writeHeartbeatAck(bad), undefined);
  t.throws(() => encodeControl(bad));
  t.is(writeHeartbeatAck({ ...bad, sender: -0 } as ControlMessage), undefined);
});
