/**
 * The load generator of bench:ingest and of the flash-crowd test: simulated viewers on real UDP,
 * in a process of their own so that their CPU is not control's. A child of tools/ingest/client.ts
 * (IPC channel); every request `{id, cmd, args}` gets one answer `{id, ok, result | error}`.
 *
 * Each viewer is sim/viewer.ts (the agent's control session: the real handshake, JOIN retries on
 * the agent's policy, heartbeats every heartbeatMs built from its last ASSIGN, failover) on its own
 * UdpTransport and the system clock. Viewer i binds 127.<64 + p div 256>.<p mod 256>.<10 + i mod
 * perPrefix> with p = i div perPrefix: `perPrefix` viewers per /24, as boxes of many access
 * networks (control's JOIN limits are per /24); control's region policy puts them in its default
 * region. Every datagram a viewer sends or receives is counted by message type (the envelope's
 * type byte), and the JOIN_ACKs it receives by error.
 *
 *   init     {control, controlKey, channel, uploadKbps, perPrefix}
 *   join     {group, from, count, window}: viewers from..from+count-1 bind their sockets, then
 *            start joining, at most `window` waiting for their JOIN_ACK at a time (0: all at
 *            once); returns at once
 *   progress {group, ids?}: started, accepted (a JOIN_ACK accepted the JOIN), admitted (accepted
 *            and an ASSIGN applied: control places a new key only after its second heartbeat,
 *            one interval after the JOIN_ACK), JOINs sent, JOIN_ACKs by error, first JOIN, last
 *            acceptance and last admission (Date.now()), viewers not joined, by phase (and
 *            every viewer's node id with `ids`)
 *   counters totals by message type sent to control / received, send errors, RSS
 *   prepare  {count, group}: seals `count` HEARTBEATs, round robin over the group's joined viewers
 *            (each its next counter and tag, its body from its ASSIGN), untimed
 *   blast    {to, rate, maxMs}: sends the prepared heartbeats, each from its viewer's socket, to
 *            `to` at `rate` per second (bounded by maxMs); returns sent and elapsed ms. Meanwhile
 *            a viewer is handed one HEARTBEAT_ACK per 250 ms, the rest counted and dropped
 *   stop     LEAVE nothing: closes every socket and exits
 */
import { performance } from "node:perf_hooks";
import { WIRE_VERSION } from "../../protocol/limits.js";
import { decodeControl } from "../../protocol/control-codec.js";
import { type ControlMessage, JoinError, MsgType } from "../../protocol/messages.js";
import { systemClock } from "../../seams/clock.js";
import type { Address, DatagramHandler, Transport } from "../../seams/transport.js";
import { UdpTransport } from "../../seams/udp-transport.js";
import { Viewer, type ViewerScheduler } from "../../sim/viewer.js";
import type { GroupProgress, LoadCounters, LoadInit, LoadRequest } from "./client.js";

if (process.send === undefined) throw new Error("tools/ingest/load.ts runs as a child with an IPC channel");
const reply = process.send.bind(process);

/** The envelope's type byte: every control message starts a5..a7 00 01 01 <type> (control-codec.ts). */
function typeOf(buf: Uint8Array): number {
  return buf.length > 4 && buf[1] === 0 && buf[3] === 1 ? buf[4]! : 0;
}

const sentToControl = new Map<number, number>();
const received = new Map<number, number>();
let sentElsewhere = 0;
let init: LoadInit | undefined;
/**
 * While a blast runs, a viewer is handed at most one HEARTBEAT_ACK per ACK_PASS_MS (enough for
 * its failure detector); the others, answers to the blast's heartbeats, are counted and dropped
 * unopened, so that checking them does not take the sender's core (the bare receiver sends none).
 */
let blasting = false;
const ACK_PASS_MS = 250;
let acksSkipped = 0;

/** One viewer's socket, counting what goes through it. */
class CountingTransport implements Transport {
  #handler: DatagramHandler = () => {};
  #ackPassedAt = 0;
  constructor(
    readonly udp: UdpTransport,
    readonly control: Address,
    readonly onReceived: () => void,
  ) {
    udp.onDatagram((data, from) => {
      const type = typeOf(data);
      received.set(type, (received.get(type) ?? 0) + 1);
      if (type === MsgType.JOIN_ACK) this.onJoinAck?.(data);
      if (type === MsgType.HEARTBEAT_ACK && blasting) {
        const now = Date.now();
        if (now - this.#ackPassedAt < ACK_PASS_MS) return void acksSkipped++;
        this.#ackPassedAt = now;
      }
      this.#handler(data, from);
      this.onReceived();
    });
  }
  onJoinAck: ((data: Buffer) => void) | undefined;
  get local(): Address {
    return this.udp.local;
  }
  send(data: Uint8Array, to: Address): void {
    if (to.port === this.control.port && to.address === this.control.address) {
      const type = typeOf(data);
      sentToControl.set(type, (sentToControl.get(type) ?? 0) + 1);
    } else sentElsewhere++;
    this.udp.send(data, to);
  }
  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }
  close(): Promise<void> {
    return this.udp.close();
  }
}

interface Slot {
  viewer: Viewer;
  transport: CountingTransport;
  group: string;
  acceptedAt: number;
  admittedAt: number;
}

class Group {
  readonly slots: Slot[] = [];
  started = 0;
  /** Viewers whose JOIN was accepted (a JOIN_ACK NONE that verified), and of those placed (an ASSIGN applied). */
  accepted = 0;
  admitted = 0;
  firstJoinAt = 0;
  lastAcceptedAt = 0;
  lastAdmittedAt = 0;
  readonly acks = new Map<string, number>();
  #next = 0;
  constructor(readonly window: number) {}

  /** Starts viewers until `window` are waiting for their JOIN to be accepted (all when window is 0). */
  pump(): void {
    while (
      this.#next < this.slots.length &&
      (this.window === 0 || this.started - this.accepted < this.window)
    ) {
      const s = this.slots[this.#next++]!;
      if (this.firstJoinAt === 0) this.firstJoinAt = Date.now();
      this.started++;
      s.viewer.start();
    }
  }

  onReceived(s: Slot): void {
    if (s.acceptedAt === 0 && s.viewer.joinedAt > 0) {
      s.acceptedAt = s.viewer.joinedAt;
      this.accepted++;
      this.lastAcceptedAt = Math.max(this.lastAcceptedAt, s.acceptedAt);
      this.pump();
    }
    if (s.admittedAt === 0 && s.viewer.placed) {
      s.admittedAt = Date.now();
      this.admitted++;
      this.lastAdmittedAt = s.admittedAt;
    }
  }

  progress(withIds: boolean): GroupProgress {
    let joinsSent = 0;
    let notJoined = 0;
    let resumes = 0;
    let rejoins = 0;
    const phases: Record<string, number> = {};
    for (const s of this.slots) {
      phases[s.viewer.phase] = (phases[s.viewer.phase] ?? 0) + 1;
      joinsSent += s.viewer.stats.joinsSent;
      resumes += s.viewer.stats.resumes;
      rejoins += s.viewer.stats.rejoins;
      if (s.viewer.phase !== "joined") notJoined++;
    }
    return {
      viewers: this.slots.length,
      started: this.started,
      accepted: this.accepted,
      admitted: this.admitted,
      joinsSent,
      acks: Object.fromEntries(this.acks),
      firstJoinAt: this.firstJoinAt,
      lastAcceptedAt: this.lastAcceptedAt,
      lastAdmittedAt: this.lastAdmittedAt,
      notJoined,
      phases,
      resumes,
      rejoins,
      ...(withIds ? { ids: this.slots.map((s) => s.viewer.nodeId) } : {}),
    };
  }
}

/**
 * The viewers' wake-ups: a timer per wake-up on the system clock, a millisecond late (a Node
 * timer may fire a millisecond before Date.now() reaches its due time: the viewer then asks
 * again through the scheduler). sim/viewer.ts's own-timer mode went silent on an early timer
 * when this was written (fixed there since); the scheduler does not depend on it.
 */
const scheduler: ViewerScheduler = {
  wake(v, at) {
    setTimeout(() => v.tick(Date.now()), Math.max(0, at - Date.now()) + 1);
  },
};

const groups = new Map<string, Group>();
let prepared: Array<{ t: CountingTransport; buf: Buffer }> = [];

function addressOf(i: number, perPrefix: number): string {
  const p = Math.floor(i / perPrefix);
  return `127.${64 + (p >> 8)}.${p & 255}.${10 + (i % perPrefix)}`;
}

async function join(args: { group: string; from: number; count: number; window: number }): Promise<number> {
  const c = init;
  if (c === undefined) throw new Error("init first");
  if (groups.has(args.group)) throw new Error(`group ${args.group} exists`);
  const g = new Group(args.window);
  groups.set(args.group, g);
  const controlKey = Buffer.from(c.controlKey, "hex");
  for (let base = args.from; base < args.from + args.count; base += 500) {
    const n = Math.min(500, args.from + args.count - base);
    const udps = await Promise.all(
      Array.from({ length: n }, (_, k) =>
        UdpTransport.bind({ host: addressOf(base + k, c.perPrefix), port: 0 }),
      ),
    );
    udps.forEach((udp, k) => {
      const slot = {} as Slot;
      const transport = new CountingTransport(udp, c.control, () => g.onReceived(slot));
      transport.onJoinAck = (data) => {
        const r = decodeControl(data);
        if (!r.ok || r.value.type !== MsgType.JOIN_ACK) return;
        const code = r.value.body.error;
        const name = JoinError[code] ?? String(code);
        g.acks.set(name, (g.acks.get(name) ?? 0) + 1);
      };
      const viewer = new Viewer(
        { transport, clock: systemClock, scheduler },
        {
          seed: base + k + 1,
          uploadKbps: c.uploadKbps,
          channel: c.channel,
          control: c.control,
          controlKey,
        },
      );
      Object.assign(slot, { viewer, transport, group: args.group, acceptedAt: 0, admittedAt: 0 });
      g.slots.push(slot);
    });
  }
  g.pump();
  return g.slots.length;
}

function prepare(args: { count: number; group: string }): {
  prepared: number;
  viewers: number;
  sealMs: number;
} {
  const g = groups.get(args.group);
  if (g === undefined) throw new Error(`no group ${args.group}`);
  const t0 = performance.now();
  const live = g.slots.filter((s) => s.viewer.phase === "joined" && s.viewer.channelId !== 0);
  if (live.length === 0) throw new Error("no joined viewer to send heartbeats");
  const now = Date.now();
  prepared = new Array<{ t: CountingTransport; buf: Buffer }>(args.count);
  for (let i = 0; i < args.count; i++) {
    const s = live[i % live.length]!;
    const v = s.viewer;
    const msg = {
      v: WIRE_VERSION,
      type: MsgType.HEARTBEAT,
      sender: v.nodeId,
      seq: 0,
      ts: now,
      body: v.heartbeatBody(now),
    } as ControlMessage;
    prepared[i] = { t: s.transport, buf: v.link.seal(msg) };
  }
  return { prepared: args.count, viewers: live.length, sealMs: performance.now() - t0 };
}

function blast(args: {
  to: Address;
  rate: number;
  maxMs: number;
}): Promise<{ sent: number; elapsedMs: number }> {
  const all = prepared;
  const total = all.length;
  const t0 = performance.now();
  let i = 0;
  blasting = true;
  return new Promise((resolve) => {
    const step = (): void => {
      const elapsed = performance.now() - t0;
      const due = Math.min(total, Math.floor((elapsed * args.rate) / 1000) + 1);
      // At most a few ms of sending per turn: the viewers' own timers and answers run between.
      for (let n = 0; i < due && n < 2000; n++) {
        const p = all[i++]!;
        p.t.send(p.buf, args.to);
      }
      if (i >= total || elapsed > args.maxMs) {
        blasting = false;
        return resolve({ sent: i, elapsedMs: performance.now() - t0 });
      }
      if (i < due) setImmediate(step);
      else setTimeout(step, 1);
    };
    step();
  });
}

function counters(): LoadCounters {
  let sendErrors = 0;
  for (const g of groups.values()) for (const s of g.slots) sendErrors += s.transport.udp.sendErrors;
  return {
    sentToControl: Object.fromEntries([...sentToControl].map(([k, v]) => [MsgType[k] ?? String(k), v])),
    sentElsewhere,
    received: Object.fromEntries([...received].map(([k, v]) => [MsgType[k] ?? String(k), v])),
    sendErrors,
    acksSkipped,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  };
}

async function stop(): Promise<void> {
  for (const g of groups.values())
    for (const s of g.slots) {
      s.viewer.silence();
      await s.transport.close();
    }
}

async function handle(req: LoadRequest): Promise<unknown> {
  switch (req.cmd) {
    case "init":
      init = req.args as LoadInit;
      return true;
    case "join":
      return join(req.args as Parameters<typeof join>[0]);
    case "progress": {
      const a = req.args as { group: string; ids?: boolean };
      const g = groups.get(a.group);
      if (g === undefined) throw new Error(`no group ${a.group}`);
      return g.progress(a.ids === true);
    }
    case "counters":
      return counters();
    case "prepare":
      return prepare(req.args as Parameters<typeof prepare>[0]);
    case "blast":
      return blast(req.args as Parameters<typeof blast>[0]);
    case "stop":
      await stop();
      setImmediate(() => process.exit(0));
      return true;
    default:
      throw new Error(`unknown command ${String(req.cmd)}`);
  }
}

process.on("message", (m) => {
  const req = m as LoadRequest;
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result }),
    (e: unknown) => reply({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("disconnect", () => process.exit(0));
