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
import { REPLAY_WINDOW } from "../../protocol/replay-window.js";
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
  /** Control's counter towards the node (the envelope seq of ASSIGN). */
  sent: number;
  openedAt: number;
  /**
   * The replay window of the node's counters (protocol/replay-window.ts's rule): true when
   * `counter` was never accepted and is not too old; it is then recorded. SessionTable.open
   * calls it once the tag passed.
   */
  accept(counter: number): boolean;
}

/** What a session is made from (the table adds the replay window and control's counter). */
export type NewSession = Omit<NodeSession, "sent" | "accept">;

/**
 * Layout of a stored session's one buffer: the replay window's bitmap (REPLAY_WINDOW bits, as
 * protocol/replay-window.ts keeps it), where each part ends (u16 each, ABSENT for a part the
 * session has not), openedAt (f64), then the parts end to end: nodeToControl, controlToNode,
 * resumption, nodeEpk, own's public key, resumeNonce, the identity key's bytes.
 */
const BITS = REPLAY_WINDOW / 8;
const N2C = BITS;
const C2N = N2C + 2;
const RESUMPTION = C2N + 2;
const EPK = RESUMPTION + 2;
const OWN = EPK + 2;
const NONCE = OWN + 2;
const KEY = NONCE + 2;
const OPENED_AT = BITS + 16;
const PARTS = OPENED_AT + 8;
const ABSENT = 0xffff;
/** Identity keys as every caller writes them (Buffer's toString("hex")): kept as their bytes. */
const CANONICAL_HEX = /^(?:[0-9a-f]{2})*$/;

/**
 * A session as the table keeps it, for a million of them (measured by `npm run bench:memory`,
 * docs/performance.md): an object with its node id, control's counter, the window's highest
 * counter and one buffer that holds the rest — the replay window's bitmap, its secrets and
 * nonces, the node's key, when it opened. The keys are views of that buffer made when asked for
 * (a view kept costs 96 bytes per key per node; made per datagram it costs no measurable time
 * beside the HMAC it keys). It is its own SessionKeys. None of the handshake's key objects are
 * kept.
 */
class StoredSession implements NodeSession, SessionKeys {
  readonly node: number;
  sent = 0;
  /** The highest counter accepted, -1 before the first. */
  #highest = -1;
  readonly #bytes: Buffer;
  /** The identity key when it is not canonical hex (then its bytes are not kept). */
  readonly #keyHex: string | undefined;

  constructor(s: NewSession) {
    this.node = s.node;
    const { nodeToControl, controlToNode, resumption } = s.keys;
    const own = s.own?.publicKey;
    const nonce = s.resumeNonce;
    const canonical = CANONICAL_HEX.test(s.keyHex);
    this.#keyHex = canonical ? undefined : s.keyHex;
    const key = canonical ? Buffer.from(s.keyHex, "hex") : undefined;
    const parts = [nodeToControl, controlToNode, resumption, s.nodeEpk, own, nonce, key];
    let length = PARTS;
    for (const p of parts) length += p?.length ?? 0;
    if (length >= ABSENT) throw new RangeError(`session: ${length} bytes`);
    const bytes = Buffer.allocUnsafeSlow(length);
    bytes.fill(0, 0, BITS);
    bytes.writeDoubleLE(s.openedAt, OPENED_AT);
    let at = PARTS;
    parts.forEach((p, i) => {
      if (p !== undefined) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.writeUInt16LE(p === undefined ? ABSENT : at, N2C + 2 * i);
    });
    this.#bytes = bytes;
  }

  /** The part whose end is recorded at `end`, a view of the buffer; undefined when absent. */
  #part(end: number): Buffer | undefined {
    const to = this.#bytes.readUInt16LE(end);
    if (to === ABSENT) return undefined;
    let from = PARTS;
    for (let e = end - 2; e >= N2C; e -= 2) {
      const x = this.#bytes.readUInt16LE(e);
      if (x !== ABSENT) {
        from = x;
        break;
      }
    }
    return this.#bytes.subarray(from, to);
  }

  get keys(): SessionKeys {
    return this;
  }

  get nodeToControl(): Buffer {
    return this.#bytes.subarray(PARTS, this.#bytes.readUInt16LE(N2C));
  }

  get controlToNode(): Buffer {
    return this.#bytes.subarray(this.#bytes.readUInt16LE(N2C), this.#bytes.readUInt16LE(C2N));
  }

  get resumption(): Buffer {
    return this.#part(RESUMPTION)!;
  }

  get keyHex(): string {
    return this.#keyHex ?? this.#part(KEY)!.toString("hex");
  }

  get nodeEpk(): Uint8Array {
    return this.#part(EPK)!;
  }

  get own(): Pick<Ephemeral, "publicKey"> | undefined {
    const publicKey = this.#part(OWN);
    return publicKey === undefined ? undefined : { publicKey };
  }

  get resumeNonce(): Uint8Array | undefined {
    return this.#part(NONCE);
  }

  get openedAt(): number {
    return this.#bytes.readDoubleLE(OPENED_AT);
  }

  /** ReplayWindow.accept over this session's bitmap. */
  accept(counter: number): boolean {
    if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) return false;
    const highest = this.#highest;
    if (counter > highest) {
      const advance = highest < 0 ? REPLAY_WINDOW : counter - highest;
      if (advance >= REPLAY_WINDOW) this.#bytes.fill(0, 0, BITS);
      else for (let c = highest + 1; c < counter; c++) this.#clear(c);
      this.#highest = counter;
      this.#set(counter);
      return true;
    }
    if (counter <= highest - REPLAY_WINDOW) return false;
    if (this.#has(counter)) return false;
    this.#set(counter);
    return true;
  }

  #has(c: number): boolean {
    const i = c % REPLAY_WINDOW;
    return ((this.#bytes[i >>> 3]! >>> (i & 7)) & 1) === 1;
  }

  #set(c: number): void {
    const i = c % REPLAY_WINDOW;
    this.#bytes[i >>> 3] = this.#bytes[i >>> 3]! | (1 << (i & 7));
  }

  #clear(c: number): void {
    const i = c % REPLAY_WINDOW;
    this.#bytes[i >>> 3] = this.#bytes[i >>> 3]! & ~(1 << (i & 7));
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

  set(s: NewSession): NodeSession {
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
    return s.accept(counter) ? "ok" : "replay";
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
