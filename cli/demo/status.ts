/** The JSON the agent's and origin's /status and control's /api/nodes serve, as the demo reads them. */

export interface AgentStatus {
  node: number;
  region: string;
  channel: string;
  role: string;
  parents: number[];
  children: number[];
  assignVersion: number;
  segmentsHeld: number;
  newestSegment: number;
  joinMs: number | null;
  continuity: { expected: number; onTime: number; ratio: number | null };
  bytes: { peerSent: number; peerReceived: number; fallbackReceived: number };
  packets: { received: number; duplicates: number; rejected: number; malformed: number };
  heartbeatBytes: { max: number; mean: number };
  rssMB: number;
  cpuPct: number;
  uptimeMs: number;
}

export interface OriginStatus {
  bytes: { udpSent: number; httpServed: number };
  segmentsPublished: number;
  newestSegment: number;
}

export interface ControlNode {
  id: number;
  role: string;
  region: string;
  depth?: number | null;
  parents?: unknown[];
  children?: unknown[];
}
