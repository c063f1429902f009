/**
 * Golden vector files (test/vectors/*.json): JSON cannot hold bytes, so a Uint8Array is
 * written as {"$bytes": "<hex>"}. Written by scripts/gen-wire-vectors.ts, read by
 * test/protocol-vectors.test.ts.
 */

export interface ValidCase {
  name: string;
  hex: string;
  value: unknown;
  /** An authenticated datagram: what its tag or signature verifies with (protocol/auth.ts). */
  auth?: AuthCheck;
}

/**
 * `tag`: checkTag(bytes, key) with the 32-byte session key; `signature`: checkSignature(bytes,
 * publicKey, context) with a raw Ed25519 public key and the context the signer used (hex).
 */
export type AuthCheck =
  | { scheme: "tag"; key: string; note: string }
  | { scheme: "signature"; publicKey: string; context: string; note: string };

export interface InvalidCase {
  name: string;
  hex: string;
  code: string;
  field?: string;
}

export interface VectorFile {
  kind: string;
  /** What the vectors are decoded with. */
  decoder: "control" | "data" | "segment-meta" | "nack";
  valid: ValidCase[];
  invalid: InvalidCase[];
}

export function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

export function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.$bytes === "string" && Object.keys(o).length === 1)
      return new Uint8Array(Buffer.from(o.$bytes, "hex"));
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}

export const VECTOR_FILES = [
  "join.json",
  "join-ack.json",
  "cookie.json",
  "heartbeat.json",
  "assign.json",
  "leave.json",
  "data.json",
  "segment-meta.json",
  "nack.json",
] as const;
