import test from "ava";
import { formatPlaylist, PlaylistWindow, type PlaylistSegment } from "../agent/lan/playlist.js";

function segs(
  ids: number[],
  opts: { disc?: number[]; dur?: Record<number, number> } = {},
): PlaylistSegment[] {
  return ids.map((id) => ({
    id,
    durationMs: opts.dur?.[id] ?? 2000,
    discontinuity: opts.disc?.includes(id) ?? false,
  }));
}

const never = (): boolean => false;
const always = (): boolean => true;

interface Row {
  name: string;
  held: number[];
  first: number;
  disc?: number[];
  past?: (id: number) => boolean;
  ms: number;
  ds: number;
  ids: number[];
  tags?: number[];
}

const TABLE: Row[] = [
  {
    name: "window of the newest 6",
    held: [1, 2, 3, 4, 5, 6, 7, 8],
    first: 1,
    ms: 3,
    ds: 0,
    ids: [3, 4, 5, 6, 7, 8],
  },
  { name: "fewer than 6", held: [4, 5], first: 4, ms: 4, ds: 0, ids: [4, 5] },
  {
    name: "starts at the first playable, older held ones ignored",
    held: [1, 2, 9, 10],
    first: 9,
    ms: 9,
    ds: 0,
    ids: [9, 10],
  },
  {
    name: "stops before a missing id whose deadline has not passed",
    held: [1, 2, 3, 5, 6],
    first: 1,
    past: never,
    ms: 1,
    ds: 0,
    ids: [1, 2, 3],
  },
  {
    name: "restarts after a gap whose deadline passed, with a discontinuity",
    held: [1, 2, 3, 5, 6],
    first: 1,
    past: (id) => id === 4,
    ms: 5,
    ds: 0,
    ids: [5, 6],
    tags: [5],
  },
  {
    name: "origin discontinuity inside the window",
    held: [1, 2, 3, 4],
    first: 1,
    disc: [3],
    ms: 1,
    ds: 0,
    ids: [1, 2, 3, 4],
    tags: [3],
  },
  {
    name: "a discontinuity slid out of the window is counted in the sequence",
    held: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    first: 1,
    disc: [3, 4],
    ms: 5,
    ds: 2,
    ids: [5, 6, 7, 8, 9, 10],
  },
  {
    name: "first listed segment carries its tag; the sequence counts before it",
    held: [1, 2, 3, 4, 5, 6, 7, 8],
    first: 1,
    disc: [3],
    ms: 3,
    ds: 0,
    ids: [3, 4, 5, 6, 7, 8],
    tags: [3],
  },
  {
    name: "two passed gaps",
    held: [1, 3, 5, 6],
    first: 1,
    past: always,
    ms: 5,
    ds: 1,
    ids: [5, 6],
    tags: [5],
  },
];

for (const row of TABLE) {
  test(`playlist: ${row.name}`, (t) => {
    const w = new PlaylistWindow({ size: 6 });
    const v = w.update({
      segments: segs(row.held, { disc: row.disc ?? [] }),
      firstId: row.first,
      isPast: row.past ?? never,
    });
    t.is(v.mediaSequence, row.ms);
    t.is(v.discontinuitySequence, row.ds);
    t.deepEqual(
      v.entries.map((e) => e.id),
      row.ids,
    );
    t.deepEqual(
      v.entries.filter((e) => e.tag).map((e) => e.id),
      row.tags ?? [],
    );
  });
}

test("discontinuity sequence stays consistent as the window slides over a gap restart", (t) => {
  const w = new PlaylistWindow({ size: 3 });
  let past = (_id: number): boolean => false;
  const update = (held: number[]) => w.update({ segments: segs(held), firstId: 1, isPast: (id) => past(id) });
  t.deepEqual(
    update([1, 2, 3]).entries.map((e) => e.id),
    [1, 2, 3],
  );
  t.deepEqual(
    update([1, 2, 3, 5]).entries.map((e) => e.id),
    [1, 2, 3],
  );
  past = (id) => id <= 4;
  const v1 = update([1, 2, 3, 5, 6]);
  t.deepEqual([v1.mediaSequence, v1.discontinuitySequence], [5, 0]);
  t.true(v1.entries[0]!.tag);
  // 4 arrives late: it stays out (never list an id twice or out of order).
  const v2 = update([1, 2, 3, 4, 5, 6, 7, 8]);
  t.deepEqual(
    v2.entries.map((e) => e.id),
    [6, 7, 8],
  );
  t.is(v2.discontinuitySequence, 1, "the tag on 5 slid out: the sequence went up by one");
  t.false(v2.entries.some((e) => e.tag));
});

test("nothing playable yet: empty view", (t) => {
  const w = new PlaylistWindow();
  t.deepEqual(w.update({ segments: [], firstId: undefined, isPast: never }).entries, []);
  t.deepEqual(w.update({ segments: segs([3]), firstId: 4, isPast: never }).entries, []);
});

test("TARGETDURATION is the ceiling of the longest duration and never decreases", (t) => {
  const w = new PlaylistWindow({ size: 2 });
  const dur = { 1: 2002, 2: 2000, 3: 2000, 4: 1000 };
  t.is(w.update({ segments: segs([1, 2], { dur }), firstId: 1, isPast: never }).targetDurationS, 3);
  t.is(w.update({ segments: segs([1, 2, 3, 4], { dur }), firstId: 1, isPast: never }).targetDurationS, 3);
});

test("formatPlaylist: HLS v3 text", (t) => {
  const w = new PlaylistWindow({ size: 6 });
  const v = w.update({
    segments: segs([7, 8, 9], { disc: [8], dur: { 7: 2000, 8: 1960.4, 9: 2040 } }),
    firstId: 7,
    isPast: never,
  });
  t.is(
    formatPlaylist(v),
    [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:3",
      "#EXT-X-MEDIA-SEQUENCE:7",
      "#EXT-X-DISCONTINUITY-SEQUENCE:0",
      "#EXTINF:2.000,",
      "7.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXTINF:1.960,",
      "8.ts",
      "#EXTINF:2.040,",
      "9.ts",
      "",
    ].join("\n"),
  );
});
