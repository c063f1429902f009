/**
 * Client of the origin's HTTP fallback (the CDN of last resort; every byte counts as origin
 * bytes): `GET ${fallbackUrl}/live/<channel>/latest.json` and `/live/<channel>/<id>.ts`, and a
 * VoD file's chunks, `/vod/<channel>/<index>.chunk`.
 * Every request has a timeout; a body larger than the segment limit is cut off. A segment or
 * chunk comes with its signed META (`x-tiercast-meta`, protocol/segment-meta.ts): the body is
 * returned only when that META verifies against the channel's origin key (the caller's
 * MetaVerifier) and the body has its length and SHA-256. `x-tiercast-sha256` and latest.json's
 * hashes are not trusted: anyone between the agent and the origin could write them. A peer's
 * segment is checked against the hash of a META the caller verified, and nothing else.
 */
import { createHash } from "node:crypto";
import { readBodyBounded, type BoundedBody } from "../../common/read-body.js";
import { META_HEADER, SEGMENT_META_BYTES_BASE64 } from "../../protocol/segment-meta.js";
import { FallbackError } from "../errors.js";
import type { MetaCheck, VerifiedMeta } from "./meta-verifier.js";

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

/** A segment or chunk and the signed META its bytes match. */
export interface FetchedSegment {
  id: number;
  bytes: Buffer;
  meta: VerifiedMeta;
}

/**
 * Checks a signed META payload for the segment fetched: the channel's MetaVerifier.check with its
 * source and segment id filled in.
 */
export type MetaChecker = (payload: Uint8Array) => MetaCheck;

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

  /** One segment, with the signed META it matches (duration and discontinuity come from it). */
  async segment(
    baseUrl: string,
    channel: string,
    id: number,
    check: MetaChecker,
    signal?: AbortSignal,
  ): Promise<FetchedSegment> {
    const url = `${trimSlash(baseUrl)}/live/${encodeURIComponent(channel)}/${id}.ts`;
    return this.#signed(url, id, check, signal);
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

  /** Chunk `index` of a VoD channel's file, with the signed META it matches. */
  async vodChunk(
    baseUrl: string,
    channel: string,
    index: number,
    check: MetaChecker,
    signal?: AbortSignal,
  ): Promise<FetchedSegment> {
    const url = `${trimSlash(baseUrl)}/vod/${encodeURIComponent(channel)}/${index}.chunk`;
    return this.#signed(url, index, check, signal);
  }

  /**
   * GET `url`; the body only if the answer's x-tiercast-meta is a META for segment `id` that
   * `check` verifies (else E_FALLBACK_META) and the body has its length and hash (E_FALLBACK_HASH).
   */
  async #signed(
    url: string,
    id: number,
    check: MetaChecker,
    signal: AbortSignal | undefined,
  ): Promise<FetchedSegment> {
    const { body, headers } = await this.#get(url, this.#config.maxSegmentBytes, signal);
    const header = headers.get(META_HEADER)?.trim();
    if (header === undefined) throw this.#fail("E_FALLBACK_META", `${url}: no ${META_HEADER} (unsigned)`);
    const payload = parseMetaHeader(header);
    if (payload === undefined)
      throw this.#fail("E_FALLBACK_META", `${url}: ${META_HEADER} is not a base64 META payload`);
    const r = check(payload);
    if (!r.ok) throw this.#fail("E_FALLBACK_META", `${url}: the META does not verify (${r.reason})`);
    const meta = r.meta;
    if (meta.segmentId !== id)
      throw this.#fail("E_FALLBACK_META", `${url}: the META is for segment ${meta.segmentId}`);
    const digest = createHash("sha256").update(body).digest();
    if (body.length !== meta.totalBytes || !digest.equals(meta.sha256))
      throw this.#fail("E_FALLBACK_HASH", `${url}: body does not match the signed META`);
    return { id, bytes: body, meta };
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

/** The FLAG_META payload in an x-tiercast-meta header value (strict base64), or undefined. */
export function parseMetaHeader(v: string): Buffer | undefined {
  if (v.length !== SEGMENT_META_BYTES_BASE64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) return undefined;
  return Buffer.from(v, "base64");
}

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
