/**
 * The address check before a JOIN costs control anything (QUIC's Retry token, RFC 9000 8.1.2,
 * and WireGuard's cookie reply): a JOIN without a valid cookie gets a COOKIE answer no larger
 * than itself, and nothing is kept. The cookie is
 *
 *   t (u32, control's clock in seconds) || HMAC-SHA256(secret, label || t || address || key)[0..16]
 *
 * so it is good only for the address it was sent to and the identity key that asked, for
 * COOKIE_LIFETIME_S. The secret is made at start and never leaves the process: a restarted
 * control center answers the next JOIN with a new cookie, one round trip.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { addressKey, type Address } from "../../seams/transport.js";

export const COOKIE_BYTES = 20;
/** How long a cookie is accepted, s; also how long control remembers a key's last JOIN time. */
export const COOKIE_LIFETIME_S = 120;
const LABEL = Buffer.from("tiercast cookie v1\0", "latin1");
const MAC_BYTES = COOKIE_BYTES - 4;

export class CookieJar {
  readonly #secret: Buffer;

  constructor(secret: Uint8Array = randomBytes(32)) {
    this.#secret = Buffer.from(secret);
  }

  make(from: Address, key: Uint8Array, nowMs: number): Buffer {
    const t = Math.floor(nowMs / 1000) >>> 0;
    const out = Buffer.allocUnsafe(COOKIE_BYTES);
    out.writeUInt32BE(t, 0);
    this.#mac(t, from, key).copy(out, 4, 0, MAC_BYTES);
    return out;
  }

  /** True when `cookie` was made by this jar for this address and key less than COOKIE_LIFETIME_S ago. */
  check(cookie: Uint8Array | undefined, from: Address, key: Uint8Array, nowMs: number): boolean {
    if (cookie === undefined || cookie.length !== COOKIE_BYTES) return false;
    const t = Buffer.from(cookie.buffer, cookie.byteOffset, cookie.byteLength).readUInt32BE(0);
    const age = Math.floor(nowMs / 1000) - t;
    if (age < 0 || age > COOKIE_LIFETIME_S) return false;
    return timingSafeEqual(this.#mac(t, from, key).subarray(0, MAC_BYTES), cookie.subarray(4));
  }

  #mac(t: number, from: Address, key: Uint8Array): Buffer {
    const tb = Buffer.allocUnsafe(4);
    tb.writeUInt32BE(t, 0);
    return createHmac("sha256", this.#secret)
      .update(LABEL)
      .update(tb)
      .update(addressKey(from))
      .update("\0")
      .update(key)
      .digest();
  }
}
