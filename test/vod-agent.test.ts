/**
 * One whole agent carrying a live channel and a VoD download (ManualClock + MemoryNetwork, a
 * scripted control speaking the real codec): JOIN lists both channels, each ASSIGN goes to its
 * channel with its own versions, VoD chunks from the VoD parent are stored and relayed to the
 * VoD child, and every heartbeat interval brings a HEARTBEAT per channel.
 */
import test from "ava";
import { Agent } from "../agent/agent.js";
import { MemoryChunkStore } from "../agent/store/chunk-store.js";
import { ROUTER_TUNING } from "../agent/config.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { DEMO_CHANNEL } from "./helpers/demo-channel.js";
import { newIdentity } from "./helpers/control-harness.js";
import { decodeData } from "../protocol/data-codec.js";
import {
  type ChannelInfo,
  type ControlMessage,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  MsgType,
  NatType,
} from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";

const LIVE: ChannelInfo = { ...DEMO_CHANNEL, originKey: TEST_ORIGIN.publicKey };
const CHUNK = 4000;
const MOVIE: ChannelInfo = {
  name: "movie",
  id: 10,
  k: 1,
  streamKbps: 2000,
  segmentMs: 16,
  fallbackUrl: "http://origin.test",
  vod: { fileBytes: 3 * CHUNK + 123, chunkBytes: CHUNK, fileName: "movie.mp4" },
  originKey: TEST_ORIGIN.publicKey,
};

test("an agent carrying live + VoD: both joined, per-channel ASSIGN and HEARTBEAT, VoD chunks stored and relayed", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = net.bind("127.0.0.1", 7700);
  const vodOrigin = net.bind("127.0.0.6", 9000);
  const liveOrigin = net.bind("127.0.0.5", 9000);
  const vodChild = net.bind("127.0.1.3", 5000);
  const self = net.bind("127.0.1.1", 5000);
  const logger = new MemoryLogger();
  const vodStore = new MemoryChunkStore(1 << 20);
  const sc = new ScriptedControl();
  const agent = new Agent(
    {
      clock,
      transport: self,
      store: new MemoryChunkStore(1 << 20),
      vodStore,
      logger,
      identity: newIdentity(),
      startedAt: clock.now(),
      // No HTTP fallback in this test: everything must come over UDP.
      fetch: (async () => new Response("no", { status: 404 })) as typeof fetch,
    },
    {
      control: control.local,
      controlKey: sc.publicKey,
      channel: "demo",
      vod: ["movie"],
      role: "agent",
      uploadKbps: 8000,
      httpPort: 8081,
      nat: NatType.UNKNOWN,
      tuning: ROUTER_TUNING,
    },
  );
  const got: ControlMessage[] = [];
  const send = (type: MsgType, body: unknown): void =>
    control.send(type === MsgType.JOIN_ACK ? sc.ack(body as JoinAckBody) : sc.seal(type, body), self.local);
  control.onDatagram((b) => {
    const m = sc.saw(b);
    if (m === undefined) return;
    got.push(m);
    if (m.type !== MsgType.JOIN || got.filter((x) => x.type === MsgType.JOIN).length > 1) return;
    send(MsgType.JOIN_ACK, {
      error: JoinError.NONE,
      node: 5,
      region: "a",
      heartbeatMs: 500,
      channels: [LIVE, MOVIE],
    });
    // The live channel is on version 7 already; the VoD channel's versions start at 1.
    send(MsgType.ASSIGN, {
      channel: LIVE.id,
      version: 7,
      k: 1,
      tier: 1,
      parents: [{ node: 1, ...liveOrigin.local }],
      children: [],
    });
    send(MsgType.ASSIGN, {
      channel: MOVIE.id,
      version: 1,
      k: 1,
      tier: 1,
      parents: [{ node: 2, ...vodOrigin.local }],
      children: [{ node: 6, ...vodChild.local, substreams: 1 }],
    });
  });
  const relayed: number[] = [];
  vodChild.onDatagram((b) => {
    const p = decodeData(b);
    if (p.ok) relayed.push(p.value.channel);
  });
  agent.start();
  clock.advance(10);
  const join = got.find((m) => m.type === MsgType.JOIN)!.body as JoinBody;
  t.deepEqual(join.channels, ["demo", "movie"]);
  t.is(agent.session.assignVersion, 7);
  t.is(agent.session.extraVersions.get(MOVIE.id), 1, "the VoD ASSIGN was not dropped as older than live's");
  t.is(agent.vodChannel("movie")?.dataPlane.assignment?.version, 1);
  t.is(agent.dataPlane.assignment?.version, 7);

  // The VoD origin's carousel: chunks 0..3 (the last one short).
  let seq = 0;
  for (let i = 0; i < 4; i++) {
    const bytes = Buffer.alloc(i < 3 ? CHUNK : 123, i + 1);
    const p = packetizeSegment({
      channel: MOVIE.id,
      signingKey: TEST_ORIGIN.privateKey,
      segmentId: i,
      firstSeq: seq,
      k: 1,
      durationMs: 0,
      discontinuity: false,
      publishedAt: 0,
      bytes,
    });
    seq = p.nextSeq;
    for (const pkt of p.packets) vodOrigin.send(pkt.datagram, self.local);
  }
  clock.advance(50);
  const vod = agent.status().vod?.[0];
  t.is(vod?.held, 4);
  t.is(vod?.fromPeers, 4);
  t.is(vodStore.count("movie"), 4);
  t.true(relayed.length > 0 && relayed.every((c) => c === MOVIE.id), "VoD packets relayed to the VoD child");
  t.is(agent.status().segmentsHeld, 0, "nothing went to the live cache");

  // One HEARTBEAT per channel each interval, each with its channel's ASSIGN version.
  got.length = 0;
  clock.advance(500);
  const hbs = got.filter((m) => m.type === MsgType.HEARTBEAT).map((m) => m.body as HeartbeatBody);
  t.deepEqual(
    hbs.map((h) => [h.channel, h.assignVersion]),
    [
      [LIVE.id, 7],
      [MOVIE.id, 1],
    ],
  );
  t.deepEqual(
    hbs[1]!.parents.map((p) => p?.node),
    [2],
  );
  t.is(hbs[1]!.newestSegment, 3);

  got.length = 0;
  agent.stop();
  clock.advance(5);
  t.is(
    got.filter((m) => m.type === MsgType.LEAVE).length,
    1,
    "one LEAVE takes the node out of every channel",
  );
});
