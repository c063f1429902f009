/**
 * Signed-META micro-benchmark, one core: what an agent spends per segment to believe its META
 * (issue 11, item 4), side by side with the SHA-256 it already computes over the segment's
 * bytes. The segment is a typical 1 s one: the bundled sample's first (assets/sample, ~70 KB at
 * ~670 kbit/s), and a 1 s segment at 4 Mbit/s (500 KB) for scale. Cases:
 *
 *   verify        verifySegmentMeta: one Ed25519 verification (what each distinct META costs)
 *   check         MetaVerifier.check of a new META: decode + verify + remember
 *   repeat        MetaVerifier.check of the same bytes again (trailing copies, relays): a compare
 *   sign          signSegmentMeta at the origin, once per segment
 *   sha256        the hash of the whole segment (the agent's existing per-segment check)
 *
 * Prints a table, then as its last line one JSON object (µs per operation).
 *
 *   npm run bench:meta
 */
import { generateKeyPairSync, createHash, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MetaVerifier } from "../agent/store/meta-verifier.js";
import { packageRoot } from "../common/package-root.js";
import type { SegmentMetaFields } from "../protocol/messages.js";
import { encodeSegmentMeta, signSegmentMeta, verifySegmentMeta } from "../protocol/segment-meta.js";

const WARMUP_MS = 200;
const MEASURE_MS = 800;
const CHANNEL = 3;

/** Keeps results alive so the JIT cannot drop the work. */
let sink: unknown;

function usPerOp(fn: (i: number) => unknown, batch = 16): number {
  let i = 0;
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) for (let b = 0; b < batch; b++) sink = fn(i++);
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MEASURE_MS) {
    for (let b = 0; b < batch; b++) sink = fn(i++);
    ops += batch;
    now = performance.now();
  }
  return ((now - start) * 1000) / ops;
}

const { privateKey } = generateKeyPairSync("ed25519");
const originKey = new Uint8Array(
  Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x ?? "", "base64url"),
);

const sample = readFileSync(join(packageRoot(), "assets", "sample", "seg000.ts"));
const big = Buffer.alloc(500_000, 0x47);

function fieldsOf(bytes: Uint8Array, segmentId: number): SegmentMetaFields {
  return {
    segmentId,
    durationMs: 1000,
    totalBytes: bytes.length,
    firstSeq: segmentId * 64,
    packetCount: Math.ceil(bytes.length / 1160),
    discontinuity: false,
    publishedAt: 1_779_021_296_639 + segmentId,
    sha256: createHash("sha256").update(bytes).digest(),
  };
}

// Distinct METAs (one per segment id) so that "check" verifies every time, as for a live stream.
const DISTINCT = 4096;
const fields = Array.from({ length: DISTINCT }, (_, i) => fieldsOf(sample, i));
const payloads = fields.map((f) => encodeSegmentMeta(signSegmentMeta(CHANNEL, f, privateKey)));
const one = payloads[0]!;
if (verifySegmentMeta(CHANNEL, one, originKey) !== "valid")
  throw new Error("the benchmark's META does not verify");

const verifyUs = usPerOp((i) => verifySegmentMeta(CHANNEL, payloads[i % DISTINCT]!, originKey));
let checker = new MetaVerifier({ channel: CHANNEL, originKey, remember: 256 });
const checkUs = usPerOp((i) => {
  if (i % DISTINCT === 0) checker = new MetaVerifier({ channel: CHANNEL, originKey, remember: 256 });
  return checker.check(payloads[i % DISTINCT]!, "bench");
});
const repeater = new MetaVerifier({ channel: CHANNEL, originKey });
repeater.check(one, "bench");
const repeatUs = usPerOp(() => repeater.check(one, "bench"), 256);
const signUs = usPerOp((i) => signSegmentMeta(CHANNEL, fields[i % DISTINCT]!, privateKey), 4);
const shaUs = usPerOp(() => createHash("sha256").update(sample).digest(), 4);
const shaBigUs = usPerOp(() => createHash("sha256").update(big).digest(), 1);
if (sink === Symbol.for("never")) console.log(sink);

const kbps = (sample.length * 8) / 1000;
const rows: Array<[string, number]> = [
  ["verify (Ed25519, per distinct META)", verifyUs],
  ["check: decode + verify + remember", checkUs],
  ["repeat: the same META again", repeatUs],
  ["sign at the origin, once per segment", signUs],
  [`sha256 of a 1 s segment (${(sample.length / 1000).toFixed(0)} KB)`, shaUs],
  ["sha256 of a 1 s segment at 4 Mbit/s", shaBigUs],
];
console.log(`signed META on node ${process.version}, one core, ${MEASURE_MS} ms per case`);
console.log(`sample segment: ${sample.length} bytes, 1 s (${kbps.toFixed(0)} kbit/s)`);
console.log(`${"case".padEnd(42)}${"µs/op".padStart(10)}${"ops/s".padStart(12)}`);
for (const [name, us] of rows)
  console.log(
    `${name.padEnd(42)}${us.toFixed(2).padStart(10)}${Math.round(1e6 / us)
      .toLocaleString("en-US")
      .padStart(12)}`,
  );
const perSegmentUs = checkUs + repeatUs; // one new META and its trailing copy
console.log(
  `per segment at the agent: ${perSegmentUs.toFixed(1)} µs for its META (one check + one repeat) next to ` +
    `${shaUs.toFixed(1)} µs for its SHA-256: ${((perSegmentUs / 1e6) * 100).toFixed(3)} % of a core at one segment a second`,
);
console.log(
  JSON.stringify({
    segmentBytes: sample.length,
    verifyUs: round(verifyUs),
    checkUs: round(checkUs),
    repeatUs: round(repeatUs),
    signUs: round(signUs),
    sha256SegmentUs: round(shaUs),
    sha256Segment4MbpsUs: round(shaBigUs),
    metaPerSegmentUs: round(perSegmentUs),
  }),
);

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
