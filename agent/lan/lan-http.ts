/**
 * The LAN HTTP server: what unmodified phones and TVs talk to (plain HLS, no plug-in).
 *
 *   GET /live/<channel>/index.m3u8   the live playlist (503 + Retry-After while nothing is playable)
 *   GET /live/<channel>/<id>.ts      a cached segment, video/mp2t, Range supported (VoD seeks)
 *   GET /vod/<channel>/<file>        a VoD channel's file, Range supported (vod-http.ts)
 *   GET /status                      JSON (agent/status.ts)
 *   GET /metrics                     Prometheus text
 *
 * No CORS header unless `corsOrigin` is configured (then every answer carries
 * Access-Control-Allow-Origin: <corsOrigin>, for browser players on that origin): a web page a
 * LAN device opens must not read the agent's status. A request head over 8 KiB is a 431, one
 * whose headers take longer than `headersTimeoutMs` a 408 (common/http-server.ts). Any other
 * path is a 404, any other method a 405; a handler error is a 500, never a crash.
 */
import type http from "node:http";
import {
  closeHttp,
  createHttpServer,
  listenHttp,
  runRoute,
  type HttpListenConfig,
} from "../../common/http-server.js";
import { parseRange } from "../../common/http-range.js";
import { EXPOSITION_CONTENT_TYPE } from "../../common/prometheus.js";
import type { Logger } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import type { SegmentRecord } from "../store/chunk-store.js";
import { serveVod, type VodSource } from "./vod-http.js";

export interface LanView {
  channel: string;
  playlist(): string | undefined;
  segment(id: number): SegmentRecord | undefined;
  status(): unknown;
  metrics(): string;
  /**
   * A child's repair request (`x-tiercast-peer: 1`) for `bytes`: the rate to send at, or
   * undefined when the repair share of the upload is spent (503: the child asks the origin).
   */
  admitPeer?(bytes: number): number | undefined;
  /**
   * False when this node serves no repairs at all (no repair share): a child's request is a 503
   * with a long Retry-After (PEER_REPAIR_OFF_RETRY_S), so the child asks the origin from then on.
   */
  readonly servesPeers?: boolean;
  /** A VoD channel the agent carries (absent: no VoD). */
  vodChannel?(name: string): VodSource | undefined;
}

/** host and port (0 picks a free port), CORS and header limits. */
export interface LanHttpConfig extends HttpListenConfig {
  /**
   * Access-Control-Allow-Origin of every answer: one origin (`http://tv.example`) or `*`;
   * undefined (the default) sends no CORS header at all.
   */
  corsOrigin?: string | undefined;
  /** Time a client has to send its request headers, ms (default HEADERS_TIMEOUT_MS). */
  headersTimeoutMs?: number | undefined;
}

/**
 * Why `corsOrigin` is not acceptable (undefined when it is): `*`, or an http(s) origin alone
 * (scheme, host, optional port; no path, no trailing slash), so it goes into a header verbatim.
 */
export function corsOriginError(value: string): string | undefined {
  if (value === "*") return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected "*" or an origin such as http://tv.example:8080, got ${JSON.stringify(value)}`;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== value)
    return `expected "*" or an origin such as http://tv.example:8080 (no path), got ${JSON.stringify(value)}`;
  return undefined;
}

/** Retry-After of a node that serves no repairs, s: its children ask it again after that. */
export const PEER_REPAIR_OFF_RETRY_S = 600;

export interface LanHttpStats {
  requests: number;
  segmentBytes: number;
  /** Body bytes of VoD files. */
  vodBytes: number;
  errors: number;
}

const SEGMENT_PATH = /^\/live\/([^/]+)\/(\d{1,10})\.ts$/;
const PLAYLIST_PATH = /^\/live\/([^/]+)\/index\.m3u8$/;
const VOD_PATH = /^\/vod\/([^/]+)\/([^/]+)$/;

export class LanHttp {
  readonly stats: LanHttpStats = { requests: 0, segmentBytes: 0, vodBytes: 0, errors: 0 };
  readonly #logger: Logger;
  readonly #view: () => LanView | undefined;
  readonly #config: LanHttpConfig;
  readonly #server: http.Server;

  /** `view` is a function so the server can listen before the agent exists (its port goes in JOIN). */
  constructor(deps: { logger: Logger; view: () => LanView | undefined }, config: LanHttpConfig) {
    this.#logger = deps.logger;
    this.#view = deps.view;
    this.#config = config;
    const cors = config.corsOrigin === undefined ? undefined : corsOriginError(config.corsOrigin);
    if (cors !== undefined) throw new RangeError(`corsOrigin: ${cors}`);
    this.#server = createHttpServer((req, res) => this.#handle(req, res), {
      ...(config.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: config.headersTimeoutMs }),
    });
  }

  listen(): Promise<Address> {
    return listenHttp(this.#server, this.#config);
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.stats.requests++;
    res.on("error", () => {}); // a player that hangs up mid-segment is not our error
    if (this.#config.corsOrigin !== undefined)
      res.setHeader("Access-Control-Allow-Origin", this.#config.corsOrigin);
    runRoute(res, () => this.#route(req, res), {
      failed: (e) => {
        this.stats.errors++;
        this.#logger.error("http_error", { url: req.url?.slice(0, 200), message: (e as Error).message });
      },
      internalError: () => text(res, 500, "internal error\n"),
    });
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? "GET";
    if (method === "OPTIONS") {
      res.setHeader("Allow", "GET, HEAD, OPTIONS");
      // A preflight is granted only with CORS configured: without it a browser refuses by itself.
      if (this.#config.corsOrigin !== undefined) {
        res.setHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
        res.setHeader("Access-Control-Allow-Headers", "Range");
      }
      res.writeHead(204).end();
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD, OPTIONS");
      return text(res, 405, "method not allowed\n");
    }
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://lan").pathname;
    } catch {
      return text(res, 400, "bad request\n");
    }
    const view = this.#view();
    if (view === undefined) return text(res, 503, "starting\n", { "Retry-After": "1" });
    if (path === "/status") {
      return send(res, 200, "application/json", JSON.stringify(view.status()) + "\n", {
        "Cache-Control": "no-store",
      });
    }
    if (path === "/metrics") return send(res, 200, EXPOSITION_CONTENT_TYPE, view.metrics());
    const pl = PLAYLIST_PATH.exec(path);
    if (pl !== null) {
      if (decode(pl[1]!) !== view.channel) return text(res, 404, "no such channel\n");
      const body = view.playlist();
      if (body === undefined) return text(res, 503, "no segment yet\n", { "Retry-After": "1" });
      return send(res, 200, "application/vnd.apple.mpegurl", body, { "Cache-Control": "no-cache" });
    }
    const sg = SEGMENT_PATH.exec(path);
    if (sg !== null) {
      if (decode(sg[1]!) !== view.channel) return text(res, 404, "no such channel\n");
      const peer = req.headers["x-tiercast-peer"] === "1" && method === "GET";
      if (peer && view.servesPeers === false)
        return text(res, 503, "no repairs here: ask the origin\n", {
          "Retry-After": String(PEER_REPAIR_OFF_RETRY_S),
        });
      const seg = view.segment(Number(sg[2]));
      if (seg === undefined) return text(res, 404, "no such segment\n");
      if (peer) {
        const rate = view.admitPeer?.(seg.bytes.length);
        if (rate === undefined) return text(res, 503, "busy: ask the origin\n", { "Retry-After": "1" });
        return this.#sendPaced(res, seg, rate);
      }
      return this.#sendSegment(req, res, seg, method === "HEAD");
    }
    const vd = VOD_PATH.exec(path);
    if (vd !== null) {
      const name = decode(vd[1]!);
      const source = name === undefined ? undefined : view.vodChannel?.(name);
      if (source === undefined) return text(res, 404, "no such VoD channel\n");
      const fileName = source.info.vod.fileName;
      if (fileName !== undefined && decode(vd[2]!) !== fileName) return text(res, 404, "no such file\n");
      const range = parseRange(req.headers.range, source.info.vod.fileBytes);
      serveVod(res, source, range, method === "HEAD", this.stats).catch((e: unknown) => {
        this.stats.errors++;
        this.#logger.error("http_error", { url: req.url?.slice(0, 200), message: (e as Error).message });
        if (!res.headersSent) text(res, 500, "internal error\n");
        else res.destroy();
      });
      return;
    }
    return text(res, 404, "not found\n");
  }

  /** A repair for a child, written at `rate` bytes/s so TCP does not crowd the live UDP out. */
  #sendPaced(res: http.ServerResponse, seg: SegmentRecord, rate: number): void {
    const body = Buffer.from(seg.bytes.buffer, seg.bytes.byteOffset, seg.bytes.length);
    res.writeHead(200, { "Content-Type": "video/mp2t", "Content-Length": String(body.length) });
    const piece = Math.max(1200, Math.floor(rate / 50)); // 20 ms worth
    let at = 0;
    const next = (): void => {
      if (res.destroyed) return;
      const end = Math.min(body.length, at + piece);
      res.write(body.subarray(at, end));
      this.stats.segmentBytes += end - at;
      at = end;
      if (at >= body.length) res.end();
      else setTimeout(next, Math.ceil((piece * 1000) / rate)).unref();
    };
    next();
  }

  #sendSegment(req: http.IncomingMessage, res: http.ServerResponse, seg: SegmentRecord, head: boolean): void {
    const size = seg.bytes.length;
    const etag = `"${Buffer.from(seg.sha256).toString("hex").slice(0, 32)}"`;
    const headers: Record<string, string> = {
      "Content-Type": "video/mp2t",
      "Accept-Ranges": "bytes",
      "Cache-Control": "max-age=3600",
      ETag: etag,
    };
    const range = parseRange(req.headers.range, size);
    if (range === "unsatisfiable") {
      return text(res, 416, "range not satisfiable\n", { "Content-Range": `bytes */${size}` });
    }
    const [start, end] = range ?? [0, size - 1];
    const body = Buffer.from(seg.bytes.buffer, seg.bytes.byteOffset + start, Math.max(0, end - start + 1));
    if (range !== undefined) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    headers["Content-Length"] = String(body.length);
    res.writeHead(range === undefined ? 200 : 206, headers);
    if (head) {
      res.end();
      return;
    }
    this.stats.segmentBytes += body.length;
    res.end(body);
  }
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  const buf = Buffer.from(body);
  res.writeHead(status, { "Content-Type": type, "Content-Length": String(buf.length), ...extra });
  res.end(res.req.method === "HEAD" ? undefined : buf);
}

function text(
  res: http.ServerResponse,
  status: number,
  body: string,
  extra: Record<string, string> = {},
): void {
  send(res, status, "text/plain; charset=utf-8", body, extra);
}
