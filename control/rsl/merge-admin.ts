/**
 * The admin API of a control process whose servers sit behind a front (DCM workers): each GET
 * route is asked of every server and the answers merged — lists concatenated (each server holds
 * its own channels and nodes), /healthz summed, Prometheus text summed series by series (a
 * family whose name says max takes the largest), then the front's own families. Enrolment
 * tokens live in the machine's store (shared by every server); a revocation is written there
 * once and then ends the key's sessions on every server.
 */
import { exposition, metricFamily } from "../../common/prometheus.js";
import type { AdminSource, RouteResult } from "../admin-http.js";
import type { NodeStore } from "../store.js";
import { newEnrolmentToken } from "../trust/enrolment.js";
import type { FrontMetrics } from "./front.js";

export interface MergedServer {
  readonly id: string;
  view(path: string): Promise<RouteResult | undefined>;
  revoke(key: Uint8Array, reason: string): Promise<boolean>;
}

export interface MergedAdminDeps {
  servers(): MergedServer[];
  store: NodeStore;
  now(): number;
  front: FrontMetrics;
  /** The RSL's figures for /metrics: live servers, DCMs assigned, servers replaced. */
  rsl(): { servers: number; dcms: number; assigned: number; replaced: number };
  /** GET /api/servers. */
  serverList(): unknown;
  /** POST /api/servers/kill. */
  kill(id: string): Promise<boolean>;
}

export function mergedAdminSource(deps: MergedAdminDeps): AdminSource {
  return {
    async view(path) {
      const answers = (await Promise.all(deps.servers().map((s) => s.view(path)))).filter(
        (a): a is RouteResult => a !== undefined,
      );
      if (path === "/metrics")
        return {
          type: "text",
          body: mergeExpositions(answers.map((a) => String(a.body))) + frontMetrics(deps),
        };
      if (path === "/healthz") {
        let nodes = 0;
        let channels = 0;
        for (const a of answers) {
          const b = a.body as { nodes?: number; channels?: number };
          nodes += b.nodes ?? 0;
          channels += b.channels ?? 0;
        }
        return { type: "json", body: { ok: true, nodes, channels, servers: deps.servers().length } };
      }
      if (answers.length === 0) return { type: "json", body: [] };
      const merged = answers.flatMap((a) => (Array.isArray(a.body) ? (a.body as unknown[]) : [a.body]));
      return { type: "json", body: merged };
    },
    async revokeKey(key, reason) {
      deps.store.revokeKey(key, deps.now(), reason);
      const ended = await Promise.all(deps.servers().map((s) => s.revoke(key, reason)));
      return ended.some((e) => e);
    },
    issueEnrolmentToken(roles, uses, note) {
      const t = newEnrolmentToken(roles, uses, deps.now(), note);
      deps.store.addEnrolmentToken(t.row);
      return t;
    },
    enrolmentTokens: () => deps.store.enrolmentTokens(),
    servers: () => deps.serverList(),
    killServer: (id) => deps.kill(id),
  };
}

function frontMetrics(deps: MergedAdminDeps): string {
  const r = deps.rsl();
  const f = deps.front;
  return exposition([
    metricFamily(
      "tiercast_control_front_routed_total",
      "counter",
      "Datagrams the front handed to a server.",
      [[{}, f.routed]],
    ),
    metricFamily(
      "tiercast_control_front_dropped_total",
      "counter",
      "Datagrams the front dropped, by reason.",
      [...f.dropped].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([reason, n]) => [{ reason }, n]),
    ),
    metricFamily("tiercast_control_front_redirects_total", "counter", "REDIRECT hints the front sent.", [
      [{}, f.redirects],
    ]),
    metricFamily("tiercast_control_rsl_servers", "gauge", "Live control servers (DCM workers).", [
      [{}, r.servers],
    ]),
    metricFamily("tiercast_control_rsl_dcms", "gauge", "DCM logical ids with an owner.", [[{}, r.dcms]]),
    metricFamily(
      "tiercast_control_rsl_assigned_total",
      "counter",
      "DCM logical ids the service manager assigned (first owners and failovers).",
      [[{}, r.assigned]],
    ),
    metricFamily(
      "tiercast_control_rsl_servers_replaced_total",
      "counter",
      "DCM workers that died and were replaced by fresh ones.",
      [[{}, r.replaced]],
    ),
  ]);
}

/**
 * Sums Prometheus text expositions series by series (HELP and TYPE from the first that has the
 * family); a gauge whose name has `max` takes the largest value instead.
 */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { help: string; type: string; series: Map<string, number> }>();
  const familyOf = (sample: string): string => sample.replace(/\{.*$/, "");
  for (const text of texts) {
    let current: string | undefined;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (meta !== null) {
        const [, kind, name, rest] = meta;
        let f = families.get(name!);
        if (f === undefined) families.set(name!, (f = { help: "", type: "untyped", series: new Map() }));
        if (kind === "HELP" && f.help === "") f.help = rest!;
        if (kind === "TYPE") f.type = rest!;
        current = name;
        continue;
      }
      if (line.startsWith("#")) continue;
      const at = line.lastIndexOf(" ");
      const key = line.slice(0, at);
      const value = Number(line.slice(at + 1));
      const name = families.has(familyOf(key)) ? familyOf(key) : (current ?? familyOf(key));
      let f = families.get(name);
      if (f === undefined) families.set(name, (f = { help: "", type: "untyped", series: new Map() }));
      const before = f.series.get(key);
      const takeMax = f.type === "gauge" && name.includes("max");
      f.series.set(key, before === undefined ? value : takeMax ? Math.max(before, value) : before + value);
    }
  }
  let out = "";
  for (const [name, f] of families) {
    if (f.help !== "") out += `# HELP ${name} ${f.help}\n`;
    out += `# TYPE ${name} ${f.type}\n`;
    for (const [key, value] of f.series) out += `${key} ${value}\n`;
  }
  return out;
}
