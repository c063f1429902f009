/**
 * MPEG-TS timestamp shifting for the looped clip: the shifted loop point decodes with no error
 * in ffmpeg, where the unshifted one makes ffmpeg complain that time went backwards.
 *
 * @heavy privileged, processes: ffmpeg decodes across the loop point
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  clipSpan,
  shiftTimestamps,
  TS_CLOCK_WRAP,
  TS_TICKS_PER_SECOND,
} from "../origin/ingest/ts-timestamps.js";
import { samplePlaylistPath } from "../origin/package-root.js";
import { loadLoopClip } from "../origin/ingest/loop-source.js";
import { needs } from "./helpers/needs.js";

const sampleDir = join(samplePlaylistPath(), "..");
const seg = (i: number): Uint8Array =>
  new Uint8Array(readFileSync(join(sampleDir, `seg${String(i).padStart(3, "0")}.ts`)));

test("the sample clip's span covers its 30 s of media", async (t) => {
  const clip = await loadLoopClip({ playlistPath: samplePlaylistPath() });
  const span = clip.span!;
  t.truthy(span);
  const seconds = (span.endTicks - span.startTicks) / TS_TICKS_PER_SECOND;
  const declared = clip.segments.reduce((a, s) => a + s.durationMs, 0) / 1000;
  t.log(`span ${seconds.toFixed(3)} s, playlist says ${declared} s`);
  t.true(Math.abs(seconds - declared) < 0.1);
});

test("shifting forward then back restores the bytes; shifting by 2^33 changes nothing", (t) => {
  const original = seg(3);
  const there = shiftTimestamps(original, 123_456_789);
  t.notDeepEqual(there, original);
  t.is(there.length, original.length);
  t.deepEqual(shiftTimestamps(there, -123_456_789), original);
  t.deepEqual(shiftTimestamps(original, TS_CLOCK_WRAP), original);
  const span = clipSpan([there])!;
  t.is(span.startTicks, clipSpan([original])!.startTicks + 123_456_789);
});

test("bytes that are not TS pass through unchanged and have no span", (t) => {
  const junk = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  t.deepEqual(shiftTimestamps(junk, 90_000), junk);
  t.is(clipSpan([junk]), undefined);
});

function decodeLoopPoint(shift: number): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-loop-"));
  try {
    const names: string[] = [];
    const put = (name: string, bytes: Uint8Array): void => {
      writeFileSync(join(dir, name), bytes);
      names.push(name);
    };
    put("a.ts", seg(28));
    put("b.ts", seg(29));
    put("c.ts", shiftTimestamps(seg(0), shift));
    put("d.ts", shiftTimestamps(seg(1), shift));
    const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:28"];
    names.forEach((n, i) => {
      if (i === 2) lines.push("#EXT-X-DISCONTINUITY");
      lines.push("#EXTINF:1.000,", n);
    });
    lines.push("#EXT-X-ENDLIST");
    writeFileSync(join(dir, "index.m3u8"), lines.join("\n") + "\n");
    const ff = spawnSync(
      "ffmpeg",
      ["-nostdin", "-v", "error", "-i", join(dir, "index.m3u8"), "-f", "null", "-"],
      {
        encoding: "utf8",
      },
    );
    assertExit(ff.status);
    return ff.stderr.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertExit(status: number | null): void {
  if (status !== 0) throw new Error(`ffmpeg exited ${status}`);
}

const ffmpegTest = needs(test, "test/origin-ts-timestamps.test.ts", ["ffmpeg"]) ? test : test.skip;

ffmpegTest(
  "across the loop point: unshifted timestamps go backwards, shifted ones decode cleanly",
  async (t) => {
    const clip = await loadLoopClip({ playlistPath: samplePlaylistPath() });
    const span = clip.span!;
    t.regex(decodeLoopPoint(0), /non monotonically increasing dts/, "the check can fail");
    t.is(decodeLoopPoint(span.endTicks - span.startTicks), "", "ffmpeg reports no error");
  },
);
