/**
 * The control center on a ManualClock and a MemoryNetwork: nodes are scripted endpoints
 * that speak the real codec. Shared by the control-center-*.test.ts files.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { ControlLink } from "../../common/control-link.js";
import { rawPublicKey } from "../../protocol/auth.js";
import { ControlCenter, type ControlConfig } from "../../control/control-center.js";
import { parseRegionPolicy } from "../../control/regions.js";
import { SqliteNodeStore, type NodeStore } from "../../control/store.js";
import { decodeControl } from "../../protocol/control-codec.js";
import { WIRE_VERSION } from "../../protocol/limits.js";
import {
  type AssignBody,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  type MessageOf,
  MsgType,
  NatType,
  Role,
} from "../../protocol/messages.js";
import { MemoryLogger } from "../../seams/log.js";
import { ManualClock } from "../../seams/manual-clock.js";
import { MemoryNetwork, type MemoryTransport } from "../../seams/memory-transport.js";

export const STREAM_KBPS = 1000;
export const HB = 1000;
export const CONTROL = { address: "127.0.0.1", port: 7700 };

export const policy = parseRegionPolicy({
  default: "default",
  regions: [
    { name: "east", prefixes: ["127.0.1.0/24"] },
    { name: "west", prefixes: ["127.0.2.0/24"] },
  ],
});

export interface NodeIdentity {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

/** A fresh Ed25519 identity, as a node makes at first start. */
export function newIdentity(): NodeIdentity {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

/** The scripted origin's identity (Harness.origin). */
export const ORIGIN_IDENTITY = newIdentity();

/**
 * A scripted node: it speaks the real codec and the real handshake (common/control-link.ts),
 * tags what it sends, and records only what authenticates (ASSIGNs that fail their tag are
 * counted in `link.stats.authFailed`, not recorded).
 */
export class FakeNode {
  readonly received: ControlMessage[] = [];
  readonly transport: MemoryTransport;
  readonly link: ControlLink;
  id = 0;
  #joinBody: JoinBody | undefined;
  readonly #raw: Array<{ buf: Buffer; from: string }> = [];

  constructor(
    readonly h: Harness,
    address: string,
    readonly identity: NodeIdentity = newIdentity(),
  ) {
    this.transport = h.net.bind(address);
    this.link = new ControlLink({ identity, controlKey: h.control.publicKey });
    this.transport.onDatagram((buf, from) => {
      this.#raw.push({ buf: Buffer.from(buf), from: `${from.address}:${from.port}` });
      this.onDatagram(buf);
    });
  }

  /** Every datagram that came from `from`, raw (a test checks tags it holds the keys for). */
  rawFrom(from: { address: string; port: number }): Buffer[] {
    const key = `${from.address}:${from.port}`;
    return this.#raw.filter((r) => r.from === key).map((r) => r.buf);
  }

  get key(): Uint8Array {
    return this.identity.publicKey;
  }

  /** What the node does with a datagram from control (a test may call it with captured bytes). */
  onDatagram(buf: Uint8Array): void {
    const r = decodeControl(buf);
    if (!r.ok) return;
    const msg = r.value;
    if (msg.type === MsgType.COOKIE) {
      if (this.#joinBody !== undefined && this.link.onCookie(msg.body)) this.sendJoin(this.#joinBody);
      return;
    }
    if (msg.type === MsgType.JOIN_ACK) {
      if (this.link.onJoinAck(buf, msg.body, msg.auth !== undefined) === "forged") return;
      if (msg.body.error === JoinError.NONE) this.#joinBody = undefined;
    }
    if (msg.type === MsgType.ASSIGN && !this.link.open(buf, msg.seq)) return;
    this.received.push(msg);
  }

  /** A session message (HEARTBEAT, LEAVE) with the session's counter and tag. */
  send(msg: Omit<ControlMessage, "v" | "seq" | "ts" | "sender"> & { sender?: number }): void {
    const full = { v: WIRE_VERSION, sender: this.id, seq: 0, ts: this.h.clock.now(), ...msg };
    this.transport.send(this.link.seal(full as ControlMessage), CONTROL);
  }

  /** One signed JOIN datagram (the COOKIE answer to it is followed by the next, with the cookie). */
  sendJoin(body: JoinBody): void {
    this.#joinBody = body;
    this.transport.send(this.link.join(body, this.h.clock.now()), CONTROL);
  }

  /** JOIN through the handshake; its JOIN_ACK (throws when none came). */
  join(body: Partial<JoinBody> & { channels: string[] }): JoinAckBody {
    const ack = this.tryJoin(body);
    if (ack === undefined) throw new Error("no JOIN_ACK");
    return ack;
  }

  /** JOIN through the handshake; its JOIN_ACK, or undefined when control did not answer. */
  tryJoin(body: Partial<JoinBody> & { channels: string[] }): JoinAckBody | undefined {
    const before = this.acks().length;
    this.link.restart();
    this.sendJoin({
      key: this.key,
      role: Role.AGENT,
      uploadKbps: 0,
      nat: NatType.OPEN,
      httpPort: 8080,
      ...body,
    });
    this.h.settle();
    if (this.acks().length === before) return undefined;
    const ack = this.acks().at(-1)!;
    if (ack.error === JoinError.NONE) this.id = ack.node;
    return ack;
  }

  heartbeat(
    assignVersion = this.lastAssign()?.version ?? 0,
    channel = this.lastAssign()?.channel ?? 1,
  ): void {
    const body: HeartbeatBody = {
      channel,
      assignVersion,
      parents: [null],
      children: [],
      buffers: [0],
      resources: { uploadKbps: 800, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 40 },
      newestSegment: 0,
    };
    this.send({ type: MsgType.HEARTBEAT, body });
  }

  acks(): JoinAckBody[] {
    return this.of(MsgType.JOIN_ACK);
  }

  assigns(): AssignBody[] {
    return this.of(MsgType.ASSIGN);
  }

  lastAssign(): AssignBody | undefined {
    return this.assigns().at(-1);
  }

  parent(): number | null | undefined {
    const a = this.lastAssign();
    return a === undefined ? undefined : (a.parents[0]?.node ?? null);
  }

  children(): number[] {
    return this.lastAssign()?.children.map((c) => c.node) ?? [];
  }

  of<T extends MsgType>(type: T): Array<MessageOf<T>["body"]> {
    return this.received.filter((m) => m.type === type).map((m) => m.body) as Array<MessageOf<T>["body"]>;
  }
}

export class Harness {
  readonly clock = new ManualClock();
  readonly net = new MemoryNetwork(this.clock, { latencyMs: 1 });
  readonly logger = new MemoryLogger();
  readonly control: ControlCenter;
  readonly transport: MemoryTransport;
  #hosts = 0;

  constructor(
    readonly store: NodeStore = new SqliteNodeStore(":memory:"),
    config: Partial<ControlConfig> = {},
    /** Control's identity (default: one made for this run); servers of one deployment share it. */
    identity?: NodeIdentity,
  ) {
    this.transport = this.net.bind(CONTROL.address, CONTROL.port);
    this.control = new ControlCenter(
      {
        clock: this.clock,
        transport: this.transport,
        store: this.store,
        logger: this.logger,
        ...(identity === undefined ? {} : { identity }),
      },
      // No probation unless a test asks for it: the scripted nodes heartbeat only when told to.
      { heartbeatMs: HB, regions: policy, ...config, trust: { probationHeartbeats: 0, ...config.trust } },
    );
    this.control.start();
  }

  /** Lets every datagram in flight arrive (and the answers to them: JOIN, COOKIE, JOIN, JOIN_ACK). */
  settle(): void {
    this.clock.advance(5);
  }

  node(subnet = 1, identity?: NodeIdentity): FakeNode {
    return new FakeNode(this, `127.0.${subnet}.${++this.#hosts}`, identity);
  }

  /** The origin: one identity for every harness, so a channel stays bound to it across restarts. */
  origin(children = 2, channels = ["news"]): FakeNode {
    const o = this.node(9, ORIGIN_IDENTITY);
    const ack = o.join({
      role: Role.ORIGIN,
      channels,
      uploadKbps: children * STREAM_KBPS,
      streamKbps: STREAM_KBPS,
      segmentMs: 2000,
      fallbackUrl: "http://127.0.0.1:8080",
    });
    if (ack.error !== JoinError.NONE) throw new Error(`origin refused: ${JoinError[ack.error]}`);
    return o;
  }

  agent(children: number, subnet = 1, channel = "news"): FakeNode {
    const a = this.node(subnet);
    const ack = a.join({ channels: [channel], uploadKbps: children * STREAM_KBPS });
    if (ack.error !== JoinError.NONE) throw new Error(`agent refused: ${JoinError[ack.error]}`);
    return a;
  }

  events(name: string): Array<Record<string, unknown>> {
    return this.logger.lines.filter((l) => l.event === name);
  }

  /** One heartbeat interval: every node in `alive` heartbeats, then time moves on by heartbeatMs. */
  interval(alive: FakeNode[]): void {
    for (const n of alive) n.heartbeat();
    this.clock.advance(HB);
  }
}
