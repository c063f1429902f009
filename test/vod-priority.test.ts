/**
 * Live over bulk (the patent's soccer match and movie download on one box): an agent whose
 * upload cap is below live + VoD relays both to a child. Its live channel's data plane forwards
 * at PRIORITY_LIVE and its VoD channel's (agent/vod/vod.ts, through the agent's VodSet demux) at
 * PRIORITY_BULK, through one shared Pacer: every live packet gets through within a packet time
 * or two of arriving, VoD gets what is left of the cap. The same agent with the VoD plane at live
 * priority (no live-over-bulk) lets live fall seconds behind: the check can fail.
 * ManualClock + MemoryNetwork; the packets are the origin packetizer's.
 */
import test from "ava";
import { Pacer, PRIORITY_LIVE } from "../dataplane/pacer.js";
import { MemoryChunkStore } from "../agent/store/chunk-store.js";
import { DataPlane } from "../agent/relay/data-plane.js";
import { VodSet } from "../agent/vod/vod-set.js";
import { packetizeSegment, type Packet } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { decodeData } from "../protocol/data-codec.js";
import type { AssignBody, ChannelInfo } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";

const LIVE = 1;
const VOD = 2;
const CAP = 125_000; // the agent's upload cap: 1000 kbit/s
const LIVE_RATE = 78_000; // bytes/s of live datagrams in (about 620 kbit/s)
const VOD_RATE = 100_000; // bytes/s of VoD datagrams in (800 kbit/s): together 142 % of the cap
const RUN_MS = 10_000;
const CHUNK = 64 * 1024;

const vodInfo: ChannelInfo = {
  name: "movie",
  id: VOD,
  k: 1,
  streamKbps: 800,
  segmentMs: 655,
  fallbackUrl: "http://127.0.0.1:1",
  vod: { fileBytes: 20 * CHUNK, chunkBytes: CHUNK, fileName: "movie.mp4" },
  originKey: TEST_ORIGIN.publicKey,
};

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13) & 0xff;
  return b;
}

/** Endless packets of a channel: live segments of 75 000 bytes, or the VoD file's chunks round and round. */
function source(channel: number): () => Packet {
  let queue: Packet[] = [];
  let id = 0;
  let seq = 0;
  return () => {
    if (queue.length === 0) {
      const chunkId = channel === VOD ? id % 20 : id;
      const p = packetizeSegment({
        channel,
        signingKey: TEST_ORIGIN.privateKey,
        segmentId: chunkId,
        firstSeq: seq,
        k: 1,
        durationMs: channel === VOD ? 0 : 1000,
        discontinuity: false,
        publishedAt: 0,
        bytes: bytes(channel === VOD ? CHUNK : 75_000, chunkId),
      });
      queue = p.packets;
      seq = p.nextSeq;
      id++;
    }
    return queue.shift()!;
  };
}

interface Run {
  liveSent: number;
  liveArrived: number;
  liveMaxDelayMs: number;
  liveBytesOut: number;
  vodBytesOut: number;
  vodFromPeers: number;
}

function run(vodPriority: "bulk" | "live"): Run {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const logger = new MemoryLogger();
  const parent = net.bind("127.0.0.1", 6000);
  const agent = net.bind("127.0.0.2", 6000);
  const child = net.bind("127.0.0.3", 6000);
  const pacer = new Pacer({ clock, transport: agent }, { rateBytesPerSec: CAP, maxQueueBytes: 4 << 20 });
  const tuning = { seqWindow: 4096, formerParentGraceMs: 2000 };
  const live = new DataPlane({ clock, logger, pacer, sink: () => {} }, tuning);
  const vod = new VodSet(
    {
      clock,
      logger,
      pacer,
      store: new MemoryChunkStore(64 << 20),
      fetch: () => Promise.reject(new Error("no fallback in this test")),
    },
    tuning,
  );
  vod.update([vodInfo]);
  // Without live-over-bulk: the VoD channel relayed like a live one.
  const vodAsLive =
    vodPriority === "live"
      ? new DataPlane({ clock, logger, pacer, sink: () => {} }, { ...tuning, priority: PRIORITY_LIVE })
      : undefined;
  const assignment = (channel: number): AssignBody => ({
    channel,
    version: 1,
    k: 1,
    tier: 1,
    parents: [{ node: 1, ...parent.local }],
    children: [{ node: 3, ...child.local, substreams: 1 }],
  });
  live.setAssignment(assignment(LIVE));
  if (vodAsLive !== undefined) vodAsLive.setAssignment(assignment(VOD));
  else vod.onAssign(assignment(VOD));
  agent.onDatagram((buf, from) => {
    if (vodAsLive !== undefined && decodeData(buf).ok && buf.readUInt32BE(4) === VOD)
      vodAsLive.onDatagram(buf, from);
    else if (!vod.onDatagram(buf, from)) live.onDatagram(buf, from);
  });

  const sentAt = new Map<number, number>();
  const r: Run = {
    liveSent: 0,
    liveArrived: 0,
    liveMaxDelayMs: 0,
    liveBytesOut: 0,
    vodBytesOut: 0,
    vodFromPeers: 0,
  };
  child.onDatagram((buf) => {
    const p = decodeData(buf);
    if (!p.ok || clock.now() > RUN_MS) return;
    if (p.value.channel === LIVE) {
      r.liveArrived++;
      r.liveBytesOut += buf.length;
      r.liveMaxDelayMs = Math.max(r.liveMaxDelayMs, clock.now() - sentAt.get(p.value.seq)!);
    } else r.vodBytesOut += buf.length;
  });
  // The parent sends each channel paced at its rate (as an origin or parent does).
  const stream = (channel: number, rate: number): void => {
    const next = source(channel);
    let sent = 0;
    const tick = (): void => {
      if (clock.now() >= RUN_MS - 100) return; // the last packets get 100 ms to arrive
      const p = next();
      parent.send(p.datagram, agent.local);
      if (channel === LIVE) {
        sentAt.set(p.seq, clock.now());
        r.liveSent++;
      }
      sent += p.datagram.length;
      clock.setTimeout(tick, Math.max(0, (sent * 1000) / rate - clock.now()));
    };
    tick();
  };
  stream(LIVE, LIVE_RATE);
  stream(VOD, VOD_RATE);
  clock.advance(RUN_MS);
  r.vodFromPeers = vod.status()[0]!.fromPeers;
  vod.stop();
  pacer.stop();
  return r;
}

test("live over bulk: capped below live + VoD, the agent relays all of live on time and VoD gets the rest", (t) => {
  const r = run("bulk");
  t.log(JSON.stringify(r));
  t.true(r.liveSent > 600, "the live stream ran");
  t.is(r.liveArrived, r.liveSent, "every live packet reached the child");
  t.true(r.liveMaxDelayMs <= 25, `live packets waited at most ${r.liveMaxDelayMs} ms (about 2 packet times)`);
  // VoD gets the remainder of the cap (the token bucket's initial burst aside).
  const remainder = (CAP * RUN_MS) / 1000 - r.liveBytesOut;
  t.true(
    Math.abs(r.vodBytesOut - remainder) <= 0.05 * remainder + 20_000,
    `VoD got ${r.vodBytesOut} bytes, the cap left ${remainder}`,
  );
  t.true(r.vodBytesOut < ((VOD_RATE * RUN_MS) / 1000) * 0.6, "VoD was held back, not live");
  t.true(r.vodFromPeers > 0, "the agent also assembled and stored the VoD chunks it relayed");
});

test("without live-over-bulk (VoD at live priority) the same agent lets live fall seconds behind", (t) => {
  const r = run("live");
  t.log(JSON.stringify(r));
  t.true(r.liveMaxDelayMs > 1000 || r.liveArrived < r.liveSent, `live waited up to ${r.liveMaxDelayMs} ms`);
});
