/**
 * A slow, plainly written Reed-Solomon reference for the differential test of
 * protocol/reed-solomon.ts: GF(256) products by shift-and-add with reduction by 0x11d (no
 * tables), inverses by search, the code's coefficients straight from their definition, and
 * decoding by Gaussian elimination over every shard received (not the k x k inverse the fast
 * codec caches). Only the definition of the code is shared: row k + i of the generator is
 * the Cauchy row 1 / ((k + i) xor j), scaled so row 0 and column 0 are all ones.
 */

/** a · b in GF(2^8) mod x^8 + x^4 + x^3 + x^2 + 1. */
export function slowMul(a: number, b: number): number {
  let product = 0;
  let x = a;
  let y = b;
  while (y > 0) {
    if ((y & 1) !== 0) product ^= x;
    y >>= 1;
    x <<= 1;
    if ((x & 0x100) !== 0) x ^= 0x11d;
  }
  return product;
}

export function slowInv(a: number): number {
  for (let b = 1; b < 256; b++) if (slowMul(a, b) === 1) return b;
  throw new Error(`${a} has no inverse`);
}

/** Coefficient of data shard j in parity shard k + i. */
export function refCoefficient(k: number, i: number, j: number): number {
  const c = (row: number, col: number): number => slowInv((k + row) ^ col);
  // c(i, j) · c(0, 0) / (c(0, j) · c(i, 0))
  return slowMul(slowMul(c(i, j), c(0, 0)), slowInv(slowMul(c(0, j), c(i, 0))));
}

/** Row r of the generator (r < k: unit row; else parity row r - k). */
function generatorRow(k: number, r: number): number[] {
  const row: number[] = [];
  for (let j = 0; j < k; j++) row.push(r < k ? (r === j ? 1 : 0) : refCoefficient(k, r - k, j));
  return row;
}

export function refEncode(data: Uint8Array[], n: number): Uint8Array[] {
  const k = data.length;
  const len = data[0]?.length ?? 0;
  const parity: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const out = new Uint8Array(len);
    const coef = generatorRow(k, k + i);
    for (let b = 0; b < len; b++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum ^= slowMul(coef[j]!, data[j]![b]!);
      out[b] = sum;
    }
    parity.push(out);
  }
  return parity;
}

/**
 * Solves generator · data = received for the k data shards, using every received shard as an
 * equation. Throws when the received shards do not determine the data.
 */
export function refDecode(shards: Array<Uint8Array | undefined>, k: number): Uint8Array[] {
  const eqs: Array<{ coef: number[]; rhs: number[] }> = [];
  shards.forEach((s, r) => {
    if (s !== undefined) eqs.push({ coef: generatorRow(k, r), rhs: [...s] });
  });
  for (let col = 0; col < k; col++) {
    const pivot = eqs.findIndex((e, at) => at >= col && e.coef[col] !== 0);
    if (pivot === -1) throw new Error(`column ${col}: no pivot, data not determined`);
    [eqs[col], eqs[pivot]] = [eqs[pivot]!, eqs[col]!];
    const p = eqs[col]!;
    const scale = slowInv(p.coef[col]!);
    p.coef = p.coef.map((v) => slowMul(v, scale));
    p.rhs = p.rhs.map((v) => slowMul(v, scale));
    for (const e of eqs) {
      if (e === p) continue;
      const f = e.coef[col]!;
      if (f === 0) continue;
      e.coef = e.coef.map((v, c) => v ^ slowMul(f, p.coef[c]!));
      e.rhs = e.rhs.map((v, b) => v ^ slowMul(f, p.rhs[b]!));
    }
  }
  return eqs.slice(0, k).map((e) => Uint8Array.from(e.rhs));
}
