// Reed-Solomon codec (protocol/reed-solomon.ts, protocol/gf256.ts) against the slow reference
// in test/helpers/rs-reference.ts: same parity bytes, and any k of k + n shards rebuild the data
// exactly, over random k, n, shard lengths, contents and erasure patterns. Bad arguments are a
// ReedSolomonError with a message saying what is wrong.
import test from "ava";
import fc from "fast-check";
import { EXP, gfDiv, gfInv, gfMul, invertMatrix, LOG, MUL_TABLE } from "../protocol/gf256.js";
import {
  checkParams,
  decode,
  encode,
  parityRow,
  RS_MAX_PARITY_SHARDS,
  RS_MAX_SHARDS,
  ReedSolomonError,
  runnableCode,
} from "../protocol/reed-solomon.js";
import { refCoefficient, refDecode, refEncode, slowInv, slowMul } from "./helpers/rs-reference.js";

/** k, n with 1 <= k <= 16, 1 <= n <= 8, k + n <= 16. */
const codeParams = fc
  .integer({ min: 1, max: RS_MAX_SHARDS - 1 })
  .chain((k) =>
    fc.record({ k: fc.constant(k), n: fc.integer({ min: 1, max: Math.min(8, RS_MAX_SHARDS - k) }) }),
  );

/** A code, k data shards of one random length (lengths not multiple of 4 included), and which k shards survive. */
const scenario = codeParams.chain(({ k, n }) =>
  fc.record({
    k: fc.constant(k),
    n: fc.constant(n),
    data: fc
      .integer({ min: 0, max: 70 })
      .chain((len) =>
        fc.array(fc.uint8Array({ minLength: len, maxLength: len }), { minLength: k, maxLength: k }),
      ),
    keep: fc.shuffledSubarray(
      Array.from({ length: k + n }, (_, i) => i),
      { minLength: k, maxLength: k + n },
    ),
    /** Shards as views at an odd byte offset, to exercise unaligned reads. */
    unaligned: fc.boolean(),
  }),
);

function unalign(shards: Uint8Array[]): Uint8Array[] {
  return shards.map((s) => {
    const buf = new Uint8Array(s.length + 3);
    buf.set(s, 1);
    return buf.subarray(1, 1 + s.length);
  });
}

const hex = (a: readonly Uint8Array[]): string[] => a.map((s) => Buffer.from(s).toString("hex"));

test("GF(256) tables agree with shift-and-add multiplication for all 65536 pairs", (t) => {
  let bad = 0;
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const want = slowMul(a, b);
      if (gfMul(a, b) !== want || MUL_TABLE[(a << 8) | b] !== want) bad++;
    }
  }
  t.is(bad, 0);
  for (let a = 1; a < 256; a++) {
    t.is(gfInv(a), slowInv(a));
    t.is(EXP[LOG[a]!], a);
    t.is(gfDiv(a, a), 1);
  }
  t.throws(() => gfInv(0), { instanceOf: RangeError });
  t.throws(() => gfDiv(1, 0), { instanceOf: RangeError });
});

test("matrix inversion: M · M^-1 = I for a Cauchy block, undefined for a singular matrix", (t) => {
  const size = 5;
  const m = new Uint8Array(size * size);
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) m[r * size + c] = gfInv((size + r) ^ c);
  const inv = invertMatrix(m, size);
  if (inv === undefined) return t.fail("Cauchy matrix is invertible");
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      let sum = 0;
      for (let x = 0; x < size; x++) sum ^= gfMul(m[r * size + x]!, inv[x * size + c]!);
      t.is(sum, r === c ? 1 : 0);
    }
  }
  t.is(invertMatrix(Uint8Array.of(1, 2, 2, 4), 2), undefined); // row 2 = 2 · row 1
});

test("the coefficient rows are the reference's, with row 0 and column 0 all ones", (t) => {
  for (let k = 1; k <= 15; k++) {
    for (let i = 0; i < Math.min(RS_MAX_PARITY_SHARDS, RS_MAX_SHARDS - k); i++) {
      const row = [...parityRow(k, i)];
      t.deepEqual(
        row,
        Array.from({ length: k }, (_, j) => refCoefficient(k, i, j)),
        `k ${k} row ${i}`,
      );
      t.is(row[0], 1);
      if (i === 0) t.true(row.every((c) => c === 1));
    }
  }
});

test("parity equals the reference's and any k of k + n shards rebuild the data (fast-check)", (t) => {
  fc.assert(
    fc.property(scenario, ({ k, n, data, keep, unaligned }) => {
      const input = unaligned ? unalign(data) : data;
      const parity = encode(input, n);
      t.deepEqual(hex(parity), hex(refEncode(data, n)));
      t.deepEqual(hex(data), hex(input), "encode leaves the data alone");
      const all = [...data, ...parity];
      const shards = all.map((s, i) => (keep.includes(i) ? s : undefined));
      const fast = decode(unaligned ? shards.map((s) => (s ? unalign([s])[0] : s)) : shards, k, n);
      t.deepEqual(hex(fast), hex(data));
      t.deepEqual(hex(refDecode(shards, k)), hex(data));
    }),
    { numRuns: 300 },
  );
});

test("every erasure pattern of k = 10, n = 4 rebuilds (1001 patterns, more than the decode cache)", (t) => {
  const k = 10;
  const n = 4;
  const data = Array.from({ length: k }, (_, i) =>
    Uint8Array.from({ length: 37 }, (_, b) => (i * 29 + b * 7 + 3) & 255),
  );
  const all = [...data, ...encode(data, n)];
  let patterns = 0;
  let wrong = 0;
  for (let lost = 0; lost < 1 << (k + n); lost++) {
    let bits = 0;
    for (let x = lost; x !== 0; x &= x - 1) bits++;
    if (bits !== n) continue;
    patterns++;
    const got = decode(
      all.map((s, i) => ((lost >> i) & 1 ? undefined : s)),
      k,
      n,
    );
    if (hex(got).join() !== hex(data).join()) wrong++;
  }
  t.is(patterns, 1001);
  t.is(wrong, 0);
  // The same again: now from the cache where it still holds them.
  const again = decode([undefined, undefined, undefined, undefined, ...all.slice(4)], k, n);
  t.deepEqual(hex(again), hex(data));
});

test("full-size shards: 1160 bytes, k = 8, n = 2, two data shards lost", (t) => {
  const k = 8;
  const data = Array.from({ length: k }, (_, i) =>
    Uint8Array.from({ length: 1160 }, (_, b) => (b * 131 + i) & 255),
  );
  const parity = encode(data, 2);
  t.deepEqual(hex(parity), hex(refEncode(data, 2)));
  const got = decode([undefined, data[1], data[2], undefined, ...data.slice(4), ...parity], k, 2);
  t.deepEqual(hex(got), hex(data));
  t.is(got[1], data[1], "present data shards are returned as given");
});

test("edge codes: k = 1 (repetition), k = 16 with n = 0, zero-length shards", (t) => {
  const one = [Uint8Array.of(9, 8, 7)];
  const p = encode(one, 3);
  t.deepEqual(hex(p), ["090807", "090807", "090807"]);
  t.deepEqual(hex(decode([undefined, undefined, p[1], undefined], 1, 3)), ["090807"]);
  const sixteen = Array.from({ length: 16 }, (_, i) => Uint8Array.of(i));
  t.deepEqual(encode(sixteen, 0), []);
  t.deepEqual(hex(decode(sixteen, 16, 0)), hex(sixteen));
  const empty = Array.from({ length: 4 }, () => new Uint8Array(0));
  const ep = encode(empty, 2);
  t.deepEqual(
    ep.map((s) => s.length),
    [0, 0],
  );
  t.deepEqual(
    decode([undefined, empty[1], undefined, empty[3], ...ep], 4, 2).map((s) => s.length),
    [0, 0, 0, 0],
  );
});

test("bad arguments throw ReedSolomonError saying what is wrong", (t) => {
  const d = (len: number): Uint8Array => new Uint8Array(len);
  const cases: Array<[string, () => unknown, RegExp]> = [
    ["no data shards", () => encode([], 2), /k = 0: data shards must be 1\.\.16/],
    [
      "17 data shards",
      () =>
        encode(
          Array.from({ length: 17 }, () => d(4)),
          1,
        ),
      /k = 17/,
    ],
    ["9 parity shards", () => encode([d(4), d(4)], 9), /n = 9: parity shards must be 0\.\.8/],
    [
      "k + n = 17",
      () =>
        encode(
          Array.from({ length: 10 }, () => d(4)),
          7,
        ),
      /k \+ n = 17: at most 16/,
    ],
    ["fractional n", () => encode([d(4)], 1.5), /n = 1\.5/],
    ["negative n", () => encode([d(4)], -1), /n = -1/],
    [
      "unequal data",
      () => encode([d(4), d(5)], 1),
      /shard 1 has 5 bytes, shards before it 4: lengths differ/,
    ],
    ["hole in data", () => encode([d(4), undefined as unknown as Uint8Array], 1), /data shard 1 is missing/],
    [
      "not bytes",
      () => encode([d(4), [1, 2, 3, 4] as unknown as Uint8Array], 1),
      /shard 1 is not a Uint8Array/,
    ],
    [
      "too few shards",
      () => decode([d(4), undefined, undefined, d(4), undefined], 3, 2),
      /2 of 5 shards present, need 3/,
    ],
    ["wrong slot count", () => decode([d(4), d(4), d(4)], 3, 2), /expected 5 shard slots \(k \+ n\), got 3/],
    ["unequal shards", () => decode([d(4), undefined, d(4), d(6)], 2, 2), /shard 3 has 6 bytes/],
    ["k out of range", () => decode([], 0, 2), /k = 0/],
    ["k + n out of range", () => decode(new Array(20).fill(d(1)), 12, 8), /k \+ n = 20/],
    ["parity row out of range", () => parityRow(10, 6), /k \+ n = 17/],
  ];
  for (const [name, fn, message] of cases) {
    const e = t.throws(fn, { instanceOf: ReedSolomonError }, name);
    t.regex(e?.message ?? "", message, name);
  }
});

test("runnableCode: exactly the codes checkParams accepts, with at least one parity shard", (t) => {
  for (let k = -1; k <= 17; k++)
    for (let n = -1; n <= 17; n++) {
      let accepted = true;
      try {
        checkParams(k, n);
      } catch {
        accepted = false;
      }
      t.is(runnableCode(k, n), accepted && n >= 1, `k ${k} n ${n}`);
    }
  t.false(runnableCode(4.5, 2));
});
