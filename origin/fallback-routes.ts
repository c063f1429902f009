/**
 * The HTTP fallback's routes (pure): a request line in, what to serve out. Anything odd (a URL
 * that does not parse, bad percent-encoding, a segment id that is not a number) is a 400, an
 * unknown path a 404, a method other than GET/HEAD a 405; nothing here throws.
 *
 *   GET /live/<channel>/<segmentId>.ts   segment bytes (+ x-tiercast-* headers)
 *   GET /live/<channel>/latest.json      the newest published segments, oldest first
 *   GET /live/<channel>/index.m3u8       the origin's live playlist
 *   GET /vod/<channel>/<index>.chunk     chunk <index> of a VoD file (+ x-tiercast-sha256)
 *   GET /status                          JSON status
 *   GET /metrics                         Prometheus text
 */

export type Route =
  | { kind: "segment"; channel: string; id: number }
  | { kind: "latest"; channel: string }
  | { kind: "playlist"; channel: string }
  | { kind: "vod_chunk"; channel: string; index: number }
  | { kind: "status" }
  | { kind: "metrics" }
  | { kind: "error"; status: 400 | 404 | 405; message: string };

const MAX_URL_CHARS = 2048;
const CHANNEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Segment ids are u32 on the wire. */
const MAX_SEGMENT_ID = 0xffff_ffff;

export function routeOf(method: string | undefined, rawUrl: string | undefined): Route {
  if (method !== "GET" && method !== "HEAD")
    return { kind: "error", status: 405, message: "only GET and HEAD" };
  if (
    rawUrl === undefined ||
    rawUrl.length === 0 ||
    rawUrl.length > MAX_URL_CHARS ||
    !rawUrl.startsWith("/")
  ) {
    return { kind: "error", status: 400, message: "bad request target" };
  }
  let pathname: string;
  try {
    pathname = new URL(rawUrl, "http://origin.invalid").pathname;
  } catch {
    return { kind: "error", status: 400, message: "bad URL" };
  }
  if (pathname === "/status") return { kind: "status" };
  if (pathname === "/metrics") return { kind: "metrics" };
  const parts = pathname.split("/");
  // "", "live" | "vod", channel, file
  if (parts[1] !== "live" && parts[1] !== "vod") return { kind: "error", status: 404, message: "not found" };
  if (parts.length !== 4) return { kind: "error", status: 404, message: "not found" };
  let channel: string;
  let file: string;
  try {
    channel = decodeURIComponent(parts[2]!);
    file = decodeURIComponent(parts[3]!);
  } catch {
    return { kind: "error", status: 400, message: "bad percent-encoding" };
  }
  if (!CHANNEL_RE.test(channel)) return { kind: "error", status: 400, message: "bad channel name" };
  if (parts[1] === "vod") {
    const m = /^(\d{1,10})\.chunk$/.exec(file);
    if (m === null) return { kind: "error", status: 404, message: "not found" };
    if (Number(m[1]) > MAX_SEGMENT_ID)
      return { kind: "error", status: 400, message: "chunk index must be 0..4294967295" };
    return { kind: "vod_chunk", channel, index: Number(m[1]) };
  }
  if (file === "latest.json") return { kind: "latest", channel };
  if (file === "index.m3u8") return { kind: "playlist", channel };
  if (file.endsWith(".ts")) {
    const digits = file.slice(0, -3);
    if (!/^\d{1,10}$/.test(digits) || Number(digits) > MAX_SEGMENT_ID) {
      return { kind: "error", status: 400, message: "segment id must be a number 0..4294967295" };
    }
    return { kind: "segment", channel, id: Number(digits) };
  }
  return { kind: "error", status: 404, message: "not found" };
}
