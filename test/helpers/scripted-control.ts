/**
 * Control's side of the handshake done by hand, for tests that script control's answers
 * message by message (agent and origin session tests): it answers the last JOIN it was shown
 * with a JOIN_ACK signed over that JOIN, derives the session keys as control does, and tags
 * what the test sends next. It skips the COOKIE round trip (a node does not need one to accept
 * a JOIN_ACK) and checks nothing of what the node sends except where a test asks it to.
 */
import { checkTag, encodeSigned, encodeTagged } from "../../protocol/auth.js";
import { decodeControl, encodeControl } from "../../protocol/control-codec.js";
import {
  deriveSessionKeys,
  joinAckContext,
  newEphemeral,
  sha256,
  type SessionKeys,
} from "../../protocol/handshake.js";
import { WIRE_VERSION } from "../../protocol/limits.js";
import { type ControlMessage, type JoinAckBody, JoinError, MsgType } from "../../protocol/messages.js";
import { newIdentity } from "./control-harness.js";

export class ScriptedControl {
  readonly identity = newIdentity();
  keys: SessionKeys | undefined;
  #join: { hash: Buffer; key: Uint8Array; epk: Uint8Array | undefined } | undefined;
  #seq = 0;

  /** Whether a JOIN was seen (an ack can be made). */
  get hasJoin(): boolean {
    return this.#join !== undefined;
  }

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  /** Shows control a datagram the node sent; a JOIN becomes the one the next ack answers. */
  saw(buf: Uint8Array): ControlMessage | undefined {
    const r = decodeControl(buf);
    if (!r.ok) return undefined;
    if (r.value.type === MsgType.JOIN) {
      this.#join = { hash: sha256(buf), key: r.value.body.key, epk: r.value.body.epk };
    }
    return r.value;
  }

  /** A JOIN_ACK signed over the last JOIN; with error NONE it opens a session (new keys). */
  ack(body: JoinAckBody): Buffer {
    const join = this.#join;
    if (join === undefined) throw new Error("no JOIN seen yet");
    let ack = body;
    if (body.error === JoinError.NONE && join.epk !== undefined) {
      const own = newEphemeral();
      this.keys = deriveSessionKeys(own.privateKey, join.epk, {
        nodeKey: join.key,
        nodeEpk: join.epk,
        controlEpk: own.publicKey,
      });
      ack = { ...body, epk: own.publicKey };
    }
    return encodeSigned(
      this.#envelope(MsgType.JOIN_ACK, ack),
      this.identity.privateKey,
      joinAckContext(join.hash),
    );
  }

  /** A message with the session's tag (ASSIGN); `seq` overrides the counter (replays). */
  seal(type: MsgType, body: unknown, seq?: number): Buffer {
    if (this.keys === undefined) throw new Error("no session");
    const msg = this.#envelope(type, body);
    return encodeTagged(seq === undefined ? msg : { ...msg, seq }, this.keys.controlToNode);
  }

  /** A message without authentication (the REJOIN hint; forgeries). */
  plain(type: MsgType, body: unknown): Buffer {
    return encodeControl(this.#envelope(type, body));
  }

  /** Whether a node's datagram carries the session's tag. */
  tagged(buf: Uint8Array): boolean {
    return this.keys !== undefined && checkTag(buf, this.keys.nodeToControl);
  }

  #envelope(type: MsgType, body: unknown): ControlMessage {
    return { v: WIRE_VERSION, type, sender: 0, seq: ++this.#seq, ts: Date.now(), body } as ControlMessage;
  }
}
