import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryLogger } from "../seams/log.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { FallbackHttp } from "../origin/fallback-http.js";
import { parseMediaPlaylist } from "../origin/m3u8.js";
import { Origin } from "../origin/origin.js";
import { decodeSegmentMeta, encodeSignedMeta, verifySegmentMeta } from "../protocol/segment-meta.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(
  port: number,
  path: string,
  method = "GET",
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** Sends a raw request line (things http.request refuses to send) and returns the status code. */
function rawStatus(port: number, requestLine: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () =>
      socket.write(`${requestLine}\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on("error", reject);
  });
}

function segment(id: number): Buffer {
  return Buffer.from(`segment ${id} `.repeat(50 + id));
}

const DISCONTINUITIES = new Set([10, 30, 66]);

async function setup(t: ExecutionContext): Promise<{ port: number; http: FallbackHttp; origin: Origin }> {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const origin = new Origin(
    {
      clock,
      transport: new MemoryNetwork(clock).bind("127.0.0.1"),
      logger,
      signingKey: TEST_ORIGIN.privateKey,
    },
    {
      control: { address: "127.0.0.1", port: 7700 },
      channel: "demo",
      key: new Uint8Array(32),
      trustOnFirstUse: true, // no control in this test
      streamKbps: 700,
      segmentMs: 1000,
      fallbackUrl: "http://127.0.0.1:0",
      httpPort: 0,
    },
  );
  for (let i = 0; i < 70; i++) {
    origin.publish({
      mediaSequence: i,
      durationMs: i === 69 ? 1500 : 1000,
      discontinuity: DISCONTINUITIES.has(i),
      bytes: segment(i),
    });
  }
  const server = new FallbackHttp({ origin, logger }, { channel: "demo", host: "127.0.0.1", port: 0 });
  const { port } = await server.listen();
  t.teardown(() => server.close());
  return { port, http: server, origin };
}

test("segments with their headers; HEAD serves no body; expired and unknown ids are 404", async (t) => {
  const { port } = await setup(t);
  const r = await request(port, "/live/demo/66.ts");
  t.is(r.status, 200);
  t.true(r.body.equals(segment(66)));
  t.is(r.headers["content-type"], "video/mp2t");
  t.is(r.headers["x-tiercast-duration-ms"], "1000");
  t.is(r.headers["x-tiercast-discontinuity"], "1");
  t.is(r.headers["x-tiercast-sha256"], createHash("sha256").update(segment(66)).digest("hex"));
  t.is(r.headers["access-control-allow-origin"], "*");
  t.is((await request(port, "/live/demo/67.ts")).headers["x-tiercast-discontinuity"], "0");
  const head = await request(port, "/live/demo/66.ts", "HEAD");
  t.is(head.status, 200);
  t.is(head.body.length, 0);
  t.is(head.headers["content-length"], String(segment(66).length));
  t.is((await request(port, "/live/demo/9.ts")).status, 404, "expired (the window holds 60)");
  t.is((await request(port, "/live/demo/10.ts")).status, 200, "the oldest held");
  t.is((await request(port, "/live/demo/70.ts")).status, 404, "not yet published");
  t.is((await request(port, "/live/other/66.ts")).status, 404, "another channel");
});

test("a Range request gets only those bytes (206, Content-Range) and the whole segment's hash", async (t) => {
  const { port } = await setup(t);
  const whole = segment(66);
  const r = await request(port, "/live/demo/66.ts", "GET", { range: "bytes=100-199" });
  t.is(r.status, 206);
  t.is(r.headers["content-range"], `bytes 100-199/${whole.length}`);
  t.is(r.headers["accept-ranges"], "bytes");
  t.true(r.body.equals(whole.subarray(100, 200)));
  t.is(r.headers["x-tiercast-sha256"], createHash("sha256").update(whole).digest("hex"));
  const tail = await request(port, "/live/demo/66.ts", "GET", { range: `bytes=${whole.length - 5}-` });
  t.true(tail.body.equals(whole.subarray(whole.length - 5)));
  const beyond = await request(port, "/live/demo/66.ts", "GET", { range: `bytes=${whole.length}-` });
  t.is(beyond.status, 416);
  t.is(beyond.headers["content-range"], `bytes */${whole.length}`);
  const several = await request(port, "/live/demo/66.ts", "GET", { range: "bytes=0-1,5-6" });
  t.is(several.status, 200, "several ranges: the whole segment");
  t.true(several.body.equals(whole));
});

test("latest.json lists the newest 30, oldest first", async (t) => {
  const { port } = await setup(t);
  const r = await request(port, "/live/demo/latest.json");
  t.is(r.status, 200);
  const j = JSON.parse(r.body.toString()) as { channel: string; segments: Array<Record<string, unknown>> };
  t.is(j.channel, "demo");
  t.is(j.segments.length, 30);
  t.deepEqual(
    j.segments.map((s) => s.id),
    Array.from({ length: 30 }, (_, i) => 40 + i),
  );
  t.deepEqual(j.segments[26], {
    id: 66,
    durationMs: 1000,
    discontinuity: true,
    sha256: createHash("sha256").update(segment(66)).digest("hex"),
    bytes: segment(66).length,
  });
});

test("index.m3u8 is a sliding live playlist with the right media and discontinuity sequences", async (t) => {
  const { port } = await setup(t);
  const r = await request(port, "/live/demo/index.m3u8");
  t.is(r.status, 200);
  t.is(r.headers["content-type"], "application/vnd.apple.mpegurl");
  const p = parseMediaPlaylist(r.body.toString());
  if (!p.ok) return t.fail(p.error.message);
  t.false(p.value.endList);
  t.is(p.value.mediaSequence, 64);
  t.is(p.value.discontinuitySequence, 2, "the tags of 10 and 30 slid out");
  t.is(p.value.targetDurationMs, 2000);
  t.deepEqual(
    p.value.segments.map((s) => [s.uri, s.mediaSequence, s.discontinuity, s.durationMs]),
    [
      ["64.ts", 64, false, 1000],
      ["65.ts", 65, false, 1000],
      ["66.ts", 66, true, 1000],
      ["67.ts", 67, false, 1000],
      ["68.ts", 68, false, 1000],
      ["69.ts", 69, false, 1500],
    ],
  );
});

test("bad paths are 400, unknown ones 404, other methods 405; the server survives odd requests", async (t) => {
  const { port } = await setup(t);
  const cases: Array<[string, number]> = [
    ["/live/demo/abc.ts", 400],
    ["/live/demo/-1.ts", 400],
    ["/live/demo/1.5.ts", 400],
    ["/live/demo/99999999999.ts", 400],
    ["/live/demo/4294967296.ts", 400],
    ["/live/demo/.ts", 400],
    ["/live/%zz/1.ts", 400],
    ["/live/de%2Fmo/1.ts", 400],
    ["/live/demo/%zz", 400],
    ["/live/demo/", 404],
    ["/live/demo/1.ts/extra", 404],
    ["/live/demo/index.m3u", 404],
    ["/live", 404],
    ["/", 404],
    ["/nope", 404],
    ["/status?x=1", 200],
    ["/live/demo/66.ts?cachebust=1", 200],
  ];
  for (const [path, status] of cases) t.is((await request(port, path)).status, status, path);
  t.is((await request(port, "/live/demo/1.ts", "POST")).status, 405);
  t.is((await request(port, "/live/demo/1.ts", "DELETE")).status, 405);
  t.is(await rawStatus(port, "GET * HTTP/1.1"), 400);
  t.is(await rawStatus(port, "GET http://example/live/demo/66.ts HTTP/1.1"), 400);
  t.is(await rawStatus(port, `GET /${"a".repeat(5000)} HTTP/1.1`), 400);
  t.is(await rawStatus(port, "GET /live/demo/66.ts\u0000 HTTP/1.1"), 400);
  t.is((await request(port, "/live/demo/66.ts")).status, 200, "still serving");
});

test("every body byte served is counted as httpServed and reported in /status and /metrics", async (t) => {
  const { port, http: server } = await setup(t);
  let served = 0;
  for (const path of [
    "/live/demo/60.ts",
    "/live/demo/latest.json",
    "/live/demo/index.m3u8",
    "/live/demo/5.ts",
    "/nope",
  ]) {
    served += (await request(port, path)).body.length;
  }
  await request(port, "/live/demo/61.ts", "HEAD");
  t.is(server.httpServed, served);
  const status = await request(port, "/status");
  const j = JSON.parse(status.body.toString()) as Record<string, unknown>;
  t.like(j, { proc: "origin", channel: "demo", segmentsPublished: 70, newestSegment: 69 });
  t.deepEqual((j.bytes as Record<string, number>).httpServed, served);
  t.is(typeof (j.bytes as Record<string, number>).udpSent, "number");
  served += status.body.length;
  const metrics = await request(port, "/metrics");
  t.is(metrics.status, 200);
  t.regex(
    metrics.body.toString(),
    new RegExp(`^tiercast_origin_http_served_bytes_total\\{channel="demo"\\} ${served}$`, "m"),
  );
  t.regex(metrics.body.toString(), /^tiercast_origin_segments_published_total\{channel="demo"\} 70$/m);
});

test("before the origin is attached every route answers 503", async (t) => {
  const server = new FallbackHttp(
    { logger: new MemoryLogger() },
    { channel: "demo", host: "127.0.0.1", port: 0 },
  );
  const { port } = await server.listen();
  t.teardown(() => server.close());
  t.is((await request(port, "/status")).status, 503);
});

test("each segment goes out with its signed META (x-tiercast-meta), Range answers too; none before the channel id is known", async (t) => {
  const { port, http: server, origin } = await setup(t);
  t.is((await request(port, "/live/demo/66.ts")).headers["x-tiercast-meta"], undefined);
  // As the joined origin does (Origin.signedMeta): the META sent, signed for the channel's id.
  server.attach({
    window: origin.window,
    status: () => origin.status(),
    metrics: () => origin.metrics(),
    signedMeta: (id) => {
      const s = origin.window.get(id);
      return s === undefined ? undefined : encodeSignedMeta(5, s.meta, TEST_ORIGIN.privateKey);
    },
  });
  for (const headers of [{}, { range: "bytes=10-19" }] as Array<Record<string, string>>) {
    const r = await request(port, "/live/demo/66.ts", "GET", headers);
    const payload = Buffer.from(String(r.headers["x-tiercast-meta"]), "base64");
    t.is(verifySegmentMeta(5, payload, TEST_ORIGIN.publicKey), "valid");
    const m = decodeSegmentMeta(payload);
    if (!m.ok) return t.fail(m.error.message);
    t.like(m.value, { segmentId: 66, totalBytes: segment(66).length, discontinuity: true });
    t.is(Buffer.from(m.value.sha256).toString("hex"), createHash("sha256").update(segment(66)).digest("hex"));
    t.regex(String(r.headers["access-control-expose-headers"]), /x-tiercast-meta/);
  }
});
