// Origin-signed segment METAs (protocol/segment-meta.ts): sign/verify round trips, forgeries of
// every kind refused, and 100,000 mutated payloads, keys and channel ids through
// verifySegmentMeta and the agent's MetaVerifier: no exception, a verdict from the list, and never
// "valid" for anything but the origin's own bytes. (`npm run test:fast` runs the first fifth of
// the mutants: test/helpers/test-set.ts.)
import test from "ava";
import fc from "fast-check";
import { MetaVerifier } from "../agent/store/meta-verifier.js";
import { EncodeError } from "../protocol/errors.js";
import { META_SIGNATURE_BYTES, SEGMENT_META_BYTES, SEGMENT_META_FIELDS_BYTES } from "../protocol/limits.js";
import type { SegmentMetaFields } from "../protocol/messages.js";
import {
  decodeSegmentMeta,
  encodeMetaFields,
  encodeSegmentMeta,
  encodeSignedMeta,
  metaSigningInput,
  publicKeyObject,
  signSegmentMeta,
  verifySegmentMeta,
  type MetaVerdict,
} from "../protocol/segment-meta.js";
import { keyFromSeed, randomKey } from "../tools/origin-key.js";
import { segmentMeta } from "./protocol-arbitraries.js";
import { sampleMeta, sampleOriginKey } from "../tools/vectors/samples.js";
import { mulberry32 } from "../seams/prng.js";
import { fuzzIterations } from "./helpers/test-set.js";

const MUTANTS = fuzzIterations(100_000);
const ORIGIN = keyFromSeed(0x11);
const CHANNEL = 7;
const fields: SegmentMetaFields = {
  segmentId: 4242,
  durationMs: 1000,
  totalBytes: 83_000,
  firstSeq: 2 ** 32 - 3,
  packetCount: 72,
  discontinuity: true,
  publishedAt: 1_779_021_296_639,
  sha256: new Uint8Array(32).map((_, i) => (i * 37 + 5) & 0xff),
};
const genuine = encodeSignedMeta(CHANNEL, fields, ORIGIN.privateKey);
const VERDICTS: ReadonlySet<MetaVerdict> = new Set(["valid", "bad_length", "bad_key", "bad_signature"]);

test("a signed META is 124 bytes: the 60 field bytes, then the signature, and decodes to its fields", (t) => {
  t.is(genuine.length, SEGMENT_META_BYTES);
  t.is(SEGMENT_META_BYTES, SEGMENT_META_FIELDS_BYTES + META_SIGNATURE_BYTES);
  t.deepEqual(genuine.subarray(0, SEGMENT_META_FIELDS_BYTES), encodeMetaFields(fields));
  const d = decodeSegmentMeta(genuine);
  if (!d.ok) return t.fail(d.error.message);
  const { signature, ...rest } = d.value;
  t.deepEqual(rest, fields);
  t.deepEqual(signature, new Uint8Array(genuine.subarray(SEGMENT_META_FIELDS_BYTES)));
  t.not(signature.buffer, genuine.buffer, "the signature is a copy");
  t.is(verifySegmentMeta(CHANNEL, genuine, ORIGIN.publicKey), "valid");
});

test("signing is deterministic and covers 'tiercast-meta-v1' || u32 channel || the fields", (t) => {
  t.deepEqual(encodeSignedMeta(CHANNEL, fields, ORIGIN.privateKey), genuine);
  const input = metaSigningInput(CHANNEL, genuine);
  t.is(input.length, 16 + 4 + 60);
  t.is(input.subarray(0, 16).toString("ascii"), "tiercast-meta-v1");
  t.is(input.readUInt32BE(16), CHANNEL);
  t.deepEqual(input.subarray(20), genuine.subarray(0, 60));
});

test("the golden vector's META verifies under the samples' origin key for channel 3 only", (t) => {
  const bytes = encodeSegmentMeta(sampleMeta);
  t.is(verifySegmentMeta(3, bytes, sampleOriginKey.publicKey), "valid");
  t.is(verifySegmentMeta(4, bytes, sampleOriginKey.publicKey), "bad_signature");
});

test("a forged META is refused: another key, another channel, any flipped bit of any byte", (t) => {
  const attacker = randomKey();
  t.is(
    verifySegmentMeta(CHANNEL, encodeSignedMeta(CHANNEL, fields, attacker.privateKey), ORIGIN.publicKey),
    "bad_signature",
  );
  t.is(verifySegmentMeta(CHANNEL, genuine, attacker.publicKey), "bad_signature");
  t.is(verifySegmentMeta(CHANNEL + 1, genuine, ORIGIN.publicKey), "bad_signature");
  t.is(verifySegmentMeta(CHANNEL ^ 0x8000_0000, genuine, ORIGIN.publicKey), "bad_signature");
  let refused = 0;
  for (let i = 0; i < SEGMENT_META_BYTES; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from(genuine);
      b[i]! ^= 1 << bit;
      if (verifySegmentMeta(CHANNEL, b, ORIGIN.publicKey) === "bad_signature") refused++;
    }
  }
  t.is(refused, SEGMENT_META_BYTES * 8);
  // Every field, re-signed by someone else, is still someone else's.
  for (const change of [
    { segmentId: 4243 },
    { durationMs: 999 },
    { totalBytes: 82_999 },
    { firstSeq: 0 },
    { packetCount: 71 },
    { discontinuity: false },
    { publishedAt: 1 },
    { sha256: new Uint8Array(32) },
  ]) {
    const forged = encodeSignedMeta(CHANNEL, { ...fields, ...change }, attacker.privateKey);
    t.is(verifySegmentMeta(CHANNEL, forged, ORIGIN.publicKey), "bad_signature", JSON.stringify(change));
    // ...and the origin's signature moved onto changed fields does not hold either.
    const moved = Buffer.concat([encodeMetaFields({ ...fields, ...change }), genuine.subarray(60)]);
    t.is(verifySegmentMeta(CHANNEL, moved, ORIGIN.publicKey), "bad_signature", JSON.stringify(change));
  }
});

test("verifySegmentMeta: wrong lengths and unusable keys are told apart, never thrown", (t) => {
  t.is(verifySegmentMeta(CHANNEL, genuine.subarray(0, 123), ORIGIN.publicKey), "bad_length");
  t.is(verifySegmentMeta(CHANNEL, Buffer.concat([genuine, Buffer.of(0)]), ORIGIN.publicKey), "bad_length");
  t.is(verifySegmentMeta(CHANNEL, genuine, new Uint8Array(31)), "bad_key");
  t.is(verifySegmentMeta(CHANNEL, genuine, new Uint8Array(33)), "bad_key");
  for (const channel of [-1, 2 ** 32, 1.5, NaN, Infinity]) {
    t.is(verifySegmentMeta(channel, genuine, ORIGIN.publicKey), "bad_signature", String(channel));
  }
  t.is(verifySegmentMeta(CHANNEL, "x" as unknown as Uint8Array, ORIGIN.publicKey), "bad_length");
  t.is(verifySegmentMeta(CHANNEL, genuine, null as unknown as Uint8Array), "bad_key");
  // A key object is made once per key and kept.
  t.is(publicKeyObject(ORIGIN.publicKey), publicKeyObject(Uint8Array.from(ORIGIN.publicKey)));
});

test("signSegmentMeta refuses what it cannot sign: bad fields, a non-u32 channel, a public key", (t) => {
  t.throws(() => signSegmentMeta(2 ** 32, fields, ORIGIN.privateKey), { instanceOf: EncodeError });
  t.throws(() => signSegmentMeta(CHANNEL, { ...fields, packetCount: 65_536 }, ORIGIN.privateKey), {
    instanceOf: EncodeError,
  });
  const pub = publicKeyObject(ORIGIN.publicKey)!;
  t.throws(() => signSegmentMeta(CHANNEL, fields, pub), { instanceOf: TypeError });
  t.throws(() => encodeSegmentMeta({ ...sampleMeta, signature: new Uint8Array(63) }), {
    instanceOf: EncodeError,
    message: /^signature/,
  });
});

test("property: whatever the fields and the channel, the origin's META verifies and a one-byte change does not", (t) => {
  fc.assert(
    fc.property(segmentMeta, fc.nat({ max: 0xffffffff }), fc.nat({ max: 123 }), (m, channel, at) => {
      const bytes = encodeSignedMeta(channel, m, ORIGIN.privateKey);
      if (verifySegmentMeta(channel, bytes, ORIGIN.publicKey) !== "valid") return false;
      bytes[at]! ^= 0x40;
      return verifySegmentMeta(channel, bytes, ORIGIN.publicKey) === "bad_signature";
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test(`fuzz: ${MUTANTS.toLocaleString("en")} mutated payloads, keys and channel ids; no throw, a known verdict, never a forgery taken`, (t) => {
  const r = mulberry32(0x5161);
  const int = (n: number): number => Math.floor(r() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const other = randomKey();
  const verifier = new MetaVerifier({ channel: CHANNEL, originKey: ORIGIN.publicKey });
  const counts: Record<string, number> = {};
  let escaped = 0;
  let forged = 0;
  let firstProblem = "";
  for (let i = 0; i < MUTANTS; i++) {
    let payload: Buffer = Buffer.from(genuine);
    let key: Uint8Array = ORIGIN.publicKey;
    let channel = CHANNEL;
    switch (int(8)) {
      case 0:
        for (let f = 1 + int(8); f > 0; f--) payload[int(payload.length)]! ^= 1 << int(8);
        break;
      case 1:
        payload = payload.subarray(0, int(payload.length));
        break;
      case 2:
        payload = Buffer.concat([payload, bytes(1 + int(80))]);
        break;
      case 3:
        payload = bytes(r() < 0.5 ? SEGMENT_META_BYTES : int(300));
        break;
      case 4:
        key = r() < 0.5 ? bytes(32) : bytes(int(70));
        break;
      case 5:
        channel = [CHANNEL + 1, 0, 2 ** 32 - 1, -CHANNEL, 2 ** 32 + CHANNEL, CHANNEL + 0.5][int(6)]!;
        break;
      case 6:
        key = other.publicKey;
        break;
      default:
        // the signature of another META over these fields, or these fields' signature on others
        payload = Buffer.concat([r() < 0.5 ? bytes(60) : payload.subarray(0, 60), bytes(64)]);
    }
    const same = payload.equals(genuine) && channel === CHANNEL && Buffer.from(key).equals(ORIGIN.publicKey);
    try {
      const v = verifySegmentMeta(channel, payload, key);
      counts[v] = (counts[v] ?? 0) + 1;
      if (!VERDICTS.has(v)) throw new Error(`verdict ${String(v)}`);
      if (v === "valid" && !same) forged++;
      const c = verifier.check(payload, "fuzz", r() < 0.5 ? undefined : fields.segmentId);
      if (c.ok && !payload.equals(genuine)) forged++;
    } catch (e) {
      escaped++;
      firstProblem ||= `${payload.toString("hex")} key ${Buffer.from(key).toString("hex")} ch ${channel}: ${String(e)}`;
    }
  }
  t.is(escaped, 0, firstProblem);
  t.is(forged, 0);
  t.true((counts.bad_signature ?? 0) > 0 && (counts.bad_length ?? 0) > 0 && (counts.bad_key ?? 0) > 0);
  t.log(`${MUTANTS} mutants: ${JSON.stringify(counts)}; verifier ${JSON.stringify(verifier.stats.byReason)}`);
});
