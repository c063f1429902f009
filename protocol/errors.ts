/**
 * Typed decode errors with stable codes (documented in docs/errors.md). Decoders return
 * them inside a DecodeResult; they never throw on bad input.
 */

export type DecodeErrorCode =
  | "E_EMPTY"
  | "E_TOO_LARGE"
  | "E_TRUNCATED"
  | "E_BAD_VERSION"
  | "E_BAD_TYPE"
  | "E_BAD_CBOR"
  | "E_BAD_FIELD"
  | "E_LIMIT"
  | "E_BAD_FLAGS"
  | "E_BAD_LENGTH";

export class DecodeError extends Error {
  override readonly name = "DecodeError";
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
    /** The field at fault, when one is. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

export function ok<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function fail<T>(code: DecodeErrorCode, message: string, field?: string): DecodeResult<T> {
  return { ok: false, error: new DecodeError(code, message, field) };
}

/** Thrown by an encoder given a message that breaks a limit: a bug in the caller, not bad input. */
export class EncodeError extends Error {
  override readonly name = "EncodeError";
  readonly code = "E_ENCODE_LIMIT";
}
