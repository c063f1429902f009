/**
 * HLS media playlist parser (RFC 8216), pure: text in, plain data out. It reads what the origin
 * needs from ffmpeg's hls muxer or an upstream HLS server: EXTINF durations, EXT-X-MEDIA-SEQUENCE,
 * EXT-X-DISCONTINUITY(-SEQUENCE), EXT-X-TARGETDURATION, EXT-X-PLAYLIST-TYPE and EXT-X-ENDLIST.
 * Unknown tags and comments are ignored (forward compatible). It never throws: malformed input
 * gives a PlaylistError naming the 1-based line. Features the origin cannot relay (master
 * playlists, encryption, byte ranges, fMP4 init sections) are refused with their own code.
 */

export type PlaylistErrorCode =
  | "E_PLAYLIST_EMPTY"
  | "E_PLAYLIST_TOO_LARGE"
  | "E_PLAYLIST_NO_HEADER"
  | "E_PLAYLIST_BAD_TAG"
  | "E_PLAYLIST_NO_URI"
  | "E_PLAYLIST_MASTER"
  | "E_PLAYLIST_UNSUPPORTED";

export class PlaylistError extends Error {
  override readonly name = "PlaylistError";
  constructor(
    readonly code: PlaylistErrorCode,
    message: string,
    /** 1-based line at fault (0 when the playlist as a whole is at fault). */
    readonly line: number,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
  }
}

export interface PlaylistSegment {
  /** As written in the playlist (relative to the playlist unless absolute). */
  uri: string;
  durationMs: number;
  /** EXT-X-MEDIA-SEQUENCE + index in the playlist. */
  mediaSequence: number;
  /** An EXT-X-DISCONTINUITY tag precedes this segment. */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  version: number;
  targetDurationMs: number;
  mediaSequence: number;
  discontinuitySequence: number;
  playlistType: "VOD" | "EVENT" | undefined;
  /** EXT-X-ENDLIST seen: no segments will be added. */
  endList: boolean;
  segments: PlaylistSegment[];
}

export type PlaylistResult = { ok: true; value: MediaPlaylist } | { ok: false; error: PlaylistError };

/** Limits for untrusted input (a live playlist is a few KB; a long VOD a few hundred KB). */
export const MAX_PLAYLIST_CHARS = 4 * 1024 * 1024;
export const MAX_PLAYLIST_SEGMENTS = 100_000;
/** Longest segment we accept (a segment is seconds long; an hour means a broken playlist). */
export const MAX_SEGMENT_DURATION_MS = 3_600_000;
const MAX_URI_CHARS = 4096;

export function parseMediaPlaylist(text: string): PlaylistResult {
  const fail = (code: PlaylistErrorCode, message: string, line: number): PlaylistResult => ({
    ok: false,
    error: new PlaylistError(code, message, line),
  });
  if (text.length === 0) return fail("E_PLAYLIST_EMPTY", "empty playlist", 0);
  if (text.length > MAX_PLAYLIST_CHARS) {
    return fail("E_PLAYLIST_TOO_LARGE", `playlist larger than ${MAX_PLAYLIST_CHARS} characters`, 0);
  }
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines[0]?.trim() !== "#EXTM3U") return fail("E_PLAYLIST_NO_HEADER", "expected #EXTM3U", 1);

  const p: MediaPlaylist = {
    version: 1,
    targetDurationMs: 0,
    mediaSequence: 0,
    discontinuitySequence: 0,
    playlistType: undefined,
    endList: false,
    segments: [],
  };
  let pendingDuration: { ms: number; line: number } | undefined;
  let pendingDiscontinuity = false;
  let sawSegment = false;

  for (let i = 1; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.trim();
    if (line === "") continue;
    if (!line.startsWith("#")) {
      if (pendingDuration === undefined) return fail("E_PLAYLIST_NO_URI", "segment URI without #EXTINF", n);
      if (line.length > MAX_URI_CHARS) return fail("E_PLAYLIST_BAD_TAG", "segment URI too long", n);
      if (p.segments.length >= MAX_PLAYLIST_SEGMENTS) {
        return fail("E_PLAYLIST_TOO_LARGE", `more than ${MAX_PLAYLIST_SEGMENTS} segments`, n);
      }
      p.segments.push({
        uri: line,
        durationMs: pendingDuration.ms,
        mediaSequence: p.mediaSequence + p.segments.length,
        discontinuity: pendingDiscontinuity,
      });
      pendingDuration = undefined;
      pendingDiscontinuity = false;
      sawSegment = true;
      continue;
    }
    if (!line.startsWith("#EXT")) continue; // a comment
    const colon = line.indexOf(":");
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1);
    switch (tag) {
      case "#EXTINF": {
        const ms = parseDuration(value.split(",")[0] ?? "");
        if (ms === undefined) return fail("E_PLAYLIST_BAD_TAG", `bad #EXTINF duration "${value}"`, n);
        if (pendingDuration !== undefined)
          return fail("E_PLAYLIST_NO_URI", "#EXTINF without a segment URI", n);
        pendingDuration = { ms, line: n };
        break;
      }
      case "#EXT-X-TARGETDURATION": {
        const s = parseInteger(value);
        if (s === undefined) return fail("E_PLAYLIST_BAD_TAG", `bad #EXT-X-TARGETDURATION "${value}"`, n);
        p.targetDurationMs = s * 1000;
        break;
      }
      case "#EXT-X-MEDIA-SEQUENCE": {
        const s = parseInteger(value);
        if (s === undefined) return fail("E_PLAYLIST_BAD_TAG", `bad #EXT-X-MEDIA-SEQUENCE "${value}"`, n);
        if (sawSegment) return fail("E_PLAYLIST_BAD_TAG", "#EXT-X-MEDIA-SEQUENCE after the first segment", n);
        p.mediaSequence = s;
        break;
      }
      case "#EXT-X-DISCONTINUITY-SEQUENCE": {
        const s = parseInteger(value);
        if (s === undefined) {
          return fail("E_PLAYLIST_BAD_TAG", `bad #EXT-X-DISCONTINUITY-SEQUENCE "${value}"`, n);
        }
        p.discontinuitySequence = s;
        break;
      }
      case "#EXT-X-DISCONTINUITY":
        pendingDiscontinuity = true;
        break;
      case "#EXT-X-VERSION": {
        const s = parseInteger(value);
        if (s === undefined) return fail("E_PLAYLIST_BAD_TAG", `bad #EXT-X-VERSION "${value}"`, n);
        p.version = s;
        break;
      }
      case "#EXT-X-PLAYLIST-TYPE":
        if (value !== "VOD" && value !== "EVENT") {
          return fail("E_PLAYLIST_BAD_TAG", `bad #EXT-X-PLAYLIST-TYPE "${value}"`, n);
        }
        p.playlistType = value;
        break;
      case "#EXT-X-ENDLIST":
        p.endList = true;
        break;
      case "#EXT-X-STREAM-INF":
      case "#EXT-X-I-FRAME-STREAM-INF":
        return fail("E_PLAYLIST_MASTER", "a master playlist: give the URL of a media playlist", n);
      case "#EXT-X-KEY":
        if (!/(^|,)METHOD=NONE(,|$)/.test(value)) {
          return fail("E_PLAYLIST_UNSUPPORTED", "encrypted segments (#EXT-X-KEY) are not supported", n);
        }
        break;
      case "#EXT-X-BYTERANGE":
        return fail("E_PLAYLIST_UNSUPPORTED", "byte-range segments (#EXT-X-BYTERANGE) are not supported", n);
      case "#EXT-X-MAP":
        return fail("E_PLAYLIST_UNSUPPORTED", "fMP4 segments (#EXT-X-MAP) are not supported: use MPEG-TS", n);
      default:
        break; // unknown tags are ignored (RFC 8216 section 6.3.1)
    }
  }
  if (pendingDuration !== undefined) {
    return fail(
      "E_PLAYLIST_NO_URI",
      "#EXTINF without a segment URI (truncated playlist?)",
      pendingDuration.line,
    );
  }
  return { ok: true, value: p };
}

/** Decimal seconds ("1.000000", "4", "2.5") to whole ms; undefined if not a sane duration. */
function parseDuration(s: string): number | undefined {
  if (!/^\d{1,7}(\.\d{1,9})?$/.test(s.trim())) return undefined;
  const ms = Math.round(Number(s) * 1000);
  return ms <= MAX_SEGMENT_DURATION_MS ? ms : undefined;
}

function parseInteger(s: string): number | undefined {
  if (!/^\d{1,15}$/.test(s.trim())) return undefined;
  return Number(s);
}
