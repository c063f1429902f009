/**
 * Which segment METAs an agent believes (pure: no sockets, timers or disk). A META is a segment's
 * length and SHA-256 (protocol/segment-meta.ts); it is signed by the channel's origin, whose key
 * the agent learns from control (ChannelInfo.originKey). Only a META whose signature verifies
 * against that key, for this channel, becomes a VerifiedMeta — the only kind the assembler takes
 * and the only hash the HTTP repairs check bytes against — whatever way it came: a parent, a
 * parity rebuild, a NACK resend, or the origin's fallback (x-tiercast-meta). So a hostile or
 * spoofed sender can at worst cost a repair, never a cached byte: it cannot sign.
 *
 * Each distinct META is verified once: the verified payloads of recent segments are remembered,
 * and the same bytes again (the trailing META copies, the next relay's copy, the fallback's) are a
 * byte compare. A few recent rejected payloads are remembered too, so a forged META sent again
 * costs no second verification either. Without a key (an older control) nothing verifies: the
 * agent caches nothing of the channel (fail closed).
 *
 * `verify: false` is for tests only (the negative controls of the attack suite): every META that
 * decodes is taken, which shows that without the signature a forged META poisons the cache.
 */
import { decodeSegmentMeta, verifySegmentMeta } from "../../protocol/segment-meta.js";
import type { SegmentMeta } from "../../protocol/messages.js";

declare const verifiedBrand: unique symbol;

/** A META whose signature verified (or `verify: false`): made only by MetaVerifier.check. */
export type VerifiedMeta = SegmentMeta & { readonly [verifiedBrand]: true };

export interface MetaVerifierConfig {
  /** ChannelInfo.id: part of what every META's signature covers. */
  channel: number;
  /** ChannelInfo.originKey (raw Ed25519, 32 bytes); undefined: nothing verifies. */
  originKey: Uint8Array | undefined;
  /** Tests only: false takes any META that decodes, signed or not (default true). */
  verify?: boolean;
  /** Segments whose verified META is remembered for the byte compare (default 256). */
  remember?: number;
}

export type MetaRejection =
  /** The payload does not decode (decodeSegmentMeta's error). */
  | "malformed"
  /** The META names another segment than its packet (or the fallback URL) does. */
  | "wrong_segment"
  /** The channel has no origin key (fail closed). */
  | "no_key"
  /** The origin key is not an Ed25519 public key. */
  | "bad_key"
  /** The signature is not the origin's over these bytes for this channel. */
  | "bad_signature";

export type MetaCheck = { ok: true; meta: VerifiedMeta } | { ok: false; reason: MetaRejection };

export interface MetaVerifierStats {
  /** Signatures checked and found valid (one per distinct META). */
  verified: number;
  /** METAs taken with no signature check: the same bytes as one verified before. */
  repeats: number;
  /** METAs refused (never reach the assembler), in all, by reason and by source. */
  rejected: number;
  byReason: Record<MetaRejection, number>;
  /** Source -> METAs refused from it: a parent's node id, "rebuilt", "fallback", ... */
  bySource: Map<string, number>;
}

const DEFAULT_REMEMBER = 256;
/** Rejected payloads remembered (a forged META repeated is refused without a verification). */
const REMEMBER_REJECTED = 16;
/** Distinct sources counted; more are counted as "other" (bounded memory under spoofing). */
const MAX_SOURCES = 64;

export class MetaVerifier {
  readonly stats: MetaVerifierStats = {
    verified: 0,
    repeats: 0,
    rejected: 0,
    byReason: { malformed: 0, wrong_segment: 0, no_key: 0, bad_key: 0, bad_signature: 0 },
    bySource: new Map(),
  };
  #channel: number;
  #originKey: Uint8Array | undefined;
  readonly #verify: boolean;
  readonly #remember: number;
  /** Segment id -> the payload that verified and its META (insertion order = age). */
  readonly #good = new Map<number, { payload: Buffer; meta: VerifiedMeta }>();
  readonly #bad: Buffer[] = [];

  constructor(config: MetaVerifierConfig) {
    this.#channel = config.channel;
    this.#originKey = config.originKey;
    this.#verify = config.verify ?? true;
    this.#remember = Math.max(1, config.remember ?? DEFAULT_REMEMBER);
  }

  /** Whether a META can verify at all (a key, or verification off). */
  get canVerify(): boolean {
    return !this.#verify || this.#originKey !== undefined;
  }

  /** A new JOIN_ACK: the channel id or origin key may have changed; what was remembered goes. */
  rekey(channel: number, originKey: Uint8Array | undefined): void {
    if (channel === this.#channel && sameKey(originKey, this.#originKey)) return;
    this.#channel = channel;
    this.#originKey = originKey;
    this.#good.clear();
    this.#bad.length = 0;
  }

  /**
   * A FLAG_META payload from `source`; `segmentId` is what its packet header (or the URL it was
   * fetched from) names. Never throws.
   */
  check(payload: Uint8Array, source: string, segmentId?: number): MetaCheck {
    const d = decodeSegmentMeta(payload);
    if (!d.ok) return this.#reject("malformed", source);
    const meta = d.value;
    if (segmentId !== undefined && meta.segmentId !== segmentId) return this.#reject("wrong_segment", source);
    const known = this.#good.get(meta.segmentId);
    if (known !== undefined && known.payload.equals(payload)) {
      this.stats.repeats++;
      return { ok: true, meta: known.meta };
    }
    if (this.#verify) {
      if (this.#bad.some((b) => b.equals(payload))) return this.#reject("bad_signature", source);
      const key = this.#originKey;
      if (key === undefined) return this.#reject("no_key", source);
      const verdict = verifySegmentMeta(this.#channel, payload, key);
      if (verdict !== "valid") {
        if (verdict === "bad_signature") {
          this.#bad.push(Buffer.from(payload));
          if (this.#bad.length > REMEMBER_REJECTED) this.#bad.shift();
        }
        return this.#reject(verdict === "bad_key" ? "bad_key" : "bad_signature", source);
      }
    }
    this.stats.verified++;
    const verified = meta as VerifiedMeta;
    this.#good.delete(meta.segmentId);
    this.#good.set(meta.segmentId, { payload: Buffer.from(payload), meta: verified });
    if (this.#good.size > this.#remember) this.#good.delete(this.#good.keys().next().value as number);
    return { ok: true, meta: verified };
  }

  #reject(reason: MetaRejection, source: string): MetaCheck {
    const s = this.stats;
    s.rejected++;
    s.byReason[reason]++;
    const label = s.bySource.has(source) || s.bySource.size < MAX_SOURCES ? source : "other";
    s.bySource.set(label, (s.bySource.get(label) ?? 0) + 1);
    return { ok: false, reason };
  }
}

function sameKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
