/**
 * Control messages of wire v1, as the programs see them. The byte encoding is in
 * control-codec.ts and docs/protocol.md. Every message has the same envelope; `body`
 * is a discriminated union on `type`.
 */

export enum MsgType {
  JOIN = 1,
  JOIN_ACK = 2,
  HEARTBEAT = 3,
  ASSIGN = 4,
  LEAVE = 5,
  /** Control's answer to a JOIN that has no valid cookie: the address check (docs/security.md). */
  COOKIE = 6,
  /**
   * A node's session moved to another control server (failover, docs/resilience.md): its ticket
   * and a fresh nonce, tagged with the session's resumption key. One round trip, no handshake.
   */
  RESUME = 7,
  /** Control's answer to RESUME: its nonce (the resumed session's keys), tagged with the new keys. */
  RESUME_ACK = 8,
  /** Control's answer to every HEARTBEAT (tagged): the node knows its DCM's server is alive. */
  HEARTBEAT_ACK = 9,
  /**
   * Unauthenticated hint from a control server that does not serve the node's channel: the
   * servers that may (a node tries only endpoints it was configured with). No larger than the request.
   */
  REDIRECT = 10,
}

export enum Role {
  /** A home router or set-top box (a common or preferred client). */
  AGENT = 1,
  /** An ISP or operator box placed near a region: always eligible for the top tier. */
  WAYPOINT = 2,
  /** The live source. */
  ORIGIN = 3,
}

/** What a node does in the three-tier hierarchy (ASSIGN.role). */
export enum TierRole {
  ORIGIN = 1,
  TIER1 = 2,
  WAYPOINT = 3,
  TIER2 = 4,
  TIER3 = 5,
  /** The bottom tier with four levels. */
  TIER4 = 6,
}

/**
 * How data moves on a link (ASSIGN parents and children): TREE = plain multi-tree (mask bits are
 * channel substreams, seq mod k); FLOOD = tier-1 mesh, every new packet to every neighbour but
 * its sender; FEC_TREE = erasure-coded multi-tree (mask bits are coded substreams 0..fec.k+fec.n-1).
 */
export enum LinkAlgorithm {
  TREE = 0,
  FLOOD = 1,
  FEC_TREE = 2,
}

export enum NatType {
  UNKNOWN = 0,
  OPEN = 1,
  FULL_CONE = 2,
  RESTRICTED = 3,
  PORT_RESTRICTED = 4,
  SYMMETRIC = 5,
}

/** Why a JOIN was refused (JOIN_ACK.error). */
export enum JoinError {
  NONE = 0,
  UNKNOWN_CHANNEL = 1,
  BAD_REQUEST = 2,
  FULL = 3,
  /** Control does not know the sender (e.g. it restarted): send JOIN again. */
  REJOIN = 4,
  /** The key is not enrolled (enrolment policy, token spent or wrong, key revoked) or may not take this role. */
  UNAUTHORIZED = 5,
  /**
   * Control cannot take this JOIN (or RESUME) now (its admission queue is full, or the proven-JOIN
   * rate is spent): send it again after `retryAfterMs` plus jitter. Unsigned (a signature would
   * cost what the JOIN does); bound to the request by `echo` (JOIN_ACK) or the node's `nonce`
   * (RESUME_ACK), so only who saw the request can forge one (docs/security.md).
   */
  BUSY = 6,
}

export enum LeaveReason {
  SHUTDOWN = 0,
  CHANNEL_CHANGE = 1,
  ERROR = 2,
}

export interface Envelope {
  /** Wire version (WIRE_VERSION). */
  v: number;
  /** Sender's compact node id; 0 = control; a node uses 0 until JOIN_ACK gives it an id. */
  sender: number;
  /** Per-sender message sequence (for a HEARTBEAT this is FIG. 9's "Heartbeat Seq"). */
  seq: number;
  /** Sender's local timestamp, ms since the epoch (FIG. 9's "Local Timestamp"). */
  ts: number;
  /**
   * Authentication (protocol/auth.ts): an Ed25519 signature on JOIN and JOIN_ACK, a 16-byte
   * session tag on HEARTBEAT, ASSIGN and LEAVE; absent only on COOKIE and on a JOIN_ACK REJOIN
   * hint (control has no session to tag it with). Always the envelope's last key.
   */
  auth?: Uint8Array;
}

/** A peer as the control center tells a node about it. */
export interface Peer {
  node: number;
  /** IPv4 or IPv6 literal (4 or 16 bytes on the wire; decoded in the canonical form node:dgram uses for rinfo.address). */
  address: string;
  port: number;
  /** ASSIGN parents and children: the link's algorithm (absent = TREE). */
  algorithm?: LinkAlgorithm;
}

export interface JoinBody {
  /** The node's public identity key (raw Ed25519, 32 bytes); control maps it to a stable compact id. */
  key: Uint8Array;
  role: Role;
  /** Channels the node wants (agent) or offers (origin). */
  channels: string[];
  /** Configured upload capacity, kbit/s. */
  uploadKbps: number;
  nat: NatType;
  /** Agent: LAN HTTP port. Origin: HTTP fallback port. */
  httpPort: number;
  /** Origin only: the stream rate of its channels, kbit/s. */
  streamKbps?: number;
  /** Origin only: the base URL of its HTTP fallback (e.g. http://127.0.0.1:8080). */
  fallbackUrl?: string;
  /** Origin only: target segment duration, ms. */
  segmentMs?: number;
  /** Optional hint from the node's config (used when no policy prefix matches). */
  regionHint?: string;
  /** Origin only: its (single) channel is VoD, this file. */
  vod?: VodInfo;
  /** Handshake: the node's fresh X25519 public key for this session (32 bytes). */
  epk?: Uint8Array;
  /** Handshake: the cookie of control's last COOKIE answer (proves the node receives at its address). */
  cookie?: Uint8Array;
  /** Enrolment token issued by the operator (needed by a new key under the `token` policy). */
  token?: string;
}

/** COOKIE: what a JOIN must carry back (stateless for control: a MAC over the address, key and time). */
export interface CookieBody {
  cookie: Uint8Array;
  /**
   * Control's long-term Ed25519 public key (unauthenticated here: a node with a pinned key
   * ignores it; one configured to trust on first use signs its JOIN for it and then checks the
   * JOIN_ACK's signature with it).
   */
  controlKey?: Uint8Array;
}

/** What a channel carries (ChannelInfo key 6, JOIN key 10); absent on the wire = LIVE. */
export enum ChannelKind {
  LIVE = 0,
  /** A file cut into fixed-size chunks (segment id = chunk index), carried like segments. */
  VOD = 1,
}

/** A VoD channel's file: chunk i is bytes [i x chunkBytes, min(fileBytes, (i+1) x chunkBytes)). */
export interface VodInfo {
  /** File size, bytes (1..2^53-1). */
  fileBytes: number;
  /** Chunk size, bytes (1..MAX_VOD_CHUNK_BYTES); the last chunk may be shorter. */
  chunkBytes: number;
  /** The file's name (LAN URL /vod/<channel>/<fileName>, content type). */
  fileName?: string;
}

export interface ChannelInfo {
  name: string;
  /** Compact channel id carried in every data packet. */
  id: number;
  /** Number of substreams k (substream i carries packets with seq mod k = i). */
  k: number;
  streamKbps: number;
  segmentMs: number;
  /** Base URL of the origin's HTTP fallback. */
  fallbackUrl: string;
  /** Present: a VoD channel (kind VOD) and its file; absent: a live channel. */
  vod?: VodInfo;
  /**
   * The raw Ed25519 public key (32 bytes) of the origin offering the channel: every segment's META
   * must carry its signature (segment-meta.ts). Absent from an older control: the agent then
   * caches nothing of the channel (fail closed).
   */
  originKey?: Uint8Array;
}

export interface JoinAckBody {
  error: JoinError;
  /** Compact id of the node from now on (0 when error != NONE). */
  node: number;
  region: string;
  heartbeatMs: number;
  channels: ChannelInfo[];
  /** Handshake: control's fresh X25519 public key for this session (absent on a REJOIN hint). */
  epk?: Uint8Array;
  /**
   * Session ticket (opaque to the node, sealed by control): what any control server of the
   * deployment needs to resume this session after a failover (RESUME). Absent on a REJOIN hint.
   */
  ticket?: Uint8Array;
  /** BUSY: how long the node waits before its next JOIN, ms (it adds jitter; capped at MAX_RETRY_AFTER_MS). */
  retryAfterMs?: number;
  /** BUSY: the first JOIN_ECHO_BYTES of SHA-256 of the JOIN datagram it answers. */
  echo?: Uint8Array;
}

/** One parent or child link in a HEARTBEAT (FIG. 9 plus the last sequence numbers). */
export interface LinkState {
  node: number;
  /**
   * ms between the last packet on this link and the heartbeat's local timestamp (TP_i / CT_j as an age).
   * A measurement: u32 on the wire, the encoder rounds and clamps it.
   */
  ageMs: number;
  /**
   * Sequence number of the last data packet received from the parent / sent to the child. The
   * wire carries its low 16 bits (the DCM compares two ends across one interval, mod 2^16).
   */
  lastSeq: number;
  /**
   * Parents only: this parent sent a META that failed its origin signature since the last
   * heartbeat (control moves the child away; two children's reports mark the parent).
   */
  suspect?: boolean;
}

/** Measurements: integers on the wire, the encoder rounds each and clamps it (cacheBytes to 2^53-1, the rest to u32). */
export interface Resources {
  /** Measured upload over the last interval, kbit/s. */
  uploadKbps: number;
  nat: NatType;
  /** Bytes in the chunk cache. */
  cacheBytes: number;
  /** Process CPU over the last interval, percent of one core. */
  cpuPct: number;
  /** Resident set size, MB. */
  rssMB: number;
  /**
   * Data packet loss seen over the last interval, 0..1 (before repair): region quality for the
   * control center. On the wire a u8 in 1/255 steps. Absent: not measured.
   */
  loss?: number;
  /** Children this node shed because its upload was above its cap (issue: upload cap). */
  shed?: number;
}

export interface HeartbeatBody {
  channel: number;
  /** Version of the last ASSIGN the node applied (control resends ASSIGN when it lags). */
  assignVersion: number;
  /** P_1..P_k: parents[i] feeds substream i; null where the node has none. */
  parents: Array<LinkState | null>;
  /** C_1..C_m. */
  children: LinkState[];
  /** Buffersize S_i per substream: packets held ahead of playback. */
  buffers: number[];
  resources: Resources;
  /** Segments the node holds for the channel, newest id (0 when none). */
  newestSegment: number;
}

export interface ChildLink extends Peer {
  /**
   * Bit i set: send substream i to this child. TREE and FLOOD links name channel substreams
   * (bits >= k are refused); FEC_TREE links name coded substreams (bits >= fec.k + fec.n refused).
   */
  substreams: number;
}

/** Erasure code of the coded (FEC_TREE) links of an assignment: k data + n parity substreams, k + n <= 16. */
export interface FecParams {
  k: number;
  n: number;
}

export interface AssignBody {
  channel: number;
  /** Monotonic per node and channel. */
  version: number;
  k: number;
  /** Hierarchy tier (1 = top); 0 until the topology engine assigns tiers. */
  tier: number;
  /**
   * parents[i] feeds substream i; null where none (the node then repairs from the fallback). At most
   * k entries, or fec.k + fec.n on an erasure-coded tier (parents[j] then feeds coded substream j).
   */
  parents: Array<Peer | null>;
  children: ChildLink[];
  /** Three-tier topology (absent from the foundation's tree): */
  role?: TierRole;
  /** Cluster id inside the channel's plan (tiers 2 and below). */
  cluster?: number;
  /** Present when any of the node's links is FEC_TREE (tier 2, and tier-1 nodes feeding it). */
  fec?: FecParams;
  /** Tier-1 mesh neighbours (flooding). */
  mesh?: Peer[];
  /**
   * A large assignment (the origin's children) spans several datagrams: part i of `parts`, all with
   * the same version; parents ride in part 0, children and mesh are split over the parts. The
   * receiver applies the version once every part arrived (protocol/assign-parts.ts). Absent: 1 part.
   */
  part?: number;
  parts?: number;
  /**
   * The LAN HTTP port of each parent (same order as `parents`; 0 where unknown or no parent):
   * a missing segment is fetched from a parent before the origin's fallback.
   */
  parentHttpPorts?: number[];
  /**
   * Fencing epoch of the DCM that computed this assignment (the RSL ownership's revision): a node
   * drops an ASSIGN whose epoch is below one it has already seen for the channel, so a deposed
   * server's late ASSIGN cannot undo its successor's. Absent: 0.
   */
  epoch?: number;
}

/**
 * Where a node sits, as its last applied ASSIGN said (RESUME): a replacement DCM adopts it rather
 * than reshuffle a working tree. Links come from the heartbeats; this is what they do not carry.
 */
export interface Placement {
  tier: number;
  role?: TierRole;
  cluster?: number;
  fec?: FecParams;
  /** Tier-1 mesh neighbours' ids. */
  mesh?: number[];
}
export interface ResumeBody {
  /** JOIN_ACK.ticket / RESUME_ACK.ticket, as received. */
  ticket: Uint8Array;
  /** 16 fresh random bytes: with control's nonce, the resumed session's keys. */
  nonce: Uint8Array;
  /** The node's live channel id (which DCM it belongs to: routing). */
  channel: number;
  /** The version of the last ASSIGN the node applied for that channel. */
  assignVersion: number;
  placement?: Placement;
}
export interface ResumeAckBody {
  error: JoinError;
  /** Control's 16 fresh random bytes; on a BUSY, the node's RESUME nonce echoed (it is not tagged). */
  nonce: Uint8Array;
  heartbeatMs: number;
  /** A fresh ticket for the next failover (the resumed session's resumption secret). */
  ticket?: Uint8Array;
  /** The fencing epoch of the DCM now serving the node's channel. */
  epoch?: number;
  /** BUSY: how long the node waits before it sends this RESUME again, ms (plus jitter; capped). */
  retryAfterMs?: number;
}
export interface HeartbeatAckBody {
  /** The fencing epoch of the DCM serving the channel (absent: not known yet). */
  epoch?: number;
}
export interface RedirectBody {
  /** Channel the hint is about. */
  channel: number;
  /** Control servers to try, most likely first (IPv4/IPv6 literal and port). */
  endpoints: Array<{ address: string; port: number }>;
}
export interface LeaveBody {
  channel: number;
  reason: LeaveReason;
}

export type ControlMessage =
  | (Envelope & { type: MsgType.JOIN; body: JoinBody })
  | (Envelope & { type: MsgType.JOIN_ACK; body: JoinAckBody })
  | (Envelope & { type: MsgType.HEARTBEAT; body: HeartbeatBody })
  | (Envelope & { type: MsgType.ASSIGN; body: AssignBody })
  | (Envelope & { type: MsgType.LEAVE; body: LeaveBody })
  | (Envelope & { type: MsgType.COOKIE; body: CookieBody })
  | (Envelope & { type: MsgType.RESUME; body: ResumeBody })
  | (Envelope & { type: MsgType.RESUME_ACK; body: ResumeAckBody })
  | (Envelope & { type: MsgType.HEARTBEAT_ACK; body: HeartbeatAckBody })
  | (Envelope & { type: MsgType.REDIRECT; body: RedirectBody });

export type MessageOf<T extends MsgType> = Extract<ControlMessage, { type: T }>;

/** A data packet's fixed header (layout in data-codec.ts). */
export interface DataHeader {
  channel: number;
  seq: number;
  substream: number;
  flags: number;
  fecGroup: number;
  fecIndex: number;
  segmentId: number;
  offset: number;
}

export interface DataPacket extends DataHeader {
  /** A view into the received datagram. */
  payload: Uint8Array;
}

/**
 * The signed fields of a FLAG_META packet: what a receiver needs to finish, check and play a
 * segment.
 */
export interface SegmentMetaFields {
  segmentId: number;
  durationMs: number;
  totalBytes: number;
  /** Sequence number of the segment's first data packet. */
  firstSeq: number;
  packetCount: number;
  discontinuity: boolean;
  /** Origin wall clock when the segment was published, ms since the epoch. */
  publishedAt: number;
  /** SHA-256 of the whole segment; a segment that does not match is never served. */
  sha256: Uint8Array;
}

/**
 * Payload of a FLAG_META packet: the fields and the origin's Ed25519 signature over them and the
 * channel id (segment-meta.ts). Decoding does not check the signature; verifySegmentMeta does.
 */
export interface SegmentMeta extends SegmentMetaFields {
  /** 64 bytes. */
  signature: Uint8Array;
}
