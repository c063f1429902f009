/**
 * Scripted control servers of one deployment, for the failover tests (agent and origin): each is
 * an endpoint on the test's network that plays control's side by hand, and all of them hold one
 * control identity, so each can open every session ticket (control/trust/ticket.ts), as real
 * servers do. What a server does with each message is its `behaviour`, which a test changes as it
 * goes:
 *
 *   JOIN       a JOIN_ACK signed over it (no COOKIE round trip), opening a session, with a ticket
 *   HEARTBEAT  with its session's tag: a HEARTBEAT_ACK (with `epoch` when set); from a node it
 *              has no session for: the unsigned REJOIN hint
 *   RESUME     ticket opened, tag checked with the resumption key, then: accept (RESUME_ACK tagged
 *              with the resumed keys, a fresh ticket; a resend with the same nonce gets the same
 *              answer), refuse (RESUME_ACK error REJOIN, tagged), hint (the REJOIN hint), redirect
 *              (REDIRECT to `redirectTo`) or ignore
 *
 * `kill()` makes a server silent (what arrives is dropped unanswered). Every datagram a server got
 * is kept with whether it carried the right tag (`tagged`): HEARTBEAT and LEAVE checked with the
 * session the server held when it arrived, RESUME with the ticket's resumption key.
 */
import { randomBytes } from "node:crypto";
import { checkTag, encodeSigned, encodeTagged } from "../../protocol/auth.js";
import { decodeControl, encodeControl } from "../../protocol/control-codec.js";
import {
  deriveSessionKeys,
  joinAckContext,
  newEphemeral,
  resumedSessionKeys,
  resumeTagKey,
  sha256,
  type SessionKeys,
} from "../../protocol/handshake.js";
import { RESUME_NONCE_BYTES, WIRE_VERSION } from "../../protocol/limits.js";
import {
  type ChannelInfo,
  type ControlMessage,
  JoinError,
  type MessageOf,
  MsgType,
} from "../../protocol/messages.js";
import { TicketSealer } from "../../control/trust/ticket.js";
import type { Clock } from "../../seams/clock.js";
import type { Address, Transport } from "../../seams/transport.js";
import { newIdentity } from "./control-harness.js";

export interface ServerBehaviour {
  answerJoins: boolean;
  ackHeartbeats: boolean;
  /** What a RESUME whose ticket and tag check gets. */
  resume: "accept" | "refuse" | "hint" | "redirect" | "ignore";
  /** Endpoints a REDIRECT names. */
  redirectTo: Address[];
  /** Answer a heartbeat from a node without a session with the REJOIN hint. */
  hintUnknown: boolean;
  /** Fencing epoch put in ASSIGN (via seal), HEARTBEAT_ACK and RESUME_ACK; undefined: none. */
  epoch: number | undefined;
  heartbeatMs: number;
}

export interface Received {
  msg: ControlMessage;
  raw: Buffer;
  at: number;
  from: Address;
  /** The datagram carried the tag it should (see the header); false for untagged types. */
  tagged: boolean;
}

interface ServerSession {
  keys: SessionKeys;
  /** For a resumed session: the node's RESUME nonce and ours (a resend gets the same answer). */
  resume?: { nodeNonce: Buffer; controlNonce: Buffer };
}

export interface ScriptedServersConfig {
  /** The node id every JOIN gets (default 42). */
  node?: number;
  channels: ChannelInfo[];
  region?: string;
}

export class ScriptedServer {
  readonly inbox: Received[] = [];
  readonly sessions = new Map<number, ServerSession>();
  behaviour: ServerBehaviour = {
    answerJoins: true,
    ackHeartbeats: true,
    resume: "accept",
    redirectTo: [],
    hintUnknown: true,
    epoch: undefined,
    heartbeatMs: 500,
  };
  #dead = false;
  #seq = 0;

  constructor(
    readonly group: ScriptedServers,
    readonly transport: Transport,
    readonly clock: Clock,
  ) {
    transport.onDatagram((buf, from) => this.#onDatagram(buf, from));
  }

  get address(): Address {
    return this.transport.local;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Silent from now on: nothing is answered (what arrives is still recorded, as `dropped`). */
  kill(): void {
    this.#dead = true;
  }

  revive(): void {
    this.#dead = false;
  }

  of<T extends MsgType>(type: T): Array<MessageOf<T>> {
    return this.inbox.filter((r) => r.msg.type === type).map((r) => r.msg as MessageOf<T>);
  }

  /** The records of the messages of `type`, in order. */
  got(type: MsgType): Received[] {
    return this.inbox.filter((r) => r.msg.type === type);
  }

  /** A message tagged with `node`'s session here (ASSIGN, HEARTBEAT_ACK); the epoch of an ASSIGN is the caller's. */
  seal(node: number, type: MsgType, body: unknown, seq?: number): Buffer {
    const s = this.sessions.get(node);
    if (s === undefined) throw new Error(`no session for node ${node} at ${this.address.port}`);
    const msg = this.#envelope(type, body);
    return encodeTagged(seq === undefined ? msg : { ...msg, seq }, s.keys.controlToNode);
  }

  /** A message without authentication (the REJOIN hint, REDIRECT, forgeries). */
  plain(type: MsgType, body: unknown): Buffer {
    return encodeControl(this.#envelope(type, body));
  }

  send(buf: Uint8Array, to: Address): void {
    this.transport.send(buf, to);
  }

  /** The REJOIN hint, as control sends it to a heartbeat from a node it has no session for. */
  hint(to: Address): void {
    this.send(
      this.plain(MsgType.JOIN_ACK, {
        error: JoinError.REJOIN,
        node: 0,
        region: "",
        heartbeatMs: 0,
        channels: [],
      }),
      to,
    );
  }

  #onDatagram(buf: Buffer, from: Address): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    const rec: Received = { msg, raw: Buffer.from(buf), at: this.clock.now(), from, tagged: false };
    this.inbox.push(rec);
    switch (msg.type) {
      case MsgType.HEARTBEAT:
      case MsgType.LEAVE: {
        const s = this.sessions.get(msg.sender);
        rec.tagged = s !== undefined && checkTag(buf, s.keys.nodeToControl);
        if (this.#dead) return;
        if (msg.type === MsgType.LEAVE) return;
        if (s === undefined) {
          if (this.behaviour.hintUnknown) this.hint(from);
          return;
        }
        if (rec.tagged && this.behaviour.ackHeartbeats) {
          const epoch = this.behaviour.epoch;
          this.send(this.seal(msg.sender, MsgType.HEARTBEAT_ACK, epoch === undefined ? {} : { epoch }), from);
        }
        return;
      }
      case MsgType.JOIN:
        if (!this.#dead && this.behaviour.answerJoins) this.#answerJoin(buf, msg, from);
        return;
      case MsgType.RESUME:
        this.#onResume(buf, msg, from, rec);
        return;
      default:
    }
  }

  #answerJoin(buf: Buffer, msg: MessageOf<MsgType.JOIN>, from: Address): void {
    const epk = msg.body.epk;
    if (epk === undefined) return;
    const own = newEphemeral();
    const keys = deriveSessionKeys(own.privateKey, epk, {
      nodeKey: msg.body.key,
      nodeEpk: epk,
      controlEpk: own.publicKey,
    });
    if (keys === undefined) return;
    const node = this.group.node;
    this.sessions.set(node, { keys });
    const ticket = this.group.tickets.seal({
      node,
      join: msg.body,
      resumption: keys.resumption,
      issuedAt: this.clock.now(),
    });
    const ack = this.#envelope(MsgType.JOIN_ACK, {
      error: JoinError.NONE,
      node,
      region: this.group.region,
      heartbeatMs: this.behaviour.heartbeatMs,
      channels: this.group.channels,
      epk: own.publicKey,
      ticket,
    });
    this.send(encodeSigned(ack, this.group.identity.privateKey, joinAckContext(sha256(buf))), from);
  }

  #onResume(buf: Buffer, msg: MessageOf<MsgType.RESUME>, from: Address, rec: Received): void {
    const opened = this.group.tickets.open(msg.body.ticket, this.clock.now());
    if (!opened.ok) {
      if (!this.#dead) this.hint(from);
      return;
    }
    const t = opened.value;
    rec.tagged = checkTag(buf, resumeTagKey(t.resumption)) && msg.sender === t.node;
    if (this.#dead || !rec.tagged) return;
    const b = this.behaviour;
    switch (b.resume) {
      case "ignore":
        return;
      case "hint":
        return this.hint(from);
      case "redirect":
        return this.send(
          this.plain(MsgType.REDIRECT, { channel: msg.body.channel, endpoints: b.redirectTo }),
          from,
        );
      default:
    }
    const nodeNonce = Buffer.from(msg.body.nonce);
    const current = this.sessions.get(t.node);
    const resend = current?.resume !== undefined && current.resume.nodeNonce.equals(nodeNonce);
    const controlNonce = resend ? current.resume!.controlNonce : randomBytes(RESUME_NONCE_BYTES);
    const keys = resend ? current.keys : resumedSessionKeys(t.resumption, nodeNonce, controlNonce);
    if (b.resume === "refuse") {
      const refusal = this.#envelope(MsgType.RESUME_ACK, {
        error: JoinError.REJOIN,
        nonce: controlNonce,
        heartbeatMs: b.heartbeatMs,
      });
      this.send(encodeTagged(refusal, keys.controlToNode), from);
      return;
    }
    this.sessions.set(t.node, { keys, resume: { nodeNonce, controlNonce } });
    const ticket = this.group.tickets.seal({
      node: t.node,
      join: t.join,
      resumption: keys.resumption,
      issuedAt: this.clock.now(),
    });
    const ack = this.#envelope(MsgType.RESUME_ACK, {
      error: JoinError.NONE,
      nonce: controlNonce,
      heartbeatMs: b.heartbeatMs,
      ticket,
      ...(b.epoch === undefined ? {} : { epoch: b.epoch }),
    });
    this.send(encodeTagged(ack, keys.controlToNode), from);
  }

  #envelope(type: MsgType, body: unknown): ControlMessage {
    return {
      v: WIRE_VERSION,
      type,
      sender: 0,
      seq: ++this.#seq,
      ts: this.clock.now(),
      body,
    } as ControlMessage;
  }
}

/** The deployment: one identity and ticket key, any number of servers. */
export class ScriptedServers {
  readonly identity = newIdentity();
  readonly tickets = new TicketSealer(this.identity.privateKey);
  readonly servers: ScriptedServer[] = [];
  readonly node: number;
  readonly channels: ChannelInfo[];
  readonly region: string;

  constructor(
    readonly clock: Clock,
    config: ScriptedServersConfig,
  ) {
    this.node = config.node ?? 42;
    this.channels = config.channels;
    this.region = config.region ?? "region-a";
  }

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  /** A server on `transport` (bound by the test on its network). */
  add(transport: Transport): ScriptedServer {
    const s = new ScriptedServer(this, transport, this.clock);
    this.servers.push(s);
    return s;
  }
}
