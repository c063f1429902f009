/**
 * The agent's configuration as its logic sees it (plain data; main builds it from options),
 * and the tuning defaults of the router profile. Spec constants live in protocol/limits.ts.
 */
import { NatType } from "../protocol/messages.js";
import { MILLISECOND, SECOND } from "../seams/clock.js";
import type { Address } from "../seams/transport.js";
import { DEFAULT_ASSEMBLER, type AssemblerConfig } from "./store/assembler.js";
import { DEFAULT_SEQ_WINDOW } from "./relay/seq-window.js";
import { SESSION_TIMING } from "../common/session-timing.js";

export type AgentRole = "agent" | "preferred" | "waypoint";

export interface AgentConfig {
  /**
   * The control center's UDP endpoints: one, or several servers of one deployment (failover:
   * the session moves between them, docs/agent.md "Failover"). The JOIN tries the first first.
   */
  control: Address | readonly Address[];
  /** Control's public key (raw Ed25519, 32 bytes), pinned: what a device maker pre-seeds. */
  controlKey?: Uint8Array | undefined;
  /** Without controlKey: trust the key control presents the first time, and keep it (demo, lab). */
  trustOnFirstUse?: boolean;
  /** False only in the attack suite's negative controls: nothing from control is checked. */
  verifyControl?: boolean;
  /** Operator-issued enrolment token (control's `token` policy; needed once, by a new key). */
  enrolmentToken?: string | undefined;
  channel: string;
  /** An idle box: watch nothing, relay what control recruits it for (`tiercast agent --idle`). */
  idle?: boolean;
  /** VoD channels to download and relay while `channel` plays (each at PRIORITY_BULK). */
  vod?: string[] | undefined;
  role: AgentRole;
  /** Upload cap, kbit/s: the pacer never sends faster, and JOIN tells control. */
  uploadKbps: number;
  /** The LAN HTTP port actually bound (sent in JOIN). */
  httpPort: number;
  regionHint?: string | undefined;
  nat: NatType;
  /** Startup delay of the modelled player, ms; undefined = 2 x the channel's segmentMs. */
  playoutDelayMs?: number | undefined;
  /**
   * TESTS ONLY (the attack suite's negative controls): false takes every META that decodes,
   * signed by the channel's origin or not, so a forged META can poison the cache. Default true;
   * never turn it off on a real node.
   */
  verifySegments?: boolean;
  tuning: AgentTuning;
}

export interface AgentTuning {
  joinRetryMs: number;
  unknownChannelRetryMs: number;
  refusedRetryMs: number;
  /** Segment duration assumed until JOIN_ACK gives the channel's segmentMs, ms. */
  segmentMsGuess: number;
  /** Sequence numbers remembered for duplicate suppression. */
  seqWindow: number;
  /** Packets from a parent that an ASSIGN replaced are accepted this long (make-before-break), ms. */
  formerParentGraceMs: number;
  assembler: AssemblerConfig;
  /** Timeout of one HTTP fallback request, ms. */
  fallbackTimeoutMs: number;
  /** Fetches from the fallback at once. */
  repairConcurrency: number;
  /** Attempts per segment before the repair gives up. */
  repairAttempts: number;
  /** Wait after a failed fetch, ms. */
  repairRetryMs: number;
  /** Segments listed in the LAN playlist. */
  playlistWindow: number;
  /**
   * Share of the upload cap kept for serving repairs to children over HTTP (0..0.5). The UDP
   * pacer gets the rest, and the JOIN declares only the rest to control, so a parent serving a
   * repair never pushes its uplink past the cap (repairs over TCP would crowd out the live UDP).
   */
  peerRepairShare: number;
}

/** Router profile: small memory, slow flash, one uplink shared with the household. */
export const ROUTER_TUNING: AgentTuning = {
  ...SESSION_TIMING,
  // Only for deadlines before JOIN_ACK (never in practice): a common HLS segment length.
  segmentMsGuess: 2 * SECOND,
  // 4096 packets is ~4.7 MB of stream: several segments at typical rates.
  seqWindow: DEFAULT_SEQ_WINDOW.size,
  formerParentGraceMs: 2 * SECOND,
  assembler: DEFAULT_ASSEMBLER,
  // A segment fetched later than this is likely too late for the player anyway.
  fallbackTimeoutMs: 3 * SECOND,
  repairConcurrency: 2,
  repairAttempts: 3,
  repairRetryMs: 500 * MILLISECOND,
  // About 3 x the player's start offset: a player joining finds room to start 3 segments back.
  playlistWindow: 6,
  // Off by default: what is kept for repairs is taken from what the topology may use, and a
  // tight deployment (the demo's) then leaves erasure-coded nodes underfed. `--peer-repair-share`.
  peerRepairShare: 0,
};

export const DEFAULT_NAT = NatType.UNKNOWN;
