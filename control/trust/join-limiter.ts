/**
 * JOIN admission rates (pure; time comes in as an argument). Two stages, so that spoofed
 * sources cannot starve real ones:
 *
 * - `unproven`: JOINs without a valid cookie (answered with a COOKIE, no state): one bucket for
 *   all of them, generous, so that a flood cannot turn control into a packet generator;
 * - `proven`: JOINs whose cookie proves the source address: a bucket per source prefix (/24 for
 *   IPv4, /48 for IPv6) and one in total, before any signature is checked or any row written.
 *
 * Prefix buckets are kept in a bounded map (the oldest is forgotten first); a forgotten prefix
 * starts again with a full bucket, which a flood of many prefixes cannot turn into more than
 * the total bucket allows.
 *
 * A proven JOIN over a limit is answered BUSY with a retry-after (control-center.ts), no longer
 * dropped in silence: its source proved its address, so the answer (no larger than the JOIN)
 * reflects nothing. The defaults are therefore sized for a flash crowd, not for silence: the
 * admission queue (control/admission.ts) bounds what control takes on; these buckets bound what
 * one prefix (CGNAT puts thousands of boxes behind one /24) and everything together may put
 * into it, above the 2,000 joins/s issue 13 asks of one control. The unproven stage (the COOKIE
 * answers: the spoofing defence) is unchanged.
 */
import { TokenBucket } from "../../common/token-bucket.js";

export interface JoinLimits {
  /** Proven JOINs per second from one prefix, and the burst. */
  perPrefixPerSec: number;
  perPrefixBurst: number;
  /** Proven JOINs per second in all, and the burst. */
  totalPerSec: number;
  totalBurst: number;
  /** COOKIE answers per second in all, and the burst. */
  unprovenPerSec: number;
  unprovenBurst: number;
}

export const DEFAULT_JOIN_LIMITS: JoinLimits = {
  perPrefixPerSec: 2500,
  perPrefixBurst: 5000,
  totalPerSec: 5000,
  totalBurst: 10000,
  unprovenPerSec: 2000,
  unprovenBurst: 4000,
};

const MAX_PREFIXES = 65_536;

export class JoinLimiter {
  readonly #limits: JoinLimits;
  readonly #prefixes = new Map<string, TokenBucket>();
  readonly #total: TokenBucket;
  readonly #unproven: TokenBucket;

  constructor(limits: JoinLimits, nowMs: number) {
    this.#limits = limits;
    this.#total = new TokenBucket(limits.totalPerSec, limits.totalBurst, nowMs);
    this.#unproven = new TokenBucket(limits.unprovenPerSec, limits.unprovenBurst, nowMs);
  }

  /** A JOIN with no valid cookie: may it get a COOKIE answer? */
  unproven(nowMs: number): boolean {
    return this.#unproven.take(1, nowMs);
  }

  /** A JOIN from a proven address: may control look at it? */
  proven(address: string, nowMs: number): boolean {
    const prefix = prefixOf(address);
    let bucket = this.#prefixes.get(prefix);
    if (bucket === undefined) {
      if (this.#prefixes.size >= MAX_PREFIXES) {
        const oldest = this.#prefixes.keys().next().value;
        if (oldest !== undefined) this.#prefixes.delete(oldest);
      }
      bucket = new TokenBucket(this.#limits.perPrefixPerSec, this.#limits.perPrefixBurst, nowMs);
      this.#prefixes.set(prefix, bucket);
    }
    if (bucket.available(nowMs) < 1) return false;
    if (!this.#total.take(1, nowMs)) return false;
    return bucket.take(1, nowMs);
  }

  /** ms until `proven(address)` would say yes (0: now); nothing is taken. */
  provenWaitMs(address: string, nowMs: number): number {
    const bucket = this.#prefixes.get(prefixOf(address));
    return Math.max(this.#total.waitMs(1, nowMs), bucket?.waitMs(1, nowMs) ?? 0);
  }
}

/** The /24 of an IPv4 address, the /48 of an IPv6 one (as text, for a map key). */
export function prefixOf(address: string): string {
  if (!address.includes(":")) return address.split(".").slice(0, 3).join(".") + ".0/24";
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped !== null) return prefixOf(v4mapped[1]!);
  const [head = "", tail = ""] = address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::")
    ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t]
    : h;
  return groups
    .slice(0, 3)
    .map((g) => parseInt(g || "0", 16).toString(16))
    .join(":")
    .concat("::/48");
}
