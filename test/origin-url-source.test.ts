import test from "ava";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock } from "../seams/clock.js";
import { MemoryLogger } from "../seams/log.js";
import { IngestError } from "../origin/errors.js";
import type { IngestSegment } from "../origin/ingest/segment.js";
import { UrlFetcher, httpUrl, urlSource } from "../origin/ingest/url-source.js";
import { waitFor } from "../tools/cli.js";

/** A tiny live HLS server on loopback; `last` grows as the test "records". */
async function hlsServer(): Promise<{ base: string; state: { last: number }; close: () => Promise<void> }> {
  const state = { last: 1 };
  const server = http.createServer((req, res) => {
    const url = req.url ?? "";
    if (url === "/live/index.m3u8") {
      const lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"];
      for (let i = 0; i <= state.last; i++)
        lines.push("#EXTINF:1.0,", i === 2 ? `/abs/s${i}.ts` : `s${i}.ts`);
      res.end(lines.join("\n") + "\n");
    } else if (/^\/(live|abs)\/s\d+\.ts$/.test(url)) {
      res.end(`bytes of ${url}`);
    } else if (url === "/huge.ts") {
      res.setHeader("content-length", String(10_000));
      res.end(Buffer.alloc(10_000));
    } else if (url === "/chunked-huge.ts") {
      res.write(Buffer.alloc(6000));
      res.end(Buffer.alloc(6000));
    } else if (url === "/slow.ts") {
      // Never answers: the fetcher's timeout must end it.
    } else {
      res.statusCode = 404;
      res.end("no");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    state,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test("polls an HLS URL and publishes new segments in order, resolving relative and absolute URIs", async (t) => {
  const srv = await hlsServer();
  t.teardown(srv.close);
  const got: IngestSegment[] = [];
  const source = urlSource(
    { clock: systemClock, logger: new MemoryLogger() },
    { url: `${srv.base}/live/index.m3u8`, pollMs: 50 },
  );
  source.start((s) => got.push(s));
  t.teardown(() => source.stop());
  await waitFor("segments 0-1", () => (got.length >= 2 ? true : undefined), 5000, 20);
  srv.state.last = 3;
  await waitFor("segments 2-3", () => (got.length >= 4 ? true : undefined), 5000, 20);
  t.deepEqual(
    got.map((s) => [s.mediaSequence, Buffer.from(s.bytes).toString()]),
    [
      [0, "bytes of /live/s0.ts"],
      [1, "bytes of /live/s1.ts"],
      [2, "bytes of /abs/s2.ts"],
      [3, "bytes of /live/s3.ts"],
    ],
  );
});

test("segment fetches are bounded in size and time, and refuse non-200", async (t) => {
  const srv = await hlsServer();
  t.teardown(srv.close);
  const fetcher = new UrlFetcher({
    url: `${srv.base}/live/index.m3u8`,
    maxSegmentBytes: 8000,
    timeoutMs: 300,
  });
  const code = async (uri: string): Promise<string | undefined> => {
    const e = await t.throwsAsync(
      fetcher.segment({ uri, durationMs: 1000, mediaSequence: 0, discontinuity: false }),
    );
    return (e as IngestError | undefined)?.code;
  };
  t.is(await code("/huge.ts"), "E_SOURCE_TOO_LARGE");
  t.is(await code("/chunked-huge.ts"), "E_SOURCE_TOO_LARGE");
  t.is(await code("/slow.ts"), "E_SOURCE_TIMEOUT");
  t.is(await code("/missing.ts"), "E_SOURCE_HTTP_STATUS");
  t.is(await code("https://example.com/x.ts"), "E_SOURCE_BAD_URI");
});

test("only http:// URLs", (t) => {
  t.is(httpUrl("http://127.0.0.1/a.m3u8").hostname, "127.0.0.1");
  for (const bad of ["https://example.com/a.m3u8", "file:///etc/passwd", "not a url"]) {
    const e = t.throws(() => new UrlFetcher({ url: bad }), { instanceOf: IngestError });
    t.is(e?.code, "E_SOURCE_BAD_URI");
  }
});
