/**
 * Field checks shared by the control encoder and decoder, so that the encoder never
 * writes what the decoder would refuse. A failed check throws FieldError; the codec's
 * entry points turn it into a DecodeError (decoding) or an EncodeError (encoding) and
 * never let it escape. Paths ("body.children[3].port") are built only on failure: a
 * caller that checks list elements catches FieldError and rethrows it `under` its prefix.
 */
import { DecodeError, type DecodeErrorCode, EncodeError } from "./errors.js";

export const U8_MAX = 0xff;
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;

export class FieldError extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
    readonly field: string,
  ) {
    super(message);
  }

  /** The same error one level down: `under("body")` turns field "port" into "body.port". */
  under(prefix: string): FieldError {
    const field =
      this.field === ""
        ? prefix
        : this.field.startsWith("[")
          ? prefix + this.field
          : `${prefix}.${this.field}`;
    return new FieldError(this.code, this.message, field);
  }

  toDecodeError(): DecodeError {
    return new DecodeError(this.code, `${this.field}: ${this.message}`, this.field);
  }

  toEncodeError(): EncodeError {
    return new EncodeError(`${this.field}: ${this.message} (${this.code})`);
  }
}

/** Run fn; a FieldError from inside gets `prefix` prepended to its field. */
export function within<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FieldError) throw e.under(prefix);
    throw e;
  }
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Map) return "a map";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "a non-finite number";
  if (typeof v === "string") return `a string of ${v.length}`;
  return typeof v;
}

export function badField(field: string, message: string): FieldError {
  return new FieldError("E_BAD_FIELD", message, field);
}

/** An integer in [min, max]. */
export function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw badField(field, `expected an integer in ${min}..${max}, got ${describe(v)}`);
  }
  return v;
}

export function u8(v: unknown, field: string): number {
  return int(v, field, 0, U8_MAX);
}

export function u16(v: unknown, field: string): number {
  return int(v, field, 0, U16_MAX);
}

export function u32(v: unknown, field: string): number {
  return int(v, field, 0, U32_MAX);
}

/** A non-negative safe integer (timestamps, byte counts). */
export function uSafe(v: unknown, field: string): number {
  return int(v, field, 0, Number.MAX_SAFE_INTEGER);
}

/** Integers above 32 bits as bigint, so cbor-x writes an 8-byte integer instead of a float64. */
export function wireUint(n: number): number | bigint {
  return n > U32_MAX ? BigInt(n) : n;
}

export function port(v: unknown, field: string): number {
  return int(v, field, 1, U16_MAX);
}

/** A member of a numeric enum, given as the set of its values. */
export function member<T extends number>(v: unknown, field: string, values: ReadonlySet<number>): T {
  if (typeof v !== "number" || !values.has(v)) throw badField(field, `unknown value ${describe(v)}`);
  return v as T;
}

export function enumValues(e: object): ReadonlySet<number> {
  return new Set(Object.values(e).filter((x): x is number => typeof x === "number"));
}

/** A text string of at most maxBytes UTF-8 bytes. */
export function text(v: unknown, field: string, maxBytes: number): string {
  if (typeof v !== "string") throw badField(field, `expected a text string, got ${describe(v)}`);
  // A JS string has at most 3 UTF-8 bytes per UTF-16 unit: skip the count when it cannot exceed.
  if (v.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(v, "utf8");
    if (bytes > maxBytes) throw new FieldError("E_LIMIT", `${bytes} bytes, limit ${maxBytes}`, field);
  }
  return v;
}

/** A byte string of at most maxBytes; decoding gets a copy (not a view into the datagram). */
export function bytes(v: unknown, field: string, maxBytes: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw badField(field, `expected a byte string, got ${describe(v)}`);
  if (v.length > maxBytes) throw new FieldError("E_LIMIT", `${v.length} bytes, limit ${maxBytes}`, field);
  return v;
}

/** An array of at most maxLength elements. */
export function list(v: unknown, field: string, maxLength: number): unknown[] {
  if (!Array.isArray(v)) throw badField(field, `expected an array, got ${describe(v)}`);
  if (v.length > maxLength)
    throw new FieldError("E_LIMIT", `${v.length} elements, limit ${maxLength}`, field);
  return v;
}

/** Map each element through fn, naming a failure by its index ("children[3].port"). */
export function eachOf<T>(items: readonly unknown[], field: string, fn: (item: unknown) => T): T[] {
  const out = new Array<T>(items.length);
  for (let i = 0; i < items.length; i++) {
    try {
      out[i] = fn(items[i]);
    } catch (e) {
      if (e instanceof FieldError) throw e.under(`[${i}]`).under(field);
      throw e;
    }
  }
  return out;
}

/** Read side: a decoded CBOR map with small integer keys. Unknown keys are ignored. */
export type CborMap = Map<unknown, unknown>;

export function asMap(v: unknown, field: string): CborMap {
  if (!(v instanceof Map)) throw badField(field, `expected a map, got ${describe(v)}`);
  return v as CborMap;
}

/** A required key (CBOR undefined counts as missing). */
export function need(m: CborMap, key: number, field: string): unknown {
  const v = m.get(key);
  if (v === undefined) throw badField(field, `missing (key ${key})`);
  return v;
}
