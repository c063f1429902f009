/**
 * Typed errors of the agent, with stable codes (docs/errors.md). Bad input from the network
 * is counted and dropped, never thrown; these are for disk, configuration and the HTTP fallback.
 */

export type AgentErrorCode =
  /** identity.json exists but cannot be parsed as a key pair. */
  | "E_IDENTITY_CORRUPT"
  /** The cache file was written by a newer schema than this program knows. */
  | "E_CACHE_SCHEMA"
  /** A segment larger than the whole cache cannot be stored. */
  | "E_SEGMENT_TOO_LARGE"
  /** The origin's HTTP fallback answered with a non-2xx status. */
  | "E_FALLBACK_HTTP"
  /** The HTTP fallback did not answer within the timeout. */
  | "E_FALLBACK_TIMEOUT"
  /** The fetched bytes do not match the length and SHA-256 of the signed META (or a verified META's hash). */
  | "E_FALLBACK_HASH"
  /** The answer has no signed META (x-tiercast-meta), or one that does not verify against the channel's origin key. */
  | "E_FALLBACK_META"
  /** The response is larger than the segment limit. */
  | "E_FALLBACK_TOO_LARGE"
  /** The response is not what the fallback protocol promises (bad JSON, missing header, network error). */
  | "E_FALLBACK_BAD_RESPONSE";

export class AgentError extends Error {
  override readonly name: string = "AgentError";
  constructor(
    readonly code: AgentErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class IdentityError extends AgentError {
  override readonly name = "IdentityError";
}

export class CacheError extends AgentError {
  override readonly name = "CacheError";
}

export class FallbackError extends AgentError {
  override readonly name = "FallbackError";
  constructor(
    code: AgentErrorCode,
    message: string,
    /** A 503's Retry-After (delta-seconds), in ms: do not ask that server again before. */
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
  }
}
