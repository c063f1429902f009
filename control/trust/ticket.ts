/**
 * Session tickets (RFC 5077 / TLS 1.3's resumption, applied to a failover): after a handshake,
 * control hands the node a ticket that only control servers can read, holding what the JOIN
 * established — the node's id, its JOIN facts (key, role, channels, upload, ports, origin stream
 * parameters) and the session's resumption secret. When the node's DCM moves to another server
 * (docs/resilience.md), the node sends the ticket in a RESUME tagged with the resumption key; the
 * new server opens the ticket, checks the tag and resumes the session in one round trip, with
 * no handshake and no state from the dead server.
 *
 *   ticket = 0x01 || iv (12) || AES-256-GCM(key, iv, CBOR {0 node, 1 JOIN body, 2 secret, 3 issuedAt}) || tag (16)
 *
 * The key is HKDF-SHA256 of control's long-term private key (info "tiercast ticket v1"): every
 * server of a deployment holds the same identity (nodes pin its public key), so each can open
 * every ticket, and nothing else has to be shared. Rotating control's identity invalidates all
 * tickets (nodes then do a full JOIN). A ticket older than TICKET_LIFETIME_MS is refused.
 */
import { createCipheriv, createDecipheriv, hkdfSync, type KeyObject, randomBytes } from "node:crypto";
import { decodeCbor, encodeCbor } from "../../protocol/cbor.js";
import { joinCodec } from "../../protocol/control-bodies.js";
import { asMap, bytes, need, u32, uSafe, wireUint } from "../../protocol/fields.js";
import { MAX_TICKET_BYTES } from "../../protocol/limits.js";
import type { JoinBody } from "../../protocol/messages.js";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const INFO = Buffer.from("tiercast ticket v1", "latin1");
/** A ticket is good this long after it was issued (a resumed session gets a fresh one). */
export const TICKET_LIFETIME_MS = 7 * 24 * 3600_000;

export interface TicketContents {
  node: number;
  /** The JOIN's facts; the handshake's fields (epk, cookie, token) are not kept. */
  join: JoinBody;
  /** The session's resumption secret (protocol/handshake.ts). */
  resumption: Uint8Array;
  /** Control's clock when the ticket was made, ms. */
  issuedAt: number;
}

export type TicketOpenResult = { ok: true; value: TicketContents } | { ok: false; reason: string };

/** IVs drawn from the CSPRNG this many at a time (one draw per JOIN cost more than the cipher). */
const IV_POOL = 256;

export class TicketSealer {
  readonly #key: Buffer;
  /** Random bytes not yet used as an IV (each handed out once), and the next unused offset. */
  #ivPool = Buffer.alloc(0);
  #ivAt = 0;

  /** A fresh random IV: the next unused 12 bytes of a pooled CSPRNG draw, never handed out twice. */
  #iv(): Buffer {
    if (this.#ivAt + IV_BYTES > this.#ivPool.length) {
      this.#ivPool = randomBytes(IV_BYTES * IV_POOL);
      this.#ivAt = 0;
    }
    const iv = this.#ivPool.subarray(this.#ivAt, this.#ivAt + IV_BYTES);
    this.#ivAt += IV_BYTES;
    return iv;
  }

  /** `identity`: control's Ed25519 private key; the ticket key is derived from it. */
  constructor(identity: KeyObject) {
    const der = identity.export({ format: "der", type: "pkcs8" });
    this.#key = Buffer.from(hkdfSync("sha256", der, Buffer.alloc(0), INFO, 32));
  }

  seal(t: TicketContents): Buffer {
    const { epk: _e, cookie: _c, token: _t, ...join } = t.join;
    const plain = encodeCbor(
      new Map<number, unknown>([
        [0, u32(t.node, "node")],
        [1, joinCodec.write(join)],
        [2, Buffer.from(t.resumption)],
        [3, wireUint(uSafe(t.issuedAt, "issuedAt"))],
      ]),
    );
    const iv = this.#iv();
    const c = createCipheriv("aes-256-gcm", this.#key, iv);
    c.setAAD(INFO);
    const out = Buffer.concat([Buffer.of(VERSION), iv, c.update(plain), c.final(), c.getAuthTag()]);
    if (out.length > MAX_TICKET_BYTES) throw new RangeError(`ticket of ${out.length} bytes`);
    return out;
  }

  /** Opens a ticket from the wire (untrusted bytes): never throws. */
  open(ticket: Uint8Array, nowMs: number): TicketOpenResult {
    if (ticket.length < 1 + IV_BYTES + TAG_BYTES + 1 || ticket[0] !== VERSION)
      return { ok: false, reason: "ticket_format" };
    const buf = Buffer.from(ticket.buffer, ticket.byteOffset, ticket.byteLength);
    let plain: Buffer;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#key, buf.subarray(1, 1 + IV_BYTES));
      d.setAAD(INFO);
      d.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
      plain = Buffer.concat([d.update(buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES)), d.final()]);
    } catch {
      return { ok: false, reason: "ticket_auth" };
    }
    let value: TicketContents;
    try {
      // Made by a control server (the GCM tag proved it), but read as carefully as any input.
      const m = asMap(decodeCbor(plain), "ticket");
      value = {
        node: u32(need(m, 0, "node"), "node"),
        join: joinCodec.read(asMap(need(m, 1, "join"), "join")),
        resumption: new Uint8Array(bytes(need(m, 2, "resumption"), "resumption", 32)),
        issuedAt: uSafe(need(m, 3, "issuedAt"), "issuedAt"),
      };
    } catch {
      return { ok: false, reason: "ticket_format" };
    }
    if (nowMs - value.issuedAt > TICKET_LIFETIME_MS) return { ok: false, reason: "ticket_expired" };
    return { ok: true, value };
  }
}
