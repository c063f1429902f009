/**
 * The origin's HTTP fallback (the CDN of last resort; every body byte it serves counts as origin
 * bytes): segments the origin still holds, the list of the newest ones, its own live playlist,
 * status and metrics, and the chunks of the VoD files it offers (read from the file, with their
 * hash). Routes are in fallback-routes.ts; this file is the node:http shell.
 *
 * Every segment and chunk goes out with its signed META (`x-tiercast-meta`: base64 of the
 * 124-byte FLAG_META payload, protocol/segment-meta.ts): agents cache HTTP bytes only when they
 * match a META whose signature verifies against the channel's origin key, as for UDP.
 * `x-tiercast-sha256` stays for people and tools; agents do not trust it.
 */
import type http from "node:http";
import { closeHttp, createHttpServer, listenHttp, runRoute } from "../common/http-server.js";
import type { Logger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";
import { routeOf } from "./fallback-routes.js";
import { LIVE_PLAYLIST_SEGMENTS, renderLivePlaylist } from "./live-playlist.js";
import { renderMetrics, type OriginMetrics } from "./metrics.js";
import type { SegmentWindow } from "./segment-window.js";
import { parseRange } from "../common/http-range.js";
import { EXPOSITION_CONTENT_TYPE } from "../common/prometheus.js";
import { META_HEADER } from "../protocol/segment-meta.js";
import type { VodChunk } from "./vod-file.js";

/** What the fallback needs from the origin node. */
export interface FallbackOrigin {
  readonly window: SegmentWindow;
  /** Segment `id`'s signed META payload (124 bytes); undefined before the channel id is known. */
  signedMeta(id: number): Uint8Array | undefined;
  status(): Record<string, unknown>;
  metrics(): Omit<OriginMetrics, "httpServedBytes" | "httpRequests">;
}

/** A VoD file the fallback serves chunks of (origin/vod-file.ts, signed by origin/vod-node.ts). */
export interface FallbackVod {
  readonly channel: string;
  readonly chunks: number;
  chunk(index: number): VodChunk;
  /** The chunk's signed META payload (124 bytes); undefined before the channel id is known. */
  signedMeta(chunk: VodChunk): Uint8Array | undefined;
}

export interface FallbackHttpConfig {
  channel: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Segments listed in latest.json (default 30). */
  latestSegments?: number;
  /** Segments in index.m3u8 (default 6). */
  playlistSegments?: number;
}

export const DEFAULT_LATEST_SEGMENTS = 30;
const EXPOSED_HEADERS =
  "x-tiercast-duration-ms, x-tiercast-discontinuity, x-tiercast-sha256, x-tiercast-meta, content-range, accept-ranges";

export class FallbackHttp {
  /** Body bytes served (all routes, errors included; HEAD serves none). */
  httpServed = 0;
  requests = 0;
  #origin: FallbackOrigin | undefined;
  readonly #vod = new Map<string, FallbackVod>();
  readonly #logger: Logger;
  readonly #config: FallbackHttpConfig;
  readonly #server: http.Server;

  /** `origin` may come later (attach): main binds the port first to tell control the fallback URL. */
  constructor(deps: { origin?: FallbackOrigin; logger: Logger }, config: FallbackHttpConfig) {
    this.#origin = deps.origin;
    this.#logger = deps.logger;
    this.#config = config;
    // A request node:http cannot parse gets a plain 400; a broken connection is just closed.
    this.#server = createHttpServer((req, res) => this.#handle(req, res), { badRequest: "400" });
  }

  /** Serves this origin's segments; until then every route answers 503. */
  attach(origin: FallbackOrigin): void {
    this.#origin = origin;
  }

  /** Serves the chunks of a VoD file at /vod/<channel>/<index>.chunk. */
  attachVod(file: FallbackVod): void {
    this.#vod.set(file.channel, file);
  }

  listen(): Promise<Address> {
    return listenHttp(this.#server, this.#config);
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    // Never let one request take the origin down.
    runRoute(res, () => this.#route(req, res), {
      failed: (e) =>
        this.#logger.error("http_handler_failed", {
          url: req.url?.slice(0, 200),
          error: (e as Error).message,
        }),
      internalError: () =>
        this.#send(req, res, 500, "application/json", JSON.stringify({ error: "internal" })),
    });
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = routeOf(req.method, req.url);
    if (route.kind === "vod_chunk") {
      const file = this.#vod.get(route.channel);
      if (file === undefined) return this.#error(req, res, 404, "unknown channel");
      if (route.index >= file.chunks) return this.#error(req, res, 404, "no such chunk");
      const c = file.chunk(route.index);
      const meta = file.signedMeta(c);
      if (meta !== undefined) res.setHeader(META_HEADER, Buffer.from(meta).toString("base64"));
      res.setHeader("x-tiercast-sha256", c.sha256Hex);
      res.setHeader("cache-control", "public, max-age=3600, immutable");
      return this.#send(req, res, 200, "application/octet-stream", c.bytes);
    }
    const origin = this.#origin;
    if (origin === undefined) return this.#error(req, res, 503, "starting");
    const window = origin.window;
    switch (route.kind) {
      case "error":
        if (route.status === 405) res.setHeader("allow", "GET, HEAD");
        return this.#error(req, res, route.status, route.message);
      case "status": {
        const status = origin.status();
        const bytes = {
          ...(status.bytes as Record<string, unknown> | undefined),
          httpServed: this.httpServed,
        };
        return this.#json(req, res, { ...status, bytes, httpRequests: this.requests });
      }
      case "metrics": {
        const m = { ...origin.metrics(), httpServedBytes: this.httpServed, httpRequests: this.requests };
        return this.#send(req, res, 200, EXPOSITION_CONTENT_TYPE, renderMetrics(m));
      }
      default:
        break;
    }
    if (route.channel !== this.#config.channel) return this.#error(req, res, 404, "unknown channel");
    switch (route.kind) {
      case "segment": {
        const s = window.get(route.id);
        if (s === undefined)
          return this.#error(req, res, 404, "segment not held (expired or not yet published)");
        res.setHeader("x-tiercast-duration-ms", String(s.durationMs));
        res.setHeader("x-tiercast-discontinuity", s.discontinuity ? "1" : "0");
        res.setHeader("x-tiercast-sha256", s.sha256Hex);
        const meta = origin.signedMeta(route.id);
        if (meta !== undefined) res.setHeader(META_HEADER, Buffer.from(meta).toString("base64"));
        res.setHeader("cache-control", "public, max-age=60, immutable");
        res.setHeader("accept-ranges", "bytes");
        // A Range asks for the bytes of lost packets only (agent/store/segment-repair.ts); x-tiercast-meta
        // stays the whole segment's, checked by the agent once the segment is complete.
        const range = parseRange(req.headers.range, s.bytes.length);
        if (range === "unsatisfiable") {
          res.setHeader("content-range", `bytes */${s.bytes.length}`);
          return this.#error(req, res, 416, "range not satisfiable");
        }
        if (range === undefined) return this.#send(req, res, 200, "video/mp2t", s.bytes);
        const [start, end] = range;
        res.setHeader("content-range", `bytes ${start}-${end}/${s.bytes.length}`);
        return this.#send(req, res, 206, "video/mp2t", s.bytes.subarray(start, end + 1));
      }
      case "latest": {
        const segments = window.latest(this.#config.latestSegments ?? DEFAULT_LATEST_SEGMENTS).map((s) => ({
          id: s.id,
          durationMs: s.durationMs,
          discontinuity: s.discontinuity,
          sha256: s.sha256Hex,
          bytes: s.bytes.length,
        }));
        res.setHeader("cache-control", "no-cache");
        return this.#json(req, res, { channel: this.#config.channel, segments });
      }
      case "playlist": {
        const text = renderLivePlaylist(
          window.latest(this.#config.playlistSegments ?? LIVE_PLAYLIST_SEGMENTS),
        );
        res.setHeader("cache-control", "no-cache");
        return this.#send(req, res, 200, "application/vnd.apple.mpegurl", text);
      }
    }
  }

  #json(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): void {
    this.#send(req, res, 200, "application/json", JSON.stringify(body));
  }

  #error(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string): void {
    this.#send(req, res, status, "application/json", JSON.stringify({ error: message }));
  }

  #send(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    type: string,
    body: string | Uint8Array,
  ): void {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    res.statusCode = status;
    res.setHeader("content-type", type);
    res.setHeader("content-length", String(bytes.length));
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    this.httpServed += bytes.length;
    res.end(bytes);
  }
}
