/**
 * Helpers the control body codecs share (control-bodies.ts, assign-codec.ts): the codec shape,
 * and the encoder/decoder checks for objects and compact arrays.
 */
import { type CborMap, describe, FieldError, badField, list } from "./fields.js";

/** A compact array may carry up to this many elements; v1 reads the first 3 or 4. */
export const MAX_COMPACT_ELEMENTS = 8;

export interface BodyCodec<B> {
  write(body: B): Map<number, unknown>;
  read(m: CborMap): B;
}

/** Encoder side: an object where one is expected (the caller's types say so, but be sure). */
export function record<T>(v: unknown, what: string): T {
  if (v === null || typeof v !== "object") throw badField("", `expected a ${what}, got ${describe(v)}`);
  return v as T;
}

/** A compact array with at least `min` elements (later versions may append more). */
export function compact(v: unknown, min: number): unknown[] {
  const a = list(v, "", MAX_COMPACT_ELEMENTS);
  if (a.length < min) throw new FieldError("E_BAD_FIELD", `expected ${min} elements, got ${a.length}`, "");
  return a;
}
