/**
 * The admin API of a control process whose servers sit behind a front (DCM workers): each GET
 * route is asked of every server and the answers merged — lists concatenated (each server holds
 * its own channels and nodes), /healthz summed, Prometheus text summed series by series (a
 * family whose name says max takes the largest), then the front's own families. Enrolment
 * tokens live in the machine's store (shared by every server); a revocation is written there
 * once and then ends the key's sessions on every server.
 */
import {
  exposition,
  metricFamily,
  formatLabels,
  parseExposition,
  samplesByKey,
  type MetricType,
  type Sample,
} from "../../common/prometheus.js";
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
      samplesByKey(f.dropped, "reason"),
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
 * Sums Prometheus text expositions series by series (HELP from the first that has one, TYPE from
 * the last); a gauge whose name has `max` takes the largest value instead. Families and series
 * keep the order they first appear in; what our writer wrote is written again byte for byte.
 */
export function mergeExpositions(texts: string[]): string {
  interface Merged {
    help: string;
    type: MetricType;
    /** By sample name and labels as written. */
    series: Map<string, { labels: Record<string, string>; value: number; suffix: string }>;
  }
  const families = new Map<string, Merged>();
  for (const text of texts) {
    for (const parsed of parseExposition(text)) {
      let f = families.get(parsed.name);
      if (f === undefined) families.set(parsed.name, (f = { help: "", type: "untyped", series: new Map() }));
      if (f.help === "") f.help = parsed.help;
      if (parsed.type !== "untyped") f.type = parsed.type;
      const takeMax = f.type === "gauge" && parsed.name.includes("max");
      for (const s of parsed.samples) {
        const suffix = s.name.slice(parsed.name.length);
        const key = suffix + formatLabels(s.labels);
        const before = f.series.get(key);
        if (before === undefined) f.series.set(key, { labels: s.labels, value: s.value, suffix });
        else before.value = takeMax ? Math.max(before.value, s.value) : before.value + s.value;
      }
    }
  }
  return exposition(
    [...families].map(([name, f]) =>
      metricFamily(
        name,
        f.type,
        f.help,
        [...f.series.values()].map((s): Sample => [s.labels, s.value, s.suffix]),
      ),
    ),
  );
}
