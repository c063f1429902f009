/**
 * Reed-Solomon throughput (protocol/reed-solomon.ts), one core: encode (k data shards → n
 * parity) and decode with the worst erasure pattern (n data shards lost, rebuilt from the
 * rest and n parity), in MB/s of data (k · shard bytes per group). Shared by bench/rs.ts and
 * by other benchmarks that report `rsEncodeMBps` / `rsDecodeMBps` (k = 8, n = 2, 1160-byte
 * shards: `measureRsReference`, about 1 s). Each loop is bounded by time and by count.
 */
import { performance } from "node:perf_hooks";
import { decode, encode } from "../protocol/reed-solomon.js";

export interface RsCase {
  k: number;
  n: number;
  shardBytes: number;
}

export interface RsThroughput extends RsCase {
  encodeMBps: number;
  decodeMBps: number;
  /** Groups run in each measured loop. */
  encodeGroups: number;
  decodeGroups: number;
}

/** Shard size of the reference figures: a coded payload's 1160 bytes (a full shard with its prefix is 1172). */
export const REFERENCE_SHARD_BYTES = 1160;

/** Groups per timing check. */
const BATCH = 64;
/** No loop runs more groups than this, however fast the machine. */
const MAX_GROUPS = 5_000_000;

/** Keeps results alive so the JIT cannot drop the work. */
let sink: unknown;

function groupsPerSec(
  fn: () => unknown,
  warmMs: number,
  measureMs: number,
): { rate: number; groups: number } {
  const warmEnd = performance.now() + warmMs;
  let warm = 0;
  while (performance.now() < warmEnd && warm < MAX_GROUPS) {
    for (let i = 0; i < BATCH; i++) sink = fn();
    warm += BATCH;
  }
  let groups = 0;
  const start = performance.now();
  let now = start;
  while (now - start < measureMs && groups < MAX_GROUPS) {
    for (let i = 0; i < BATCH; i++) sink = fn();
    groups += BATCH;
    now = performance.now();
  }
  return { rate: groups / ((now - start) / 1000), groups };
}

/** Encode and worst-case decode throughput of one code, `measureMs` each (plus a quarter of it to warm up). */
export function measureRs(c: RsCase, measureMs: number): RsThroughput {
  const { k, n, shardBytes } = c;
  const data = Array.from({ length: k }, (_, i) =>
    Uint8Array.from({ length: shardBytes }, (_, b) => (b * 131 + i * 17 + 1) & 255),
  );
  const parity = encode(data, n);
  const lost: Array<Uint8Array | undefined> = [...data, ...parity];
  for (let i = 0; i < n; i++) lost[i] = undefined;
  const check = decode(lost, k, n);
  for (let i = 0; i < k; i++) {
    if (Buffer.compare(check[i] as Uint8Array, data[i] as Uint8Array) !== 0)
      throw new Error(`k ${k} n ${n}: decode does not give the data back`);
  }
  const warmMs = measureMs / 4;
  const enc = groupsPerSec(() => encode(data, n), warmMs, measureMs);
  const dec = groupsPerSec(() => decode(lost, k, n), warmMs, measureMs);
  if (sink === Symbol.for("never")) console.log(sink);
  const mb = (k * shardBytes) / 1e6;
  return {
    ...c,
    encodeMBps: round1(enc.rate * mb),
    decodeMBps: round1(dec.rate * mb),
    encodeGroups: enc.groups,
    decodeGroups: dec.groups,
  };
}

/** The project's reference point, k = 8, n = 2, 1160-byte shards, in about one second. */
export function measureRsReference(): { rsEncodeMBps: number; rsDecodeMBps: number } {
  const r = measureRs({ k: 8, n: 2, shardBytes: REFERENCE_SHARD_BYTES }, 400);
  return { rsEncodeMBps: r.encodeMBps, rsDecodeMBps: r.decodeMBps };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
