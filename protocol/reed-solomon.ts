/**
 * Systematic Reed-Solomon erasure code over GF(256) (gf256.ts): k data shards give n parity
 * shards, and any k of the k + n rebuild the data. Tier-1 nodes code each group of k data
 * packets for the tier-2 cluster they feed (dataplane/fec-encoder.ts, agent/relay/fec-decoder.ts).
 *
 * Why written here and not taken from npm (measured on this project's 2-core x64 dev box,
 * Node 20, shared load; k = 8, n = 2, 1160-byte shards, decode with 2 data shards lost):
 *   - @ronomon/reed-solomon 6.0.0 (MIT, C addon): the tarball carries one x86-64
 *     binding.node and a node-gyp build, so arm64/armv7 need a compiler or binaries we would
 *     build ourselves, and a Node SEA has to write an addon out to disk to dlopen it. Async
 *     over the libuv pool: ~1.6 GB/s with 8 calls in flight, but ~270 MB/s encode and
 *     ~320 MB/s decode for one group at a time (34 / 29 µs a group, mostly the thread hop).
 *   - @subspace/reed-solomon-erasure.wasm 0.2.5 and its fork @digitaldefiance/...wasm 1.0.2
 *     (MIT, the Rust reed-solomon-erasure crate in WebAssembly): portable, but they read a
 *     .wasm file from their own directory at run time (one more SEA asset and loader), take
 *     all shards in one contiguous buffer (a copy in and out per group), and measured ~430 MB/s
 *     encode, ~300 MB/s decode, copy-in included.
 *   - @shelby-protocol/reed-solomon 0.0.1: the same WASM inlined as base64; one 0.0.1 release
 *     with no repository named (~400 MB/s encode).
 *   - @bnb-chain/reed-solomon 1.1.4: GPL-3.0 and encode-only (piece hashes for Greenfield).
 *   - raptorq 1.7.24: a fountain code (RFC 6330) over whole objects, packaged for bundlers.
 * This file, plain TypeScript with no build step or asset on any target, measured ~550 MB/s
 * encode and ~580 MB/s decode in the same run (npm run bench:rs reports it).
 *
 * The code: generator matrix [I_k; C] with C an n x k Cauchy matrix C[i][j] = 1 / (x_i + y_j),
 * x_i = k + i, y_j = j (all distinct since k + n <= 16), then scaled so row 0 and column 0 are
 * all ones (parity 0 is the XOR of the data). Every square submatrix of a Cauchy matrix is
 * invertible and scaling rows or columns by non-zero factors keeps that, so any k rows of the
 * generator are invertible: the code is MDS. Row k + i does not depend on n, so a group coded
 * with n parity shards can be decoded knowing only k. Decoding inverts the k x k submatrix of
 * the rows received (Gauss-Jordan), cached per (k, rows used) in a small LRU.
 *
 * Bad arguments (too few shards, unequal lengths, k or n out of range) throw ReedSolomonError:
 * callers feeding untrusted datagrams validate them first (agent/relay/fec-decoder.ts does).
 */
import { gfDiv, gfInv, invertMatrix, mulSlice, mulSliceXor } from "./gf256.js";
import { MAX_SUBSTREAMS } from "./limits.js";

/** At most 16 data shards, 8 parity shards and 16 shards in all (coded substreams of a channel). */
export const RS_MAX_DATA_SHARDS = MAX_SUBSTREAMS;
export const RS_MAX_PARITY_SHARDS = 8;
export const RS_MAX_SHARDS = MAX_SUBSTREAMS;

/** Inverted decode matrices kept (each at most 256 bytes). */
const DECODE_CACHE_ENTRIES = 256;

export class ReedSolomonError extends Error {
  override readonly name = "ReedSolomonError";
}

/** Throws ReedSolomonError unless 1 <= k <= 16, 0 <= n <= 8 and k + n <= 16 (integers). */
export function checkParams(k: number, n: number): void {
  if (!Number.isInteger(k) || k < 1 || k > RS_MAX_DATA_SHARDS)
    throw new ReedSolomonError(`k = ${k}: data shards must be 1..${RS_MAX_DATA_SHARDS}`);
  if (!Number.isInteger(n) || n < 0 || n > RS_MAX_PARITY_SHARDS)
    throw new ReedSolomonError(`n = ${n}: parity shards must be 0..${RS_MAX_PARITY_SHARDS}`);
  if (k + n > RS_MAX_SHARDS) throw new ReedSolomonError(`k + n = ${k + n}: at most ${RS_MAX_SHARDS} shards`);
}

/** Can a node run this code? At least one parity shard, and checkParams would accept it. */
export function runnableCode(k: number, n: number): boolean {
  return (
    Number.isInteger(k) &&
    Number.isInteger(n) &&
    k >= 1 &&
    n >= 1 &&
    n <= RS_MAX_PARITY_SHARDS &&
    k + n <= RS_MAX_SHARDS
  );
}

/** Parity rows for k data shards: RS_MAX_PARITY_SHARDS x k, row-major (row i = coded shard k + i). */
const parityRowsCache: Array<Uint8Array | undefined> = [];

/** Coefficients of parity shard k + i over data shards 0..k-1 (a copy), for tests and tools. */
export function parityRow(k: number, i: number): Uint8Array {
  checkParams(k, i + 1);
  return parityRows(k).slice(i * k, (i + 1) * k);
}

function parityRows(k: number): Uint8Array {
  const cached = parityRowsCache[k];
  if (cached !== undefined) return cached;
  const rows = new Uint8Array(RS_MAX_PARITY_SHARDS * k);
  const cauchy = (i: number, j: number): number => gfInv((k + i) ^ j);
  for (let i = 0; i < RS_MAX_PARITY_SHARDS; i++) {
    for (let j = 0; j < k; j++) {
      // C[i][j] · C[0][0] / (C[0][j] · C[i][0]): row 0 and column 0 become all ones.
      const scaled = gfDiv(gfDiv(cauchy(i, j), cauchy(0, j)), gfDiv(cauchy(i, 0), cauchy(0, 0)));
      rows[i * k + j] = scaled;
    }
  }
  parityRowsCache[k] = rows;
  return rows;
}

/** Output shards: `count` views of `len` bytes, each starting 4-aligned, with Uint32 views for the fast loop. */
function allocShards(count: number, len: number): { shards: Uint8Array[]; words: Uint32Array[] } {
  const stride = (len + 3) & ~3;
  const buf = new ArrayBuffer(stride * count);
  const shards: Uint8Array[] = [];
  const words: Uint32Array[] = [];
  for (let i = 0; i < count; i++) {
    shards.push(new Uint8Array(buf, i * stride, len));
    words.push(new Uint32Array(buf, i * stride, len >>> 2));
  }
  return { shards, words };
}

function shardLength(shards: ReadonlyArray<Uint8Array | undefined>): number {
  let len = -1;
  for (let i = 0; i < shards.length; i++) {
    const s = shards[i];
    if (s === undefined) continue;
    if (!(s instanceof Uint8Array)) throw new ReedSolomonError(`shard ${i} is not a Uint8Array`);
    if (len === -1) len = s.length;
    else if (s.length !== len)
      throw new ReedSolomonError(`shard ${i} has ${s.length} bytes, shards before it ${len}: lengths differ`);
  }
  return len;
}

/**
 * The parityCount parity shards of dataShards (k = dataShards.length, all the same length).
 * Returns new arrays; the data is not changed.
 */
export function encode(dataShards: readonly Uint8Array[], parityCount: number): Uint8Array[] {
  const k = dataShards.length;
  checkParams(k, parityCount);
  for (let i = 0; i < k; i++)
    if (dataShards[i] === undefined) throw new ReedSolomonError(`data shard ${i} is missing`);
  const len = shardLength(dataShards);
  const rows = parityRows(k);
  const { shards, words } = allocShards(parityCount, len);
  for (let i = 0; i < parityCount; i++) {
    const out = shards[i] as Uint8Array;
    const out32 = words[i] as Uint32Array;
    mulSlice(rows[i * k] as number, dataShards[0] as Uint8Array, out, out32);
    for (let j = 1; j < k; j++)
      mulSliceXor(rows[i * k + j] as number, dataShards[j] as Uint8Array, out, out32);
  }
  return shards;
}

/** LRU of inverted k x k matrices, keyed by k and the bit mask of the coded shards used. */
const decodeCache = new Map<number, Uint8Array>();

function decodeMatrix(k: number, used: readonly number[]): Uint8Array {
  let mask = 0;
  for (const r of used) mask |= 1 << r;
  const key = (k << 16) | mask;
  const hit = decodeCache.get(key);
  if (hit !== undefined) {
    decodeCache.delete(key);
    decodeCache.set(key, hit);
    return hit;
  }
  const rows = parityRows(k);
  const m = new Uint8Array(k * k);
  used.forEach((r, at) => {
    if (r < k) m[at * k + r] = 1;
    else m.set(rows.subarray((r - k) * k, (r - k + 1) * k), at * k);
  });
  const inv = invertMatrix(m, k);
  // Unreachable for an MDS generator; kept as a loud check rather than silent garbage.
  if (inv === undefined)
    throw new ReedSolomonError(`singular decode matrix for k = ${k}, rows ${used.join(",")}`);
  if (decodeCache.size >= DECODE_CACHE_ENTRIES) {
    const oldest = decodeCache.keys().next();
    if (oldest.done !== true) decodeCache.delete(oldest.value);
  }
  decodeCache.set(key, inv);
  return inv;
}

/**
 * The k data shards from any k of the k + n coded shards. `shards` has k + n entries (index j
 * = coded shard j: data 0..k-1, then parity), undefined where missing; present ones all the
 * same length. Data shards that were present are returned as given, missing ones rebuilt into
 * new arrays.
 */
export function decode(shards: ReadonlyArray<Uint8Array | undefined>, k: number, n: number): Uint8Array[] {
  checkParams(k, n);
  if (!Array.isArray(shards) || shards.length !== k + n)
    throw new ReedSolomonError(`expected ${k + n} shard slots (k + n), got ${shards?.length}`);
  const len = shardLength(shards);
  const used: number[] = [];
  const missing: number[] = [];
  for (let j = 0; j < k; j++) {
    if (shards[j] !== undefined) used.push(j);
    else missing.push(j);
  }
  if (missing.length === 0) return shards.slice(0, k) as Uint8Array[];
  for (let j = k; j < k + n && used.length < k; j++) if (shards[j] !== undefined) used.push(j);
  if (used.length < k) {
    const present = shards.filter((s) => s !== undefined).length;
    throw new ReedSolomonError(`${present} of ${k + n} shards present, need ${k} to decode`);
  }
  const inv = decodeMatrix(k, used);
  const { shards: rebuilt, words } = allocShards(missing.length, len);
  const out = shards.slice(0, k) as Uint8Array[];
  missing.forEach((d, m) => {
    const dst = rebuilt[m] as Uint8Array;
    const dst32 = words[m] as Uint32Array;
    mulSlice(inv[d * k] as number, shards[used[0] as number] as Uint8Array, dst, dst32);
    for (let c = 1; c < k; c++)
      mulSliceXor(inv[d * k + c] as number, shards[used[c] as number] as Uint8Array, dst, dst32);
    out[d] = dst;
  });
  return out;
}
