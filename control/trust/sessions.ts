/**
 * Control's side of the node sessions: per node id, the keys the handshake derived, the replay
 * window of the node's counters and control's own counter towards it. A session is replaced by
 * the node's next handshake and dropped when the node leaves, is lost or its key is revoked.
 * Also the last JOIN time per key (WireGuard's timestamp rule): a JOIN not newer than the last
 * one accepted from the same key is a replay. Kept for COOKIE_LIFETIME_S only, because a replayed
 * JOIN older than that carries an expired cookie and fails the address check anyway.
 */
import { checkTag, encodeTagged } from "../../protocol/auth.js";
import type { SessionKeys, Ephemeral } from "../../protocol/handshake.js";
import type { ControlMessage } from "../../protocol/messages.js";
import { ReplayWindow } from "../../protocol/replay-window.js";
import { COOKIE_LIFETIME_S } from "./cookie.js";

export interface NodeSession {
  node: number;
  /** The node's identity key, hex. */
  keyHex: string;
  /**
   * The node's ephemeral of this session (a resent JOIN with it gets the same session); for a
   * resumed session, the node's RESUME nonce (a resent RESUME with it gets the same answer).
   */
  nodeEpk: Uint8Array;
  /**
   * Control's ephemeral public key of this session (a JOIN's: a resent JOIN gets it again in its
   * JOIN_ACK); absent for a resumed one. Its private half is not kept: the keys are derived.
   */
  own?: Pick<Ephemeral, "publicKey">;
  /** Control's RESUME_ACK nonce of a resumed session. */
  resumeNonce?: Uint8Array;
  keys: SessionKeys;
  readonly window: ReplayWindow;
  /** Control's counter towards the node (the envelope seq of ASSIGN). */
  sent: number;
  openedAt: number;
}

/** The session keys as views of the session's buffer: the tag keys kept, the resumption secret on demand. */
class KeyViews implements SessionKeys {
  readonly nodeToControl: Buffer;
  readonly controlToNode: Buffer;
  readonly #bytes: Buffer;
  readonly #from: number;
  readonly #to: number;

  constructor(bytes: Buffer, k1: number, k2: number, end: number) {
    this.nodeToControl = bytes.subarray(0, k1);
    this.controlToNode = bytes.subarray(k1, k2);
    this.#bytes = bytes;
    this.#from = k2;
    this.#to = end;
  }

  get resumption(): Buffer {
    return this.#bytes.subarray(this.#from, this.#to);
  }
}

/**
 * A session as the table keeps it, for a million of them: its secrets and nonces in one buffer
 * (the two tag keys as views of it, the hot path's; the rest read out on the rare paths that want
 * them: a resent JOIN or RESUME, a ticket), and none of the handshake's key objects. Measured by
 * `npm run bench:memory`.
 */
class StoredSession implements NodeSession {
  readonly node: number;
  readonly keyHex: string;
  readonly keys: SessionKeys;
  readonly window = new ReplayWindow();
  sent = 0;
  readonly openedAt: number;
  /** nodeToControl, controlToNode, resumption, nodeEpk, own's public key, resumeNonce, end to end. */
  readonly #bytes: Buffer;
  /** Where each part ends in #bytes, from nodeEpk on (own and resumeNonce: -1 when absent). */
  readonly #keysEnd: number;
  readonly #epkEnd: number;
  readonly #ownEnd: number;
  readonly #nonceEnd: number;

  constructor(s: Omit<NodeSession, "window" | "sent">) {
    this.node = s.node;
    this.keyHex = s.keyHex;
    this.openedAt = s.openedAt;
    const { nodeToControl, controlToNode, resumption } = s.keys;
    const own = s.own?.publicKey;
    const nonce = s.resumeNonce;
    const k1 = nodeToControl.length;
    const k2 = k1 + controlToNode.length;
    this.#keysEnd = k2 + resumption.length;
    this.#epkEnd = this.#keysEnd + s.nodeEpk.length;
    this.#ownEnd = own === undefined ? -1 : this.#epkEnd + own.length;
    const ownEnd = own === undefined ? this.#epkEnd : this.#ownEnd;
    this.#nonceEnd = nonce === undefined ? -1 : ownEnd + nonce.length;
    const bytes = Buffer.allocUnsafeSlow(nonce === undefined ? ownEnd : this.#nonceEnd);
    bytes.set(nodeToControl, 0);
    bytes.set(controlToNode, k1);
    bytes.set(resumption, k2);
    bytes.set(s.nodeEpk, this.#keysEnd);
    if (own !== undefined) bytes.set(own, this.#epkEnd);
    if (nonce !== undefined) bytes.set(nonce, ownEnd);
    this.#bytes = bytes;
    this.keys = new KeyViews(bytes, k1, k2, this.#keysEnd);
  }

  get nodeEpk(): Uint8Array {
    return this.#bytes.subarray(this.#keysEnd, this.#epkEnd);
  }

  get own(): Pick<Ephemeral, "publicKey"> | undefined {
    return this.#ownEnd < 0 ? undefined : { publicKey: this.#bytes.subarray(this.#epkEnd, this.#ownEnd) };
  }

  get resumeNonce(): Uint8Array | undefined {
    if (this.#nonceEnd < 0) return undefined;
    return this.#bytes.subarray(this.#ownEnd < 0 ? this.#epkEnd : this.#ownEnd, this.#nonceEnd);
  }
}

export type OpenResult = "ok" | "tag" | "replay";

export class SessionTable {
  readonly #sessions = new Map<number, NodeSession>();
  readonly #lastJoin = new Map<string, { ts: number; at: number }>();

  get size(): number {
    return this.#sessions.size;
  }

  get(node: number): NodeSession | undefined {
    return this.#sessions.get(node);
  }

  set(s: Omit<NodeSession, "window" | "sent">): NodeSession {
    const session = new StoredSession(s);
    this.#sessions.set(s.node, session);
    return session;
  }

  drop(node: number): void {
    this.#sessions.delete(node);
  }

  /** Checks a node's datagram: its tag with the session's key, then its counter (recorded only when both pass). */
  open(s: NodeSession, buf: Uint8Array, counter: number): OpenResult {
    if (!checkTag(buf, s.keys.nodeToControl)) return "tag";
    return s.window.accept(counter) ? "ok" : "replay";
  }

  /** Encodes a message to the node with the next counter and the session's tag. */
  seal(s: NodeSession, msg: ControlMessage): Buffer {
    s.sent = (s.sent + 1) >>> 0;
    return encodeTagged({ ...msg, seq: s.sent }, s.keys.controlToNode);
  }

  /** Whether a JOIN at `ts` from the key is newer than the last accepted (and records it when it is). */
  freshJoin(keyHex: string, ts: number, nowMs: number): boolean {
    const last = this.#lastJoin.get(keyHex);
    if (last !== undefined && nowMs - last.at <= COOKIE_LIFETIME_S * 1000 && ts <= last.ts) return false;
    this.#lastJoin.delete(keyHex); // re-inserted last: the map stays in order of acceptance
    this.#lastJoin.set(keyHex, { ts, at: nowMs });
    for (const [k, v] of this.#lastJoin) {
      if (nowMs - v.at <= COOKIE_LIFETIME_S * 1000) break;
      this.#lastJoin.delete(k);
    }
    return true;
  }
}
