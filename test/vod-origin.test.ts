/**
 * The origin's VoD side: the file cut into chunks, the carousel's order and pace (ManualClock),
 * the Origin sending a chunk as segment <index> with its META (MemoryNetwork, a scripted
 * control), and the HTTP fallback serving chunks by index with their hash (real HTTP on
 * loopback).
 */
import test from "ava";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FallbackHttp } from "../origin/fallback-http.js";
import { routeOf } from "../origin/fallback-routes.js";
import { Origin } from "../origin/origin.js";
import { parseVodSpecs } from "../origin/vod-node.js";
import { VodFile, VodFileError } from "../origin/vod-file.js";
import { VodCarousel } from "../origin/vod-source.js";
import { Assembler } from "../agent/store/assembler.js";
import { decodeData } from "../protocol/data-codec.js";
import { FLAG_META } from "../protocol/limits.js";
import {
  type ControlMessage,
  JoinError,
  type JoinAckBody,
  MsgType,
  type JoinBody,
} from "../protocol/messages.js";
import { decodeSegmentMeta } from "../protocol/segment-meta.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { MetaVerifier } from "../agent/store/meta-verifier.js";
import { encodeSignedMeta, verifySegmentMeta } from "../protocol/segment-meta.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";

function tempFile(bytes: Buffer): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-vod-"));
  const path = join(dir, "movie.mp4");
  writeFileSync(path, bytes);
  return { path, dir };
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

test("VodFile: chunks put back together are the file, each with its hash; the last one is short", (t) => {
  const bytes = pattern(2500);
  const { path, dir } = tempFile(bytes);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = VodFile.open("movie", path, 1000);
  t.teardown(() => f.close());
  t.deepEqual(f.info, { fileBytes: 2500, chunkBytes: 1000, fileName: "movie.mp4" });
  t.is(f.chunks, 3);
  const parts = [0, 1, 2].map((i) => f.chunk(i));
  t.deepEqual(
    parts.map((p) => p.bytes.length),
    [1000, 1000, 500],
  );
  t.true(Buffer.concat(parts.map((p) => p.bytes)).equals(bytes));
  for (const p of parts) t.is(p.sha256Hex, sha(p.bytes));
  t.throws(() => f.chunk(3), { instanceOf: RangeError });
  t.throws(() => f.chunk(-1), { instanceOf: RangeError });
});

test("VodFile refuses a missing file, an empty one, a folder and a bad chunk size", (t) => {
  const { path, dir } = tempFile(Buffer.alloc(0));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "folder"));
  t.throws(() => VodFile.open("m", path), { instanceOf: VodFileError, message: /empty/ });
  t.throws(() => VodFile.open("m", join(dir, "nope")), { instanceOf: VodFileError });
  t.throws(() => VodFile.open("m", join(dir, "folder")), { instanceOf: VodFileError });
  writeFileSync(path, "x");
  t.throws(() => VodFile.open("m", path, 0), { instanceOf: VodFileError });
  t.throws(() => VodFile.open("m", path, 17 * 1024 * 1024), { instanceOf: VodFileError });
});

test("the carousel sends 0..n-1 then starts over, each chunk its length x 8 / kbps after the one before", (t) => {
  const clock = new ManualClock(0);
  const lengths = [1000, 1000, 500];
  const c = new VodCarousel({ clock }, { chunks: 3, chunkLength: (i) => lengths[i]!, kbps: 80 });
  const sent: Array<[number, number]> = [];
  c.start((i) => sent.push([i, clock.now()]));
  clock.advance(700);
  // 1000 bytes at 80 kbit/s = 100 ms, 500 bytes = 50 ms.
  t.deepEqual(sent, [
    [0, 0],
    [1, 100],
    [2, 200],
    [0, 250],
    [1, 350],
    [2, 450],
    [0, 500],
    [1, 600],
    [2, 700],
  ]);
  t.deepEqual(c.stats, { sent: 9, rounds: 3, next: 0 });
  c.stop();
  clock.advance(1000);
  t.is(sent.length, 9, "nothing after stop");
  t.is(clock.pendingTimers, 0);
});

test("a restarted carousel continues at the saved chunk", (t) => {
  const clock = new ManualClock(0);
  const c = new VodCarousel({ clock }, { chunks: 4, chunkLength: () => 10, kbps: 1, firstIndex: 2 });
  const sent: number[] = [];
  c.start((i) => sent.push(i));
  clock.advance(3 * 80);
  t.deepEqual(sent, [2, 3, 0, 1]);
  c.stop();
  const bad = new VodCarousel({ clock }, { chunks: 4, chunkLength: () => 10, kbps: 1, firstIndex: 9 });
  t.is(bad.stats.next, 0, "an index beyond the file starts at 0");
});

test("a VoD origin announces the file in JOIN and sends chunk i as segment i (META with its hash, durationMs 0)", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const control = net.bind("127.0.0.1", 7700);
  const child = net.bind("127.0.0.2", 6000);
  const got: ControlMessage[] = [];
  const sc = new ScriptedControl();
  control.onDatagram((d) => {
    const m = sc.saw(d);
    if (m !== undefined) got.push(m);
  });
  const packets: Buffer[] = [];
  child.onDatagram((d) => packets.push(Buffer.from(d)));
  const vod = { fileBytes: 5000, chunkBytes: 2000, fileName: "movie.mp4" };
  const origin = new Origin(
    {
      clock,
      transport: net.bind("127.0.0.1", 5000),
      logger: new MemoryLogger(),
      signingKey: TEST_ORIGIN.privateKey,
    },
    {
      control: control.local,
      channel: "movie",
      key: new Uint8Array(32).fill(3),
      controlKey: sc.publicKey,
      streamKbps: 2000,
      segmentMs: 8,
      fallbackUrl: "http://127.0.0.1:8080",
      httpPort: 8080,
      vod,
    },
  );
  origin.start();
  clock.advance(5);
  const join = got.find((m) => m.type === MsgType.JOIN)?.body as JoinBody;
  t.deepEqual(join.vod, vod);
  t.deepEqual(join.channels, ["movie"]);
  const send = (type: MsgType, body: unknown): void =>
    control.send(type === MsgType.JOIN_ACK ? sc.ack(body as JoinAckBody) : sc.seal(type, body), {
      address: "127.0.0.1",
      port: 5000,
    });
  send(MsgType.JOIN_ACK, {
    error: JoinError.NONE,
    node: 4,
    region: "r",
    heartbeatMs: 1000,
    channels: [{ name: "movie", id: 9, k: 1, streamKbps: 2000, segmentMs: 8, fallbackUrl: "http://x", vod }],
  });
  send(MsgType.ASSIGN, {
    channel: 9,
    version: 1,
    k: 1,
    tier: 1,
    parents: [null],
    children: [{ node: 5, address: "127.0.0.2", port: 6000, substreams: 1 }],
  });
  clock.advance(5);
  const chunk = pattern(2000).subarray(0, 1000); // chunk 2 of a 5000-byte file is 1000 bytes
  origin.publishChunk(2, chunk);
  clock.advance(100);
  const decoded = packets.map((p) => decodeData(p)).flatMap((r) => (r.ok ? [r.value] : []));
  t.is(decoded.length, packets.length);
  t.true(decoded.every((p) => p.channel === 9 && p.segmentId === 2));
  const metas = decoded.filter((p) => (p.flags & FLAG_META) !== 0);
  t.is(metas.length, 2, "a META before and after the data");
  const meta = decodeSegmentMeta(metas[0]!.payload);
  if (!meta.ok) throw meta.error;
  t.is(meta.value.durationMs, 0);
  t.is(meta.value.totalBytes, 1000);
  t.is(Buffer.from(meta.value.sha256).toString("hex"), sha(chunk));
  t.is(verifySegmentMeta(9, metas[0]!.payload, TEST_ORIGIN.publicKey), "valid", "signed for channel 9");
  const asm = new Assembler();
  const verifier = new MetaVerifier({ channel: 9, originKey: TEST_ORIGIN.publicKey });
  let done: Buffer | undefined;
  for (const p of decoded) {
    const m = verifier.check(p.payload, "origin", p.segmentId);
    const r =
      (p.flags & FLAG_META) === 0
        ? asm.onChunk(p.segmentId, p.offset, p.payload, 0)
        : m.ok
          ? asm.onMeta(m.meta, 0)
          : undefined;
    if (r?.kind === "complete") done = r.segment.bytes;
  }
  t.true(done?.equals(chunk));
  t.is((origin.status().vod as { chunksPublished: number }).chunksPublished, 1);
  origin.stop();
});

test("fallback routes: /vod/<channel>/<index>.chunk; anything else under /vod is 404 or 400", (t) => {
  t.deepEqual(routeOf("GET", "/vod/movie/12.chunk"), { kind: "vod_chunk", channel: "movie", index: 12 });
  t.deepEqual(routeOf("HEAD", "/vod/movie/0.chunk"), { kind: "vod_chunk", channel: "movie", index: 0 });
  t.is((routeOf("GET", "/vod/movie/x.chunk") as { status: number }).status, 404);
  t.is((routeOf("GET", "/vod/movie/12.ts") as { status: number }).status, 404);
  t.is((routeOf("GET", "/vod/movie/4294967296.chunk") as { status: number }).status, 400);
  t.is((routeOf("GET", "/vod/bad name/1.chunk") as { status: number }).status, 400);
  t.is((routeOf("POST", "/vod/movie/1.chunk") as { status: number }).status, 405);
});

test("the HTTP fallback serves a VoD file's chunks with their signed META, before any live origin is attached", async (t) => {
  const bytes = pattern(2500);
  const { path, dir } = tempFile(bytes);
  const f = VodFile.open("movie", path, 1000);
  const http = new FallbackHttp(
    { logger: new MemoryLogger() },
    { channel: "live", host: "127.0.0.1", port: 0 },
  );
  // As origin/vod-node.ts does: each chunk's META signed for the VoD channel's id (here 9).
  http.attachVod({
    channel: f.channel,
    chunks: f.chunks,
    chunk: (i) => f.chunk(i),
    signedMeta: (c) =>
      encodeSignedMeta(
        9,
        {
          segmentId: c.index,
          durationMs: 0,
          totalBytes: c.bytes.length,
          firstSeq: 0,
          packetCount: 1,
          discontinuity: false,
          publishedAt: 0,
          sha256: c.sha256,
        },
        TEST_ORIGIN.privateKey,
      ),
  });
  const addr = await http.listen();
  t.teardown(async () => {
    await http.close();
    f.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${addr.port}`;
  const res = await fetch(`${base}/vod/movie/2.chunk`);
  t.is(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  t.true(body.equals(bytes.subarray(2000)));
  t.is(res.headers.get("x-tiercast-sha256"), sha(body));
  const meta = Buffer.from(res.headers.get("x-tiercast-meta") ?? "", "base64");
  t.is(verifySegmentMeta(9, meta, TEST_ORIGIN.publicKey), "valid");
  t.like(decodeSegmentMeta(meta), { ok: true, value: { segmentId: 2, totalBytes: 500 } });
  const head = await fetch(`${base}/vod/movie/0.chunk`, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(head.headers.get("content-length"), "1000");
  t.is((await head.arrayBuffer()).byteLength, 0);
  t.is((await fetch(`${base}/vod/movie/3.chunk`)).status, 404, "beyond the file");
  t.is((await fetch(`${base}/vod/other/0.chunk`)).status, 404, "unknown channel");
  t.is((await fetch(`${base}/live/live/1.ts`)).status, 503, "the live routes still wait for the origin");
});

test("--vod specs: name=path pairs, each channel once, never the live channel", (t) => {
  t.deepEqual(parseVodSpecs("movie=/a/b.mp4, doc=c.mkv", "demo"), [
    { channel: "movie", path: "/a/b.mp4" },
    { channel: "doc", path: "c.mkv" },
  ]);
  t.is(typeof parseVodSpecs("movie", "demo"), "string");
  t.is(typeof parseVodSpecs("=x", "demo"), "string");
  t.is(typeof parseVodSpecs("a b=x", "demo"), "string");
  t.is(typeof parseVodSpecs("demo=x", "demo"), "string");
  t.is(typeof parseVodSpecs("m=x,m=y", "demo"), "string");
});
