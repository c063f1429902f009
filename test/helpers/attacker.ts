/**
 * The attack suite's attacker (test/trust-attacks.test.ts): a process of its own with no
 * credentials, run as `node --import tsx test/helpers/attacker.ts '<plan JSON>'`. It knows what
 * an outsider can learn (addresses, the origin's public status, the small sequential node ids)
 * and what an on-path observer captured from one genuine node (the plan's `captured`); it sends
 * every attack of issue 11 once, over real UDP on loopback, forging source addresses through a
 * raw socket (spoofer.ts), and prints one JSON report as its last line of stdout.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { rawPublicKey } from "../../protocol/auth.js";
import { decodeControl, encodeControl } from "../../protocol/control-codec.js";
import { encodeData } from "../../protocol/data-codec.js";
import { FLAG_META, WIRE_VERSION } from "../../protocol/limits.js";
import {
  type ControlMessage,
  JoinError,
  LeaveReason,
  MsgType,
  NatType,
  Role,
  type JoinBody,
} from "../../protocol/messages.js";
import { encodeSignedMeta } from "../../protocol/segment-meta.js";
import type { Address } from "../../seams/transport.js";
import { UdpTransport } from "../../seams/udp-transport.js";
import { Spoofer } from "./spoofer.js";
import { ControlLink } from "../../common/control-link.js";

export interface AttackPlan {
  control: Address;
  /** The origin's UDP address (the tier-1 agents' parent) and its HTTP base URL (public status). */
  origin: Address;
  originHttp: string;
  agents: Address[];
  /** Where spoofed JOINs claim to come from (a victim the test listens at). */
  victim: Address;
  channel: string;
  /** Node ids to forge messages for: 1..ids. */
  ids: number;
  /** What an on-path observer captured from one genuine node (hex), and that node's address. */
  captured: { join: string; heartbeat: string; assign: string; leave: string; node: Address };
  sybil: { joins: number; windowMs: number };
  /** Bound 127.0.9.x addresses the attacker sends from (its own prefix). */
  attackerHost: string;
}

export interface AttackCount {
  attempts: number;
  bytesOut: number;
  bytesIn: number;
}

export interface AttackReport {
  attacks: Record<string, AttackCount>;
  /** JOIN_ACK errors the rogue origin got (by name), and the Sybils. */
  rogueOriginAcks: string[];
  sybilAcks: Record<string, number>;
  /** Bytes the attacker's own sockets received in all. */
  bytesIn: number;
}

const M32 = 0xffffffff;

function identity(): {
  publicKey: Uint8Array;
  privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"];
} {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

function envelope(type: MsgType, sender: number, body: unknown, auth?: Uint8Array): Buffer {
  return encodeControl({
    v: WIRE_VERSION,
    type,
    sender,
    seq: 1 + Math.floor(Math.random() * 1000),
    ts: Date.now(),
    body,
    ...(auth === undefined ? {} : { auth }),
  } as ControlMessage);
}

function heartbeatBody(channel: number): unknown {
  return {
    channel,
    assignVersion: 1,
    parents: [null],
    children: [],
    buffers: [0],
    resources: { uploadKbps: 100_000, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 10 },
    newestSegment: 0,
  };
}

export async function attack(plan: AttackPlan): Promise<AttackReport> {
  const report: AttackReport = { attacks: {}, rogueOriginAcks: [], sybilAcks: {}, bytesIn: 0 };
  const count = (name: string, bytes: number): void => {
    const c = (report.attacks[name] ??= { attempts: 0, bytesOut: 0, bytesIn: 0 });
    c.attempts++;
    c.bytesOut += bytes;
  };
  const spoofer = new Spoofer();
  const sock = await UdpTransport.bind({ host: plan.attackerHost, port: 0 });
  let inbox: Array<{ buf: Buffer; from: Address }> = [];
  let current = "";
  sock.onDatagram((buf, from) => {
    report.bytesIn += buf.length;
    if (current !== "") report.attacks[current]!.bytesIn += buf.length;
    inbox.push({ buf, from });
  });
  const send = (name: string, buf: Uint8Array, to: Address): void => {
    current = name;
    count(name, buf.length);
    sock.send(buf, to);
  };
  const spoof = async (name: string, buf: Uint8Array, from: Address, to: Address): Promise<void> => {
    count(name, buf.length);
    await spoofer.send(buf, from, to);
  };
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const status = (await (await fetch(`${plan.originHttp}/status`)).json()) as {
    channelId: number;
    node: number;
    newestSegment: number;
    nextSeq: number;
  };

  // 1. Forged LEAVE and HEARTBEAT for every small id (the origin's included), untagged and with a
  //    made-up tag: a forged HEARTBEAT would move the node's address to the attacker.
  const ids = [
    status.node,
    ...Array.from({ length: plan.ids }, (_, i) => i + 1).filter((i) => i !== status.node),
  ];
  for (const id of ids) {
    for (const auth of [undefined, randomBytes(16)]) {
      send(
        "forged_leave",
        envelope(MsgType.LEAVE, id, { channel: status.channelId, reason: LeaveReason.SHUTDOWN }, auth),
        plan.control,
      );
      send(
        "forged_heartbeat",
        envelope(MsgType.HEARTBEAT, id, heartbeatBody(status.channelId), auth),
        plan.control,
      );
    }
  }
  // 1b. A rogue ORIGIN right after the forged LEAVEs for the origin's id: the whole handshake with
  //     a key of its own, for the live channel.
  {
    // A socket of its own: the REJOIN hints to the forged heartbeats land on the main one.
    const own = await UdpTransport.bind({ host: plan.attackerHost, port: 0 });
    const got: Buffer[] = [];
    own.onDatagram((buf) => {
      report.bytesIn += buf.length;
      report.attacks.rogue_origin!.bytesIn += buf.length;
      got.push(buf);
    });
    const rogueKey = identity();
    const rogue = new ControlLink({ identity: rogueKey, trustOnFirstUse: true });
    rogue.restart();
    const body: JoinBody = {
      key: rogueKey.publicKey,
      role: Role.ORIGIN,
      channels: [plan.channel],
      uploadKbps: 100_000,
      nat: NatType.OPEN,
      httpPort: 8080,
      streamKbps: 700,
      segmentMs: 1000,
      fallbackUrl: `http://${plan.attackerHost}:8080`,
    };
    const sendRogue = (): void => {
      const join = rogue.join(body, Date.now());
      count("rogue_origin", join.length);
      own.send(join, plan.control);
    };
    sendRogue();
    for (let tries = 0; tries < 50 && report.rogueOriginAcks.length === 0; tries++) {
      await pause(20);
      for (const buf of got.splice(0)) {
        const r = decodeControl(buf);
        if (!r.ok) continue;
        if (r.value.type === MsgType.COOKIE && rogue.onCookie(r.value.body)) sendRogue();
        if (r.value.type === MsgType.JOIN_ACK)
          report.rogueOriginAcks.push(JoinError[r.value.body.error] ?? String(r.value.body.error));
      }
    }
    // Stay a while as the channel's origin would (the negative control shows what follows).
    await pause(500);
    await own.close();
  }
  // 2. Forged ASSIGN from control's address to every agent: version 2^32-1, parents = the attacker,
  //    and the largest fencing epoch (an epoch is no secret: only the session tag protects an ASSIGN).
  for (const a of plan.agents) {
    for (const auth of [undefined, randomBytes(16)]) {
      const body = {
        channel: status.channelId,
        version: M32,
        epoch: Number.MAX_SAFE_INTEGER,
        k: 1,
        tier: 1,
        parents: [{ node: 999, ...sock.local }],
        children: [{ node: 998, ...plan.victim, substreams: 1 }],
      };
      await spoof("forged_assign", envelope(MsgType.ASSIGN, 0, body, auth), plan.control, a);
    }
  }
  // 3. Replays of what was captured from a genuine node: its HEARTBEAT, LEAVE and JOIN to control
  //    from its address, control's ASSIGN to it from control's address.
  const c = plan.captured;
  for (let i = 0; i < 3; i++) {
    await spoof("replay_heartbeat", Buffer.from(c.heartbeat, "hex"), c.node, plan.control);
    await spoof("replay_leave", Buffer.from(c.leave, "hex"), c.node, plan.control);
    await spoof("replay_join", Buffer.from(c.join, "hex"), c.node, plan.control);
    await spoof("replay_assign", Buffer.from(c.assign, "hex"), plan.control, c.node);
  }
  // 5. Spoofed data and META as the origin (every tier-1 agent's parent): a forged META (signed
  //    with the attacker's key) and garbage data for the next segments, at the next sequence numbers.
  {
    const forger = identity();
    for (let s = 1; s <= 4; s++) {
      const segmentId = status.newestSegment + s;
      const firstSeq = status.nextSeq + 400 * (s - 1);
      const payload = randomBytes(1000);
      const meta = encodeSignedMeta(
        status.channelId,
        {
          segmentId,
          durationMs: 1000,
          totalBytes: 4 * payload.length,
          firstSeq,
          packetCount: 4,
          discontinuity: false,
          publishedAt: Date.now(),
          sha256: new Uint8Array(randomBytes(32)),
        },
        forger.privateKey,
      );
      const header = { channel: status.channelId, substream: 0, fecGroup: 0, fecIndex: 0, segmentId };
      const pkts = [
        encodeData({ ...header, seq: firstSeq, flags: FLAG_META, offset: 0 }, meta),
        ...[0, 1, 2, 3].map((i) =>
          encodeData({ ...header, seq: firstSeq + 1 + i, flags: 0, offset: i * payload.length }, payload),
        ),
      ];
      for (const a of plan.agents) for (const p of pkts) await spoof("spoofed_data", p, plan.origin, a);
    }
  }
  // 6. Sybil flood: fresh keys, a huge declared upload, from the attacker's own addresses (it
  //    answers each COOKIE, as a real Sybil can), as fast as the window allows.
  {
    current = "sybil";
    inbox = [];
    // Control answers JOINs in order (loopback keeps it): the n-th COOKIE is for the n-th JOIN.
    const pending: Array<{ link: ControlLink; body: JoinBody }> = [];
    const drain = (): void => {
      for (const { buf } of inbox.splice(0)) {
        const r = decodeControl(buf);
        if (!r.ok) continue;
        if (r.value.type === MsgType.JOIN_ACK) {
          const name = JoinError[r.value.body.error] ?? String(r.value.body.error);
          report.sybilAcks[name] = (report.sybilAcks[name] ?? 0) + 1;
        }
        if (r.value.type !== MsgType.COOKIE) continue;
        const s = pending.shift();
        if (s !== undefined && s.link.onCookie(r.value.body))
          send("sybil_join", s.link.join(s.body, Date.now()), plan.control);
      }
    };
    const started = Date.now();
    for (let i = 0; i < plan.sybil.joins; i++) {
      const id = identity();
      const link = new ControlLink({ identity: id, trustOnFirstUse: true });
      link.restart();
      const body: JoinBody = {
        key: id.publicKey,
        role: Role.AGENT,
        channels: [plan.channel],
        uploadKbps: 10_000_000,
        nat: NatType.OPEN,
        httpPort: 8080,
      };
      pending.push({ link, body });
      send("sybil_join", link.join(body, Date.now()), plan.control);
      if (i % 25 === 24) {
        const due = started + ((i + 1) * plan.sybil.windowMs) / plan.sybil.joins;
        await pause(Math.max(0, due - Date.now()));
        drain();
      }
    }
    await pause(300);
    drain();
  }
  // 7. JOINs from a spoofed source (the victim): for the live channel, signed by fresh keys.
  for (let i = 0; i < 200; i++) {
    const id = identity();
    const link = new ControlLink({ identity: id, trustOnFirstUse: true });
    link.restart();
    const join = link.join(
      {
        key: id.publicKey,
        role: Role.AGENT,
        channels: [plan.channel],
        uploadKbps: 4000,
        nat: NatType.OPEN,
        httpPort: 8080,
      },
      Date.now(),
    );
    await spoof("spoofed_join", join, plan.victim, plan.control);
  }
  current = "";
  await pause(200);
  await sock.close();
  await spoofer.close();
  return report;
}

const entry = process.argv[1] ?? "";
if (entry.endsWith("attacker.ts") && process.argv[2] !== undefined) {
  attack(JSON.parse(process.argv[2]) as AttackPlan).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + "\n");
    },
    (e: unknown) => {
      process.stderr.write(`attacker failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
