import test, { type ExecutionContext } from "ava";
import { request } from "node:http";
import { connect } from "node:net";
import {
  corsOriginError,
  LanHttp,
  PEER_REPAIR_OFF_RETRY_S,
  type LanHttpConfig,
  type LanView,
} from "../agent/lan/lan-http.js";
import { agentCommand, main as agentMain } from "../agent/main.js";
import { UsageError } from "../common/options.js";
import { parseRange } from "../common/http-range.js";
import type { SegmentRecord } from "../agent/store/chunk-store.js";
import { MemoryLogger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";

const BYTES = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));

const view: LanView = {
  channel: "demo",
  playlist: () => "#EXTM3U\n",
  segment: (id): SegmentRecord | undefined =>
    id === 7
      ? {
          channel: "demo",
          id,
          durationMs: 2000,
          discontinuity: false,
          sha256: new Uint8Array(32),
          bytes: BYTES,
          storedAt: 0,
        }
      : undefined,
  status: () => ({ node: 1 }),
  metrics: () => "tiercast_agent_up 1\n",
};

/** `null`: the agent is not up yet. */
async function withServer(
  t: ExecutionContext,
  v: LanView | null = view,
  config: Partial<LanHttpConfig> = {},
): Promise<Address> {
  const lan = new LanHttp(
    { logger: new MemoryLogger(), view: () => v ?? undefined },
    { host: "127.0.0.1", port: 0, ...config },
  );
  const addr = await lan.listen();
  t.teardown(() => lan.close());
  return addr;
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request (fetch would normalise the odd paths away). */
function get(a: Address, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ host: a.address, port: a.port, path, method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

test("playlist, segment, status and metrics, none with a CORS header by default", async (t) => {
  const a = await withServer(t);
  const pl = await get(a, "/live/demo/index.m3u8");
  t.is(pl.status, 200);
  t.is(pl.headers["content-type"], "application/vnd.apple.mpegurl");
  t.is(pl.headers["access-control-allow-origin"], undefined);
  const seg = await get(a, "/live/demo/7.ts");
  t.is(seg.status, 200);
  t.is(seg.headers["content-type"], "video/mp2t");
  t.is(seg.headers["content-length"], "1000");
  t.true(seg.body.equals(BYTES));
  const st = await get(a, "/status");
  t.deepEqual(JSON.parse(st.body.toString()), { node: 1 });
  t.is(st.headers["access-control-allow-origin"], undefined);
  const metrics = await get(a, "/metrics", { Origin: "http://evil.example" });
  t.regex(metrics.body.toString(), /tiercast_agent_up 1/);
  t.is(metrics.headers["access-control-allow-origin"], undefined);
  const head = await get(a, "/live/demo/7.ts", {}, "HEAD");
  t.is(head.status, 200);
  t.is(head.headers["content-length"], "1000");
  t.is(head.body.length, 0);
});

test("Range requests: 206 with Content-Range, suffix ranges, 416 beyond the end", async (t) => {
  const a = await withServer(t);
  const r = await get(a, "/live/demo/7.ts", { Range: "bytes=100-199" });
  t.is(r.status, 206);
  t.is(r.headers["content-range"], "bytes 100-199/1000");
  t.true(r.body.equals(BYTES.subarray(100, 200)));
  const suffix = await get(a, "/live/demo/7.ts", { Range: "bytes=-10" });
  t.true(suffix.body.equals(BYTES.subarray(990)));
  const open = await get(a, "/live/demo/7.ts", { Range: "bytes=995-" });
  t.is(open.headers["content-range"], "bytes 995-999/1000");
  const bad = await get(a, "/live/demo/7.ts", { Range: "bytes=1000-" });
  t.is(bad.status, 416);
  t.is(bad.headers["content-range"], "bytes */1000");
  t.is(
    (await get(a, "/live/demo/7.ts", { Range: "bytes=1-2,5-6" })).status,
    200,
    "several ranges: whole body",
  );
});

test("parseRange table", (t) => {
  t.is(parseRange(undefined, 10), undefined);
  t.deepEqual(parseRange("bytes=0-0", 10), [0, 0]);
  t.deepEqual(parseRange("bytes=5-100", 10), [5, 9]);
  t.deepEqual(parseRange("bytes=-3", 10), [7, 9]);
  t.deepEqual(parseRange("bytes=-30", 10), [0, 9]);
  t.is(parseRange("bytes=10-", 10), "unsatisfiable");
  t.is(parseRange("bytes=-0", 10), "unsatisfiable");
  t.is(parseRange("bytes=5-2", 10), undefined);
  t.is(parseRange("items=1-2", 10), undefined);
  t.is(parseRange("bytes=-", 10), undefined);
});

test("weird paths and methods never crash the server", async (t) => {
  const a = await withServer(t);
  const cases: Array<[string, number, string?]> = [
    ["/", 404],
    ["/live/other/index.m3u8", 404],
    ["/live/demo/8.ts", 404],
    ["/live/demo/99999999999999999999.ts", 404],
    ["/live/demo/-1.ts", 404],
    ["/live/%E0%A4%A/index.m3u8", 404],
    ["/live/demo/../../etc/passwd", 404],
    ["/live//7.ts", 404],
    ["//status", 404],
    ["/status?x=%%", 200],
    ["/live/demo/7.ts?download=1", 200],
    ["/live/d%65mo/7.ts", 200],
    ["/" + "a".repeat(5000), 404],
    ["/status", 405, "POST"],
    ["/status", 204, "OPTIONS"],
  ];
  for (const [path, status, method] of cases) {
    const r = await get(a, path, {}, method ?? "GET");
    t.is(r.status, status, `${method ?? "GET"} ${path}`);
    t.is(r.headers["access-control-allow-origin"], undefined);
    t.is(r.headers["access-control-allow-methods"], undefined);
  }
  t.is((await get(a, "/status")).status, 200, "still up");
});

test("503 while nothing is playable or the agent is not up yet", async (t) => {
  const empty = await withServer(t, { ...view, playlist: () => undefined });
  const r = await get(empty, "/live/demo/index.m3u8");
  t.is(r.status, 503);
  t.is(r.headers["retry-after"], "1");
  const starting = await withServer(t, null);
  t.is((await get(starting, "/status")).status, 503);
});

test("a throwing view is a 500, not a crash", async (t) => {
  const a = await withServer(t, {
    ...view,
    status: () => {
      throw new Error("boom");
    },
  });
  t.is((await get(a, "/status")).status, 500);
  t.is((await get(a, "/live/demo/7.ts")).status, 200);
});

test("a child's repair request is served only within the repair share of the upload, else 503", async (t) => {
  let budget = BYTES.length; // one segment's worth
  const asked: number[] = [];
  const a = await withServer(t, {
    ...view,
    admitPeer: (bytes) => {
      asked.push(bytes);
      if (budget < bytes) return undefined;
      budget -= bytes;
      return 100_000; // bytes/s: 1000 bytes in ~10 ms pieces
    },
  });
  const url = `http://127.0.0.1:${a.port}/live/demo/7.ts`;
  const peer = { "x-tiercast-peer": "1" };
  const first = await fetch(url, { headers: peer });
  t.is(first.status, 200);
  t.true(Buffer.from(await first.arrayBuffer()).equals(BYTES));
  const second = await fetch(url, { headers: peer });
  t.is(second.status, 503);
  t.is(second.headers.get("retry-after"), "1");
  await second.arrayBuffer();
  // A LAN device (no peer header) is not metered.
  const lan = await fetch(url);
  t.is(lan.status, 200);
  await lan.arrayBuffer();
  t.deepEqual(asked, [BYTES.length, BYTES.length]);
});

test("a node with no repair share answers a child's repair with a 503 and a long Retry-After, a LAN device with the segment", async (t) => {
  const a = await withServer(t, {
    ...view,
    servesPeers: false,
    admitPeer: () => t.fail("not metered") as never,
  });
  const url = `http://127.0.0.1:${a.port}/live/demo/7.ts`;
  const child = await fetch(url, { headers: { "x-tiercast-peer": "1" } });
  t.is(child.status, 503);
  t.is(child.headers.get("retry-after"), String(PEER_REPAIR_OFF_RETRY_S));
  await child.arrayBuffer();
  // Also for a segment it does not hold: the child learns to ask the origin either way.
  const missing = await fetch(`http://127.0.0.1:${a.port}/live/demo/999.ts`, {
    headers: { "x-tiercast-peer": "1" },
  });
  t.is(missing.status, 503);
  await missing.arrayBuffer();
  const lan = await fetch(url);
  t.is(lan.status, 200);
  t.true(Buffer.from(await lan.arrayBuffer()).equals(BYTES));
});

// LAN HTTP hardening (issue 11, item 6). Each defence was shown necessary by switching it off
// and watching the test below it fail:
// - CORS: `res.setHeader("Access-Control-Allow-Origin", "*")` put back unconditionally in
//   LanHttp#handle: the default test (above and here) fails on every route;
// - 431: the HPE_HEADER_OVERFLOW answer removed from common/http-server.ts: the socket is closed
//   with no answer and the 431 test fails; maxHeaderSize left at node's 16 KiB: the 10 KB head
//   is served (200) and the test fails;
// - header timeout: server.headersTimeout and requestTimeout set to 0 in createHttpServer: the
//   slowloris connection is still open at the deadline and the test fails.

test("corsOrigin configured: every answer carries it, and a preflight is granted", async (t) => {
  for (const origin of ["http://tv.example:8080", "*"]) {
    const a = await withServer(t, view, { corsOrigin: origin });
    for (const path of ["/status", "/metrics", "/live/demo/index.m3u8", "/live/demo/7.ts", "/nope"]) {
      const r = await get(a, path, { Origin: "http://tv.example:8080" });
      t.is(r.headers["access-control-allow-origin"], origin, `${origin} ${path}`);
    }
    const pre = await get(a, "/live/demo/7.ts", { Origin: "http://tv.example:8080" }, "OPTIONS");
    t.is(pre.status, 204);
    t.is(pre.headers["access-control-allow-origin"], origin);
    t.is(pre.headers["access-control-allow-methods"], "GET, HEAD, OPTIONS");
    t.is(pre.headers["access-control-allow-headers"], "Range");
  }
});

test("corsOrigin must be * or a bare http(s) origin; the agent refuses anything else naming the field", async (t) => {
  t.is(corsOriginError("*"), undefined);
  t.is(corsOriginError("http://tv.example"), undefined);
  t.is(corsOriginError("https://tv.example:8443"), undefined);
  for (const bad of [
    "",
    "tv.example",
    "http://tv.example/",
    "http://tv.example/x",
    "ftp://tv.example",
    "null",
  ])
    t.truthy(corsOriginError(bad), JSON.stringify(bad));
  t.throws(
    () =>
      new LanHttp(
        { logger: new MemoryLogger(), view: () => view },
        { host: "127.0.0.1", port: 0, corsOrigin: "x" },
      ),
    { instanceOf: RangeError, message: /^corsOrigin: / },
  );
  await t.throwsAsync(agentMain(["--cors-origin=http://tv.example/path"]), {
    instanceOf: UsageError,
    message: /^tiercast agent: corsOrigin: /,
  });
  t.false("default" in agentCommand.spec.corsOrigin, "no CORS unless configured");
  t.is(agentCommand.spec.httpHeadersTimeoutMs.default, 10_000);
});

/** Writes `request` on a raw TCP connection; resolves with every byte read until the server closed. */
function rawExchange(a: Address, request: string): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const sock = connect(a.port, a.address, () => sock.write(request));
    const parts: Buffer[] = [];
    sock.on("data", (d: Buffer) => parts.push(d));
    sock.on("close", () => resolve({ text: Buffer.concat(parts).toString("latin1") }));
    sock.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ text: Buffer.concat(parts).toString("latin1"), error: e.code ?? e.message }),
    );
  });
}

test("a request head over 8 KiB is answered 431 (raw socket), and the server keeps serving", async (t) => {
  const a = await withServer(t);
  for (const size of [20_000, 10_000]) {
    const got = await rawExchange(
      a,
      `GET /status HTTP/1.1\r\nHost: lan\r\nX-Big: ${"a".repeat(size)}\r\nConnection: close\r\n\r\n`,
    );
    t.regex(
      got.text,
      /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/,
      `${size} bytes: ${got.error ?? ""}`,
    );
  }
  // Under the limit: served.
  const ok = await rawExchange(
    a,
    `GET /status HTTP/1.1\r\nHost: lan\r\nX-Big: ${"a".repeat(6000)}\r\nConnection: close\r\n\r\n`,
  );
  t.regex(ok.text, /^HTTP\/1\.1 200 OK\r\n/);
  t.is((await get(a, "/status")).status, 200);
});

test("a client that trickles its headers (slowloris) is answered 408 and disconnected at the header timeout", async (t) => {
  const headersTimeoutMs = 300;
  const a = await withServer(t, view, { headersTimeoutMs });
  const sock = connect(a.port, a.address);
  t.teardown(() => sock.destroy());
  const parts: Buffer[] = [];
  sock.on("data", (d: Buffer) => parts.push(d));
  let trickle: NodeJS.Timeout | undefined;
  const started = Date.now();
  const closed = new Promise<number>((resolve) => {
    sock.on("close", () => resolve(Date.now() - started));
    sock.on("error", () => {});
  });
  sock.on("connect", () => {
    sock.write("GET /status HTTP/1.1\r\nHost: lan\r\n");
    // One more header line every 50 ms, forever: never the blank line that ends the head.
    let n = 0;
    trickle = setInterval(() => {
      if (!sock.destroyed) sock.write(`X-Slow-${n++}: a\r\n`);
    }, 50);
  });
  t.teardown(() => clearInterval(trickle));
  const deadlineMs = 10_000;
  let timer: NodeJS.Timeout | undefined;
  const after = await Promise.race([
    closed,
    new Promise<"deadline">((resolve) => (timer = setTimeout(() => resolve("deadline"), deadlineMs))),
  ]);
  clearTimeout(timer);
  t.not(after, "deadline", `the connection was still open after ${deadlineMs} ms`);
  t.log(`closed after ${String(after)} ms (header timeout ${headersTimeoutMs} ms)`);
  t.true((after as number) >= headersTimeoutMs);
  t.regex(Buffer.concat(parts).toString("latin1"), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  t.is((await get(a, "/status")).status, 200, "other clients are served");
});
