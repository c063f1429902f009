/**
 * A scripted node over real UDP that speaks the real handshake (common/control-link.ts): it
 * JOINs (answering control's COOKIE by itself), tags what it sends, and keeps in `inbox` only
 * what authenticates. For tests that drive `tiercast control` without a whole agent.
 */
import { ControlLink } from "../../common/control-link.js";
import { decodeControl } from "../../protocol/control-codec.js";
import { WIRE_VERSION } from "../../protocol/limits.js";
import { type ControlMessage, JoinError, type JoinBody, MsgType } from "../../protocol/messages.js";
import type { Address } from "../../seams/transport.js";
import { UdpTransport } from "../../seams/udp-transport.js";
import { newIdentity, type NodeIdentity } from "./control-harness.js";

export class UdpNode {
  readonly inbox: ControlMessage[] = [];
  /** Every datagram it sent and every authentic one it received, raw (an on-path observer's capture). */
  readonly sent: Array<{ type: MsgType; bytes: Buffer }> = [];
  readonly got: Array<{ type: MsgType; bytes: Buffer }> = [];
  readonly link: ControlLink;
  id = 0;
  #joinBody: JoinBody | undefined;

  private constructor(
    readonly udp: UdpTransport,
    readonly control: Address,
    readonly identity: NodeIdentity,
    controlKey: Uint8Array,
  ) {
    this.link = new ControlLink({ identity, controlKey });
    udp.onDatagram((buf) => this.#onDatagram(buf));
  }

  static async bind(control: Address, controlKey: Uint8Array, identity = newIdentity()): Promise<UdpNode> {
    const udp = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
    return new UdpNode(udp, control, identity, controlKey);
  }

  get key(): Uint8Array {
    return this.identity.publicKey;
  }

  /** Sends a signed JOIN (key filled in); a COOKIE answer brings the JOIN again with the cookie. */
  join(body: Omit<JoinBody, "key">): void {
    this.link.restart();
    this.#sendJoin({ key: this.key, ...body });
  }

  /** A HEARTBEAT or LEAVE, with the session's counter and tag. */
  send(msg: Pick<ControlMessage, "type" | "body">): void {
    const full = { v: WIRE_VERSION, sender: this.id, seq: 0, ts: Date.now(), ...msg } as ControlMessage;
    const bytes = this.link.seal(full);
    this.sent.push({ type: msg.type, bytes });
    this.udp.send(bytes, this.control);
  }

  close(): Promise<void> {
    return this.udp.close();
  }

  #sendJoin(body: JoinBody): void {
    this.#joinBody = body;
    const bytes = this.link.join(body, Date.now());
    this.sent.push({ type: MsgType.JOIN, bytes });
    this.udp.send(bytes, this.control);
  }

  #onDatagram(buf: Buffer): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    if (msg.type === MsgType.COOKIE) {
      if (this.#joinBody !== undefined && this.link.onCookie(msg.body)) this.#sendJoin(this.#joinBody);
      return;
    }
    if (msg.type === MsgType.JOIN_ACK) {
      if (this.link.onJoinAck(buf, msg.body, msg.auth !== undefined) === "forged") return;
      if (msg.body.error === JoinError.NONE) this.id = msg.body.node;
    }
    if (msg.type === MsgType.ASSIGN && !this.link.open(buf, msg.seq)) return;
    this.inbox.push(msg);
    this.got.push({ type: msg.type, bytes: buf });
  }
}
