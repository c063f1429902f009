/**
 * Reed-Solomon micro-benchmark, one core: encode and worst-case decode (n data shards lost)
 * throughput in MB/s of data for k = 4, n = 2 / k = 8, n = 2 / k = 10, n = 4 with 1160-byte
 * shards (bench/rs-measure.ts). Prints a table, then as its last line one JSON object:
 * rsEncodeMBps / rsDecodeMBps are k = 8, n = 2 (the project's reference point), the others
 * are under per-code keys.
 *
 *   npm run bench:rs
 */
import { measureRs, REFERENCE_SHARD_BYTES, type RsThroughput } from "./rs-measure.js";

const MEASURE_MS = 600;
const CODES: Array<[number, number]> = [
  [4, 2],
  [8, 2],
  [10, 4],
];

const rows: RsThroughput[] = CODES.map(([k, n]) =>
  measureRs({ k, n, shardBytes: REFERENCE_SHARD_BYTES }, MEASURE_MS),
);

const pad = (s: string | number, w: number): string => String(s).padStart(w);
console.log(
  `Reed-Solomon GF(256) on node ${process.version}, one core, ${REFERENCE_SHARD_BYTES}-byte shards, ${MEASURE_MS} ms per case`,
);
console.log(
  `${"code".padEnd(12)}${pad("encode MB/s", 14)}${pad("decode MB/s", 14)}${pad("µs/group enc", 15)}${pad("µs/group dec", 15)}`,
);
for (const r of rows) {
  const mb = (r.k * r.shardBytes) / 1e6;
  console.log(
    `${`k=${r.k} n=${r.n}`.padEnd(12)}${pad(r.encodeMBps.toFixed(1), 14)}${pad(r.decodeMBps.toFixed(1), 14)}` +
      `${pad(((mb / r.encodeMBps) * 1e6).toFixed(1), 15)}${pad(((mb / r.decodeMBps) * 1e6).toFixed(1), 15)}`,
  );
}
console.log("decode: the first n data shards lost (the most work a decode does), inverse matrix cached");

const ref = rows.find((r) => r.k === 8 && r.n === 2);
const result: Record<string, number> = {
  rsEncodeMBps: ref?.encodeMBps ?? 0,
  rsDecodeMBps: ref?.decodeMBps ?? 0,
  shardBytes: REFERENCE_SHARD_BYTES,
};
for (const r of rows) {
  result[`rsEncodeMBps_k${r.k}n${r.n}`] = r.encodeMBps;
  result[`rsDecodeMBps_k${r.k}n${r.n}`] = r.decodeMBps;
}
console.log(JSON.stringify(result));
