/**
 * Arithmetic in GF(2^8) with the primitive polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d),
 * generator 2 — the field of the Reed-Solomon erasure code (reed-solomon.ts).
 *
 * Log/exp tables for single products and inverses, and a full 256 x 256 product table
 * (64 KiB) whose row c maps every byte x to c·x: the codec's inner loops multiply whole
 * shards by one coefficient, one table look-up per byte. `mulSliceXor` writes four output
 * bytes per step through a Uint32Array view, which V8 runs about twice as fast as a
 * byte-wise loop (all our targets — x64, arm64, armv7 — are little-endian; a big-endian
 * host takes the byte-wise loop).
 */

export const GF_POLY = 0x11d;

/** EXP[i] = 2^i, doubled (512 entries) so EXP[LOG[a] + LOG[b]] needs no modulo. */
export const EXP = new Uint8Array(512);
/** LOG[a] = i with 2^i = a, for a != 0 (LOG[0] is unused). */
export const LOG = new Uint8Array(256);
/** MUL_TABLE[(c << 8) | x] = c·x. */
export const MUL_TABLE = new Uint8Array(256 * 256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if ((x & 0x100) !== 0) x ^= GF_POLY;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] as number;
  for (let a = 1; a < 256; a++) {
    const la = LOG[a] as number;
    for (let b = 1; b < 256; b++) MUL_TABLE[(a << 8) | b] = EXP[la + (LOG[b] as number)] as number;
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

/** The multiplicative inverse; a must not be 0. */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError("GF(256): 0 has no inverse");
  return EXP[255 - (LOG[a] as number)] as number;
}

/** a / b; b must not be 0. */
export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError("GF(256): division by 0");
  if (a === 0) return 0;
  return EXP[(LOG[a] as number) + 255 - (LOG[b] as number)] as number;
}

/**
 * dst ^= c · src, byte by byte over src.length (dst at least as long). `dst32`, when given, must
 * view the same bytes as dst from a 4-aligned start (length floor(dst.length / 4)): the loop then
 * writes four bytes per step.
 */
export function mulSliceXor(
  c: number,
  src: Uint8Array,
  dst: Uint8Array,
  dst32: Uint32Array | undefined,
): void {
  if (c === 0) return;
  const n = src.length;
  if (c === 1) {
    for (let i = 0; i < n; i++) dst[i] = (dst[i] as number) ^ (src[i] as number);
    return;
  }
  const t = MUL_TABLE.subarray(c << 8, (c << 8) + 256);
  let i = 0;
  if (dst32 !== undefined && LITTLE_ENDIAN) {
    const words = n >>> 2;
    for (let w = 0; w < words; w++, i += 4) {
      dst32[w] =
        (dst32[w] as number) ^
        ((t[src[i] as number] as number) |
          ((t[src[i + 1] as number] as number) << 8) |
          ((t[src[i + 2] as number] as number) << 16) |
          ((t[src[i + 3] as number] as number) << 24));
    }
  }
  for (; i < n; i++) dst[i] = (dst[i] as number) ^ (t[src[i] as number] as number);
}

/** dst = c · src over src.length (see mulSliceXor for dst32). */
export function mulSlice(c: number, src: Uint8Array, dst: Uint8Array, dst32: Uint32Array | undefined): void {
  const n = src.length;
  if (c === 1) {
    dst.set(src);
    return;
  }
  if (c === 0) {
    dst.fill(0, 0, n);
    return;
  }
  const t = MUL_TABLE.subarray(c << 8, (c << 8) + 256);
  let i = 0;
  if (dst32 !== undefined && LITTLE_ENDIAN) {
    const words = n >>> 2;
    for (let w = 0; w < words; w++, i += 4) {
      dst32[w] =
        (t[src[i] as number] as number) |
        ((t[src[i + 1] as number] as number) << 8) |
        ((t[src[i + 2] as number] as number) << 16) |
        ((t[src[i + 3] as number] as number) << 24);
    }
  }
  for (; i < n; i++) dst[i] = t[src[i] as number] as number;
}

/**
 * Inverse of the size x size matrix m (row-major) by Gauss-Jordan elimination, or undefined
 * when m is singular. m is not changed.
 */
export function invertMatrix(m: Uint8Array, size: number): Uint8Array | undefined {
  const a = Uint8Array.from(m);
  const inv = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) inv[i * size + i] = 1;
  for (let col = 0; col < size; col++) {
    let pivot = col;
    while (pivot < size && a[pivot * size + col] === 0) pivot++;
    if (pivot === size) return undefined;
    if (pivot !== col) {
      swapRows(a, size, pivot, col);
      swapRows(inv, size, pivot, col);
    }
    const p = a[col * size + col] as number;
    if (p !== 1) {
      const s = gfInv(p);
      scaleRow(a, size, col, s);
      scaleRow(inv, size, col, s);
    }
    for (let r = 0; r < size; r++) {
      if (r === col) continue;
      const f = a[r * size + col] as number;
      if (f === 0) continue;
      for (let c = 0; c < size; c++) {
        a[r * size + c] = (a[r * size + c] as number) ^ gfMul(f, a[col * size + c] as number);
        inv[r * size + c] = (inv[r * size + c] as number) ^ gfMul(f, inv[col * size + c] as number);
      }
    }
  }
  return inv;
}

function swapRows(m: Uint8Array, size: number, r1: number, r2: number): void {
  for (let c = 0; c < size; c++) {
    const t = m[r1 * size + c] as number;
    m[r1 * size + c] = m[r2 * size + c] as number;
    m[r2 * size + c] = t;
  }
}

function scaleRow(m: Uint8Array, size: number, r: number, s: number): void {
  for (let c = 0; c < size; c++) m[r * size + c] = gfMul(s, m[r * size + c] as number);
}
