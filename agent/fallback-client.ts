/**
 * Client of the origin's HTTP fallback (the CDN of last resort; every byte counts as origin
 * bytes): `GET ${fallbackUrl}/live/<channel>/latest.json` and `/live/<channel>/<id>.ts`, and a
 * VoD file's chunks, `/vod/<channel>/<index>.chunk`.
 * Every request has a timeout; a body larger than the segment limit is cut off; fetched
 * bytes are checked against the origin's `x-tiercast-sha256` header and/or the hash the
 * caller expects (META or latest.json), and never returned unverified.
 */
import { createHash } from "node:crypto";
import { readBodyBounded, type BoundedBody } from "../common/read-body.js";
import { FallbackError } from "./errors.js";

export interface FallbackClientDeps {
  /** Injected so tests can answer without a server (default: global fetch). */
  fetch: typeof fetch;
}

export interface FallbackClientConfig {
  timeoutMs: number;
  maxSegmentBytes: number;
  /** latest.json is small; anything larger is refused. */
  maxIndexBytes: number;
}

export const DEFAULT_FALLBACK_CLIENT: FallbackClientConfig = {
  timeoutMs: 3000,
  maxSegmentBytes: 16 * 1024 * 1024,
  maxIndexBytes: 256 * 1024,
};

export interface LatestSegment {
  id: number;
  durationMs: number;
  discontinuity: boolean;
  sha256: Uint8Array;
  bytes: number;
}

export interface FetchedSegment {
  id: number;
  bytes: Buffer;
  sha256: Uint8Array;
  /** From x-tiercast-duration-ms, else the caller's expectation; undefined when neither says. */
  durationMs: number | undefined;
  discontinuity: boolean | undefined;
  /** True when the origin's header vouched for the bytes (not only the caller's hash). */
  headerVerified: boolean;
}

export interface Expected {
  sha256?: Uint8Array | undefined;
  durationMs?: number | undefined;
  discontinuity?: boolean | undefined;
}

export interface FallbackStats {
  requests: number;
  failures: number;
  /** Body bytes received (segments and indexes). */
  bytes: number;
}

export class FallbackClient {
  readonly stats: FallbackStats = { requests: 0, failures: 0, bytes: 0 };
  readonly #deps: FallbackClientDeps;
  readonly #config: FallbackClientConfig;

  constructor(deps: FallbackClientDeps, config: Partial<FallbackClientConfig> = {}) {
    this.#deps = deps;
    this.#config = { ...DEFAULT_FALLBACK_CLIENT, ...config };
  }

  /** The origin's newest published segments, oldest first. */
  async latest(baseUrl: string, channel: string, signal?: AbortSignal): Promise<LatestSegment[]> {
    const url = `${trimSlash(baseUrl)}/live/${encodeURIComponent(channel)}/latest.json`;
    const { body } = await this.#get(url, this.#config.maxIndexBytes, signal);
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString("utf8"));
    } catch {
      throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: not JSON`);
    }
    const segs = (doc as { segments?: unknown } | null)?.segments;
    if (!Array.isArray(segs)) throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: no "segments" array`);
    const out: LatestSegment[] = [];
    for (const s of segs as unknown[]) {
      const e = s as Partial<Record<keyof LatestSegment, unknown>>;
      const sha = typeof e.sha256 === "string" ? parseHex(e.sha256) : undefined;
      if (
        typeof e.id !== "number" ||
        !Number.isSafeInteger(e.id) ||
        e.id < 0 ||
        typeof e.durationMs !== "number" ||
        sha === undefined
      ) {
        continue; // one bad entry does not spoil the rest
      }
      out.push({
        id: e.id,
        durationMs: e.durationMs,
        discontinuity: e.discontinuity === true,
        sha256: sha,
        bytes: typeof e.bytes === "number" ? e.bytes : 0,
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** One segment, verified. */
  async segment(
    baseUrl: string,
    channel: string,
    id: number,
    expected: Expected = {},
    signal?: AbortSignal,
  ): Promise<FetchedSegment> {
    const url = `${trimSlash(baseUrl)}/live/${encodeURIComponent(channel)}/${id}.ts`;
    const { body, headers, digest, headerSha } = await this.#verified(url, expected.sha256, signal);
    const dur = Number(headers.get("x-tiercast-duration-ms") ?? NaN);
    const disc = headers.get("x-tiercast-discontinuity");
    return {
      id,
      bytes: body,
      sha256: digest,
      durationMs: Number.isFinite(dur) && dur > 0 ? dur : expected.durationMs,
      discontinuity: disc === "1" ? true : disc === "0" ? false : expected.discontinuity,
      headerVerified: headerSha !== undefined,
    };
  }

  /**
   * One segment from a peer (a parent's LAN HTTP server), verified against `sha256` — the hash of
   * the segment's META — and nothing else: a peer's own x-tiercast-sha256 header is not trusted.
   */
  async peerSegment(
    baseUrl: string,
    channel: string,
    id: number,
    sha256: Uint8Array,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const url = `${trimSlash(baseUrl)}/live/${encodeURIComponent(channel)}/${id}.ts`;
    const { body } = await this.#get(url, this.#config.maxSegmentBytes, signal, PEER_HEADERS);
    const digest = createHash("sha256").update(body).digest();
    if (!equal(sha256, digest))
      throw this.#fail("E_FALLBACK_HASH", `${url}: body does not match the META hash`);
    return body;
  }

  /**
   * Bytes [start, end] (inclusive) of a segment from the origin's fallback, with an HTTP Range
   * request: the bytes of lost packets. Not verified here — no hash covers a part — so the caller
   * must put them into the segment and check the whole against its META hash (the assembler
   * does). Anything but a 206 for exactly that range is an error.
   */
  async segmentRange(
    baseUrl: string,
    channel: string,
    id: number,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const url = `${trimSlash(baseUrl)}/live/${encodeURIComponent(channel)}/${id}.ts`;
    const want = end - start + 1;
    const { body, headers, status } = await this.#get(
      url,
      Math.min(want, this.#config.maxSegmentBytes),
      signal,
      {
        range: `bytes=${start}-${end}`,
      },
    );
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headers.get("content-range")?.trim() ?? "");
    if (status !== 206 || cr === null || Number(cr[1]) !== start || Number(cr[2]) !== end)
      throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: not a 206 for bytes ${start}-${end}`);
    if (body.length !== want)
      throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: ${body.length} bytes for a range of ${want}`);
    return body;
  }

  /** Chunk `index` of a VoD channel's file, verified like a segment (origin header, else `sha256`). */
  async vodChunk(
    baseUrl: string,
    channel: string,
    index: number,
    sha256: Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; sha256: Uint8Array }> {
    const url = `${trimSlash(baseUrl)}/vod/${encodeURIComponent(channel)}/${index}.chunk`;
    const { body, digest } = await this.#verified(url, sha256, signal);
    return { bytes: body, sha256: digest };
  }

  /** GET `url` and check the body against x-tiercast-sha256, or `expected` without that header. */
  async #verified(
    url: string,
    expected: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ body: Buffer; headers: Headers; digest: Uint8Array; headerSha: Uint8Array | undefined }> {
    const { body, headers } = await this.#get(url, this.#config.maxSegmentBytes, signal);
    const digest = new Uint8Array(createHash("sha256").update(body).digest());
    const header = headers.get("x-tiercast-sha256");
    const headerSha = header === null ? undefined : parseHex(header.trim());
    if (header !== null && headerSha === undefined) {
      throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: x-tiercast-sha256 is not 64 hex digits`);
    }
    if (headerSha !== undefined && !equal(headerSha, digest)) {
      throw this.#fail("E_FALLBACK_HASH", `${url}: body does not match x-tiercast-sha256`);
    }
    // The origin's own header outranks a META heard from peers; without it, the caller's hash decides.
    if (headerSha === undefined) {
      if (expected === undefined)
        throw this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: no hash to verify against`);
      if (!equal(expected, digest))
        throw this.#fail("E_FALLBACK_HASH", `${url}: body does not match the expected hash`);
    }
    return { body, headers, digest, headerSha };
  }

  async #get(
    url: string,
    limit: number,
    signal?: AbortSignal,
    headers?: Record<string, string>,
  ): Promise<{ body: Buffer; headers: Headers; status: number }> {
    this.stats.requests++;
    const timeout = AbortSignal.timeout(this.#config.timeoutMs);
    const sig = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let res: Response;
    try {
      res = await this.#deps.fetch(url, { signal: sig, ...(headers === undefined ? {} : { headers }) });
    } catch (e) {
      throw this.#networkError(url, e, timeout);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const after = res.status === 503 ? retryAfterMs(res.headers.get("retry-after")) : undefined;
      throw this.#fail("E_FALLBACK_HTTP", `${url}: HTTP ${res.status}`, after);
    }
    let read: BoundedBody;
    try {
      read = await readBodyBounded(res, limit, (n) => (this.stats.bytes += n));
    } catch (e) {
      throw this.#networkError(url, e, timeout);
    }
    if (!read.ok) {
      const why =
        read.declared === undefined ? `more than ${limit} bytes` : `${read.declared} bytes, limit ${limit}`;
      throw this.#fail("E_FALLBACK_TOO_LARGE", `${url}: ${why}`);
    }
    return { body: read.body, headers: res.headers, status: res.status };
  }

  #networkError(url: string, e: unknown, timeout: AbortSignal): FallbackError {
    if (timeout.aborted)
      return this.#fail("E_FALLBACK_TIMEOUT", `${url}: no answer within ${this.#config.timeoutMs} ms`);
    return this.#fail("E_FALLBACK_BAD_RESPONSE", `${url}: ${e instanceof Error ? e.message : String(e)}`);
  }

  #fail(code: FallbackError["code"], message: string, retryAfter?: number): FallbackError {
    this.stats.failures++;
    return new FallbackError(code, message, retryAfter);
  }
}

/** Longest Retry-After honoured: a server cannot silence itself for longer by mistake. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** Retry-After as delta-seconds, in ms (an HTTP-date or anything else: undefined). */
export function retryAfterMs(v: string | null): number | undefined {
  if (v === null || !/^\d{1,9}$/.test(v.trim())) return undefined;
  return Math.min(Number(v.trim()) * 1000, MAX_RETRY_AFTER_MS);
}

/** A repair asked of a parent: it answers within its repair share of the upload, or 503. */
const PEER_HEADERS = { "x-tiercast-peer": "1" };

export function parseHex(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s, "hex"));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function trimSlash(s: string): string {
  return s.endsWith("/") ? s.slice(0, -1) : s;
}
