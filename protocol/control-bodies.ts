/**
 * Bodies of the wire v1 control messages: CBOR maps with small integer keys (envelope
 * key 5). "?" marks an optional key; u32 = 0..2^32-1; uint = non-negative safe integer.
 * Unknown keys are ignored; a compact array may grow trailing elements in later versions
 * (v1 reads the first ones and ignores the rest, up to MAX_COMPACT_ELEMENTS).
 *
 * JOIN (1)        0 key bstr<=64  1 role u8  2 channels [text<=200]<=8  3 uploadKbps u32
 *                 4 nat u8  5 httpPort 1..65535  6? streamKbps u32  7? fallbackUrl text
 *                 8? segmentMs u32  9? regionHint text
 *                 10? kind u8  11? fileBytes uint  12? chunkBytes u32  13? fileName text (origin: VoD, below)
 *                 14? epk bstr 32 (X25519)  15? cookie bstr<=64  16? token text<=200 (handshake: docs/security.md)
 * JOIN_ACK (2)    0 error u8  1 node u32  2 region text  3 heartbeatMs u32  4 channels [ChannelInfo]<=8
 *                 5? epk bstr 32 (X25519)  6? ticket bstr<=MAX_TICKET_BYTES (failover: resume-codec.ts)
 *                 7? retryAfterMs u32  8? echo bstr 8 (error BUSY: when to JOIN again, and the first
 *                 JOIN_ECHO_BYTES of SHA-256 of the JOIN answered; a node clamps to MAX_RETRY_AFTER_MS)
 *   ChannelInfo   map: 0 name text  1 id u32  2 k 1..16  3 streamKbps u32  4 segmentMs u32  5 fallbackUrl text
 *                 6? kind u8  7? fileBytes uint  8? chunkBytes u32  9? fileName text
 *                 10? originKey bstr 32 (the origin's Ed25519 key: it signs every META, segment-meta.ts)
 *   VoD keys      kind: 0 LIVE (also when absent: the other VoD keys are then ignored), 1 VOD;
 *                 with VOD: fileBytes >= 1 and chunkBytes 1..MAX_VOD_CHUNK_BYTES are required,
 *                 ceil(fileBytes / chunkBytes) <= 2^32 (chunk index = segment id, u32)
 * HEARTBEAT (3)   0 channel u32  1 assignVersion u32  2 parents [LinkState|null]<=16
 *                 3 children [LinkState]<=64  4 buffers [u16]<=16  5 resources  6 newestSegment u32
 *   LinkState     [node u32, ageMs u16, lastSeq u16, suspect? 1]  (ageMs saturates at 65535; lastSeq
 *                 is the low 16 bits of the sequence number: the DCM compares them across one
 *                 interval; suspect, parents only: its META failed verification; agents flag one)
 *   resources     compact array: [uploadKbps u32, nat u8, cacheBytes uint, cpuPct u16, rssMB u16,
 *                 loss? u8|null (loss fraction x 255, rounded), shed? u8 (children shed over the cap)]
 *   A worst-case HEARTBEAT (4 parents, 8 children, every field at its largest) is 254 bytes with
 *   its 16-byte session tag: the 256-byte budget (test/protocol-limits.test.ts).
 * ASSIGN (4)      0 channel u32  1 version u32  2 k 1..16  3 tier u8
 *                 4 parents [Peer|null]<=slots  5 children [ChildLink]<=64
 *                 6? role u8 (TierRole)  7? cluster u32  8? fec [k 1..15, n 0..15] (k+n <= 16)
 *                 9? mesh [Peer]<=64  10? part u8 < parts  11? parts 1..256
 *                 12? parentHttpPorts [0..65535] (one per parents entry; 0 = unknown)  13? epoch uint (fencing)
 *                 slots = max(k, fec.k + fec.n) when fec is present, else k
 *   Peer          [node u32, ip bstr(4|16), port 1..65535, algorithm? u8]
 *   ChildLink     [node u32, ip bstr(4|16), port 1..65535, substreams u16, algorithm? u8]
 *                 substreams: bits < k (TREE, FLOOD) or < fec.k + fec.n (FEC_TREE, needs fec)
 *                 algorithm: 0 TREE (also when absent), 1 FLOOD, 2 FEC_TREE
 * LEAVE (5)       0 channel u32  1 reason u8
 * COOKIE (6)      0 cookie bstr<=64  1? controlKey bstr 32 (Ed25519)
 *
 * Integers above 2^32-1 (ts, cacheBytes) go out as 8-byte CBOR integers (0x1b), never floats.
 * Measurements (ageMs and resources) are rounded and clamped to their range by the encoder.
 */
import {
  JOIN_ECHO_BYTES,
  MAX_CHANNELS_PER_MESSAGE,
  MAX_CHILDREN,
  MAX_COOKIE_BYTES,
  MAX_TICKET_BYTES,
  PUBLIC_KEY_BYTES,
  MAX_KEY_BYTES,
  MAX_PARENTS,
  MAX_STRING_BYTES,
  MAX_SUBSTREAMS,
  MAX_VOD_CHUNK_BYTES,
  ORIGIN_KEY_BYTES,
} from "./limits.js";
import {
  type ChannelInfo,
  ChannelKind,
  type CookieBody,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  type LeaveBody,
  LeaveReason,
  type LinkState,
  NatType,
  type Resources,
  Role,
  type VodInfo,
} from "./messages.js";
import {
  type CborMap,
  U16_MAX,
  U32_MAX,
  asMap,
  badField,
  bytes,
  eachOf,
  enumValues,
  int,
  list,
  member,
  need,
  port,
  text,
  u16,
  u32,
  u8,
  uSafe,
  within,
  wireUint,
} from "./fields.js";
import { compact, MAX_COMPACT_ELEMENTS, record, type BodyCodec } from "./body-helpers.js";

const ROLES = enumValues(Role);
const NATS = enumValues(NatType);
const JOIN_ERRORS = enumValues(JoinError);
const LEAVE_REASONS = enumValues(LeaveReason);
const CHANNEL_KINDS = enumValues(ChannelKind);

export { wireUint };

/** Round and clamp a measurement into [0, max]; NaN is a caller bug. */
function measure(v: number, field: string, max: number): number {
  if (typeof v !== "number" || Number.isNaN(v)) throw badField(field, `expected a number, got ${typeof v}`);
  return v <= 0 ? 0 : v >= max ? max : Math.round(v);
}

function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

// ---------------------------------------------------------------- JOIN

export const joinCodec: BodyCodec<JoinBody> = {
  write(b) {
    const m = new Map<number, unknown>([
      [0, bytes(b.key, "key", MAX_KEY_BYTES)],
      [1, member(b.role, "role", ROLES)],
      [2, eachOf(list(b.channels, "channels", MAX_CHANNELS_PER_MESSAGE), "channels", channelName)],
      [3, u32(b.uploadKbps, "uploadKbps")],
      [4, member(b.nat, "nat", NATS)],
      [5, port(b.httpPort, "httpPort")],
    ]);
    if (b.streamKbps !== undefined) m.set(6, u32(b.streamKbps, "streamKbps"));
    if (b.fallbackUrl !== undefined) m.set(7, text(b.fallbackUrl, "fallbackUrl", MAX_STRING_BYTES));
    if (b.segmentMs !== undefined) m.set(8, u32(b.segmentMs, "segmentMs"));
    if (b.regionHint !== undefined) m.set(9, text(b.regionHint, "regionHint", MAX_STRING_BYTES));
    writeVod(m, 10, b.vod);
    if (b.epk !== undefined) m.set(14, exactBytes(b.epk, "epk", PUBLIC_KEY_BYTES));
    if (b.cookie !== undefined) m.set(15, bytes(b.cookie, "cookie", MAX_COOKIE_BYTES));
    if (b.token !== undefined) m.set(16, text(b.token, "token", MAX_STRING_BYTES));
    return m;
  },
  read(m) {
    const body: JoinBody = {
      key: copy(bytes(need(m, 0, "key"), "key", MAX_KEY_BYTES)),
      role: member<Role>(need(m, 1, "role"), "role", ROLES),
      channels: eachOf(
        list(need(m, 2, "channels"), "channels", MAX_CHANNELS_PER_MESSAGE),
        "channels",
        channelName,
      ),
      uploadKbps: u32(need(m, 3, "uploadKbps"), "uploadKbps"),
      nat: member<NatType>(need(m, 4, "nat"), "nat", NATS),
      httpPort: port(need(m, 5, "httpPort"), "httpPort"),
    };
    const streamKbps = m.get(6);
    if (streamKbps !== undefined) body.streamKbps = u32(streamKbps, "streamKbps");
    const fallbackUrl = m.get(7);
    if (fallbackUrl !== undefined) body.fallbackUrl = text(fallbackUrl, "fallbackUrl", MAX_STRING_BYTES);
    const segmentMs = m.get(8);
    if (segmentMs !== undefined) body.segmentMs = u32(segmentMs, "segmentMs");
    const regionHint = m.get(9);
    if (regionHint !== undefined) body.regionHint = text(regionHint, "regionHint", MAX_STRING_BYTES);
    const vod = readVod(m, 10);
    if (vod !== undefined) body.vod = vod;
    const epk = m.get(14);
    if (epk !== undefined) body.epk = copy(exactBytes(epk, "epk", PUBLIC_KEY_BYTES));
    const cookie = m.get(15);
    if (cookie !== undefined) body.cookie = copy(bytes(cookie, "cookie", MAX_COOKIE_BYTES));
    const token = m.get(16);
    if (token !== undefined) body.token = text(token, "token", MAX_STRING_BYTES);
    return body;
  },
};

/** A byte string of exactly `length` bytes (keys). */
function exactBytes(v: unknown, field: string, length: number): Uint8Array {
  const b = bytes(v, field, length);
  if (b.length !== length) throw badField(field, `expected ${length} bytes, got ${b.length}`);
  return b;
}

function channelName(v: unknown): string {
  return text(v, "", MAX_STRING_BYTES);
}

// ---------------------------------------------------------------- JOIN_ACK

export const joinAckCodec: BodyCodec<JoinAckBody> = {
  write(b) {
    const m = new Map<number, unknown>([
      [0, member(b.error, "error", JOIN_ERRORS)],
      [1, u32(b.node, "node")],
      [2, text(b.region, "region", MAX_STRING_BYTES)],
      [3, u32(b.heartbeatMs, "heartbeatMs")],
      [4, eachOf(list(b.channels, "channels", MAX_CHANNELS_PER_MESSAGE), "channels", writeChannelInfo)],
    ]);
    if (b.epk !== undefined) m.set(5, exactBytes(b.epk, "epk", PUBLIC_KEY_BYTES));
    if (b.ticket !== undefined) m.set(6, bytes(b.ticket, "ticket", MAX_TICKET_BYTES));
    if (b.retryAfterMs !== undefined) m.set(7, u32(b.retryAfterMs, "retryAfterMs"));
    if (b.echo !== undefined) m.set(8, exactBytes(b.echo, "echo", JOIN_ECHO_BYTES));
    return m;
  },
  read(m) {
    const ack: JoinAckBody = {
      error: member<JoinError>(need(m, 0, "error"), "error", JOIN_ERRORS),
      node: u32(need(m, 1, "node"), "node"),
      region: text(need(m, 2, "region"), "region", MAX_STRING_BYTES),
      heartbeatMs: u32(need(m, 3, "heartbeatMs"), "heartbeatMs"),
      channels: eachOf(
        list(need(m, 4, "channels"), "channels", MAX_CHANNELS_PER_MESSAGE),
        "channels",
        readChannelInfo,
      ),
    };
    const epk = m.get(5);
    if (epk !== undefined) ack.epk = copy(exactBytes(epk, "epk", PUBLIC_KEY_BYTES));
    const ticket = m.get(6);
    if (ticket !== undefined) ack.ticket = copy(bytes(ticket, "ticket", MAX_TICKET_BYTES));
    const retryAfterMs = m.get(7);
    if (retryAfterMs !== undefined) ack.retryAfterMs = u32(retryAfterMs, "retryAfterMs");
    const echo = m.get(8);
    if (echo !== undefined) ack.echo = copy(exactBytes(echo, "echo", JOIN_ECHO_BYTES));
    return ack;
  },
};

function writeChannelInfo(v: unknown): Map<number, unknown> {
  const c = record<ChannelInfo>(v, "channel info");
  const m = new Map<number, unknown>([
    [0, text(c.name, "name", MAX_STRING_BYTES)],
    [1, u32(c.id, "id")],
    [2, int(c.k, "k", 1, MAX_SUBSTREAMS)],
    [3, u32(c.streamKbps, "streamKbps")],
    [4, u32(c.segmentMs, "segmentMs")],
    [5, text(c.fallbackUrl, "fallbackUrl", MAX_STRING_BYTES)],
  ]);
  writeVod(m, 6, c.vod);
  if (c.originKey !== undefined) m.set(10, originKey(c.originKey));
  return m;
}

function readChannelInfo(v: unknown): ChannelInfo {
  const m = asMap(v, "");
  const info: ChannelInfo = {
    name: text(need(m, 0, "name"), "name", MAX_STRING_BYTES),
    id: u32(need(m, 1, "id"), "id"),
    k: int(need(m, 2, "k"), "k", 1, MAX_SUBSTREAMS),
    streamKbps: u32(need(m, 3, "streamKbps"), "streamKbps"),
    segmentMs: u32(need(m, 4, "segmentMs"), "segmentMs"),
    fallbackUrl: text(need(m, 5, "fallbackUrl"), "fallbackUrl", MAX_STRING_BYTES),
  };
  const vod = readVod(m, 6);
  if (vod !== undefined) info.vod = vod;
  const key = m.get(10);
  if (key !== undefined) info.originKey = copy(originKey(key));
  return info;
}

/** ChannelInfo.originKey: exactly ORIGIN_KEY_BYTES (a raw Ed25519 public key). */
function originKey(v: unknown): Uint8Array {
  return exactBytes(v, "originKey", ORIGIN_KEY_BYTES);
}

/** The VoD keys from `base` on (kind, fileBytes, chunkBytes, fileName): ChannelInfo 6.., JOIN 10... */
function writeVod(m: Map<number, unknown>, base: number, vod: VodInfo | undefined): void {
  if (vod === undefined) return;
  const r = record<VodInfo>(vod, "vod info");
  const checked = checkVod(r.fileBytes, r.chunkBytes);
  m.set(base, ChannelKind.VOD);
  m.set(base + 1, wireUint(checked.fileBytes));
  m.set(base + 2, checked.chunkBytes);
  if (r.fileName !== undefined) m.set(base + 3, text(r.fileName, "fileName", MAX_STRING_BYTES));
}

/** Undefined for a live channel (kind absent or LIVE). */
function readVod(m: CborMap, base: number): VodInfo | undefined {
  const kind = m.get(base);
  if (kind === undefined || member<ChannelKind>(kind, "kind", CHANNEL_KINDS) === ChannelKind.LIVE)
    return undefined;
  const vod = checkVod(need(m, base + 1, "fileBytes"), need(m, base + 2, "chunkBytes"));
  const fileName = m.get(base + 3);
  if (fileName !== undefined) vod.fileName = text(fileName, "fileName", MAX_STRING_BYTES);
  return vod;
}

function checkVod(fb: unknown, cb: unknown): VodInfo {
  const fileBytes = int(fb, "fileBytes", 1, Number.MAX_SAFE_INTEGER);
  const chunkBytes = int(cb, "chunkBytes", 1, MAX_VOD_CHUNK_BYTES);
  // Chunk indexes are segment ids: u32.
  if (Math.ceil(fileBytes / chunkBytes) > U32_MAX + 1)
    throw badField("chunkBytes", `${fileBytes} bytes in chunks of ${chunkBytes} is more than 2^32 chunks`);
  return { fileBytes, chunkBytes };
}

// ---------------------------------------------------------------- HEARTBEAT

export const heartbeatCodec: BodyCodec<HeartbeatBody> = {
  write(b) {
    return new Map<number, unknown>([
      [0, u32(b.channel, "channel")],
      [1, u32(b.assignVersion, "assignVersion")],
      [2, eachOf(list(b.parents, "parents", MAX_PARENTS), "parents", writeLinkStateOrNull)],
      [3, eachOf(list(b.children, "children", MAX_CHILDREN), "children", writeLinkState)],
      [4, eachOf(list(b.buffers, "buffers", MAX_SUBSTREAMS), "buffers", writeBufferSize)],
      [5, within("resources", () => writeResources(b.resources))],
      [6, u32(b.newestSegment, "newestSegment")],
    ]);
  },
  read(m) {
    // Every heartbeat of every node comes through here: a loop that checks the same and builds the
    // same, and on anything it does not take, the field-by-field reader below names the fault.
    return readHeartbeatFast(m) ?? readHeartbeatChecked(m);
  },
};

/** HEARTBEAT's body field by field, a fault thrown as the FieldError naming it (exported: test/protocol-heartbeat-fast). */
export function readHeartbeatChecked(m: CborMap): HeartbeatBody {
  return {
    channel: u32(need(m, 0, "channel"), "channel"),
    assignVersion: u32(need(m, 1, "assignVersion"), "assignVersion"),
    parents: eachOf(list(need(m, 2, "parents"), "parents", MAX_PARENTS), "parents", readLinkStateOrNull),
    children: eachOf(list(need(m, 3, "children"), "children", MAX_CHILDREN), "children", readLinkState),
    buffers: eachOf(list(need(m, 4, "buffers"), "buffers", MAX_SUBSTREAMS), "buffers", bufferSize),
    resources: readResources(need(m, 5, "resources")),
    newestSegment: u32(need(m, 6, "newestSegment"), "newestSegment"),
  };
}

/** An integer in 0..max (what int() takes, without the error). */
function isUint(v: unknown, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/**
 * HEARTBEAT's body when every field is well formed, else undefined (readHeartbeatChecked then
 * throws the error that names the field, or reads what this one was too strict for). Takes and
 * returns exactly what readHeartbeatChecked does (test/protocol-*.test.ts hold both to it).
 */
function readHeartbeatFast(m: CborMap): HeartbeatBody | undefined {
  const channel = m.get(0);
  const assignVersion = m.get(1);
  const p = m.get(2);
  const c = m.get(3);
  const b = m.get(4);
  const newestSegment = m.get(6);
  if (!isUint(channel, U32_MAX) || !isUint(assignVersion, U32_MAX) || !isUint(newestSegment, U32_MAX))
    return undefined;
  if (!Array.isArray(p) || p.length > MAX_PARENTS || !Array.isArray(c) || c.length > MAX_CHILDREN)
    return undefined;
  if (!Array.isArray(b) || b.length > MAX_SUBSTREAMS) return undefined;
  const parents = new Array<LinkState | null>(p.length);
  for (let i = 0; i < p.length; i++) {
    const v: unknown = p[i];
    if (v === null) parents[i] = null;
    else {
      const l = linkStateFast(v);
      if (l === undefined) return undefined;
      parents[i] = l;
    }
  }
  const children = new Array<LinkState>(c.length);
  for (let i = 0; i < c.length; i++) {
    const l = linkStateFast(c[i]);
    if (l === undefined) return undefined;
    children[i] = l;
  }
  const buffers = new Array<number>(b.length);
  for (let i = 0; i < b.length; i++) {
    const v: unknown = b[i];
    if (!isUint(v, U16_MAX)) return undefined;
    buffers[i] = v;
  }
  const resources = resourcesFast(m.get(5));
  if (resources === undefined) return undefined;
  return { channel, assignVersion, parents, children, buffers, resources, newestSegment };
}

function linkStateFast(v: unknown): LinkState | undefined {
  if (!Array.isArray(v) || v.length < 3 || v.length > MAX_COMPACT_ELEMENTS) return undefined;
  const node: unknown = v[0];
  const ageMs: unknown = v[1];
  const lastSeq: unknown = v[2];
  const suspect: unknown = v[3];
  if (!isUint(node, U32_MAX) || !isUint(ageMs, U16_MAX) || !isUint(lastSeq, U16_MAX)) return undefined;
  if (suspect === undefined || suspect === 0) return { node, ageMs, lastSeq };
  return suspect === 1 ? { node, ageMs, lastSeq, suspect: true } : undefined;
}

function resourcesFast(v: unknown): Resources | undefined {
  if (!Array.isArray(v) || v.length < 5 || v.length > MAX_COMPACT_ELEMENTS) return undefined;
  const uploadKbps: unknown = v[0];
  const nat: unknown = v[1];
  const cacheBytes: unknown = v[2];
  const cpuPct: unknown = v[3];
  const rssMB: unknown = v[4];
  const loss: unknown = v[5];
  const shed: unknown = v[6];
  if (!isUint(uploadKbps, U32_MAX) || typeof nat !== "number" || !NATS.has(nat)) return undefined;
  if (!isUint(cacheBytes, Number.MAX_SAFE_INTEGER) || !isUint(cpuPct, U16_MAX) || !isUint(rssMB, U16_MAX))
    return undefined;
  const r: Resources = { uploadKbps, nat: nat as NatType, cacheBytes, cpuPct, rssMB };
  if (loss !== undefined && loss !== null) {
    if (!isUint(loss, 0xff)) return undefined;
    r.loss = loss / 255;
  }
  if (shed !== undefined) {
    if (!isUint(shed, 0xff)) return undefined;
    r.shed = shed;
  }
  return r;
}

function bufferSize(v: unknown): number {
  return u16(v, "");
}

/** Buffer sizes are measurements: clamped to u16 (65535 packets is ~78 MB of stream). */
function writeBufferSize(v: unknown): number {
  return measure(v as number, "", U16_MAX);
}

function writeLinkState(v: unknown): unknown[] {
  const l = record<LinkState>(v, "link state");
  const out: unknown[] = [
    u32(l.node, "node"),
    measure(l.ageMs, "ageMs", U16_MAX),
    u32(l.lastSeq, "lastSeq") & U16_MAX,
  ];
  if (l.suspect === true) out.push(1);
  return out;
}

function writeLinkStateOrNull(v: unknown): unknown[] | null {
  return v === null ? null : writeLinkState(v);
}

function readLinkState(v: unknown): LinkState {
  const a = compact(v, 3);
  const l: LinkState = { node: u32(a[0], "node"), ageMs: u16(a[1], "ageMs"), lastSeq: u16(a[2], "lastSeq") };
  if (a[3] !== undefined && int(a[3], "suspect", 0, 1) === 1) l.suspect = true;
  return l;
}

function readLinkStateOrNull(v: unknown): LinkState | null {
  return v === null ? null : readLinkState(v);
}

function writeResources(r: Resources): unknown[] {
  record<Resources>(r, "resources");
  const out: unknown[] = [
    measure(r.uploadKbps, "uploadKbps", U32_MAX),
    member(r.nat, "nat", NATS),
    wireUint(measure(r.cacheBytes, "cacheBytes", Number.MAX_SAFE_INTEGER)),
    measure(r.cpuPct, "cpuPct", U16_MAX),
    measure(r.rssMB, "rssMB", U16_MAX),
  ];
  if (r.loss !== undefined || r.shed !== undefined)
    out.push(r.loss === undefined ? null : measure(r.loss * 255, "loss", 255));
  if (r.shed !== undefined) out.push(measure(r.shed, "shed", 255));
  return out;
}

function readResources(v: unknown): Resources {
  return within("resources", () => {
    const a = compact(v, 5);
    const r: Resources = {
      uploadKbps: u32(a[0], "uploadKbps"),
      nat: member<NatType>(a[1], "nat", NATS),
      cacheBytes: uSafe(a[2], "cacheBytes"),
      cpuPct: u16(a[3], "cpuPct"),
      rssMB: u16(a[4], "rssMB"),
    };
    const loss = a[5];
    if (loss !== undefined && loss !== null) r.loss = u8(loss, "loss") / 255;
    const shed = a[6];
    if (shed !== undefined) r.shed = u8(shed, "shed");
    return r;
  });
}

// ---------------------------------------------------------------- LEAVE

export const leaveCodec: BodyCodec<LeaveBody> = {
  write(b) {
    return new Map<number, unknown>([
      [0, u32(b.channel, "channel")],
      [1, member(b.reason, "reason", LEAVE_REASONS)],
    ]);
  },
  read(m) {
    return {
      channel: u32(need(m, 0, "channel"), "channel"),
      reason: member<LeaveReason>(need(m, 1, "reason"), "reason", LEAVE_REASONS),
    };
  },
};

// ---------------------------------------------------------------- COOKIE

export const cookieCodec: BodyCodec<CookieBody> = {
  write(b) {
    const m = new Map<number, unknown>([[0, bytes(b.cookie, "cookie", MAX_COOKIE_BYTES)]]);
    if (b.controlKey !== undefined) m.set(1, exactBytes(b.controlKey, "controlKey", PUBLIC_KEY_BYTES));
    return m;
  },
  read(m) {
    const body: CookieBody = { cookie: copy(bytes(need(m, 0, "cookie"), "cookie", MAX_COOKIE_BYTES)) };
    const controlKey = m.get(1);
    if (controlKey !== undefined)
      body.controlKey = copy(exactBytes(controlKey, "controlKey", PUBLIC_KEY_BYTES));
    return body;
  },
};

export { assignCodec } from "./assign-codec.js";
export { MAX_COMPACT_ELEMENTS, type BodyCodec } from "./body-helpers.js";
