/**
 * CBOR for control messages: cbor-x configured for plain RFC 8949 CBOR, behind a small
 * well-formedness scanner that sees untrusted bytes before cbor-x does. Encoding: a direct
 * writer for trees of the common kinds (encodeCbor), in exactly cbor-x's bytes; cbor-x for the rest.
 *
 * The subset wire v1 writes and accepts (the scanner enforces it):
 *   major 0/1  unsigned/negative integers (any argument width)
 *   major 2/3  byte/text strings of definite length; text must be valid UTF-8
 *   major 4/5  arrays/maps of definite length, nested at most MAX_CBOR_DEPTH deep;
 *              a map must not repeat an integer key 0..31 (the keys wire v1 uses)
 *   major 7    false, true, null, undefined, float16/32/64
 * Rejected: tags (major 6: no dates, bignums, records, shared refs, typed arrays),
 * indefinite lengths, other simple values, break codes, reserved argument widths,
 * lengths beyond the datagram, and bytes after the first item.
 *
 * So cbor-x only ever decodes a well-formed, tag-free item whose every length fits in
 * the (already size-checked) datagram: it cannot allocate more than the datagram holds.
 */
import { isUtf8 } from "node:buffer";
import { Decoder, Encoder, type Options } from "cbor-x";

/** Nesting limit: v1 needs 5 levels (envelope, body, list, compact array, element); the rest is room for later versions. */
export const MAX_CBOR_DEPTH = 16;

// int64AsNumber: an 8-byte integer decodes as a number (callers check Number.isSafeInteger), never a BigInt.
// useTag259ForMaps: false keeps Maps as plain CBOR maps (cbor-x tags them when mapsAsObjects is true).
const options = {
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  int64AsNumber: true,
  bundleStrings: false,
  structuredClone: false,
  pack: false,
} as Options;

const encoder = new Encoder(options);
const decoder = new Decoder(options);

/**
 * Encode plain data: Map (integer keys), Array, number (integer), bigint (use for integers
 * above 2^32 - 1 so they go out as 8-byte integers, not floats), string, Uint8Array, null.
 *
 * A tree of Maps, Arrays, integers within ±2^32, bigints within 0..2^64 - 1, byte strings, null
 * and booleans (most control messages; an ASSIGN or HEARTBEAT_ACK only when its own writer,
 * assign-writer.ts or envelope-heartbeat.ts, declines it) is written directly, in
 * the bytes cbor-x gives it (shortest argument widths, definite lengths: test/protocol-cbor-writer
 * checks they are the same); anything else (a text string, a float, undefined, another object)
 * goes to cbor-x whole.
 */
export function encodeCbor(value: unknown): Buffer {
  pos = 0;
  try {
    item(value);
  } catch (e) {
    if (e === UNSUPPORTED) return encoder.encode(value);
    throw e;
  }
  const buf = Buffer.allocUnsafe(pos);
  out.copy(buf, 0, 0, pos);
  return buf;
}

/** cbor-x's encoding of `value`: what encodeCbor gives, by the reference encoder (tests compare them). */
export function encodeCborReference(value: unknown): Buffer {
  return encoder.encode(value);
}

/** The direct writer's scratch buffer (grown as needed; the result is copied out of it). */
let out = Buffer.allocUnsafe(2048);
let pos = 0;
/** Thrown by the direct writer for a value it leaves to cbor-x. */
const UNSUPPORTED = Symbol("unsupported");
const U64_LIMIT = 2n ** 64n;

function room(n: number): void {
  if (pos + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, pos + n));
  out.copy(bigger, 0, 0, pos);
  out = bigger;
}

/** An item's head: major type and its argument (0 <= n <= 2^32 - 1) in the shortest form. */
function head(major: number, n: number): void {
  room(5);
  const m = major << 5;
  if (n < 24) out[pos++] = m | n;
  else if (n < 0x100) {
    out[pos++] = m | 24;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = m | 25;
    out.writeUInt16BE(n, pos);
    pos += 2;
  } else {
    out[pos++] = m | 26;
    out.writeUInt32BE(n, pos);
    pos += 4;
  }
}

function item(v: unknown): void {
  switch (typeof v) {
    case "number":
      if (!Number.isInteger(v) || Object.is(v, -0)) throw UNSUPPORTED;
      if (v >= 0 && v <= 0xffffffff) return head(0, v);
      if (v < 0 && v >= -0x100000000) return head(1, -1 - v);
      throw UNSUPPORTED;
    case "bigint":
      if (v < 0n || v >= U64_LIMIT) throw UNSUPPORTED;
      room(9);
      out[pos++] = 0x1b;
      out.writeBigUInt64BE(v, pos);
      pos += 8;
      return;
    case "boolean":
      room(1);
      out[pos++] = v ? 0xf5 : 0xf4;
      return;
    case "object":
      if (v === null) {
        room(1);
        out[pos++] = 0xf6;
        return;
      }
      if (v instanceof Uint8Array) {
        head(2, v.length);
        room(v.length);
        out.set(v, pos);
        pos += v.length;
        return;
      }
      if (Array.isArray(v)) {
        head(4, v.length);
        for (const x of v as unknown[]) item(x);
        return;
      }
      if (v instanceof Map) {
        head(5, v.size);
        for (const [k, x] of v as Map<unknown, unknown>) {
          item(k);
          item(x);
        }
        return;
      }
      throw UNSUPPORTED;
    default:
      throw UNSUPPORTED;
  }
}

/** Decode bytes that passed scanCbor. Throws on anything cbor-x dislikes; callers catch. */
export function decodeCbor(buf: Uint8Array): unknown {
  return decoder.decode(buf) as unknown;
}

export interface CborScanError {
  code: "E_TRUNCATED" | "E_BAD_CBOR";
  message: string;
}

class ScanFail {
  constructor(
    readonly code: CborScanError["code"],
    readonly message: string,
  ) {}
}

/** Check that buf holds exactly one item of the v1 subset; undefined when it does. */
export function scanCbor(buf: Uint8Array): CborScanError | undefined {
  const scanner = new Scanner(buf);
  try {
    scanner.item(0);
    if (scanner.pos !== buf.length) {
      return { code: "E_BAD_CBOR", message: `${buf.length - scanner.pos} bytes after the CBOR item` };
    }
    return undefined;
  } catch (e) {
    if (e instanceof ScanFail) return { code: e.code, message: e.message };
    return { code: "E_BAD_CBOR", message: "unreadable CBOR" };
  }
}

class Scanner {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  private need(n: number): void {
    if (n > this.buf.length - this.pos) {
      throw new ScanFail(
        "E_TRUNCATED",
        `CBOR item at byte ${this.pos} needs ${n} bytes, datagram has ${this.buf.length - this.pos}`,
      );
    }
  }

  private byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  /** Read the argument of an initial byte with additional info `ai` (< 28). */
  private argument(ai: number): number {
    if (ai < 24) return ai;
    const b = this.buf;
    if (ai === 24) return this.byte();
    if (ai === 25) {
      this.need(2);
      return ((b[this.pos++] as number) << 8) | (b[this.pos++] as number);
    }
    if (ai === 26) {
      this.need(4);
      const v = readU32(b, this.pos);
      this.pos += 4;
      return v;
    }
    // ai === 27: 8 bytes; anything that does not fit in 2^53 is "huge" for our purposes.
    this.need(8);
    const hi = readU32(b, this.pos);
    const lo = readU32(b, this.pos + 4);
    this.pos += 8;
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
  }

  item(depth: number): void {
    const start = this.pos;
    const ib = this.byte();
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ai === 31) throw new ScanFail("E_BAD_CBOR", `indefinite length or break at byte ${start}`);
    if (ai >= 28) throw new ScanFail("E_BAD_CBOR", `reserved additional info ${ai} at byte ${start}`);
    if (major === 7) {
      if (ai >= 20 && ai <= 23) return; // false, true, null, undefined
      if (ai >= 25) {
        this.need(1 << (ai - 24)); // float16/32/64
        this.pos += 1 << (ai - 24);
        return;
      }
      throw new ScanFail("E_BAD_CBOR", `unsupported simple value at byte ${start}`);
    }
    if (major === 6)
      throw new ScanFail("E_BAD_CBOR", `CBOR tag at byte ${start} (tags are not used in wire v1)`);
    const arg = this.argument(ai);
    switch (major) {
      case 0:
      case 1:
        return;
      case 2:
        this.need(arg);
        this.pos += arg;
        return;
      case 3:
        this.need(arg);
        if (!isUtf8(this.buf.subarray(this.pos, this.pos + arg))) {
          throw new ScanFail("E_BAD_CBOR", `text string at byte ${start} is not valid UTF-8`);
        }
        this.pos += arg;
        return;
      case 4:
        this.nest(depth, start);
        this.need(arg); // every element takes at least one byte
        for (let i = 0; i < arg; i++) this.item(depth + 1);
        return;
      default: {
        // major 5: map
        this.nest(depth, start);
        if (arg > (this.buf.length - this.pos) / 2) this.need(arg * 2); // every entry takes at least two bytes
        let seen = 0;
        for (let i = 0; i < arg; i++) {
          const keyByte = this.buf[this.pos] as number;
          const keyStart = this.pos;
          this.item(depth + 1);
          if (keyByte >> 5 === 0) {
            const key = this.keyValue(keyStart);
            if (key < 32) {
              const bit = 1 << key;
              if (seen & bit)
                throw new ScanFail("E_BAD_CBOR", `duplicate map key ${key} at byte ${keyStart}`);
              seen |= bit;
            }
          }
          this.item(depth + 1);
        }
        return;
      }
    }
  }

  private nest(depth: number, start: number): void {
    if (depth >= MAX_CBOR_DEPTH) {
      throw new ScanFail("E_BAD_CBOR", `nesting deeper than ${MAX_CBOR_DEPTH} at byte ${start}`);
    }
  }

  /** Value of the unsigned integer key that starts at `at` (already scanned). */
  private keyValue(at: number): number {
    const saved = this.pos;
    this.pos = at + 1;
    const v = this.argument((this.buf[at] as number) & 0x1f);
    this.pos = saved;
    return v;
  }
}

function readU32(b: Uint8Array, at: number): number {
  return (
    (b[at] as number) * 0x1000000 +
    (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
  );
}
