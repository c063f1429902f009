/**
 * The folder source against a real live folder: a short real ffmpeg run (-re, ~4 s) writes a
 * live HLS playlist and segments while the origin follows it; every segment must be published
 * once, in order, with the bytes ffmpeg wrote.
 *
 * @heavy privileged, processes: a live ffmpeg run writes the folder
 */
import test from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../seams/clock.js";
import { MemoryLogger } from "../seams/log.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { dirSource } from "../origin/ingest/dir-source.js";
import { parseMediaPlaylist } from "../origin/m3u8.js";
import { Origin } from "../origin/origin.js";
import { waitFor } from "../tools/cli.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { needs } from "./helpers/needs.js";

const ffmpegTest = needs(test, "test/origin-dir-source.test.ts", ["ffmpeg"]) ? test : test.skip;

ffmpegTest("follows a folder ffmpeg writes live and publishes its segments in order", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-live-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const playlistPath = join(dir, "index.m3u8");
  const logger = new MemoryLogger();
  const net = new MemoryNetwork(systemClock);
  const origin = new Origin(
    { clock: systemClock, transport: net.bind("127.0.0.1"), logger, signingKey: TEST_ORIGIN.privateKey },
    {
      control: { address: "127.0.0.1", port: 7700 },
      channel: "live",
      key: new Uint8Array(32),
      trustOnFirstUse: true, // no control in this test
      streamKbps: 300,
      segmentMs: 1000,
      fallbackUrl: "http://127.0.0.1:1",
      httpPort: 1,
    },
  );
  // The source starts before ffmpeg: the folder is empty, and the first polls find nothing.
  const source = dirSource({ clock: systemClock, logger }, { playlistPath, pollMs: 100, liveEdge: 100 });
  source.start((s) => origin.publish(s));
  t.teardown(() => source.stop());

  const ffmpeg = spawn(
    "ffmpeg",
    [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-re"],
      ...["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1"],
      ...["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"],
      ...["-f", "hls", "-hls_time", "1", "-hls_list_size", "5"],
      ...["-hls_segment_filename", join(dir, "seg%03d.ts"), playlistPath],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  ffmpeg.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => ffmpeg.kill("SIGKILL"));
  const code = await new Promise<number | null>((resolve) => ffmpeg.on("close", resolve));
  t.is(code, 0, stderr);

  const final = parseMediaPlaylist(readFileSync(playlistPath, "utf8"));
  if (!final.ok) return t.fail(final.error.message);
  t.true(final.value.endList);
  const last = final.value.segments[final.value.segments.length - 1]!;
  t.true(last.mediaSequence >= 3, `ffmpeg wrote ${last.mediaSequence + 1} segments`);
  await waitFor(
    "the last segment to be published",
    () => (origin.window.newest?.id === last.mediaSequence ? true : undefined),
    10_000,
    50,
  );

  const published = origin.window.latest(100);
  t.deepEqual(
    published.map((s) => s.id),
    Array.from({ length: last.mediaSequence + 1 }, (_, i) => i),
  );
  for (const s of published) {
    t.false(s.discontinuity);
    t.true(Buffer.from(s.bytes).equals(readFileSync(join(dir, `seg${String(s.id).padStart(3, "0")}.ts`))));
  }
  const logged = logger.lines.filter((l) => l.event === "segment_published").map((l) => l.id);
  t.deepEqual(
    logged,
    published.map((s) => s.id),
  );
});

test("the folder fetcher refuses a playlist caught mid-write and segment paths outside the folder", async (t) => {
  const { writeFileSync } = await import("node:fs");
  const { DirFetcher } = await import("../origin/ingest/dir-source.js");
  const dir = mkdtempSync(join(tmpdir(), "tiercast-live-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const playlistPath = join(dir, "index.m3u8");
  const fetcher = new DirFetcher(playlistPath);
  await t.throwsAsync(fetcher.playlist(), { message: /cannot read/ });
  writeFileSync(playlistPath, "#EXTM3U\n#EXTINF:1.0,\nseg00");
  const partial = await t.throwsAsync(fetcher.playlist());
  t.is((partial as { code?: string } | undefined)?.code, "E_SOURCE_PARTIAL");
  writeFileSync(playlistPath, "#EXTM3U\n#EXTINF:1.0,\nseg000.ts\n");
  t.regex(await fetcher.playlist(), /seg000\.ts/);
  const seg = { uri: "../x.ts", durationMs: 1000, mediaSequence: 0, discontinuity: false };
  const escape = await t.throwsAsync(fetcher.segment(seg));
  t.is((escape as { code?: string } | undefined)?.code, "E_SOURCE_BAD_URI");
  writeFileSync(join(dir, "seg000.ts"), "");
  const empty = await t.throwsAsync(fetcher.segment({ ...seg, uri: "seg000.ts" }));
  t.is((empty as { code?: string } | undefined)?.code, "E_SOURCE_UNREADABLE");
});
