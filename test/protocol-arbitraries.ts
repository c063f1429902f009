/**
 * fast-check arbitraries for every wire v1 message, within the limits, shaped so that an
 * encoding always fits in 1200 bytes (the limit tests cover the edges separately).
 * Addresses come out in canonical form (what the decoder returns).
 */
import fc from "fast-check";
import { SocketAddress } from "node:net";
import { KNOWN_DATA_FLAGS, MAX_SUBSTREAMS, MAX_VOD_CHUNK_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ChannelInfo,
  type ChildLink,
  type ControlMessage,
  type CookieBody,
  type DataHeader,
  type HeartbeatAckBody,
  type HeartbeatBody,
  type JoinAckBody,
  type JoinBody,
  JoinError,
  type LeaveBody,
  LeaveReason,
  LinkAlgorithm,
  type LinkState,
  MsgType,
  NatType,
  type Peer,
  type Placement,
  type RedirectBody,
  type Resources,
  type ResumeAckBody,
  type ResumeBody,
  Role,
  type SegmentMeta,
  TierRole,
  type VodInfo,
} from "../protocol/messages.js";

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const uSafe = fc.maxSafeNat();
export const port = fc.integer({ min: 1, max: 0xffff });

const enumOf = <T extends number>(e: object): fc.Arbitrary<T> =>
  fc.constantFrom(...(Object.values(e).filter((x) => typeof x === "number") as T[]));

/** Text of at most `chars` code points (so at most 4 * chars UTF-8 bytes). */
export const textOf = (chars: number): fc.Arbitrary<string> =>
  fc.string({ unit: "binary", maxLength: chars });

/** IPv4 or IPv6, canonical as node:dgram and the decoder print it. */
export const address: fc.Arbitrary<string> = fc.oneof(
  fc.ipV4(),
  fc.ipV6().map((a) => new SocketAddress({ address: a, family: "ipv6" }).address),
);

const envelope = {
  v: fc.constant(WIRE_VERSION),
  sender: u32,
  seq: u32,
  ts: uSafe,
  auth: fc.uint8Array({ maxLength: 64 }),
};
const envelopeRequired = ["v", "type", "sender", "seq", "ts", "body"] as const;

function message<T extends MsgType, B>(type: T, body: fc.Arbitrary<B>): fc.Arbitrary<ControlMessage> {
  return fc.record(
    { ...envelope, type: fc.constant(type), body },
    { requiredKeys: [...envelopeRequired] },
  ) as fc.Arbitrary<unknown> as fc.Arbitrary<ControlMessage>;
}

/** A VoD file: at most 2^32 chunks (chunk index = segment id). */
export const vodInfo = (nameChars: number): fc.Arbitrary<VodInfo> =>
  fc.integer({ min: 1, max: MAX_VOD_CHUNK_BYTES }).chain((chunkBytes) =>
    fc.record(
      {
        fileBytes: fc.integer({ min: 1, max: Math.min(Number.MAX_SAFE_INTEGER, chunkBytes * 2 ** 32) }),
        chunkBytes: fc.constant(chunkBytes),
        fileName: textOf(nameChars),
      },
      { requiredKeys: ["fileBytes", "chunkBytes"] },
    ),
  );

/** A raw Ed25519 or X25519 public key (JOIN.epk, JOIN_ACK.epk, COOKIE.controlKey, originKey): 32 bytes. */
export const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

export const joinBody: fc.Arbitrary<JoinBody> = fc.record(
  {
    key: fc.uint8Array({ maxLength: 64 }),
    role: enumOf<Role>(Role),
    channels: fc.array(textOf(10), { maxLength: 8 }),
    uploadKbps: u32,
    nat: enumOf<NatType>(NatType),
    httpPort: port,
    streamKbps: u32,
    fallbackUrl: textOf(30),
    segmentMs: u32,
    regionHint: textOf(30),
    vod: vodInfo(40),
    epk: key32,
    cookie: fc.uint8Array({ maxLength: 64 }),
    token: textOf(20),
  },
  { requiredKeys: ["key", "role", "channels", "uploadKbps", "nat", "httpPort"] },
);

const channelInfo: fc.Arbitrary<ChannelInfo> = fc.record(
  {
    name: textOf(10),
    id: u32,
    k: fc.integer({ min: 1, max: MAX_SUBSTREAMS }),
    streamKbps: u32,
    segmentMs: u32,
    fallbackUrl: textOf(12),
    vod: vodInfo(1),
    originKey: key32,
  },
  { requiredKeys: ["name", "id", "k", "streamKbps", "segmentMs", "fallbackUrl"] },
);

export const joinAckBody: fc.Arbitrary<JoinAckBody> = fc.record(
  {
    error: enumOf<JoinError>(JoinError),
    node: u32,
    region: textOf(20),
    heartbeatMs: u32,
    channels: fc.array(channelInfo, { maxLength: 4 }),
    epk: key32,
    ticket: fc.uint8Array({ maxLength: 64 }),
  },
  { requiredKeys: ["error", "node", "region", "heartbeatMs", "channels"] },
);

export const cookieBody: fc.Arbitrary<CookieBody> = fc.record(
  { cookie: fc.uint8Array({ maxLength: 64 }), controlKey: key32 },
  { requiredKeys: ["cookie"] },
);

/** `suspect` is written only when true (decoded: true or absent). */
export const linkState: fc.Arbitrary<LinkState> = fc.record(
  { node: u32, ageMs: u16, lastSeq: u16, suspect: fc.constant(true) },
  { requiredKeys: ["node", "ageMs", "lastSeq"] },
);

const resources: fc.Arbitrary<Resources> = fc.record(
  {
    uploadKbps: u32,
    nat: enumOf<NatType>(NatType),
    cacheBytes: uSafe,
    cpuPct: u16,
    rssMB: u16,
    loss: fc.integer({ min: 0, max: 255 }).map((q) => q / 255),
    shed: fc.integer({ min: 0, max: 255 }),
  },
  { requiredKeys: ["uploadKbps", "nat", "cacheBytes", "cpuPct", "rssMB"] },
);

export const heartbeatBody: fc.Arbitrary<HeartbeatBody> = fc.record({
  channel: u32,
  assignVersion: u32,
  parents: fc.array(fc.option(linkState, { nil: null }), { maxLength: MAX_SUBSTREAMS }),
  children: fc.array(linkState, { maxLength: 40 }),
  buffers: fc.array(u16, { maxLength: MAX_SUBSTREAMS }),
  resources,
  newestSegment: u32,
});

const algorithm = fc.constantFrom(undefined, LinkAlgorithm.FLOOD, LinkAlgorithm.FEC_TREE);

/** A peer with an optional non-TREE algorithm (TREE is written as absent). */
function linkPeer(alg: LinkAlgorithm | undefined): fc.Arbitrary<Peer> {
  return fc
    .record({ node: u32, address, port })
    .map((p) => (alg === undefined ? p : { ...p, algorithm: alg }));
}

/** Independent parts, then made consistent by `map` (a chain would shrink into invalid bodies). */
export const assignBody: fc.Arbitrary<AssignBody> = fc
  .record(
    {
      channel: u32,
      version: u32,
      k: fc.integer({ min: 1, max: MAX_SUBSTREAMS }),
      tier: u8,
      parents: fc.array(fc.option(algorithm.chain(linkPeer), { nil: null }), { maxLength: MAX_SUBSTREAMS }),
      children: fc.array(
        fc
          .tuple(algorithm.chain(linkPeer), fc.integer({ min: 0, max: 0xffff }))
          .map(([p, substreams]): ChildLink => ({ ...p, substreams })),
        { maxLength: 12 },
      ),
      role: enumOf<TierRole>(TierRole),
      cluster: u32,
      fec: fc
        .integer({ min: 1, max: MAX_SUBSTREAMS - 1 })
        .chain((fk) =>
          fc.record({ k: fc.constant(fk), n: fc.integer({ min: 0, max: MAX_SUBSTREAMS - fk }) }),
        ),
      mesh: fc.array(linkPeer(undefined), { maxLength: 6 }),
      parts: fc.integer({ min: 1, max: 256 }),
      parentHttpPorts: fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 16, maxLength: 16 }),
      epoch: uSafe,
    },
    { requiredKeys: ["channel", "version", "k", "tier", "parents", "children"] },
  )
  .map((b) => {
    const out: AssignBody = { ...b };
    const fec = b.fec;
    const slots = fec === undefined ? b.k : Math.max(b.k, fec.k + fec.n);
    out.parents = b.parents.slice(0, slots);
    out.children = b.children.map((c) => {
      const coded = c.algorithm === LinkAlgorithm.FEC_TREE && fec !== undefined;
      const bits = coded ? fec.k + fec.n : b.k;
      const link: ChildLink = { ...c, substreams: c.substreams & (2 ** bits - 1) };
      if (c.algorithm === LinkAlgorithm.FEC_TREE && !coded) delete link.algorithm;
      return link;
    });
    if (out.parts !== undefined) out.part = out.parts - 1;
    if (b.parentHttpPorts !== undefined) out.parentHttpPorts = b.parentHttpPorts.slice(0, out.parents.length);
    return out;
  });

export const leaveBody: fc.Arbitrary<LeaveBody> = fc.record({
  channel: u32,
  reason: enumOf<LeaveReason>(LeaveReason),
});

const nonce16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const fecArb = fc
  .integer({ min: 1, max: MAX_SUBSTREAMS - 1 })
  .chain((fk) => fc.record({ k: fc.constant(fk), n: fc.integer({ min: 0, max: MAX_SUBSTREAMS - fk }) }));

export const placement: fc.Arbitrary<Placement> = fc.record(
  {
    tier: u8,
    role: enumOf<TierRole>(TierRole),
    cluster: u32,
    fec: fecArb,
    mesh: fc.array(u32, { maxLength: 8 }),
  },
  { requiredKeys: ["tier"] },
);

export const resumeBody: fc.Arbitrary<ResumeBody> = fc.record(
  {
    ticket: fc.uint8Array({ maxLength: 400 }),
    nonce: nonce16,
    channel: u32,
    assignVersion: u32,
    placement,
  },
  { requiredKeys: ["ticket", "nonce", "channel", "assignVersion"] },
);

export const resumeAckBody: fc.Arbitrary<ResumeAckBody> = fc.record(
  {
    error: enumOf<JoinError>(JoinError),
    nonce: nonce16,
    heartbeatMs: u32,
    ticket: fc.uint8Array({ maxLength: 400 }),
    epoch: uSafe,
  },
  { requiredKeys: ["error", "nonce", "heartbeatMs"] },
);

export const heartbeatAckBody: fc.Arbitrary<HeartbeatAckBody> = fc.record(
  { epoch: uSafe },
  { requiredKeys: [] },
);

export const redirectBody: fc.Arbitrary<RedirectBody> = fc.record({
  channel: u32,
  endpoints: fc.array(fc.record({ address, port }), { maxLength: 8 }),
});

export const controlByType = {
  JOIN: message(MsgType.JOIN, joinBody),
  JOIN_ACK: message(MsgType.JOIN_ACK, joinAckBody),
  HEARTBEAT: message(MsgType.HEARTBEAT, heartbeatBody),
  ASSIGN: message(MsgType.ASSIGN, assignBody),
  LEAVE: message(MsgType.LEAVE, leaveBody),
  COOKIE: message(MsgType.COOKIE, cookieBody),
  RESUME: message(MsgType.RESUME, resumeBody),
  RESUME_ACK: message(MsgType.RESUME_ACK, resumeAckBody),
  HEARTBEAT_ACK: message(MsgType.HEARTBEAT_ACK, heartbeatAckBody),
  REDIRECT: message(MsgType.REDIRECT, redirectBody),
};

export const controlMessage: fc.Arbitrary<ControlMessage> = fc.oneof(...Object.values(controlByType));

export const dataHeader: fc.Arbitrary<DataHeader> = fc.record({
  channel: u32,
  seq: u32,
  substream: fc.integer({ min: 0, max: MAX_SUBSTREAMS - 1 }),
  flags: fc.integer({ min: 0, max: KNOWN_DATA_FLAGS }),
  fecGroup: u32,
  fecIndex: u8,
  segmentId: u32,
  offset: u32,
});

export const segmentMeta: fc.Arbitrary<SegmentMeta> = fc.record({
  segmentId: u32,
  durationMs: u32,
  totalBytes: u32,
  firstSeq: u32,
  packetCount: u16,
  discontinuity: fc.boolean(),
  publishedAt: uSafe,
  sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  signature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});
