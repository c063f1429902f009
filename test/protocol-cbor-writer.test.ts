/**
 * encodeCbor writes the trees of control messages directly (protocol/cbor.ts); these check that
 * its bytes are cbor-x's, the reference encoder, for any tree and for every control message.
 */
import test from "ava";
import fc from "fast-check";
import { decodeCbor, encodeCbor, encodeCborReference } from "../protocol/cbor.js";
import { controlTree, decodeControl, encodeControl } from "../protocol/control-codec.js";
import { assignBody, controlMessage } from "./protocol-arbitraries.js";
import { MsgType, type ControlMessage } from "../protocol/messages.js";
import { WIRE_VERSION } from "../protocol/limits.js";
import { sampleControl } from "../tools/vectors/samples.js";

const SEED = 20261207;

/** Values the writer handles itself. */
const direct: Array<fc.Arbitrary<unknown>> = [
  fc.integer({ min: -0x100000000, max: 0xffffffff }),
  fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 0xffffffff, -1, -24, -25, -256, -257, -0x100000000),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(null, true, false),
];
/** Values it hands to cbor-x (with the whole tree). */
const other: Array<fc.Arbitrary<unknown>> = [
  fc.constantFrom(0.5, -0, 2 ** 40, -(2 ** 40), undefined, "text", ""),
  fc.string({ maxLength: 40 }),
];

const trees = (leaves: Array<fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
  fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      ...leaves,
      fc.array(tie("value"), { maxLength: 30 }),
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: 40 }), tie("value")), { maxLength: 30 })
        .map((es) => new Map(es)),
    ),
  })).value;

test("any tree: the direct writer's bytes are cbor-x's (trees it writes itself, and trees it hands over)", (t) => {
  for (const arb of [trees(direct), trees([...direct, ...other])]) {
    fc.assert(
      fc.property(arb, (v) => {
        t.deepEqual(encodeCbor(v), encodeCborReference(v));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  }
});

test("long arrays, maps and byte strings: every width of length header", (t) => {
  for (const n of [0, 23, 24, 255, 256, 1000, 65535, 65536, 70000]) {
    const bytes = new Uint8Array(n).fill(7);
    const arr = new Array<number>(n).fill(1);
    const map = new Map(arr.map((_, i) => [i, i]));
    for (const v of [bytes, arr, map, [bytes, map]])
      t.deepEqual(encodeCbor(v), encodeCborReference(v), `${n}`);
  }
});

test("every control message: encodeControl writes cbor-x's bytes for its tree, and they decode back", (t) => {
  const check = (msg: ControlMessage): void => {
    const tree = controlTree(msg);
    const bytes = encodeControl(msg);
    t.deepEqual(bytes, encodeCborReference(tree));
    t.true(decodeControl(bytes).ok);
  };
  for (const msg of sampleControl) check(msg);
  fc.assert(
    fc.property(controlMessage, (msg) => {
      let tree: Map<number, unknown>;
      try {
        tree = controlTree(msg);
      } catch {
        return; // a message the encoder refuses: no bytes to compare
      }
      const ref = encodeCborReference(tree);
      if (ref.length > 1200) return;
      t.deepEqual(encodeControl(msg), ref);
    }),
    { seed: SEED, numRuns: 2000 },
  );
  fc.assert(
    fc.property(assignBody, fc.nat(), fc.maxSafeNat(), (body, seq, ts) => {
      const msg: ControlMessage = {
        v: WIRE_VERSION,
        type: MsgType.ASSIGN,
        sender: 0,
        seq: seq >>> 0,
        ts,
        body,
      };
      let tree: Map<number, unknown>;
      try {
        tree = controlTree(msg);
      } catch {
        return;
      }
      const ref = encodeCborReference(tree);
      if (ref.length > 1200) return;
      const bytes = encodeControl(msg);
      t.deepEqual(bytes, ref);
      t.deepEqual(decodeCbor(bytes), decodeCbor(ref));
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test("the result is the caller's: a later encoding does not change it", (t) => {
  const a = encodeCbor(new Map([[0, new Uint8Array([1, 2, 3])]]));
  const copy = Buffer.from(a);
  encodeCbor(new Map([[0, new Uint8Array(500).fill(9)]]));
  t.deepEqual(a, copy);
});
