/**
 * One whole agent on a simulated network and clock: a fake control center answers JOIN and
 * sends ASSIGN, a fake origin sends packets, and a stub fetch plays the HTTP fallback.
 * Covers the join fast path, peer delivery and forwarding, repair of a lossy segment, a
 * poisoned segment and a gap, the playlist, and the /status shape.
 */
import test from "ava";
import { packetizeSegment } from "../origin/packetizer.js";
import { metaHeader, randomKey, TEST_ORIGIN, type TestKey } from "../tools/origin-key.js";
import { createHash } from "node:crypto";
import { Agent } from "../agent/agent.js";
import { MemoryChunkStore } from "../agent/store/chunk-store.js";
import { ROUTER_TUNING } from "../agent/config.js";
import { type HeartbeatBody, JoinError, MsgType, NatType } from "../protocol/messages.js";
import { newIdentity } from "./helpers/control-harness.js";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { DEMO_CHANNEL } from "./helpers/demo-channel.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";

const CH = { ...DEMO_CHANNEL, originKey: TEST_ORIGIN.publicKey };

function segBytes(id: number): Buffer {
  const b = Buffer.alloc(5000 + id * 10);
  for (let i = 0; i < b.length; i++) b[i] = (i * 13 + id) & 0xff;
  return b;
}

const sha = (b: Uint8Array): Buffer => createHash("sha256").update(b).digest();

/** The origin's packets for one segment: META, data, META again. */
function packetize(id: number, bytes: Buffer, firstSeq: number, key: TestKey = TEST_ORIGIN): Buffer[] {
  const seg = packetizeSegment({
    channel: CH.id,
    signingKey: key.privateKey,
    segmentId: id,
    firstSeq,
    k: 1,
    durationMs: 2000,
    discontinuity: false,
    publishedAt: 0,
    bytes,
  });
  return seg.packets.map((p) => p.datagram);
}

/** The signed META the origin's fallback sends with segment `id` (x-tiercast-meta). */
function fallbackMeta(id: number, bytes: Buffer, key: TestKey = TEST_ORIGIN): string {
  return metaHeader(
    {
      segmentId: id,
      durationMs: 2000,
      totalBytes: bytes.length,
      firstSeq: 0,
      packetCount: Math.ceil(bytes.length / 1160),
      discontinuity: false,
      publishedAt: 0,
      sha256: sha(bytes),
    },
    CH.id,
    key,
  );
}

interface SetupOptions {
  /** The JOIN_ACK's channel (default CH, with its origin key). */
  channel?: typeof CH | Omit<typeof CH, "originKey">;
  /** AgentConfig.verifySegments (tests only). */
  verifySegments?: boolean;
}

function setup(opts: SetupOptions = {}) {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = net.bind("127.0.0.1", 7700);
  const origin = net.bind("127.0.0.5", 9000);
  const child = net.bind("127.0.1.2", 5000);
  const self = net.bind("127.0.1.1", 5000);
  const logger = new MemoryLogger();
  const store = new MemoryChunkStore(64 << 20);
  const published = new Map<number, Buffer>([9, 10, 11, 12, 13, 14, 15].map((id) => [id, segBytes(id)]));
  const served: string[] = [];
  const corrupt = new Set<number>();
  /** How the fallback signs each segment's META: "none" sends no x-tiercast-meta. */
  const fallbackSigner = new Map<number, TestKey | "none">();
  const fetchStub = (async (input: string | URL | Request) => {
    const url = String(input);
    served.push(url.replace(CH.fallbackUrl, ""));
    if (url.endsWith("/latest.json")) {
      const segments = [9, 10].map((id) => ({
        id,
        durationMs: 2000,
        discontinuity: false,
        sha256: sha(published.get(id)!).toString("hex"),
        bytes: published.get(id)!.length,
      }));
      return new Response(JSON.stringify({ channel: "demo", segments }), {
        headers: { "content-type": "application/json" },
      });
    }
    const m = /\/live\/demo\/(\d+)\.ts$/.exec(url);
    const b = m ? published.get(Number(m[1])) : undefined;
    if (b === undefined) return new Response("no", { status: 404 });
    const body = corrupt.has(Number(m![1])) ? Buffer.alloc(b.length) : b;
    const signer = fallbackSigner.get(Number(m![1])) ?? TEST_ORIGIN;
    return new Response(body, {
      headers: {
        "x-tiercast-sha256": sha(b).toString("hex"),
        "x-tiercast-duration-ms": "2000",
        "x-tiercast-discontinuity": "0",
        ...(signer === "none" ? {} : { "x-tiercast-meta": fallbackMeta(Number(m![1]), b, signer) }),
      },
    });
  }) as typeof fetch;
  const sc = new ScriptedControl();
  const agent = new Agent(
    {
      clock,
      transport: self,
      store,
      logger,
      identity: newIdentity(),
      startedAt: clock.now(),
      fetch: fetchStub,
    },
    {
      control: control.local,
      controlKey: sc.publicKey,
      channel: "demo",
      role: "agent",
      uploadKbps: 8000,
      httpPort: 8081,
      nat: NatType.UNKNOWN,
      tuning: ROUTER_TUNING,
      ...(opts.verifySegments === undefined ? {} : { verifySegments: opts.verifySegments }),
    },
  );
  const childGot: number[] = [];
  child.onDatagram((b) => childGot.push(b.length));
  const heartbeats: HeartbeatBody[] = [];
  control.onDatagram((b) => {
    const m = sc.saw(b);
    if (m?.type === MsgType.HEARTBEAT) heartbeats.push(m.body);
    if (m?.type !== MsgType.JOIN) return;
    const ack = sc.ack({
      error: JoinError.NONE,
      node: 5,
      region: "region-a",
      heartbeatMs: 500,
      channels: [opts.channel ?? CH],
    });
    control.send(ack, self.local);
    const send = (type: MsgType, body: unknown): void => control.send(sc.seal(type, body), self.local);
    send(MsgType.ASSIGN, {
      channel: CH.id,
      version: 1,
      k: 1,
      tier: 1,
      parents: [{ node: 1, ...origin.local }],
      children: [{ node: 6, ...child.local, substreams: 1 }],
    });
  });
  let seq = 100;
  const sendSegment = (id: number, mangle: (pkts: Buffer[]) => Buffer[] = (p) => p): void => {
    const pkts = packetize(id, published.get(id)!, seq);
    seq += pkts.length;
    for (const p of mangle(pkts)) origin.send(p, self.local);
  };
  const committed = () =>
    logger.lines
      .filter((l) => l.event === "segment_committed")
      .map((l) => [l.id as number, l.source as string]);
  /** Sends datagrams as if from the origin's address (a spoofed parent). */
  const sendRaw = (pkts: Buffer[]): void => {
    for (const p of pkts) origin.send(p, self.local);
  };
  const nextSeq = (n: number): number => {
    const at = seq;
    seq += n;
    return at;
  };
  return {
    clock,
    agent,
    logger,
    store,
    served,
    corrupt,
    fallbackSigner,
    childGot,
    sendSegment,
    sendRaw,
    nextSeq,
    committed,
    heartbeats,
  };
}

/** Lets pending promises (the stub fetch) run; bounded, no timers involved. */
async function settle(check: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && !check(); i++) await new Promise((r) => setImmediate(r));
}

test("join fast path, peer delivery, repair, poisoned segment, gap, playlist and status", async (t) => {
  const s = setup();
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.agent.status().joinMs !== null);
  t.deepEqual(s.committed(), [[10, "fallback"]], "the newest published segment over HTTP at once");
  t.is(s.agent.status().joinMs, 5);
  t.deepEqual(s.served, ["/live/demo/latest.json", "/live/demo/10.ts"]);

  // Segment 11 over UDP: committed from the peer and forwarded to the child.
  s.sendSegment(11);
  s.clock.advance(5);
  t.deepEqual(s.committed().at(-1), [11, "peer"]);
  t.is(s.childGot.length, 7, "META + 5 data + META forwarded");

  // Segment 12 loses a data packet: repaired over HTTP once due.
  s.sendSegment(12, (p) => p.filter((_, i) => i !== 2));
  s.clock.advance(5);
  t.is(s.committed().length, 2);
  s.clock.advance(1500);
  await settle(() => s.committed().length === 3);
  t.deepEqual(s.committed().at(-1), [12, "fallback"]);

  // Segment 13 has a corrupted payload: poisoned, never stored from peers, repaired.
  s.sendSegment(13, (p) =>
    p.map((b, i) => {
      if (i !== 1) return b;
      const c = Buffer.from(b);
      c[c.length - 1] = c[c.length - 1]! ^ 0xff;
      return c;
    }),
  );
  s.clock.advance(5);
  t.true(s.logger.lines.some((l) => l.event === "segment_poisoned" && l.id === 13));
  t.false(s.store.has("demo", 13));
  s.clock.advance(1500);
  await settle(() => s.committed().length === 4);
  t.deepEqual(s.committed().at(-1), [13, "fallback"]);
  t.true(s.store.get("demo", 13)!.bytes.length === segBytes(13).length);

  // 14 is lost entirely; 15 reveals the gap; 14 comes over HTTP after the short grace.
  s.sendSegment(15);
  s.clock.advance(5);
  t.deepEqual(s.committed().at(-1), [15, "peer"]);
  s.clock.advance(200);
  await settle(() => s.committed().length === 6);
  t.deepEqual(s.committed().at(-1), [14, "fallback"]);

  const pl = s.agent.playlist()!;
  t.regex(pl, /#EXT-X-MEDIA-SEQUENCE:10\n/);
  t.deepEqual(
    pl.split("\n").filter((l) => l.endsWith(".ts")),
    ["10.ts", "11.ts", "12.ts", "13.ts", "14.ts", "15.ts"],
  );

  const st = s.agent.status();
  t.deepEqual(Object.keys(st), [
    "node",
    "region",
    "channel",
    "role",
    "parents",
    "children",
    "assignVersion",
    "tier",
    "tierRole",
    "mesh",
    "segmentsHeld",
    "newestSegment",
    "joinMs",
    "continuity",
    "bytes",
    "packets",
    "nack",
    "shed",
    "delayMs",
    "repaired",
    "heartbeatBytes",
    "rssMB",
    "cpuPct",
    "uptimeMs",
    "meta",
    "control",
  ]);
  t.like(st, {
    node: 5,
    region: "region-a",
    channel: "demo",
    role: "agent",
    parents: [1],
    children: [6],
    assignVersion: 1,
    segmentsHeld: 6,
    newestSegment: 15,
  });
  t.true(st.bytes.peerSent > 0 && st.bytes.peerReceived > 0 && st.bytes.fallbackReceived > 0);
  t.true(st.heartbeatBytes.max > 0);
  t.is(st.packets.rejected, 0);
  t.regex(s.agent.metrics(), /tiercast_agent_segments_poisoned_total\{channel="demo"\} 1/);

  // The modelled player started at t0 = join: deadlines 4 s later, every 2 s: all on time.
  s.clock.advance(10_000);
  const c = s.agent.status().continuity;
  t.true(c.expected >= 5);
  t.is(c.ratio, 1);
});

test("fetched bytes that do not match the origin's hash are never committed", async (t) => {
  const s = setup();
  s.corrupt.add(10);
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.logger.lines.some((l) => l.event === "fast_path_failed"));
  t.like(
    s.logger.lines.find((l) => l.event === "fast_path_failed"),
    { code: "E_FALLBACK_HASH" },
  );
  t.deepEqual(s.committed(), []);
  t.is(s.agent.status().joinMs, null);
  // UDP delivers the next one: that becomes the first playable segment.
  s.sendSegment(11);
  s.clock.advance(5);
  t.deepEqual(s.committed(), [[11, "peer"]]);
  t.not(s.agent.status().joinMs, null);
  s.agent.stop();
});

/** Bytes of the same length as segment `id`'s that are not its bytes (an attacker's). */
function attackerBytes(id: number): Buffer {
  return Buffer.alloc(segBytes(id).length, 0x66);
}

test("a forged META sent first is refused and cannot make the genuine segment be discarded", async (t) => {
  const s = setup();
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.agent.status().joinMs !== null);
  const child = s.childGot.length;
  // A spoofed parent (the origin's address) sends segment 11's META signed by another key first.
  const forged = packetize(11, attackerBytes(11), s.nextSeq(7), randomKey());
  s.sendRaw([forged[0]!]);
  s.clock.advance(5);
  t.is(s.childGot.length, child + 1, "forwarded unchanged: the child verifies it itself");
  s.sendSegment(11);
  s.clock.advance(5);
  t.deepEqual(s.committed().at(-1), [11, "peer"]);
  t.true(Buffer.from(s.store.get("demo", 11)!.bytes).equals(segBytes(11)));
  t.false(s.logger.lines.some((l) => l.event === "segment_poisoned"));
  const meta = s.agent.status().meta!;
  t.like(meta, { rejected: 1, byReason: { bad_signature: 1 }, bySource: { "1": 1 } });
  // Verified once each (segment 10 from the fallback, 11 by UDP); 11's trailing copy is a byte compare.
  t.is(meta.verified, 2);
  t.is(meta.repeats, 1);
  t.true(s.logger.lines.some((l) => l.event === "meta_rejected" && l.from === "1"));
  t.regex(s.agent.metrics(), /tiercast_agent_meta_rejected_total\{channel="demo",source="1"\} 1/);
  // The next heartbeat reports the parent whose META failed (control moves us away); the one after does not.
  s.clock.advance(500);
  t.true(s.heartbeats.at(-1)!.parents[0]!.suspect === true, "the parent is reported");
  s.clock.advance(500);
  t.is(s.heartbeats.at(-1)!.parents[0]!.suspect, undefined, "only what is new since the last heartbeat");
  s.agent.stop();
});

test("a hostile parent's own segment (META and data) is never cached: it costs a repair, not a byte", async (t) => {
  const s = setup();
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.agent.status().joinMs !== null);
  s.sendRaw(packetize(11, attackerBytes(11), s.nextSeq(7), randomKey()));
  s.clock.advance(5);
  t.false(s.store.has("demo", 11));
  t.deepEqual(s.committed(), [[10, "fallback"]]);
  // The genuine packets meet the forged data already held: the segment fails its signed hash and
  // is fetched from the origin, whose answer carries the signed META.
  s.sendSegment(11);
  s.clock.advance(1500);
  await settle(() => s.committed().length === 2);
  t.deepEqual(s.committed().at(-1), [11, "fallback"]);
  t.true(Buffer.from(s.store.get("demo", 11)!.bytes).equals(segBytes(11)));
  t.is(s.agent.status().meta!.byReason.bad_signature, 2, "both copies of the forged META");
  s.agent.stop();
});

test("negative control: with verification off (tests only) a hostile parent's segment poisons the cache", async (t) => {
  const s = setup({ verifySegments: false });
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.agent.status().joinMs !== null);
  s.sendRaw(packetize(11, attackerBytes(11), s.nextSeq(7), randomKey()));
  s.clock.advance(5);
  t.deepEqual(s.committed().at(-1), [11, "peer"]);
  t.true(
    Buffer.from(s.store.get("demo", 11)!.bytes).equals(attackerBytes(11)),
    "the attacker's bytes are cached",
  );
  s.agent.stop();
});

test("the origin fallback's answer without a signed META, or signed by another key, is refused", async (t) => {
  const s = setup();
  s.fallbackSigner.set(10, "none");
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.logger.lines.some((l) => l.event === "fast_path_failed"));
  t.like(
    s.logger.lines.find((l) => l.event === "fast_path_failed"),
    { code: "E_FALLBACK_META" },
  );
  s.fallbackSigner.set(10, randomKey());
  s.clock.advance(500);
  await settle(() => s.logger.lines.filter((l) => l.event === "fast_path_failed").length === 2);
  t.like(s.logger.lines.filter((l) => l.event === "fast_path_failed")[1], { code: "E_FALLBACK_META" });
  t.deepEqual(s.committed(), []);
  t.deepEqual(s.agent.status().meta!.bySource, { fallback: 1 });
  // A repair of a segment with a lost packet: the fallback's META for it is not the origin's.
  s.fallbackSigner.set(12, randomKey());
  s.sendSegment(12, (p) => p.filter((_, i) => i !== 2));
  for (let i = 0; i < 20; i++) {
    s.clock.advance(500);
    await settle(() => false, 20);
  }
  t.false(s.store.has("demo", 12));
  t.true(
    s.logger.lines.some((l) => l.event === "repair_failed" && l.id === 12 && l.code === "E_FALLBACK_META"),
  );
  t.true(s.logger.lines.some((l) => l.event === "repair_abandoned" && l.id === 12));
  s.agent.stop();
});

test("a channel without an origin key (an older control): nothing is cached, origin_key_missing once", async (t) => {
  const { originKey: _, ...unsigned } = CH;
  const s = setup({ channel: unsigned });
  s.agent.start();
  s.clock.advance(5);
  await settle(() => s.logger.lines.some((l) => l.event === "fast_path_failed"));
  t.like(
    s.logger.lines.find((l) => l.event === "fast_path_failed"),
    { code: "E_FALLBACK_META" },
  );
  s.sendSegment(11);
  s.sendSegment(12);
  s.clock.advance(5);
  t.deepEqual(s.committed(), []);
  t.is(s.agent.status().segmentsHeld, 0);
  t.is(s.logger.lines.filter((l) => l.event === "origin_key_missing").length, 1);
  t.true(s.agent.status().meta!.byReason.no_key >= 4);
  s.agent.stop();
});
