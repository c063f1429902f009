/** The JSON the agent's and origin's /status and control's /api/nodes serve, as the demo reads them. */

/** The agent's /status: its own type (agent/status.ts), so the demo cannot drift from it. */
export type { AgentStatus } from "../../agent/status.js";

/** The part of the origin's /status the demo reads (the origin types its status as a plain record). */
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
