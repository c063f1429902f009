import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../seams/clock.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryLogger } from "../seams/log.js";
import { IngestError } from "../origin/errors.js";
import {
  LoopSource,
  clipSegmentMs,
  clipStreamKbps,
  loadLoopClip,
  type LoopClip,
} from "../origin/ingest/loop-source.js";
import type { IngestSegment } from "../origin/ingest/segment.js";
import { samplePlaylistPath } from "../origin/package-root.js";

const clip: LoopClip = {
  firstSequence: 0,
  segments: [
    { durationMs: 1000, discontinuity: false, bytes: new Uint8Array(100) },
    { durationMs: 2000, discontinuity: false, bytes: new Uint8Array(200) },
    { durationMs: 500, discontinuity: false, bytes: new Uint8Array(300) },
  ],
};

function run(c: LoopClip): {
  clock: ManualClock;
  got: Array<IngestSegment & { at: number }>;
  source: LoopSource;
} {
  const clock = new ManualClock(0);
  const got: Array<IngestSegment & { at: number }> = [];
  const source = new LoopSource({ clock, logger: new MemoryLogger() }, c);
  source.start((s) => got.push({ ...s, at: clock.now() }));
  return { clock, got, source };
}

test("publishes each segment when it would have finished recording, looping with continuous ids", (t) => {
  const { clock, got } = run(clip);
  clock.advance(999);
  t.is(got.length, 0);
  clock.advance(1);
  t.deepEqual(
    got.map((s) => [s.mediaSequence, s.at]),
    [[0, 1000]],
  );
  clock.advance(10_000); // up to t = 11000
  // Due times: 1000, 3000, 3500 | 4500, 6500, 7000 | 8000, 10000, 10500 | 11500 ...
  t.deepEqual(
    got.map((s) => [s.mediaSequence, s.at, s.discontinuity]),
    [
      [0, 1000, false],
      [1, 3000, false],
      [2, 3500, false],
      [3, 4500, true],
      [4, 6500, false],
      [5, 7000, false],
      [6, 8000, true],
      [7, 10000, false],
      [8, 10500, false],
    ],
  );
  t.deepEqual(
    got.map((s) => s.bytes.length),
    [100, 200, 300, 100, 200, 300, 100, 200, 300],
  );
  t.deepEqual(
    got.map((s) => s.durationMs),
    [1000, 2000, 500, 1000, 2000, 500, 1000, 2000, 500],
  );
});

test("timers that fire late: due segments come out together, in order, and the schedule does not drift", (t) => {
  const manual = new ManualClock(0);
  const LATE = 2500;
  // Every timer fires 2.5 s late (a stalled event loop).
  const late: Clock = {
    now: () => manual.now(),
    setTimeout: (fn, ms) => manual.setTimeout(fn, ms + LATE),
    clearTimeout: (x) => manual.clearTimeout(x),
    setInterval: (fn, ms) => manual.setInterval(fn, ms + LATE),
    clearInterval: (x) => manual.clearInterval(x),
  };
  const got: Array<IngestSegment & { at: number }> = [];
  new LoopSource({ clock: late, logger: new MemoryLogger() }, clip).start((s) =>
    got.push({ ...s, at: manual.now() }),
  );
  // 100 loops of 3.5 s end at 350 s; the last timer fires at most 2.5 s after that.
  manual.advance(350_000 + LATE);
  t.is(got.length, 300);
  got.forEach((s, i) => t.is(s.mediaSequence, i));
  const batches = new Set(got.map((s) => s.at)).size;
  t.true(batches < 300, "late timers publish several segments at once");
});

test("keeps a playlist's own discontinuity tags and starts at its media sequence; stop stops", (t) => {
  const c: LoopClip = {
    firstSequence: 50,
    segments: [
      { durationMs: 1000, discontinuity: false, bytes: new Uint8Array(1) },
      { durationMs: 1000, discontinuity: true, bytes: new Uint8Array(1) },
    ],
  };
  const { clock, got, source } = run(c);
  clock.advance(4000);
  t.deepEqual(
    got.map((s) => [s.mediaSequence, s.discontinuity]),
    [
      [50, false],
      [51, true],
      [52, true],
      [53, true],
    ],
  );
  source.stop();
  clock.advance(10_000);
  t.is(got.length, 4);
  t.is(clock.pendingTimers, 0);
});

test("the bundled sample loads: 30 segments, ~600-800 kbit/s, 1 s segments", async (t) => {
  const c = await loadLoopClip({ playlistPath: samplePlaylistPath() });
  t.is(c.segments.length, 30);
  const kbps = clipStreamKbps(c);
  t.true(kbps >= 550 && kbps <= 850, `${kbps} kbit/s`);
  t.is(clipSegmentMs(c), 1000);
  // MPEG-TS: 188-byte packets starting with the sync byte.
  for (const s of c.segments) {
    t.is(s.bytes.length % 188, 0);
    t.is(s.bytes[0], 0x47);
  }
});

test("loading refuses missing files, empty playlists and segment paths outside the folder", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-loop-"));
  const write = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const code = async (path: string): Promise<string | undefined> => {
    const e = await t.throwsAsync(loadLoopClip({ playlistPath: path }), { instanceOf: IngestError });
    return (e as IngestError | undefined)?.code;
  };
  t.is(await code(join(dir, "missing.m3u8")), "E_SOURCE_UNREADABLE");
  t.is(await code(write("empty.m3u8", "#EXTM3U\n#EXT-X-ENDLIST\n")), "E_SOURCE_EMPTY");
  t.is(await code(write("bad.m3u8", "#EXTM3U\n#EXTINF:x,\na.ts\n")), "E_SOURCE_BAD_PLAYLIST");
  t.is(await code(write("escape.m3u8", "#EXTM3U\n#EXTINF:1,\n../etc/passwd\n")), "E_SOURCE_BAD_URI");
  t.is(await code(write("abs.m3u8", "#EXTM3U\n#EXTINF:1,\n/etc/passwd\n")), "E_SOURCE_BAD_URI");
  t.is(await code(write("nofile.m3u8", "#EXTM3U\n#EXTINF:1,\nnope.ts\n")), "E_SOURCE_UNREADABLE");
  write("zero.ts", "x");
  t.is(await code(write("zero.m3u8", "#EXTM3U\n#EXTINF:0,\nzero.ts\n")), "E_SOURCE_EMPTY");
  const big = write("big.m3u8", "#EXTM3U\n#EXTINF:1,\nzero.ts\n#EXTINF:1,\nzero.ts\n");
  const e = await t.throwsAsync(loadLoopClip({ playlistPath: big, maxTotalBytes: 1 }), {
    instanceOf: IngestError,
  });
  t.is((e as IngestError | undefined)?.code, "E_SOURCE_TOO_LARGE");
});
