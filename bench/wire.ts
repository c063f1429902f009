/**
 * Wire v1 micro-benchmark, one core: HEARTBEAT (4 parents, 8 children) encode, decode and
 * encode+decode; data packet (28-byte header + 1172-byte payload) encode and decode.
 * Each case runs for a fixed time (a few seconds in all). Prints a table, then as its
 * last line one JSON object for scripts to read.
 *
 *   npm run bench:wire
 */
import { performance } from "node:perf_hooks";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import { MAX_DATA_PAYLOAD_BYTES } from "../protocol/limits.js";
import { sampleDataHeader, sampleHeartbeat, samplePayload } from "../tools/vectors/samples.js";

const WARMUP_MS = 200;
const MEASURE_MS = 600;
const BATCH = 256;

/** Keeps results alive so the JIT cannot drop the work. */
let sink: unknown;

function opsPerSec(fn: () => unknown): number {
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) for (let i = 0; i < BATCH; i++) sink = fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MEASURE_MS) {
    for (let i = 0; i < BATCH; i++) sink = fn();
    ops += BATCH;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

const heartbeat = sampleHeartbeat(4, 8);
const heartbeatBuf = encodeControl(heartbeat);
const check = decodeControl(heartbeatBuf);
if (!check.ok) throw check.error;

const payload = samplePayload(MAX_DATA_PAYLOAD_BYTES);
const dataBuf = encodeData(sampleDataHeader, payload);
const dataCheck = decodeData(dataBuf);
if (!dataCheck.ok) throw dataCheck.error;

const results = {
  heartbeatBytes: heartbeatBuf.length,
  heartbeatEncodePerSec: Math.round(opsPerSec(() => encodeControl(heartbeat))),
  heartbeatDecodePerSec: Math.round(opsPerSec(() => decodeControl(heartbeatBuf))),
  heartbeatRoundTripPerSec: Math.round(opsPerSec(() => decodeControl(encodeControl(heartbeat)))),
  dataEncodePerSec: Math.round(opsPerSec(() => encodeData(sampleDataHeader, payload))),
  dataDecodePerSec: Math.round(opsPerSec(() => decodeData(dataBuf))),
};
if (sink === Symbol.for("never")) console.log(sink);

const fmt = (n: number): string => n.toLocaleString("en-US").padStart(12);
const usPer = (n: number): string => `${(1e6 / n).toFixed(2)} µs`.padStart(10);
console.log(`wire v1 on node ${process.version}, one core, ${MEASURE_MS} ms per case`);
console.log(`${"case".padEnd(34)}${"ops/s".padStart(12)}${"per op".padStart(10)}`);
const rows: Array<[string, number]> = [
  [`heartbeat encode (${results.heartbeatBytes} B)`, results.heartbeatEncodePerSec],
  ["heartbeat decode", results.heartbeatDecodePerSec],
  ["heartbeat encode+decode", results.heartbeatRoundTripPerSec],
  [`data encode (${dataBuf.length} B)`, results.dataEncodePerSec],
  ["data decode", results.dataDecodePerSec],
];
for (const [name, n] of rows) console.log(`${name.padEnd(34)}${fmt(n)}${usPer(n)}`);
console.log(JSON.stringify(results));
