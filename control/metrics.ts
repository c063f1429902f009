/**
 * Counters of the control center, and their Prometheus text form (exposition format 0.0.4).
 * Gauges (nodes by role and region, channels) are computed from state when scraped.
 */
import {
  exposition,
  metricFamily,
  samplesByKey,
  type MetricType,
  type Sample,
} from "../common/prometheus.js";

export class ControlMetrics {
  /** Datagrams that did not decode, by DecodeError code. */
  readonly malformed = new Map<string, number>();
  /** JOIN_ACKs sent, by JoinError name (NONE = accepted). */
  readonly joinAcks = new Map<string, number>();
  /** Data packets sent to control (counted and dropped). */
  dataDropped = 0;
  /** Well-formed messages control never accepts (JOIN_ACK, ASSIGN). */
  unexpected = 0;
  /** LEAVEs from ids control does not know. */
  unknownSender = 0;
  joins = 0;
  heartbeats = 0;
  heartbeatBytes = 0;
  leaves = 0;
  lost = 0;
  assignsSent = 0;
  /** ASSIGNs sent again because a heartbeat reported an older (or newer) version. */
  assignsResent = 0;
  /** Links found congested (FIG. 9), each moved to another parent. */
  congestedLinks = 0;
  /** Messages the encoder refused (a limit broken: a bug, logged). */
  encodeErrors = 0;
  /** Exceptions caught around a handler (a bug, logged). */
  handlerErrors = 0;
  /** Messages dropped unanswered because they did not authenticate, by reason (docs/security.md). */
  readonly authFailed = new Map<string, number>();
  /** COOKIE answers sent (the address check), and JOINs dropped by the rate limits, by stage. */
  cookiesSent = 0;
  readonly joinsLimited = new Map<string, number>();
  /** Bytes sent to and received from sources that never proved their address (COOKIE, REJOIN hints). */
  unprovenBytesIn = 0;
  unprovenBytesOut = 0;
  /** Children's reports of a parent whose META failed verification, and the parents marked for them. */
  suspectReports = 0;
  parentsMarked = 0;
  /** Handshakes completed (sessions opened) and keys revoked. */
  sessionsOpened = 0;
  revoked = 0;
  /** RESUMEs that passed the checks (failovers: docs/resilience.md), HEARTBEAT_ACKs and REDIRECTs sent. */
  resumes = 0;
  /** RESUMEs left unanswered because no origin offers their channel here yet (the node resends). */
  resumesHeld = 0;
  heartbeatAcks = 0;
  redirects = 0;
  /** Datagrams dropped while this server was fenced (it could not confirm its DCMs with the RSL). */
  fencedDrops = 0;
  /** Liveness checks that found control itself stalled (event loop late), and the worst lag, ms. */
  stalls = 0;
  maxStallMs = 0;
  /**
   * Admission (control/admission.ts): requests waiting now (gauge), queued (deferred) and
   * handled (admitted) by kind (join, resume), answered BUSY by kind and why (full, limited),
   * dropped after waiting too long, and the recent admission rate per second (gauge).
   */
  admissionDepth = 0;
  readonly deferred = new Map<string, number>();
  readonly admitted = new Map<string, number>();
  readonly busy = new Map<string, number>();
  admissionExpired = 0;
  /** JOINs dropped from the queue to make room for a RESUME (their nodes resend). */
  admissionEvicted = 0;
  admittedPerSec = 0;
  /** Slices of admission work put off because the socket was busy (heartbeats first). */
  admissionSlicesDeferred = 0;
  /** ASSIGN pacing: ASSIGNs waiting now (gauge), ASSIGNs that waited, and queued ones replaced by a newer one. */
  assignDepth = 0;
  assignsPaced = 0;
  assignsReplaced = 0;
  /** Planning: DCMs waiting for a reconcile now (gauge), and reconciles the planner ran. */
  planDepth = 0;
  planSlices = 0;
  /** A DCM worker's inbound queue (rsl/inbound.ts): datagrams dropped with a lane full, drains that yielded a turn. */
  inboundDropped = 0;
  inboundYields = 0;

  static bump(m: Map<string, number>, key: string, by = 1): void {
    m.set(key, (m.get(key) ?? 0) + by);
  }
}

export interface Gauges {
  nodes: Array<{ role: string; region: string; count: number }>;
  channels: number;
  unplaced: number;
}

export function renderMetrics(m: ControlMetrics, g: Gauges): string {
  const out: string[] = [];
  const family = (name: string, type: MetricType, help: string, samples: Sample[]): void => {
    out.push(metricFamily(name, type, help, samples));
  };

  family(
    "tiercast_control_nodes",
    "gauge",
    "Live nodes by role and region.",
    g.nodes.map((n) => [{ role: n.role, region: n.region }, n.count]),
  );
  family("tiercast_control_channels", "gauge", "Channels known to the content directory.", [
    [{}, g.channels],
  ]);
  family("tiercast_control_unplaced_nodes", "gauge", "Nodes with no parent in their channel's plan.", [
    [{}, g.unplaced],
  ]);
  family(
    "tiercast_control_malformed_datagrams_total",
    "counter",
    "Datagrams dropped because they did not decode, by error code.",
    samplesByKey(m.malformed, "code"),
  );
  family("tiercast_control_data_datagrams_dropped_total", "counter", "Data packets sent to control.", [
    [{}, m.dataDropped],
  ]);
  family("tiercast_control_unexpected_messages_total", "counter", "Messages control does not accept.", [
    [{}, m.unexpected],
  ]);
  family("tiercast_control_joins_total", "counter", "JOINs received.", [[{}, m.joins]]);
  family(
    "tiercast_control_join_acks_total",
    "counter",
    "JOIN_ACKs sent, by error.",
    samplesByKey(m.joinAcks, "error"),
  );
  family("tiercast_control_heartbeats_total", "counter", "HEARTBEATs received.", [[{}, m.heartbeats]]);
  family("tiercast_control_heartbeat_bytes_total", "counter", "Bytes of HEARTBEATs received.", [
    [{}, m.heartbeatBytes],
  ]);
  family("tiercast_control_leaves_total", "counter", "Nodes that sent LEAVE.", [[{}, m.leaves]]);
  family("tiercast_control_nodes_lost_total", "counter", "Nodes that missed their heartbeats.", [
    [{}, m.lost],
  ]);
  family("tiercast_control_assigns_sent_total", "counter", "ASSIGNs sent (resends included).", [
    [{}, m.assignsSent],
  ]);
  family("tiercast_control_assigns_resent_total", "counter", "ASSIGNs sent again after a stale heartbeat.", [
    [{}, m.assignsResent],
  ]);
  family("tiercast_control_congested_links_total", "counter", "Links found congested and moved.", [
    [{}, m.congestedLinks],
  ]);
  family(
    "tiercast_control_unknown_sender_total",
    "counter",
    "Messages from node ids control does not know.",
    [[{}, m.unknownSender]],
  );
  family("tiercast_control_encode_errors_total", "counter", "Messages the encoder refused.", [
    [{}, m.encodeErrors],
  ]);
  family("tiercast_control_handler_errors_total", "counter", "Exceptions caught around handlers.", [
    [{}, m.handlerErrors],
  ]);
  family(
    "tiercast_control_auth_failed_total",
    "counter",
    "Messages dropped unanswered because they did not authenticate, by reason.",
    samplesByKey(m.authFailed, "reason"),
  );
  family("tiercast_control_cookies_sent_total", "counter", "COOKIE answers sent (address checks).", [
    [{}, m.cookiesSent],
  ]);
  family(
    "tiercast_control_joins_limited_total",
    "counter",
    "JOINs dropped by the rate limits, by stage (unproven, proven).",
    samplesByKey(m.joinsLimited, "stage"),
  );
  family(
    "tiercast_control_unproven_bytes_total",
    "counter",
    "Bytes exchanged with sources that had not proved their address, by direction.",
    [
      [{ direction: "in" }, m.unprovenBytesIn],
      [{ direction: "out" }, m.unprovenBytesOut],
    ],
  );
  family("tiercast_control_sessions_opened_total", "counter", "Handshakes completed.", [
    [{}, m.sessionsOpened],
  ]);
  family("tiercast_control_keys_revoked_total", "counter", "Node keys revoked.", [[{}, m.revoked]]);
  family(
    "tiercast_control_resumes_total",
    "counter",
    "Sessions resumed from a ticket (a node's DCM moved here: failover).",
    [[{}, m.resumes]],
  );
  family(
    "tiercast_control_fenced_drops_total",
    "counter",
    "Datagrams dropped while the server was fenced (the RSL unreachable past its lease).",
    [[{}, m.fencedDrops]],
  );
  family(
    "tiercast_control_resumes_held_total",
    "counter",
    "RESUMEs held unanswered until an origin offers their channel here.",
    [[{}, m.resumesHeld]],
  );
  family(
    "tiercast_control_redirects_total",
    "counter",
    "REDIRECT hints sent to nodes of channels served elsewhere.",
    [[{}, m.redirects]],
  );
  family(
    "tiercast_control_suspect_reports_total",
    "counter",
    "Children's reports of a parent whose META failed verification.",
    [[{}, m.suspectReports]],
  );
  family(
    "tiercast_control_parents_marked_total",
    "counter",
    "Parents marked after reports from several children.",
    [[{}, m.parentsMarked]],
  );
  family(
    "tiercast_control_stalls_total",
    "counter",
    "Liveness checks that found control's own event loop late (no node is declared lost for it).",
    [[{}, m.stalls]],
  );
  family(
    "tiercast_control_admission_queue_depth",
    "gauge",
    "JOINs and RESUMEs waiting for their turn in the admission queue.",
    [[{}, m.admissionDepth]],
  );
  family(
    "tiercast_control_admission_deferred_total",
    "counter",
    "JOINs and RESUMEs put in the admission queue, by kind (a resend replacing a queued one included).",
    samplesByKey(m.deferred, "kind"),
  );
  family(
    "tiercast_control_admission_admitted_total",
    "counter",
    "JOINs and RESUMEs taken from the admission queue and handled, by kind.",
    samplesByKey(m.admitted, "kind"),
  );
  family(
    "tiercast_control_admission_admitted_per_second",
    "gauge",
    "Requests admitted per second over the last full second (what retry-after is computed from).",
    [[{}, m.admittedPerSec]],
  );
  family(
    "tiercast_control_admission_busy_total",
    "counter",
    "JOINs and RESUMEs answered BUSY with a retry-after, by kind and reason (full: the queue; limited: the proven-JOIN rate).",
    samplesByKey(m.busy, (key) => {
      const [kind = "", reason = ""] = key.split("/");
      return { kind, reason };
    }),
  );
  family(
    "tiercast_control_admission_expired_total",
    "counter",
    "Queued requests dropped unanswered after waiting longer than the queue's limit.",
    [[{}, m.admissionExpired]],
  );
  family(
    "tiercast_control_admission_evicted_total",
    "counter",
    "Queued JOINs dropped to make room for a RESUME (an established session goes first; the node resends).",
    [[{}, m.admissionEvicted]],
  );
  family(
    "tiercast_control_admission_slices_deferred_total",
    "counter",
    "Admission slices put off because the socket was busy (heartbeats first).",
    [[{}, m.admissionSlicesDeferred]],
  );
  family("tiercast_control_assign_queue_depth", "gauge", "ASSIGNs waiting in the pacer.", [
    [{}, m.assignDepth],
  ]);
  family(
    "tiercast_control_assigns_paced_total",
    "counter",
    "ASSIGNs that waited in the pacer (a burst larger than a slice's bytes).",
    [[{}, m.assignsPaced]],
  );
  family(
    "tiercast_control_assigns_replaced_total",
    "counter",
    "Queued ASSIGNs replaced by a newer one for the same node and channel before they went out.",
    [[{}, m.assignsReplaced]],
  );
  family("tiercast_control_plan_queue_depth", "gauge", "DCMs waiting for the planner's next reconcile.", [
    [{}, m.planDepth],
  ]);
  family(
    "tiercast_control_plan_reconciles_total",
    "counter",
    "Reconciles the planner ran (a flash crowd's joins are placed a slice at a time).",
    [[{}, m.planSlices]],
  );
  family(
    "tiercast_control_inbound_dropped_total",
    "counter",
    "Datagrams a DCM worker dropped because its inbound lane was full (as a full socket buffer would).",
    [[{}, m.inboundDropped]],
  );
  family(
    "tiercast_control_inbound_yields_total",
    "counter",
    "Times a DCM worker yielded a loop turn with datagrams still queued (heartbeats first, a few ms a turn).",
    [[{}, m.inboundYields]],
  );
  return exposition(out);
}
