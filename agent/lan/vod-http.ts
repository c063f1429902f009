/**
 * The LAN side of a VoD channel: `GET|HEAD /vod/<channel>/<file>` serves the whole file, put
 * together from its chunks, to unmodified players, with HTTP Range (RFC 9110 §14): one range
 * (`bytes=a-b`, `bytes=a-`, `bytes=-n`) is a 206 with Content-Range, a range beyond the end a
 * 416 (`Content-Range: bytes *\/size`), no usable range a 200 of the whole file; always
 * Accept-Ranges: bytes. lan-http.ts routes here and parses the Range header.
 *
 * Chunks missing from the cache are fetched from the origin's fallback while answering: the
 * first chunk of the range before any header goes out — when it cannot be had the answer is
 * 503 with Retry-After (the player retries; the carousel or a repair may bring it meanwhile) —
 * then the body streams chunk by chunk, the next chunk fetched while the current one is written,
 * waiting for the socket to drain. A later chunk that cannot be had cuts the connection: the
 * client sees a short body (never wrong bytes) and resumes with a Range request. Every byte
 * served was verified against its chunk's hash (agent/vod/vod.ts).
 */
import type http from "node:http";
import { extname } from "node:path";
import type { ChannelInfo, VodInfo } from "../../protocol/messages.js";
import { chunkSpan, chunksOfRange } from "../../protocol/vod-chunks.js";

/** What the handler needs of a VoD channel (agent/vod/vod.ts VodChannel). */
export interface VodSource {
  readonly info: ChannelInfo & { vod: VodInfo };
  /** Chunk `index`, verified; rejects when it cannot be had. */
  chunk(index: number): Promise<Buffer>;
}

export interface VodHttpStats {
  /** Body bytes of VoD files served. */
  vodBytes: number;
}

/** Seconds a player is asked to wait after a 503. */
export const VOD_RETRY_AFTER_S = 2;

const TYPES: Readonly<Record<string, string>> = {
  ".mp4": "video/mp4",
  ".m4v": "video/mp4",
  ".mov": "video/quicktime",
  ".mkv": "video/x-matroska",
  ".webm": "video/webm",
  ".ts": "video/mp2t",
  ".mp3": "audio/mpeg",
};

export function contentType(fileName: string | undefined): string {
  return TYPES[extname(fileName ?? "").toLowerCase()] ?? "application/octet-stream";
}

/**
 * Answers one request for the file. `range` is parseRange (common/http-range.ts) of the Range header against
 * the file size. Resolves when the answer is complete (or cut); never rejects for a missing chunk.
 */
export async function serveVod(
  res: http.ServerResponse,
  source: VodSource,
  range: [number, number] | "unsatisfiable" | undefined,
  head: boolean,
  stats: VodHttpStats,
): Promise<void> {
  const v = source.info.vod;
  const size = v.fileBytes;
  const headers: Record<string, string> = {
    "Content-Type": contentType(v.fileName),
    "Accept-Ranges": "bytes",
    "Cache-Control": "max-age=3600",
  };
  if (range === "unsatisfiable") {
    return plain(res, 416, "range not satisfiable\n", { ...headers, "Content-Range": `bytes */${size}` });
  }
  const [start, end] = range ?? [0, size - 1];
  headers["Content-Length"] = String(end - start + 1);
  if (range !== undefined) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  const status = range === undefined ? 200 : 206;
  if (head) {
    res.writeHead(status, headers).end();
    return;
  }
  const { first, last } = chunksOfRange(v, start, end);
  let chunk: Buffer;
  try {
    chunk = await source.chunk(first);
  } catch {
    return plain(res, 503, "not available yet\n", { "Retry-After": String(VOD_RETRY_AFTER_S) });
  }
  if (res.destroyed) return;
  res.writeHead(status, headers);
  for (let i = first; i <= last; i++) {
    const next = i < last ? source.chunk(i + 1) : undefined;
    next?.catch(() => {}); // handled below, when it is its turn
    const span = chunkSpan(v, i);
    const from = Math.max(start, span.offset) - span.offset;
    const to = Math.min(end, span.offset + span.length - 1) - span.offset;
    const piece = chunk.subarray(from, to + 1);
    stats.vodBytes += piece.length;
    if (!res.write(piece)) await drained(res);
    if (res.destroyed || next === undefined) break;
    try {
      chunk = await next;
    } catch {
      res.destroy(); // a short body, never a wrong one
      return;
    }
  }
  res.end();
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function plain(res: http.ServerResponse, status: number, body: string, extra: Record<string, string>): void {
  const buf = Buffer.from(body);
  res.writeHead(status, {
    ...extra,
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(buf.length),
  });
  res.end(res.req.method === "HEAD" ? undefined : buf);
}
