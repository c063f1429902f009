/**
 * The control center on a ManualClock and a MemoryNetwork: nodes are scripted endpoints
 * that speak the real codec. Shared by the control-center-*.test.ts files.
 */
import { randomBytes } from "node:crypto";
import { ControlCenter, type ControlConfig } from "../../control/control-center.js";
import { parseRegionPolicy } from "../../control/regions.js";
import { SqliteNodeStore, type NodeStore } from "../../control/store.js";
import { decodeControl, encodeControl } from "../../protocol/control-codec.js";
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

export class FakeNode {
  readonly received: ControlMessage[] = [];
  readonly transport: MemoryTransport;
  id = 0;
  #seq = 0;

  constructor(
    readonly h: Harness,
    address: string,
    readonly key: Uint8Array = randomBytes(32),
  ) {
    this.transport = h.net.bind(address);
    this.transport.onDatagram((buf) => {
      const r = decodeControl(buf);
      if (r.ok) this.received.push(r.value);
    });
  }

  send(msg: Omit<ControlMessage, "v" | "seq" | "ts" | "sender"> & { sender?: number }): void {
    const full = { v: WIRE_VERSION, sender: this.id, seq: this.#seq++, ts: this.h.clock.now(), ...msg };
    this.transport.send(encodeControl(full as ControlMessage), CONTROL);
  }

  join(body: Partial<JoinBody> & { channels: string[] }): JoinAckBody {
    this.send({
      type: MsgType.JOIN,
      sender: 0,
      body: { key: this.key, role: Role.AGENT, uploadKbps: 0, nat: NatType.OPEN, httpPort: 8080, ...body },
    });
    this.h.settle();
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
  ) {
    this.transport = this.net.bind(CONTROL.address, CONTROL.port);
    this.control = new ControlCenter(
      { clock: this.clock, transport: this.transport, store: this.store, logger: this.logger },
      { heartbeatMs: HB, regions: policy, ...config },
    );
    this.control.start();
  }

  /** Lets every datagram in flight arrive (and the answers to them). */
  settle(): void {
    this.clock.advance(5);
  }

  node(subnet = 1, key?: Uint8Array): FakeNode {
    return new FakeNode(this, `127.0.${subnet}.${++this.#hosts}`, key);
  }

  origin(children = 2, channels = ["news"]): FakeNode {
    const o = this.node(9);
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
