// Mutation fuzzing of the three wire v1 decoders: at least 100,000 corrupted datagrams each
// (bit flips, truncations, extensions, random bytes, valid prefix + garbage, huge CBOR length
// prefixes, splices), seeded and deterministic. No exception may escape, every failure must
// be a DecodeError with a known code, and whatever decodes must re-encode consistently.
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { decodeCbor, encodeCbor } from "../protocol/cbor.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import { DecodeError, type DecodeErrorCode, type DecodeResult, EncodeError } from "../protocol/errors.js";
import { MAX_CONTROL_BYTES } from "../protocol/limits.js";
import { decodeSegmentMeta, encodeSegmentMeta } from "../protocol/segment-meta.js";
import { controlMessage, dataHeader, segmentMeta } from "./protocol-arbitraries.js";
import {
  maxAssign,
  sampleControl,
  sampleDataHeader,
  sampleEndHeader,
  sampleMeta,
  sampleMetaHeader,
  samplePayload,
} from "./vectors/samples.js";

const ITERATIONS = 100_000;
const CODES: ReadonlySet<DecodeErrorCode> = new Set([
  "E_EMPTY",
  "E_TOO_LARGE",
  "E_TRUNCATED",
  "E_BAD_VERSION",
  "E_BAD_TYPE",
  "E_BAD_CBOR",
  "E_BAD_FIELD",
  "E_LIMIT",
  "E_BAD_FLAGS",
  "E_BAD_LENGTH",
]);

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [
  0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x5f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xd8, 0xd9,
  0xe0, 0xf4, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff,
];
/** Headers that claim far more than a datagram holds. */
const HUGE_PREFIXES = [
  "9bffffffffffffffff",
  "9b0000000100000000",
  "9affffffff",
  "9a7fffffff",
  "99ffff",
  "98ff",
  "bbffffffffffffffff",
  "baffffffff",
  "b9ffff",
  "5bffffffffffffffff",
  "5affffffff",
  "59ffff",
  "7bffffffffffffffff",
  "7a7fffffff",
  "79ffff",
  "1bffffffffffffffff",
  "3bffffffffffffffff",
].map((h) => Buffer.from(h, "hex"));

class Mutator {
  constructor(
    private readonly r: () => number,
    private readonly corpus: readonly Buffer[],
    /** Also edit decoded CBOR trees (control messages): reaches the field checks, not just the scanner. */
    private readonly cbor = false,
  ) {}

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }

  private randomBytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  private pick(): Buffer {
    return this.corpus[this.int(this.corpus.length)]!;
  }

  next(): { kind: string; bytes: Buffer } {
    const base = this.pick();
    const n = base.length;
    if (this.cbor && this.r() < 0.3) return { kind: "tree edit", bytes: this.treeEdit(base) };
    switch (this.int(9)) {
      case 0: {
        const b = Buffer.from(base);
        const flips = 1 + this.int(8);
        for (let i = 0; i < flips && n > 0; i++) b[this.int(n)]! ^= 1 << this.int(8);
        return { kind: "bit flips", bytes: b };
      }
      case 1:
        return { kind: "truncation", bytes: base.subarray(0, this.int(n)) };
      case 2:
        return {
          kind: "extension",
          bytes: Buffer.concat([base, this.randomBytes(1 + this.int(this.r() < 0.1 ? 1300 : 64))]),
        };
      case 3: {
        const len = this.int(this.r() < 0.2 ? 1300 : 80);
        const b = this.randomBytes(len);
        if (len > 0 && this.r() < 0.5) b[0] = base[0]!; // keep the demux byte so the decoder looks further
        return { kind: "random bytes", bytes: b };
      }
      case 4:
        return {
          kind: "prefix + garbage",
          bytes: Buffer.concat([base.subarray(0, this.int(n)), this.randomBytes(1 + this.int(40))]),
        };
      case 5: {
        const at = this.int(n + 1);
        const prefix = HUGE_PREFIXES[this.int(HUGE_PREFIXES.length)]!;
        const keep = this.r() < 0.5 ? at : Math.min(n, at + prefix.length); // insert or overwrite
        return {
          kind: "huge length",
          bytes: Buffer.concat([base.subarray(0, at), prefix, base.subarray(keep)]),
        };
      }
      case 6: {
        const b = Buffer.from(base);
        const sets = 1 + this.int(4);
        for (let i = 0; i < sets && n > 0; i++) b[this.int(n)] = INTERESTING[this.int(INTERESTING.length)]!;
        return { kind: "interesting bytes", bytes: b };
      }
      case 7: {
        const other = this.pick();
        const cut = this.int(n + 1);
        return {
          kind: "splice",
          bytes: Buffer.concat([base.subarray(0, cut), other.subarray(this.int(other.length + 1))]),
        };
      }
      default: {
        const from = this.int(n + 1);
        const to = from + this.int(n - from + 1);
        const at = this.int(n + 1);
        return {
          kind: "repeat",
          bytes: Buffer.concat([base.subarray(0, at), base.subarray(from, to), base.subarray(at)]),
        };
      }
    }
  }

  /** Replace, delete or multiply one value somewhere in the message's CBOR tree. */
  private treeEdit(base: Buffer): Buffer {
    const root = decodeCbor(base);
    const slots: Array<[Map<unknown, unknown> | unknown[], unknown]> = [];
    const walk = (v: unknown): void => {
      if (v instanceof Map) {
        for (const [k, x] of v) {
          slots.push([v, k]);
          walk(x);
        }
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          slots.push([v, i]);
          walk(v[i]);
        }
      }
    };
    walk(root);
    const edits = 1 + this.int(3);
    for (let e = 0; e < edits && slots.length > 0; e++) {
      const [container, key] = slots[this.int(slots.length)]!;
      const old = container instanceof Map ? container.get(key) : container[key as number];
      const roll = this.int(10);
      if (roll === 0 && container instanceof Map) container.delete(key);
      else if (roll === 1 && Array.isArray(container))
        for (let i = this.int(70); i > 0; i--) container.push(old);
      else if (container instanceof Map)
        container.set(roll === 2 ? this.randomValue() : key, this.randomValue());
      else container[key as number] = this.randomValue();
    }
    return encodeCbor(root);
  }

  private randomValue(): unknown {
    switch (this.int(12)) {
      case 0:
        return this.int(24);
      case 1:
        return (
          [0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53][this.int(8)]! +
          this.int(2) -
          1
        );
      case 2:
        return BigInt(2 ** 32 + this.int(1000)) * BigInt(1 + this.int(2 ** 20));
      case 3:
        return -this.int(2 ** 33);
      case 4:
        return this.r() * 1e6;
      case 5:
        return "é".repeat(this.int(120));
      case 6:
        return this.randomBytes([0, 4, 16, 32, 64, 65][this.int(6)]!);
      case 7:
        return null;
      case 8:
        return Array.from({ length: this.int(20) }, () => this.int(300));
      case 9:
        return new Map([[this.int(10), this.int(10)]]);
      case 10:
        return this.r() < 0.5;
      default:
        return undefined;
    }
  }
}

interface Tally {
  ok: number;
  codes: Record<string, number>;
  kinds: Record<string, number>;
}

/**
 * Feed ITERATIONS mutants to `decode`; `recheck` gets every successful decode and must throw
 * if re-encoding disagrees. Returns the tally; fails the test on any escaped exception.
 */
function fuzz<T>(
  t: ExecutionContext,
  seed: number,
  corpus: Buffer[],
  decode: (b: Uint8Array) => DecodeResult<T>,
  recheck: (value: T, input: Buffer) => void,
  cbor = false,
): Tally {
  const mutator = new Mutator(rng(seed), corpus, cbor);
  const tally: Tally = { ok: 0, codes: {}, kinds: {} };
  let escaped = 0;
  let notDecodeError = 0;
  let firstProblem = "";
  for (let i = 0; i < ITERATIONS; i++) {
    const { kind, bytes } = mutator.next();
    tally.kinds[kind] = (tally.kinds[kind] ?? 0) + 1;
    let r: DecodeResult<T>;
    try {
      r = decode(bytes);
    } catch (e) {
      escaped++;
      firstProblem ||= `${kind} ${bytes.toString("hex")}: threw ${String(e)}`;
      continue;
    }
    if (r.ok) {
      tally.ok++;
      try {
        recheck(r.value, bytes);
      } catch (e) {
        notDecodeError++;
        firstProblem ||= `${kind} ${bytes.toString("hex")}: re-encode ${String(e)}`;
      }
    } else if (!(r.error instanceof DecodeError) || !CODES.has(r.error.code)) {
      notDecodeError++;
      firstProblem ||= `${kind} ${bytes.toString("hex")}: error ${String(r.error)}`;
    } else {
      tally.codes[r.error.code] = (tally.codes[r.error.code] ?? 0) + 1;
      // The subset scan (cbor.ts) must catch everything cbor-x would choke on, and the
      // field checks everything else: the codec's last-resort catch stays unused.
      if (/^(cbor|unexpected): /.test(r.error.message)) {
        notDecodeError++;
        firstProblem ||= `${kind} ${bytes.toString("hex")}: fell through to ${r.error.message}`;
      }
    }
  }
  t.is(escaped, 0, firstProblem);
  t.is(notDecodeError, 0, firstProblem);
  const errors = Object.values(tally.codes).reduce((a, b) => a + b, 0);
  t.is(tally.ok + errors, ITERATIONS);
  t.log(`${ITERATIONS} mutants: ${tally.ok} decoded, ${errors} DecodeErrors ${JSON.stringify(tally.codes)}`);
  return tally;
}

test("decodeControl: 100,000 mutants, no exception escapes, every failure is a DecodeError", (t) => {
  const corpus = [
    ...sampleControl.map((m) => encodeControl(m)),
    ...fc.sample(controlMessage, { seed: 11, numRuns: 150 }).map((m) => encodeControl(m)),
  ];
  const big = maxAssign();
  big.body.parents = big.body.parents.slice(0, 1);
  corpus.push(encodeControl({ ...big, body: { ...big.body, k: 16 } }));
  const tally = fuzz(
    t,
    0xc0ffee,
    corpus,
    decodeControl,
    (value, input) => {
      // whatever decodes re-encodes canonically, and that encoding is stable
      let once: Buffer;
      try {
        once = encodeControl(value);
      } catch (e) {
        // float32 integers can grow by 4 bytes as 8-byte integers: tolerated only at the very edge
        if (e instanceof EncodeError && input.length > MAX_CONTROL_BYTES - 8) return;
        throw e;
      }
      const again = decodeControl(once);
      if (!again.ok) throw again.error;
      if (!encodeControl(again.value).equals(once)) throw new Error("encoding not stable");
    },
    true,
  );
  t.true(
    (tally.codes.E_BAD_CBOR ?? 0) > 0 &&
      (tally.codes.E_TRUNCATED ?? 0) > 0 &&
      (tally.codes.E_BAD_FIELD ?? 0) > 0,
  );
});

test("decodeData: 100,000 mutants, no exception escapes, every failure is a DecodeError", (t) => {
  const corpus = [
    encodeData(sampleDataHeader, samplePayload(16)),
    encodeData(sampleEndHeader, new Uint8Array(0)),
    encodeData(sampleMetaHeader, encodeSegmentMeta(sampleMeta)),
    encodeData(sampleDataHeader, samplePayload(1172)),
    ...fc
      .sample(fc.tuple(dataHeader, fc.nat({ max: 300 })), { seed: 12, numRuns: 50 })
      .map(([h, n]) => encodeData(h, samplePayload(n))),
  ];
  const tally = fuzz(t, 0xda7a, corpus, decodeData, (p, input) => {
    const { payload, ...header } = p;
    if (!encodeData(header, payload).equals(input))
      throw new Error("data packet does not re-encode to its bytes");
  });
  t.true(tally.ok > 0 && (tally.codes.E_BAD_LENGTH ?? 0) > 0 && (tally.codes.E_BAD_FLAGS ?? 0) > 0);
});

test("decodeSegmentMeta: 100,000 mutants, no exception escapes, every failure is a DecodeError", (t) => {
  const corpus = [
    encodeSegmentMeta(sampleMeta),
    ...fc.sample(segmentMeta, { seed: 13, numRuns: 50 }).map((m) => encodeSegmentMeta(m)),
  ];
  const tally = fuzz(t, 0x5e6, corpus, decodeSegmentMeta, (m, input) => {
    if (!encodeSegmentMeta(m).equals(input)) throw new Error("segment meta does not re-encode to its bytes");
  });
  t.true(tally.ok > 0 && (tally.codes.E_TRUNCATED ?? 0) > 0 && (tally.codes.E_BAD_FLAGS ?? 0) > 0);
});
