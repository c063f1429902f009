/**
 * Who may take part (docs/security.md): the enrolment policy decides which identity keys are
 * admitted, and the origin binding which keys may offer a channel. Plain functions over the
 * TrustStore; the handshake (handshake.ts) calls them once a JOIN's signature verified.
 *
 * - `open` (demo, lab): every key is admitted.
 * - `token`: a key never admitted before needs an operator-issued token (stored as its SHA-256,
 *   limited to roles and a number of keys); an admitted key needs none afterwards.
 * - `allowlist`: only the configured keys (and the configured origin keys, as origins).
 *
 * A revoked key is refused under every policy. A channel with configured origin keys can be
 * offered only by them; with none configured, the `open` policy binds the channel to the first
 * key that offers it (kept in the store, so a restart keeps the binding) and the others refuse it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { EnrolmentTokenRow, TrustStore } from "../store.js";

export const ENROLMENT_MODES = ["open", "token", "allowlist"] as const;
export type EnrolmentMode = (typeof ENROLMENT_MODES)[number];

export interface TrustPolicy {
  enrolment: EnrolmentMode;
  /** `allowlist`: the admitted keys, hex. */
  allowKeys: ReadonlySet<string>;
  /** Channel name -> the keys (hex) that may offer it. */
  originKeys: ReadonlyMap<string, ReadonlySet<string>>;
}

export const OPEN_POLICY: TrustPolicy = { enrolment: "open", allowKeys: new Set(), originKeys: new Map() };

export type Admission =
  { ok: true; enrolledBy: "known" | "open" | "token" | "allowlist" } | { ok: false; reason: string };

/** Whether `key` may join as `role` ("agent", "waypoint", "origin"); spends a token use when it enrols a new key. */
export function admitKey(
  store: TrustStore,
  policy: TrustPolicy,
  key: Uint8Array,
  role: string,
  token: string | undefined,
): Admission {
  if (store.isRevoked(key)) return { ok: false, reason: "revoked" };
  const hex = Buffer.from(key).toString("hex");
  switch (policy.enrolment) {
    case "open":
      return { ok: true, enrolledBy: "open" };
    case "allowlist":
      if (policy.allowKeys.has(hex)) return { ok: true, enrolledBy: "allowlist" };
      if (role === "origin" && [...policy.originKeys.values()].some((keys) => keys.has(hex)))
        return { ok: true, enrolledBy: "allowlist" };
      return { ok: false, reason: "not_allowed" };
    case "token":
      if (store.isEnrolled(key)) return { ok: true, enrolledBy: "known" };
      if (role === "origin" && [...policy.originKeys.values()].some((keys) => keys.has(hex)))
        return { ok: true, enrolledBy: "allowlist" };
      if (token === undefined || token === "") return { ok: false, reason: "token_missing" };
      if (!store.spendEnrolmentToken(hashToken(token), role)) return { ok: false, reason: "token_refused" };
      return { ok: true, enrolledBy: "token" };
  }
}

/**
 * Whether the key (hex) may offer `channel`: "configured" (one of its origin keys), "bound"
 * (the open policy's first-use binding), or false. `bind` records a first use.
 */
export function mayOffer(
  store: TrustStore,
  policy: TrustPolicy,
  channel: string,
  keyHex: string,
): "configured" | "bound" | "first" | false {
  const configured = policy.originKeys.get(channel);
  if (configured !== undefined) return configured.has(keyHex) ? "configured" : false;
  if (policy.enrolment !== "open") return false;
  const bound = store.channelOrigin(channel);
  if (bound === undefined) return "first";
  return bound === keyHex ? "bound" : false;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A new enrolment token: the token (shown once) and the row to store (its hash only). */
export function newEnrolmentToken(
  roles: string[],
  uses: number,
  now: number,
  note = "",
): { token: string; row: EnrolmentTokenRow } {
  const token = "tce_" + randomBytes(24).toString("base64url");
  return { token, row: { hash: hashToken(token), roles, uses, createdAt: now, note } };
}
