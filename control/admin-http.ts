/**
 * The control center's admin HTTP API (JSON) and metrics:
 *   GET /api/channels   channels, their origin and DCM
 *   GET /api/nodes      live nodes: role, region, address, links, heartbeat stats
 *   GET /api/topology   per channel: edges, depth, unplaced nodes
 *   GET /api/regions    per region: loss and jitter from heartbeats, what the topology uses
 *   GET /metrics        Prometheus text
 *   GET /healthz        {"ok": true, ...}
 * Anything else: 404 (405 for other methods) with a JSON body.
 */
import http from "node:http";
import { closeHttp, listenHttp } from "../common/http-server.js";
import type { Logger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";
import { renderMetrics } from "./metrics.js";
import { channelsView, gauges, nodesView, regionsView, topologyView, type ControlState } from "./views.js";

export interface AdminHttpDeps {
  control: ControlState;
  logger: Logger;
}

export interface AdminHttpConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

type Route = (s: ControlState) => { type: "json"; body: unknown } | { type: "text"; body: string };

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ["/api/channels", (s) => ({ type: "json", body: channelsView(s) })],
  ["/api/nodes", (s) => ({ type: "json", body: nodesView(s) })],
  ["/api/topology", (s) => ({ type: "json", body: topologyView(s) })],
  ["/api/regions", (s) => ({ type: "json", body: regionsView(s) })],
  ["/metrics", (s) => ({ type: "text", body: renderMetrics(s.metrics, gauges(s)) })],
  [
    "/healthz",
    (s) => ({ type: "json", body: { ok: true, nodes: s.clients.size, channels: s.directory.all().length } }),
  ],
]);

export class AdminHttp {
  readonly local: Address;
  readonly #server: http.Server;

  private constructor(server: http.Server, local: Address) {
    this.#server = server;
    this.local = local;
  }

  static async listen(deps: AdminHttpDeps, config: AdminHttpConfig): Promise<AdminHttp> {
    const server = http.createServer((req, res) => handle(deps, req, res));
    return new AdminHttp(server, await listenHttp(server, config));
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }
}

function handle(deps: AdminHttpDeps, req: http.IncomingMessage, res: http.ServerResponse): void {
  let path: string;
  try {
    path = new URL(req.url ?? "/", "http://admin").pathname;
  } catch {
    return json(res, 400, { error: "bad request target" });
  }
  const route = ROUTES.get(path);
  if (route === undefined) return json(res, 404, { error: "not found", path });
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return json(res, 405, { error: "method not allowed", method: req.method });
  }
  try {
    const out = route(deps.control);
    if (out.type === "json") return json(res, 200, out.body, req.method === "HEAD");
    send(res, 200, "text/plain; version=0.0.4; charset=utf-8", out.body, req.method === "HEAD");
  } catch (e) {
    deps.logger.error("admin_failed", { path, error: e instanceof Error ? e.message : String(e) });
    json(res, 500, { error: "internal error" });
  }
}

function json(res: http.ServerResponse, status: number, body: unknown, head = false): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body) + "\n", head);
}

function send(res: http.ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(head ? undefined : body);
}
