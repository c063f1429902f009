/**
 * The session handshake's cryptography (docs/security.md has the whole exchange):
 *
 *   node -> control   JOIN      key (Ed25519), epk (fresh X25519), cookie, ...; signed by the
 *                               node's key over JOIN_CONTEXT || control's public key || bytes
 *   control -> node   JOIN_ACK  epk (fresh X25519), ...; signed by control's key over
 *                               JOIN_ACK_CONTEXT || SHA-256(the JOIN datagram) || bytes
 *
 * Both sides then hold shared = X25519(own ephemeral, peer's ephemeral) and derive
 *   HKDF-SHA256(ikm = shared, salt = SHA-256(node key || node epk || control epk), info = SESSION_INFO)
 * = 96 bytes: the node-to-control tag key, the control-to-node tag key, then the resumption
 * secret (sealed into the session ticket; resumedSessionKeys derives a failover's keys from it). A signed-ephemeral
 * Diffie-Hellman in which each signature covers both identities and both ephemerals (SIGMA's
 * "sign the transcript" as in TLS 1.3 and IKEv2), fresh keys per session (forward secrecy), and
 * before it a stateless address check (QUIC's Retry token; control/trust/cookie.ts).
 * A node resends its JOIN with the same ephemeral until answered, and control answers a JOIN
 * whose epk is the current session's with that session's own ephemeral: every JOIN_ACK of one
 * handshake gives the same keys, whichever of them the node takes.
 * Pure functions over node:crypto; nothing here keeps state or throws on peer input.
 */
import {
  createHash,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { SESSION_KEY_BYTES, x25519Key } from "./auth.js";
import { PUBLIC_KEY_BYTES } from "./limits.js";

export const JOIN_CONTEXT = Buffer.from("tiercast join v1\0", "latin1");
export const JOIN_ACK_CONTEXT = Buffer.from("tiercast join-ack v1\0", "latin1");
const SESSION_INFO = Buffer.from("tiercast session v1", "latin1");
const RESUMED_INFO = Buffer.from("tiercast resumed session v1", "latin1");
const RESUME_TAG_INFO = Buffer.from("tiercast resume tag v1", "latin1");

export interface Ephemeral {
  privateKey: KeyObject;
  /** Raw X25519 public key, 32 bytes (JOIN.epk / JOIN_ACK.epk). */
  publicKey: Uint8Array;
}

export interface SessionKeys {
  /** Tags HEARTBEAT and LEAVE (node to control). */
  nodeToControl: Buffer;
  /** Tags ASSIGN (control to node). */
  controlToNode: Buffer;
  /**
   * The resumption secret (docs/resilience.md): sealed into the session ticket, it lets any
   * control server of the deployment resume this session after a failover in one round trip.
   * Its use is limited to resumeTagKey and resumedSessionKeys.
   */
  resumption: Buffer;
}

/**
 * A fresh X25519 key pair. Its public half comes out of the generation as a JWK (about 34 µs a
 * pair here, against about 140 µs for generating, then exporting DER): the encoding runs inside
 * the generation job, which is not the JWK export that deadlocks on Node 20 (auth.ts
 * rawPublicKey).
 */
export function newEphemeral(): Ephemeral {
  // Node takes any export format here, "jwk" included; @types/node lists only "pem" and "der".
  const generate = generateKeyPairSync as unknown as (
    type: "x25519",
    options: { publicKeyEncoding: { format: "jwk" } },
  ) => { privateKey: KeyObject; publicKey: JsonWebKey };
  const { privateKey, publicKey } = generate("x25519", { publicKeyEncoding: { format: "jwk" } });
  const raw = typeof publicKey.x === "string" ? Buffer.from(publicKey.x, "base64url") : undefined;
  if (raw === undefined || raw.length !== PUBLIC_KEY_BYTES)
    throw new Error("X25519 key generation gave no public key");
  return { privateKey, publicKey: new Uint8Array(raw) };
}

/** What a JOIN's signature covers before its bytes: the context and control's public key. */
export function joinContext(controlKey: Uint8Array): Buffer {
  return Buffer.concat([JOIN_CONTEXT, controlKey]);
}

/** What a JOIN_ACK's signature covers before its bytes: the context and the JOIN's hash. */
export function joinAckContext(joinHash: Uint8Array): Buffer {
  return Buffer.concat([JOIN_ACK_CONTEXT, joinHash]);
}

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/**
 * The session keys from our ephemeral and the peer's raw X25519 public key; undefined when the
 * peer's key is not a usable X25519 key (including one that gives the all-zero shared secret).
 */
export function deriveSessionKeys(
  own: KeyObject,
  peerEpk: Uint8Array,
  transcript: { nodeKey: Uint8Array; nodeEpk: Uint8Array; controlEpk: Uint8Array },
): SessionKeys | undefined {
  const peer = x25519Key(peerEpk);
  if (peer === undefined) return undefined;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own, publicKey: peer });
  } catch {
    return undefined;
  }
  if (shared.every((b) => b === 0)) return undefined;
  const salt = sha256(Buffer.concat([transcript.nodeKey, transcript.nodeEpk, transcript.controlEpk]));
  return split(Buffer.from(hkdfSync("sha256", shared, salt, SESSION_INFO, 3 * SESSION_KEY_BYTES)));
}

/** HKDF output -> the three keys (the first two are the same bytes as a 64-byte expansion gives). */
function split(okm: Buffer): SessionKeys {
  return {
    nodeToControl: okm.subarray(0, SESSION_KEY_BYTES),
    controlToNode: okm.subarray(SESSION_KEY_BYTES, 2 * SESSION_KEY_BYTES),
    resumption: okm.subarray(2 * SESSION_KEY_BYTES),
  };
}

/** The key a RESUME's session tag is made with (from the ticket's resumption secret). */
export function resumeTagKey(resumption: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", resumption, Buffer.alloc(0), RESUME_TAG_INFO, SESSION_KEY_BYTES));
}

/**
 * A resumed session's keys: HKDF over the resumption secret with both nonces (the node's from
 * RESUME, control's from RESUME_ACK) as salt. Fresh keys and fresh counters on both sides, so
 * nothing of the old session's replay state has to move between servers, and a replayed
 * RESUME gives its replayer a session whose keys it cannot know.
 */
export function resumedSessionKeys(
  resumption: Uint8Array,
  nodeNonce: Uint8Array,
  controlNonce: Uint8Array,
): SessionKeys {
  const salt = Buffer.concat([nodeNonce, controlNonce]);
  return split(Buffer.from(hkdfSync("sha256", resumption, salt, RESUMED_INFO, 3 * SESSION_KEY_BYTES)));
}
