/**
 * A CBOR unsigned integer (major type 0) as protocol/cbor.ts writes the wire's uints: the
 * shortest head up to 2^32 - 1, then 8 bytes. Shared by the direct writers (envelope-heartbeat.ts
 * for HEARTBEAT_ACK, assign-writer.ts for ASSIGN), whose bytes must equal the general encoder's.
 */

const U32_MAX = 0xffffffff;

/** Bytes `n` takes. */
export function uintSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n <= U32_MAX ? 5 : 9;
}

/** Writes `n` (a safe non-negative integer) at `at`; returns the offset after it. */
export function putUint(out: Buffer, at: number, n: number): number {
  if (n < 24) out[at++] = n;
  else if (n < 0x100) {
    out[at++] = 0x18;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = 0x19;
    out.writeUInt16BE(n, at);
    at += 2;
  } else if (n <= U32_MAX) {
    out[at++] = 0x1a;
    out.writeUInt32BE(n, at);
    at += 4;
  } else {
    out[at++] = 0x1b;
    out.writeUInt32BE(Math.floor(n / 0x100000000), at);
    out.writeUInt32BE(n >>> 0, at + 4);
    at += 8;
  }
  return at;
}
