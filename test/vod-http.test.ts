/**
 * An agent's VoD channel served to LAN devices (agent/vod/vod.ts + vod-http.ts behind the real
 * LanHttp), with the origin's real HTTP fallback on loopback serving the file's chunks:
 * HEAD, whole-file GET and Range requests (inside a chunk, across chunk boundaries, the last
 * partial chunk, suffix and open ranges, 416) give the file's bytes exactly; chunks come from
 * the cache, from peers, or from the origin when missing; a chunk that fails its hash — from a
 * peer, from the origin or on disk — is never stored or served.
 */
import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryChunkStore } from "../agent/store/chunk-store.js";
import { LanHttp, type LanView } from "../agent/lan/lan-http.js";
import { VodChannel } from "../agent/vod/vod.js";
import { Pacer } from "../dataplane/pacer.js";
import { FallbackHttp } from "../origin/fallback-http.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { randomKey, TEST_ORIGIN, type TestKey } from "../tools/origin-key.js";
import { encodeSignedMeta } from "../protocol/segment-meta.js";
import { VodFile } from "../origin/vod-file.js";
import type { ChannelInfo, VodInfo } from "../protocol/messages.js";
import { chunkSpan } from "../protocol/vod-chunks.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";

const CHUNK = 64 * 1024;
const SIZE = 5 * CHUNK + 12_345; // 6 chunks, the last one short
const PARENT = { address: "10.0.0.1", port: 5000 };

function fileBytes(): Buffer {
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

interface Setup {
  file: Buffer;
  vod: VodChannel;
  store: MemoryChunkStore;
  lan: string;
  fetches: () => number;
  logger: MemoryLogger;
}

interface SetupOptions {
  originUp?: boolean;
  fetch?: typeof fetch;
  /** Who signs the fallback's chunk METAs (default TEST_ORIGIN); "none": no x-tiercast-meta. */
  signer?: TestKey | "none";
  /** ChannelInfo.originKey (default TEST_ORIGIN's); null: none (an older control). */
  originKey?: Uint8Array | null;
  /** VodChannelConfig.verifySegments (tests only). */
  verifySegments?: boolean;
}

async function setup(t: ExecutionContext, opts: SetupOptions = {}): Promise<Setup> {
  const file = fileBytes();
  const dir = mkdtempSync(join(tmpdir(), "tiercast-vod-http-"));
  writeFileSync(join(dir, "movie.mp4"), file);
  const vf = VodFile.open("movie", join(dir, "movie.mp4"), CHUNK);
  const origin = new FallbackHttp(
    { logger: new MemoryLogger() },
    { channel: "live", host: "127.0.0.1", port: 0 },
  );
  const signer = opts.signer ?? TEST_ORIGIN;
  // As origin/vod-node.ts does: each chunk with its META signed for the channel (id 9).
  origin.attachVod({
    channel: vf.channel,
    chunks: vf.chunks,
    chunk: (i) => vf.chunk(i),
    signedMeta: (c) =>
      signer === "none"
        ? undefined
        : encodeSignedMeta(
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
            signer.privateKey,
          ),
  });
  const oaddr = await origin.listen();
  if (opts.originUp === false) await origin.close();
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock);
  const logger = new MemoryLogger();
  const store = new MemoryChunkStore(64 << 20);
  let calls = 0;
  const realFetch = opts.fetch ?? globalThis.fetch;
  const info: ChannelInfo & { vod: VodInfo } = {
    name: "movie",
    id: 9,
    k: 1,
    streamKbps: 2000,
    segmentMs: 262,
    fallbackUrl: `http://127.0.0.1:${oaddr.port}`,
    vod: vf.info,
    ...(opts.originKey === null ? {} : { originKey: opts.originKey ?? TEST_ORIGIN.publicKey }),
  };
  const vod = new VodChannel(
    {
      clock,
      logger,
      pacer: new Pacer({ clock, transport: net.bind("10.0.0.2", 5000) }, { rateBytesPerSec: 0 }),
      store,
      fetch: ((...a: Parameters<typeof fetch>) => {
        calls++;
        return realFetch(...a);
      }) as typeof fetch,
    },
    {
      info,
      seqWindow: 4096,
      formerParentGraceMs: 2000,
      ...(opts.verifySegments === undefined ? {} : { verifySegments: opts.verifySegments }),
    },
  );
  vod.setAssignment({
    channel: 9,
    version: 1,
    k: 1,
    tier: 2,
    parents: [{ node: 1, ...PARENT }],
    children: [],
  });
  const view: LanView = {
    channel: "live",
    playlist: () => undefined,
    segment: () => undefined,
    status: () => ({}),
    metrics: () => "",
    vodChannel: (name) => (name === "movie" ? vod : undefined),
  };
  const lanHttp = new LanHttp({ logger, view: () => view }, { host: "127.0.0.1", port: 0 });
  const laddr = await lanHttp.listen();
  t.teardown(async () => {
    vod.stop();
    await lanHttp.close();
    await origin.close();
    vf.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    file,
    vod,
    store,
    lan: `http://127.0.0.1:${laddr.port}/vod/movie/movie.mp4`,
    fetches: () => calls,
    logger,
  };
}

/**
 * The file's chunk `i` as peers send it: META, data packets, META (optionally with a byte flipped,
 * or a hostile peer's: other bytes under a META signed by its own key).
 */
function feedChunk(s: Setup, i: number, seq: number, tamper = false, hostile?: TestKey): number {
  const span = chunkSpan(s.vod.info.vod, i);
  const bytes =
    hostile === undefined
      ? Buffer.from(s.file.subarray(span.offset, span.offset + span.length))
      : Buffer.alloc(span.length, 0x66);
  const p = packetizeSegment({
    channel: 9,
    signingKey: (hostile ?? TEST_ORIGIN).privateKey,
    segmentId: i,
    firstSeq: seq,
    k: 1,
    durationMs: 0,
    discontinuity: false,
    publishedAt: 0,
    bytes,
  });
  for (const [n, pkt] of p.packets.entries()) {
    const d = Buffer.from(pkt.datagram);
    if (tamper && n === 2) d[d.length - 1]! ^= 0xff;
    s.vod.onDatagram(d, PARENT);
  }
  return p.nextSeq;
}

async function get(url: string, range?: string, method = "GET") {
  const res = await fetch(url, { method, headers: range === undefined ? {} : { range } });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

test("HEAD and a whole-file GET: the file's bytes, Accept-Ranges, its type; chunks fetched once, then from the cache", async (t) => {
  const s = await setup(t);
  const head = await get(s.lan, undefined, "HEAD");
  t.is(head.res.status, 200);
  t.is(head.res.headers.get("content-length"), String(SIZE));
  t.is(head.res.headers.get("accept-ranges"), "bytes");
  t.is(head.res.headers.get("content-type"), "video/mp4");
  t.is(head.body.length, 0);
  t.is(s.fetches(), 0, "HEAD fetches nothing");
  const all = await get(s.lan);
  t.is(all.res.status, 200);
  t.true(all.body.equals(s.file));
  t.is(s.fetches(), 6, "each chunk once from the origin");
  t.is(s.vod.held(), 6);
  t.is(s.vod.stats.fromFallback, 6);
  const again = await get(s.lan);
  t.true(again.body.equals(s.file));
  t.is(s.fetches(), 6, "the second time from the cache");
});

test("Range requests give exactly the bytes asked for, across chunk boundaries and in the last partial chunk", async (t) => {
  const s = await setup(t);
  const cases: Array<[string, number, number]> = [
    ["bytes=0-0", 0, 0],
    [`bytes=${CHUNK - 10}-${CHUNK + 9}`, CHUNK - 10, CHUNK + 9],
    [`bytes=100000-${3 * CHUNK + 7}`, 100000, 3 * CHUNK + 7],
    [`bytes=${5 * CHUNK}-${5 * CHUNK}`, 5 * CHUNK, 5 * CHUNK],
    [`bytes=${SIZE - 5000}-`, SIZE - 5000, SIZE - 1],
    ["bytes=-20000", SIZE - 20000, SIZE - 1],
    [`bytes=${SIZE - 3}-${SIZE + 1000}`, SIZE - 3, SIZE - 1],
    [`bytes=0-${SIZE * 2}`, 0, SIZE - 1],
  ];
  for (const [range, a, b] of cases) {
    const r = await get(s.lan, range);
    t.is(r.res.status, 206, range);
    t.is(r.res.headers.get("content-range"), `bytes ${a}-${b}/${SIZE}`, range);
    t.is(r.res.headers.get("content-length"), String(b - a + 1), range);
    t.true(r.body.equals(s.file.subarray(a, b + 1)), range);
  }
  const headRange = await get(s.lan, "bytes=10-19", "HEAD");
  t.is(headRange.res.status, 206);
  t.is(headRange.res.headers.get("content-range"), `bytes 10-19/${SIZE}`);
  for (const range of [`bytes=${SIZE}-`, "bytes=-0", `bytes=${SIZE + 5}-${SIZE + 9}`]) {
    const r = await get(s.lan, range);
    t.is(r.res.status, 416, range);
    t.is(r.res.headers.get("content-range"), `bytes */${SIZE}`, range);
  }
  // Not a usable single range: the whole file, 200.
  for (const range of ["bytes=5-2", "bytes=0-1,5-6", "items=0-1"]) {
    const r = await get(s.lan, range);
    t.is(r.res.status, 200, range);
    t.true(r.body.equals(s.file), range);
  }
});

test("unknown VoD channel or file name: 404", async (t) => {
  const s = await setup(t);
  t.is((await get(s.lan.replace("/movie/movie.mp4", "/other/movie.mp4"))).res.status, 404);
  t.is((await get(s.lan.replace("movie.mp4", "film.mp4"))).res.status, 404);
  t.is(s.fetches(), 0);
});

test("a chunk neither cached nor available from the origin: 503 with Retry-After", async (t) => {
  const s = await setup(t, { originUp: false });
  const r = await get(s.lan, "bytes=0-99");
  t.is(r.res.status, 503);
  t.is(r.res.headers.get("retry-after"), "2");
  t.is(s.vod.held(), 0);
});

test("chunks relayed by peers are stored and served without the origin", async (t) => {
  const s = await setup(t, { originUp: false });
  let seq = 100;
  for (let i = 0; i < 6; i++) seq = feedChunk(s, i, seq);
  t.is(s.vod.stats.fromPeers, 6);
  const all = await get(s.lan);
  t.is(all.res.status, 200);
  t.true(all.body.equals(s.file));
  t.is(s.fetches(), 0);
});

test("a poisoned chunk from a peer is never stored; the player gets the origin's verified bytes", async (t) => {
  const s = await setup(t);
  feedChunk(s, 1, 0, true);
  t.is(s.vod.stats.poisoned, 1);
  t.false(s.vod.has(1));
  const r = await get(s.lan, `bytes=${CHUNK}-${2 * CHUNK - 1}`);
  t.is(r.res.status, 206);
  t.true(r.body.equals(s.file.subarray(CHUNK, 2 * CHUNK)));
  t.is(s.fetches(), 1);
  t.true(s.vod.has(1));
});

test("bytes from the origin that do not match its hash are refused (503), and nothing is stored", async (t) => {
  const lying = (async (...a: Parameters<typeof fetch>) => {
    const res = await fetch(...a);
    const body = Buffer.from(await res.arrayBuffer());
    body[0]! ^= 1;
    return new Response(body, { status: res.status, headers: res.headers });
  }) as typeof fetch;
  const s = await setup(t, { fetch: lying });
  const r = await get(s.lan, "bytes=0-9");
  t.is(r.res.status, 503);
  t.is(s.vod.held(), 0);
  t.is(s.vod.stats.fallbackFailed, 1);
});

test("a cached chunk whose bytes went bad on disk is fetched again, never served", async (t) => {
  const s = await setup(t);
  const good = s.file.subarray(0, CHUNK);
  const bad = Buffer.from(good);
  bad[5]! ^= 0x40;
  s.store.put({
    channel: "movie",
    id: 0,
    durationMs: 0,
    discontinuity: false,
    sha256: createHash("sha256").update(good).digest(),
    bytes: bad,
    storedAt: 0,
  });
  const r = await get(s.lan, "bytes=0-99");
  t.is(r.res.status, 206);
  t.true(r.body.equals(s.file.subarray(0, 100)));
  t.is(s.vod.stats.corrupt, 1);
  t.is(s.fetches(), 1);
});

test("a chunk under a META that is not the VoD origin's (a hostile peer) is never stored; the player gets the origin's", async (t) => {
  const s = await setup(t);
  feedChunk(s, 1, 0, false, randomKey());
  t.false(s.vod.has(1));
  t.is(s.vod.stats.metaRejected, 2, "both META copies refused (the second without a verification)");
  t.is(s.vod.stats.poisoned, 0);
  const r = await get(s.lan, `bytes=${CHUNK}-${2 * CHUNK - 1}`);
  t.is(r.res.status, 206);
  t.true(r.body.equals(s.file.subarray(CHUNK, 2 * CHUNK)));
  t.true(s.vod.has(1));
});

test("negative control: with verification off (tests only) a hostile peer's chunk is stored and served", async (t) => {
  const s = await setup(t, { verifySegments: false });
  feedChunk(s, 1, 0, false, randomKey());
  t.true(s.vod.has(1));
  const r = await get(s.lan, `bytes=${CHUNK}-${CHUNK + 9}`);
  t.true(r.body.equals(Buffer.alloc(10, 0x66)), "the attacker's bytes reach the player");
});

test("a chunk from the origin fallback without its signed META, or signed by another key, is refused (503)", async (t) => {
  for (const signer of ["none", randomKey()] as const) {
    const s = await setup(t, { signer });
    const r = await get(s.lan, "bytes=0-9");
    t.is(r.res.status, 503);
    t.is(s.vod.held(), 0);
    t.is(s.vod.stats.fallbackFailed, 1);
    t.true(
      s.logger.lines.every((l) => l.event !== "chunk_committed"),
      "nothing committed",
    );
    t.is(s.vod.stats.metaRejected, signer === "none" ? 0 : 1);
  }
});

test("a VoD channel without an origin key (an older control) stores nothing (fail closed)", async (t) => {
  const s = await setup(t, { originKey: null });
  feedChunk(s, 0, 0);
  t.false(s.vod.has(0));
  t.is(s.vod.metas.stats.byReason.no_key, 2);
  t.is((await get(s.lan, "bytes=0-9")).res.status, 503);
  t.is(s.vod.held(), 0);
});
