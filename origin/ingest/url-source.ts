/**
 * An upstream HLS server (http:// only): polls the media playlist and fetches new segments with
 * node's fetch, each with a timeout and a size bound (a server that sends more is cut off).
 * Segment URIs are resolved against the playlist URL and must be http:// too.
 */
import { readBodyBounded } from "../../common/read-body.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { IngestError } from "../errors.js";
import { MAX_PLAYLIST_CHARS, type PlaylistSegment } from "../m3u8.js";
import { LiveFollower, type LiveFetcher } from "./live-follower.js";
import { MAX_SEGMENT_BYTES } from "./segment.js";

export interface UrlSourceConfig {
  /** The media playlist, http://host[:port]/path.m3u8 */
  url: string;
  /** Poll period, ms (default 500). */
  pollMs?: number;
  /** Per request, ms (default 10 s). */
  timeoutMs?: number;
  /** Largest segment accepted (default 16 MB). */
  maxSegmentBytes?: number;
  liveEdge?: number;
}

export const DEFAULT_URL_POLL_MS = 500;
export const DEFAULT_URL_TIMEOUT_MS = 10_000;

export function urlSource(deps: { clock: Clock; logger: Logger }, config: UrlSourceConfig): LiveFollower {
  return new LiveFollower(
    { ...deps, fetcher: new UrlFetcher(config) },
    {
      pollMs: config.pollMs ?? DEFAULT_URL_POLL_MS,
      ...(config.liveEdge ? { liveEdge: config.liveEdge } : {}),
    },
  );
}

/** Parses and checks an http:// URL; throws E_SOURCE_BAD_URI. */
export function httpUrl(s: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(s, base);
  } catch {
    throw new IngestError("E_SOURCE_BAD_URI", `not a URL: "${s}"`);
  }
  if (url.protocol !== "http:")
    throw new IngestError("E_SOURCE_BAD_URI", `only http:// URLs are supported: "${s}"`);
  return url;
}

export class UrlFetcher implements LiveFetcher {
  readonly description: string;
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #maxSegmentBytes: number;

  constructor(config: UrlSourceConfig) {
    this.#url = httpUrl(config.url);
    this.description = `url:${this.#url.href}`;
    this.#timeoutMs = config.timeoutMs ?? DEFAULT_URL_TIMEOUT_MS;
    this.#maxSegmentBytes = config.maxSegmentBytes ?? MAX_SEGMENT_BYTES;
  }

  async playlist(): Promise<string> {
    const bytes = await fetchBounded(this.#url, MAX_PLAYLIST_CHARS, this.#timeoutMs);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
  }

  async segment(segment: PlaylistSegment): Promise<Uint8Array> {
    return fetchBounded(httpUrl(segment.uri, this.#url), this.#maxSegmentBytes, this.#timeoutMs);
  }
}

/** GETs `url` and returns its body, refusing more than `max` bytes and giving up after `timeoutMs`. */
export async function fetchBounded(url: URL, max: number, timeoutMs: number): Promise<Uint8Array> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { signal: controller.signal, redirect: "follow" });
    if (res.url !== "" && !res.url.startsWith("http:")) {
      await res.body?.cancel();
      throw new IngestError(
        "E_SOURCE_BAD_URI",
        `GET ${url.href}: redirected away from http:// to ${res.url}`,
      );
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new IngestError("E_SOURCE_HTTP_STATUS", `GET ${url.href}: HTTP ${res.status}`);
    }
    const read = await readBodyBounded(res, max);
    if (!read.ok) {
      const why =
        read.declared === undefined ? `more than ${max} bytes` : `${read.declared} bytes, more than ${max}`;
      throw new IngestError("E_SOURCE_TOO_LARGE", `GET ${url.href}: ${why}`);
    }
    return read.body;
  } catch (e) {
    if (e instanceof IngestError) throw e;
    if (controller.signal.aborted) {
      throw new IngestError("E_SOURCE_TIMEOUT", `GET ${url.href}: no complete answer in ${timeoutMs} ms`);
    }
    throw new IngestError("E_SOURCE_UNREADABLE", `GET ${url.href}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
