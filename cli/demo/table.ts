/** Renders the demo's live status table (pure: rows in, text out). */
import type { AgentStatus } from "./status.js";
import type { Summary } from "./summary.js";

export interface Row {
  name: string;
  region: string;
  status: AgentStatus | undefined;
}

export function renderTable(rows: Row[], summary: Summary, elapsedS: number): string {
  const head = [
    "agent",
    "node",
    "region",
    "tier/role",
    "parents",
    "children",
    "held",
    "newest",
    "continuity",
    "join ms",
    "peer KB out",
  ];
  const body = rows.map((r) => {
    const s = r.status;
    if (s === undefined) return [r.name, "-", r.region, "-", "-", "-", "-", "-", "(no answer)", "-", "-"];
    return [
      r.name,
      String(s.node),
      s.region || r.region,
      s.tier === undefined || s.tier === null ? "-" : `${s.tier}${s.tierRole ? ` ${s.tierRole}` : ""}`,
      s.parents.join(",") || "-",
      s.children.join(",") || "-",
      String(s.segmentsHeld),
      String(s.newestSegment),
      s.continuity.ratio === null
        ? "-"
        : `${(s.continuity.ratio * 100).toFixed(1)}% (${s.continuity.onTime}/${s.continuity.expected})`,
      s.joinMs === null ? "-" : String(Math.round(s.joinMs)),
      String(Math.round(s.bytes.peerSent / 1024)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const kb = (b: number): string => `${(b / 1024).toFixed(0)} KB`;
  const out = [
    `tiercast demo — ${elapsedS.toFixed(0)} s — ${summary.agents} agents in ${summary.regions} regions`,
    "",
    line(head),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
    "",
    `origin bytes ${kb(summary.originBytes)} (udp ${kb(summary.originUdpBytes)}, http fallback ${kb(summary.originHttpBytes)})` +
      `   peer bytes ${kb(summary.peerBytes)}   offload ${summary.offload === null ? "-" : (summary.offload * 100).toFixed(1) + "%"}`,
    `continuity min ${fmtRatio(summary.continuity.min)} mean ${fmtRatio(summary.continuity.mean)}` +
      `   join p50 ${summary.joinMs.p50 ?? "-"} ms p95 ${summary.joinMs.p95 ?? "-"} ms   heartbeat max ${summary.heartbeatBytes.max} B`,
  ];
  return out.join("\n");
}

function fmtRatio(r: number | null): string {
  return r === null ? "-" : `${(r * 100).toFixed(2)}%`;
}
