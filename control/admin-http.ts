/**
 * The control center's admin HTTP API (JSON) and metrics:
 *   GET /api/channels   channels, their origin and DCM
 *   GET /api/nodes      live nodes: role, region, address, links, heartbeat stats
 *   GET /api/topology   per channel: edges, depth, unplaced nodes
 *   GET /api/regions    per region: loss and jitter from heartbeats, what the topology uses
 *   GET /metrics        Prometheus text
 *   GET /healthz        {"ok": true, ...}
 *   GET  /api/enrolment-tokens   the tokens (hash, roles, uses left; never the token)
 *   POST /api/enrolment-tokens   {"roles": ["agent"], "uses": 100, "note": "..."} -> 201 with the
 *                                token, shown this once (docs/security.md)
 *   POST /api/keys/revoke        {"key": "<hex|base64>", "reason": "..."}: refused from now on,
 *                                its session ends at once
 *   GET  /api/servers            the RSL: control servers (DCM workers), the channels each serves
 *                                and the epochs (docs/resilience.md); 404 with one in-process server
 *   POST /api/servers/kill       {"server": "<id>"}: ends that server as a crash would (a failover
 *                                drill: its channels move to another)
 * Every route but /healthz needs `Authorization: Bearer <token>` (control/admin-token.ts); without
 * it, or with another token, the answer is 401 with `WWW-Authenticate: Bearer` and a JSON body,
 * whatever the path, and tiercast_control_admin_auth_failed_total{reason} counts it.
 * Anything else: 404 (405 for other methods) with a JSON body. No CORS header: a web page a
 * browser on the operator's machine opens cannot read the API. Request heads over 8 KiB get
 * 431, heads slower than 10 s 408 (common/http-server.ts).
 */
import type http from "node:http";
import { EXPOSITION_CONTENT_TYPE, exposition, metricFamily, samplesByKey } from "../common/prometheus.js";
import { closeHttp, createHttpServer, listenHttp } from "../common/http-server.js";
import type { Logger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";
import { bearerMatches, bearerOf } from "./admin-token.js";
import { keyText, parseKeyText } from "../common/control-key.js";
import type { EnrolmentTokenRow } from "./store.js";
import { ControlMetrics, renderMetrics } from "./metrics.js";
import { channelsView, gauges, nodesView, regionsView, topologyView, type ControlState } from "./views.js";

/** What the trust routes do (the ControlCenter implements it; the RSL's main process fans it out). */
export interface TrustAdmin {
  revokeKey(key: Uint8Array, reason: string): boolean | Promise<boolean>;
  issueEnrolmentToken(roles: string[], uses: number, note: string): { token: string; row: EnrolmentTokenRow };
  enrolmentTokens(): EnrolmentTokenRow[];
}

export type RouteResult = { type: "json"; body: unknown } | { type: "text"; body: string };

/**
 * Where the admin API reads from: one ControlCenter (localAdminSource), or the servers behind a
 * front, asked one by one and merged (control/rsl/merge-admin.ts).
 */
export interface AdminSource extends Partial<TrustAdmin> {
  /** A GET route's answer; undefined for a path that is no route. */
  view(path: string): Promise<RouteResult | undefined>;
  /** The RSL's servers and what they serve (absent: one server in process). */
  servers?(): unknown;
  /** Ends a server as a crash would; false when there is none with that id. */
  killServer?(id: string): Promise<boolean>;
}

export interface AdminHttpDeps {
  control: AdminSource;
  logger: Logger;
}

/** The admin source of one ControlCenter in this process. */
export function localAdminSource(control: ControlState & Partial<TrustAdmin>): AdminSource {
  return {
    view: (path) => Promise.resolve(adminRoute(control, path)),
    ...(control.revokeKey === undefined ? {} : { revokeKey: (k, r) => control.revokeKey!(k, r) }),
    ...(control.issueEnrolmentToken === undefined
      ? {}
      : { issueEnrolmentToken: (ro, u, n) => control.issueEnrolmentToken!(ro, u, n) }),
    ...(control.enrolmentTokens === undefined ? {} : { enrolmentTokens: () => control.enrolmentTokens!() }),
  };
}

/** The JSON or text of a GET route for one control server's state; undefined for another path. */
export function adminRoute(s: ControlState, path: string): RouteResult | undefined {
  return ROUTES.get(path)?.(s);
}

/** Largest admin request body (JSON), bytes. */
const MAX_BODY_BYTES = 16 * 1024;
const ROLES: ReadonlySet<string> = new Set(["agent", "waypoint", "origin"]);

export interface AdminHttpConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The bearer token every route but /healthz needs. */
  token: string;
}

/** Paths answered without the token (a supervisor's liveness probe). */
const OPEN_PATHS: ReadonlySet<string> = new Set(["/healthz"]);
const REALM = 'Bearer realm="tiercast-admin"';

type Route = (s: ControlState) => RouteResult;

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
  /** Requests refused for want of the token, by reason (`missing`, `invalid`). */
  readonly authFailed = new Map<string, number>();
  readonly #server: http.Server;
  readonly #deps: AdminHttpDeps;
  readonly #config: AdminHttpConfig;
  #local: Address | undefined;

  constructor(deps: AdminHttpDeps, config: AdminHttpConfig) {
    if (config.token === "") throw new RangeError("token: the admin token is empty");
    this.#deps = deps;
    this.#config = config;
    this.#server = createHttpServer((req, res) => this.#handle(req, res), { badRequest: "400" });
  }

  /** A server listening on config.host:config.port. */
  static async listen(deps: AdminHttpDeps, config: AdminHttpConfig): Promise<AdminHttp> {
    const admin = new AdminHttp(deps, config);
    admin.#local = await listenHttp(admin.#server, config);
    return admin;
  }

  /** The bound address (after listen). */
  get local(): Address {
    if (this.#local === undefined) throw new Error("AdminHttp: not listening");
    return this.#local;
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const head = req.method === "HEAD";
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://admin").pathname;
    } catch {
      return json(res, 400, { error: "bad request target" }, head);
    }
    // Before routing: a stranger learns nothing, not even which paths exist.
    if (!OPEN_PATHS.has(path) && !bearerMatches(req.headers.authorization, this.#config.token)) {
      const reason = bearerOf(req.headers.authorization) === undefined ? "missing" : "invalid";
      ControlMetrics.bump(this.authFailed, reason);
      this.#deps.logger.debug("admin_auth_failed", { path: path.slice(0, 200), reason });
      res.setHeader("www-authenticate", reason === "missing" ? REALM : `${REALM}, error="invalid_token"`);
      return json(
        res,
        401,
        { error: "unauthorized", hint: "send Authorization: Bearer <admin token>" },
        head,
      );
    }
    if (TRUST_PATHS.has(path)) return void this.#trust(path, req, res, head);
    if (path === "/api/servers" || path === "/api/servers/kill")
      return void this.#servers(path, req, res, head);
    if (!ROUTES.has(path)) return json(res, 404, { error: "not found", path }, head);
    if (req.method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      return json(res, 405, { error: "method not allowed", method: req.method });
    }
    this.#deps.control.view(path).then(
      (out) => {
        if (out === undefined) return json(res, 404, { error: "not found", path }, head);
        if (out.type === "json") return json(res, 200, out.body, head);
        const body = out.body + this.#metrics();
        send(res, 200, EXPOSITION_CONTENT_TYPE, body, head);
      },
      (e: unknown) => {
        this.#deps.logger.error("admin_failed", { path, error: e instanceof Error ? e.message : String(e) });
        json(res, 500, { error: "internal error" }, head);
      },
    );
  }

  /** Enrolment tokens and revocation (docs/security.md). */
  async #trust(
    path: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    head: boolean,
  ): Promise<void> {
    const c = this.#deps.control;
    if (c.revokeKey === undefined || c.issueEnrolmentToken === undefined || c.enrolmentTokens === undefined) {
      return json(res, 404, { error: "not found", path }, head);
    }
    if (path === "/api/enrolment-tokens" && (req.method === "GET" || head)) {
      return json(res, 200, c.enrolmentTokens(), head);
    }
    if (req.method !== "POST") {
      res.setHeader("allow", path === "/api/keys/revoke" ? "POST" : "GET, HEAD, POST");
      return json(res, 405, { error: "method not allowed", method: req.method });
    }
    let body: Record<string, unknown>;
    try {
      body = await readJson(req);
    } catch (e) {
      return json(res, 400, { error: (e as Error).message });
    }
    if (path === "/api/keys/revoke") {
      const key = typeof body.key === "string" ? parseKeyText(body.key) : "expected a string";
      if (typeof key === "string") return json(res, 400, { error: `key: ${key}` });
      const reason = typeof body.reason === "string" ? body.reason.slice(0, 200) : "admin";
      const ended = await c.revokeKey(key, reason);
      return json(res, 200, { revoked: keyText(key), sessionEnded: ended });
    }
    const roles = body.roles;
    if (
      !Array.isArray(roles) ||
      roles.length === 0 ||
      !roles.every((r) => typeof r === "string" && ROLES.has(r))
    ) {
      return json(res, 400, { error: `roles: expected a non-empty list of ${[...ROLES].join(", ")}` });
    }
    const uses = body.uses;
    if (typeof uses !== "number" || !Number.isInteger(uses) || uses < 1 || uses > 1_000_000) {
      return json(res, 400, { error: "uses: expected an integer 1..1000000" });
    }
    const note = typeof body.note === "string" ? body.note.slice(0, 200) : "";
    const { token, row } = c.issueEnrolmentToken(roles as string[], uses, note);
    this.#deps.logger.info("enrolment_token_issued", { hash: row.hash, roles: row.roles, uses, note });
    return json(res, 201, { token, ...row });
  }

  /** The RSL's servers, and the failover drill (docs/resilience.md). */
  async #servers(
    path: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    head: boolean,
  ): Promise<void> {
    const c = this.#deps.control;
    if (c.servers === undefined || (path === "/api/servers/kill" && c.killServer === undefined))
      return json(res, 404, { error: "not found", path, hint: "no DCM workers in this process" }, head);
    if (path === "/api/servers") {
      if (req.method !== "GET" && !head) {
        res.setHeader("allow", "GET, HEAD");
        return json(res, 405, { error: "method not allowed", method: req.method });
      }
      return json(res, 200, c.servers(), head);
    }
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return json(res, 405, { error: "method not allowed", method: req.method });
    }
    let body: Record<string, unknown>;
    try {
      body = await readJson(req);
    } catch (e) {
      return json(res, 400, { error: (e as Error).message });
    }
    if (typeof body.server !== "string") return json(res, 400, { error: "server: expected a server id" });
    const killed = await c.killServer!(body.server);
    this.#deps.logger.warn("server_killed_by_admin", { server: body.server, killed });
    return killed
      ? json(res, 200, { killed: body.server })
      : json(res, 404, { error: "no such server", server: body.server });
  }

  /** The admin server's own families, after control's. */
  #metrics(): string {
    return exposition([
      metricFamily(
        "tiercast_control_admin_auth_failed_total",
        "counter",
        "Admin HTTP requests refused for a missing or wrong bearer token, by reason.",
        samplesByKey(this.authFailed, "reason"),
      ),
    ]);
  }
}

const TRUST_PATHS: ReadonlySet<string> = new Set(["/api/enrolment-tokens", "/api/keys/revoke"]);

/** A JSON object body of at most MAX_BODY_BYTES; an Error saying what is wrong otherwise. */
function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (c: Buffer) => {
      total += c.length;
      if (total > MAX_BODY_BYTES) {
        reject(new Error(`body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (typeof v !== "object" || v === null || Array.isArray(v))
          throw new Error("expected a JSON object");
        resolve(v as Record<string, unknown>);
      } catch (e) {
        reject(new Error(`body: ${(e as Error).message}`));
      }
    });
  });
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
