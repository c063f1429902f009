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
  /** Control's ephemeral of this session (a JOIN's); absent for a resumed one. */
  own?: Ephemeral;
  /** Control's RESUME_ACK nonce of a resumed session. */
  resumeNonce?: Uint8Array;
  keys: SessionKeys;
  readonly window: ReplayWindow;
  /** Control's counter towards the node (the envelope seq of ASSIGN). */
  sent: number;
  openedAt: number;
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
    const session: NodeSession = { ...s, window: new ReplayWindow(), sent: 0 };
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
