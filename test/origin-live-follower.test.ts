import test from "ava";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryLogger } from "../seams/log.js";
import { IngestError } from "../origin/errors.js";
import { LiveFollower, type LiveFetcher } from "../origin/ingest/live-follower.js";
import { INITIAL_FOLLOW_STATE, planLive, type FollowState } from "../origin/ingest/live-plan.js";
import type { IngestSegment } from "../origin/ingest/segment.js";
import { parseMediaPlaylist, type MediaPlaylist, type PlaylistSegment } from "../origin/m3u8.js";

/** A live playlist with segments first..last; `disc` lists sequences preceded by a discontinuity tag. */
function live(first: number, last: number, opts: { disc?: number[]; end?: boolean } = {}): string {
  const lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", `#EXT-X-MEDIA-SEQUENCE:${first}`];
  for (let i = first; i <= last; i++) {
    if (opts.disc?.includes(i)) lines.push("#EXT-X-DISCONTINUITY");
    lines.push("#EXTINF:1.000000,", `s${i}.ts`);
  }
  if (opts.end) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

function parsed(text: string): MediaPlaylist {
  const r = parseMediaPlaylist(text);
  if (!r.ok) throw r.error;
  return r.value;
}

const plans: Array<{
  name: string;
  state: FollowState;
  playlist: string;
  want: Array<[number, boolean]>;
  restarted?: boolean;
}> = [
  {
    name: "first read starts at the live edge",
    state: INITIAL_FOLLOW_STATE,
    playlist: live(10, 20),
    want: [
      [18, false],
      [19, false],
      [20, false],
    ],
  },
  {
    name: "first read of a short playlist takes all",
    state: INITIAL_FOLLOW_STATE,
    playlist: live(0, 1),
    want: [
      [0, false],
      [1, false],
    ],
  },
  { name: "nothing new", state: { last: 20, breakPending: false }, playlist: live(16, 20), want: [] },
  {
    name: "new segments in order",
    state: { last: 18, breakPending: false },
    playlist: live(14, 21),
    want: [
      [19, false],
      [20, false],
      [21, false],
    ],
  },
  {
    name: "a discontinuity tag",
    state: { last: 18, breakPending: false },
    playlist: live(14, 20, { disc: [20] }),
    want: [
      [19, false],
      [20, true],
    ],
  },
  {
    name: "a gap (we fell behind)",
    state: { last: 5, breakPending: false },
    playlist: live(10, 12),
    want: [
      [10, true],
      [11, false],
      [12, false],
    ],
  },
  {
    name: "a pending break (skipped segment)",
    state: { last: 9, breakPending: true },
    playlist: live(8, 11),
    want: [
      [10, true],
      [11, false],
    ],
  },
  {
    name: "the source went back (ffmpeg restarted)",
    state: { last: 120, breakPending: false },
    playlist: live(0, 4),
    want: [
      [2, true],
      [3, false],
      [4, false],
    ],
    restarted: true,
  },
];

for (const c of plans) {
  test(`plan: ${c.name}`, (t) => {
    const plan = planLive(c.state, parsed(c.playlist), 3);
    t.deepEqual(
      plan.candidates.map((x) => [x.segment.mediaSequence, x.discontinuity]),
      c.want,
    );
    t.is(plan.restarted, c.restarted ?? false);
  });
}

/** A fetcher over an in-memory "server" the test rewrites. */
class FakeFetcher implements LiveFetcher {
  readonly description = "fake";
  playlistText: string | Error = new IngestError("E_SOURCE_UNREADABLE", "ENOENT");
  failing = new Set<number>();
  fetched: number[] = [];
  playlist(): Promise<string> {
    return this.playlistText instanceof Error
      ? Promise.reject(this.playlistText)
      : Promise.resolve(this.playlistText);
  }
  segment(s: PlaylistSegment): Promise<Uint8Array> {
    this.fetched.push(s.mediaSequence);
    if (this.failing.has(s.mediaSequence))
      return Promise.reject(new IngestError("E_SOURCE_UNREADABLE", "gone"));
    return Promise.resolve(Buffer.from(`segment ${s.mediaSequence}`));
  }
}

function follower(): { f: LiveFollower; fetcher: FakeFetcher; got: IngestSegment[]; clock: ManualClock } {
  const clock = new ManualClock(0);
  const fetcher = new FakeFetcher();
  const got: IngestSegment[] = [];
  const f = new LiveFollower({ clock, logger: new MemoryLogger(), fetcher }, { pollMs: 250, maxAttempts: 3 });
  f.start((s) => got.push(s));
  return { f, fetcher, got, clock };
}

test("follower: waits for the playlist, then publishes new segments in order with their bytes", async (t) => {
  const { f, fetcher, got } = follower();
  await f.poll();
  t.is(got.length, 0);
  t.is(f.stats.playlistErrors, 1);
  fetcher.playlistText = live(0, 1);
  await f.poll();
  fetcher.playlistText = live(0, 3, { disc: [3] });
  await f.poll();
  await f.poll();
  t.deepEqual(
    got.map((s) => [s.mediaSequence, s.discontinuity, Buffer.from(s.bytes).toString()]),
    [
      [0, false, "segment 0"],
      [1, false, "segment 1"],
      [2, false, "segment 2"],
      [3, true, "segment 3"],
    ],
  );
  t.true(got.every((s) => s.durationMs === 1000));
});

test("follower: a playlist caught mid-rewrite is read again on the next poll", async (t) => {
  const { f, fetcher, got } = follower();
  fetcher.playlistText = live(0, 2).slice(0, -12); // cut inside the last EXTINF/URI pair
  await f.poll();
  t.is(got.length, 0);
  fetcher.playlistText = live(0, 2);
  await f.poll();
  t.deepEqual(
    got.map((s) => s.mediaSequence),
    [0, 1, 2],
  );
});

test("follower: a failing segment is retried, then skipped; the next one is a discontinuity", async (t) => {
  const { f, fetcher, got } = follower();
  fetcher.playlistText = live(0, 0);
  await f.poll();
  fetcher.playlistText = live(0, 2);
  fetcher.failing.add(1);
  await f.poll(); // attempt 1: stops before 2 (order is kept)
  await f.poll(); // attempt 2
  t.deepEqual(
    got.map((s) => s.mediaSequence),
    [0],
  );
  await f.poll(); // attempt 3: skipped
  t.deepEqual(
    got.map((s) => [s.mediaSequence, s.discontinuity]),
    [
      [0, false],
      [2, true],
    ],
  );
  t.is(f.stats.segmentsSkipped, 1);
});

test("follower: the interval drives polling on the clock; stop ends it", async (t) => {
  const { f, fetcher, got, clock } = follower();
  fetcher.playlistText = live(0, 0);
  await f.poll();
  fetcher.playlistText = live(0, 1);
  clock.advance(250);
  await f.poll(); // the poll the interval started
  t.deepEqual(
    got.map((s) => s.mediaSequence),
    [0, 1],
  );
  f.stop();
  t.is(clock.pendingTimers, 0);
});
