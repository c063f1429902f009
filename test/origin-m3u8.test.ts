import test from "ava";
import { parseMediaPlaylist, type MediaPlaylist, type PlaylistErrorCode } from "../origin/m3u8.js";

const LIVE = [
  "#EXTM3U",
  "#EXT-X-VERSION:3",
  "#EXT-X-TARGETDURATION:2",
  "#EXT-X-MEDIA-SEQUENCE:17",
  "#EXT-X-DISCONTINUITY-SEQUENCE:3",
  "#EXTINF:1.000000,",
  "seg017.ts",
  "#EXT-X-DISCONTINUITY",
  "#EXTINF:1.96,title here",
  "seg018.ts",
  "# a comment",
  "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z",
  "#EXTINF:2,",
  "seg019.ts",
  "",
].join("\n");

const ok: Array<{ name: string; text: string; want: Partial<MediaPlaylist> }> = [
  {
    name: "live playlist: durations, sequence, discontinuity, unknown tags ignored",
    text: LIVE,
    want: {
      version: 3,
      targetDurationMs: 2000,
      mediaSequence: 17,
      discontinuitySequence: 3,
      endList: false,
      playlistType: undefined,
      segments: [
        { uri: "seg017.ts", durationMs: 1000, mediaSequence: 17, discontinuity: false },
        { uri: "seg018.ts", durationMs: 1960, mediaSequence: 18, discontinuity: true },
        { uri: "seg019.ts", durationMs: 2000, mediaSequence: 19, discontinuity: false },
      ],
    },
  },
  {
    name: "VOD with endlist, CRLF line ends, no media sequence (defaults to 0)",
    text: "#EXTM3U\r\n#EXT-X-PLAYLIST-TYPE:VOD\r\n#EXTINF:1.5,\r\na.ts\r\n#EXTINF:0.5,\r\nb.ts\r\n#EXT-X-ENDLIST\r\n",
    want: {
      mediaSequence: 0,
      endList: true,
      playlistType: "VOD",
      segments: [
        { uri: "a.ts", durationMs: 1500, mediaSequence: 0, discontinuity: false },
        { uri: "b.ts", durationMs: 500, mediaSequence: 1, discontinuity: false },
      ],
    },
  },
  { name: "header only", text: "#EXTM3U\n", want: { segments: [], endList: false } },
  {
    name: "BOM, no final newline, METHOD=NONE key",
    text: "\uFEFF#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:3.0005,\nx.ts",
    want: { segments: [{ uri: "x.ts", durationMs: 3001, mediaSequence: 0, discontinuity: false }] },
  },
  {
    name: "discontinuity before the first segment",
    text: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY\n#EXTINF:1,\nq.ts\n",
    want: { segments: [{ uri: "q.ts", durationMs: 1000, mediaSequence: 5, discontinuity: true }] },
  },
];

for (const c of ok) {
  test(`parses: ${c.name}`, (t) => {
    const r = parseMediaPlaylist(c.text);
    if (!r.ok) return t.fail(r.error.message);
    t.like(r.value, c.want as Record<string, unknown>);
    if (c.want.segments) t.deepEqual(r.value.segments, c.want.segments);
  });
}

const bad: Array<{ name: string; text: string; code: PlaylistErrorCode; line: number }> = [
  { name: "empty", text: "", code: "E_PLAYLIST_EMPTY", line: 0 },
  { name: "no header", text: "#EXTINF:1,\na.ts\n", code: "E_PLAYLIST_NO_HEADER", line: 1 },
  { name: "bad duration", text: "#EXTM3U\n#EXTINF:abc,\na.ts\n", code: "E_PLAYLIST_BAD_TAG", line: 2 },
  { name: "negative duration", text: "#EXTM3U\n#EXTINF:-1,\na.ts\n", code: "E_PLAYLIST_BAD_TAG", line: 2 },
  { name: "absurd duration", text: "#EXTM3U\n#EXTINF:99999,\na.ts\n", code: "E_PLAYLIST_BAD_TAG", line: 2 },
  {
    name: "bad media sequence",
    text: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n",
    code: "E_PLAYLIST_BAD_TAG",
    line: 2,
  },
  {
    name: "media sequence after a segment",
    text: "#EXTM3U\n#EXTINF:1,\na.ts\n#EXT-X-MEDIA-SEQUENCE:4\n",
    code: "E_PLAYLIST_BAD_TAG",
    line: 4,
  },
  {
    name: "bad target duration",
    text: "#EXTM3U\n#EXT-X-TARGETDURATION:1.5\n",
    code: "E_PLAYLIST_BAD_TAG",
    line: 2,
  },
  {
    name: "bad playlist type",
    text: "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
    code: "E_PLAYLIST_BAD_TAG",
    line: 2,
  },
  { name: "URI without EXTINF", text: "#EXTM3U\n\na.ts\n", code: "E_PLAYLIST_NO_URI", line: 3 },
  {
    name: "two EXTINF in a row",
    text: "#EXTM3U\n#EXTINF:1,\n#EXTINF:1,\na.ts\n",
    code: "E_PLAYLIST_NO_URI",
    line: 3,
  },
  {
    name: "truncated after EXTINF (read mid-rewrite)",
    text: "#EXTM3U\n#EXTINF:1,\na.ts\n#EXTINF:1,\n",
    code: "E_PLAYLIST_NO_URI",
    line: 4,
  },
  {
    name: "master playlist",
    text: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow.m3u8\n",
    code: "E_PLAYLIST_MASTER",
    line: 2,
  },
  {
    name: "encrypted",
    text: '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n',
    code: "E_PLAYLIST_UNSUPPORTED",
    line: 2,
  },
  { name: "byte range", text: "#EXTM3U\n#EXT-X-BYTERANGE:100@0\n", code: "E_PLAYLIST_UNSUPPORTED", line: 2 },
  { name: "fMP4", text: '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n', code: "E_PLAYLIST_UNSUPPORTED", line: 2 },
];

for (const c of bad) {
  test(`refuses: ${c.name}`, (t) => {
    const r = parseMediaPlaylist(c.text);
    if (r.ok) return t.fail("parsed");
    t.is(r.error.code, c.code);
    t.is(r.error.line, c.line);
    if (c.line > 0) t.true(r.error.message.startsWith(`line ${c.line}: `), r.error.message);
  });
}

test("never throws on arbitrary text", (t) => {
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % 1000) / 1000;
  const pieces = [
    "#EXTM3U",
    "#EXTINF:",
    "1.0,",
    "\n",
    "a.ts",
    "#EXT-X-MEDIA-SEQUENCE:",
    "9",
    "\r\n",
    "#EXT",
    ":",
    "-",
  ];
  for (let i = 0; i < 2000; i++) {
    let s = "";
    const n = Math.floor(rand() * 20);
    for (let j = 0; j < n; j++) s += pieces[Math.floor(rand() * pieces.length)];
    t.notThrows(() => parseMediaPlaylist(s));
  }
});

test("the bundled sample parses: 30 one-second segments, VOD", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const { samplePlaylistPath } = await import("../origin/package-root.js");
  const r = parseMediaPlaylist(await readFile(samplePlaylistPath(), "utf8"));
  if (!r.ok) return t.fail(r.error.message);
  t.is(r.value.segments.length, 30);
  t.true(r.value.endList);
  t.true(r.value.segments.every((s) => s.durationMs === 1000));
});
