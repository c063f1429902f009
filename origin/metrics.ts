/** The origin's Prometheus text exposition (pure): counters and gauges from plain numbers. */
import { exposition, metricFamily, type MetricType } from "../common/prometheus.js";

export interface OriginMetrics {
  channel: string;
  udpSentBytes: number;
  udpDataSentBytes: number;
  udpControlSentBytes: number;
  httpServedBytes: number;
  httpRequests: number;
  segmentsPublished: number;
  newestSegment: number | undefined;
  children: number;
  packetsQueued: number;
  packetsDropped: number;
  datagramsRejected: number;
  datagramsMalformed: number;
  joined: boolean;
  streamKbps: number;
  uploadKbps: number;
}

export function renderMetrics(m: OriginMetrics): string {
  const labels = { channel: m.channel };
  const out: string[] = [];
  const metric = (name: string, type: MetricType, help: string, value: number): void => {
    out.push(metricFamily(name, type, help, [[labels, value]]));
  };
  metric(
    "tiercast_origin_udp_sent_bytes_total",
    "counter",
    "Bytes sent over UDP (data and control).",
    m.udpSentBytes,
  );
  metric(
    "tiercast_origin_udp_data_sent_bytes_total",
    "counter",
    "Data packet bytes sent over UDP.",
    m.udpDataSentBytes,
  );
  metric(
    "tiercast_origin_udp_control_sent_bytes_total",
    "counter",
    "Control bytes sent over UDP.",
    m.udpControlSentBytes,
  );
  metric(
    "tiercast_origin_http_served_bytes_total",
    "counter",
    "Body bytes served by the HTTP fallback.",
    m.httpServedBytes,
  );
  metric("tiercast_origin_http_requests_total", "counter", "HTTP requests handled.", m.httpRequests);
  metric("tiercast_origin_segments_published_total", "counter", "Segments published.", m.segmentsPublished);
  metric(
    "tiercast_origin_newest_segment",
    "gauge",
    "Id of the newest published segment (-1: none).",
    m.newestSegment ?? -1,
  );
  metric("tiercast_origin_children", "gauge", "Children assigned by control.", m.children);
  metric(
    "tiercast_origin_packets_queued_total",
    "counter",
    "Data packets queued for children.",
    m.packetsQueued,
  );
  metric(
    "tiercast_origin_packets_dropped_total",
    "counter",
    "Data packets dropped by the pacer (queue full).",
    m.packetsDropped,
  );
  metric(
    "tiercast_origin_datagrams_rejected_total",
    "counter",
    "Datagrams from unexpected senders.",
    m.datagramsRejected,
  );
  metric(
    "tiercast_origin_datagrams_malformed_total",
    "counter",
    "Control datagrams that did not decode.",
    m.datagramsMalformed,
  );
  metric("tiercast_origin_joined", "gauge", "1 when joined to control.", m.joined ? 1 : 0);
  metric("tiercast_origin_stream_kbps", "gauge", "Stream rate announced to control, kbit/s.", m.streamKbps);
  metric("tiercast_origin_upload_kbps", "gauge", "Upload budget (pacer rate), kbit/s.", m.uploadKbps);
  return exposition(out);
}
