/**
 * Realistic sample messages of wire v1, shared by the golden vector generator
 * (scripts/gen-wire-vectors.ts), the protocol tests and bench/wire.ts.
 * Changing one changes the golden vectors: regenerate them and review the diff.
 */
import { createPrivateKey } from "node:crypto";
import { encodeSigned, encodeTagged, rawPublicKey } from "../../protocol/auth.js";
import {
  deriveSessionKeys,
  type Ephemeral,
  joinAckContext,
  joinContext,
  sha256,
} from "../../protocol/handshake.js";
import { FLAG_END, FLAG_META, WIRE_VERSION } from "../../protocol/limits.js";
import {
  type ControlMessage,
  type CookieBody,
  type DataHeader,
  JoinError,
  LeaveReason,
  LinkAlgorithm,
  type LinkState,
  type MessageOf,
  MsgType,
  NatType,
  Role,
  type SegmentMeta,
  TierRole,
} from "../../protocol/messages.js";
import { signSegmentMeta } from "../../protocol/segment-meta.js";
import { keyFromSeed } from "../origin-key.js";

/** The origin key of the samples (a fixed seed: its signatures are the same every run). */
export const sampleOriginKey = keyFromSeed(0x5a);

/** Control's long-term key of the samples (fixed seed): it signs sampleJoinAckSigned. */
export const sampleControlKey = keyFromSeed(0xc0);

/** The joining node's identity key of the samples (fixed seed): it signs sampleJoinHandshake. */
export const sampleNodeKey = keyFromSeed(0x4e);

/** PKCS#8 DER of an X25519 private key, before its 32 bytes (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** An X25519 key pair whose private key is 32 bytes of `seedByte` (an ephemeral that is the same every run). */
export function x25519FromSeed(seedByte: number): Ephemeral {
  const privateKey = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, Buffer.alloc(32, seedByte)]),
    format: "der",
    type: "pkcs8",
  });
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

/** The node's ephemeral of the sample handshake (JOIN.epk). */
export const sampleNodeEphemeral = x25519FromSeed(0x11);
/** Control's ephemeral of the sample handshake (JOIN_ACK.epk). */
export const sampleControlEphemeral = x25519FromSeed(0x22);

/** 2026-05-17T12:34:56.789Z */
export const TS_2026 = Date.UTC(2026, 4, 17, 12, 34, 56, 789);

/** A link with realistic values: ids above 2^16, ages up to 60 s, sequence numbers around 2^31. */
export function sampleLink(i: number): LinkState {
  // lastSeq: the low 16 bits of a sequence number past 2^31 (the wire carries 16 bits).
  return {
    node: 100_003 + i * 7_919,
    ageMs: 60_000 - i * 4_321,
    lastSeq: (2 ** 31 + i * 1_000_003) & 0xffff,
  };
}

/** FIG. 9 heartbeat with 4 parents and 8 children: the 256-byte budget case. */
export function sampleHeartbeat(parents = 4, children = 8): MessageOf<MsgType.HEARTBEAT> {
  return {
    v: WIRE_VERSION,
    type: MsgType.HEARTBEAT,
    sender: 123_457,
    seq: 2 ** 31 + 17,
    ts: TS_2026,
    body: {
      channel: 3,
      assignVersion: 4_242,
      parents: Array.from({ length: parents }, (_, i) => sampleLink(i)),
      children: Array.from({ length: children }, (_, i) => sampleLink(parents + i)),
      buffers: Array.from({ length: parents }, (_, i) => 400 + i * 13),
      resources: {
        uploadKbps: 48_214,
        nat: NatType.PORT_RESTRICTED,
        cacheBytes: 5_368_709_120,
        cpuPct: 12,
        rssMB: 87,
        loss: 1,
        shed: 64,
      },
      newestSegment: 1_781_234,
    },
  };
}

const KEY = new Uint8Array(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff));

export const sampleJoinAgent: MessageOf<MsgType.JOIN> = {
  v: WIRE_VERSION,
  type: MsgType.JOIN,
  sender: 0,
  seq: 1,
  ts: TS_2026,
  body: {
    key: KEY,
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 20_000,
    nat: NatType.UNKNOWN,
    httpPort: 8_123,
    regionHint: "region-a",
  },
};

export const sampleJoinOrigin: MessageOf<MsgType.JOIN> = {
  v: WIRE_VERSION,
  type: MsgType.JOIN,
  sender: 0,
  seq: 1,
  ts: TS_2026,
  body: {
    key: KEY.map((b) => b ^ 0x5a),
    role: Role.ORIGIN,
    channels: ["news", "sport"],
    uploadKbps: 100_000,
    nat: NatType.OPEN,
    httpPort: 8_080,
    streamKbps: 3_000,
    fallbackUrl: "http://127.0.0.1:8080",
    segmentMs: 2_000,
  },
};

export const sampleJoinAck: MessageOf<MsgType.JOIN_ACK> = {
  v: WIRE_VERSION,
  type: MsgType.JOIN_ACK,
  sender: 0,
  seq: 77,
  ts: TS_2026 + 3,
  body: {
    error: JoinError.NONE,
    node: 123_457,
    region: "A",
    heartbeatMs: 1_000,
    channels: [
      {
        name: "news",
        id: 3,
        k: 1,
        streamKbps: 3_000,
        segmentMs: 2_000,
        fallbackUrl: "http://127.0.0.1:8080",
        originKey: sampleOriginKey.publicKey,
      },
    ],
  },
};

export const sampleJoinAckRejoin: MessageOf<MsgType.JOIN_ACK> = {
  v: WIRE_VERSION,
  type: MsgType.JOIN_ACK,
  sender: 0,
  seq: 78,
  ts: TS_2026 + 5,
  body: { error: JoinError.REJOIN, node: 0, region: "", heartbeatMs: 1_000, channels: [] },
};

export const sampleAssign: MessageOf<MsgType.ASSIGN> = {
  v: WIRE_VERSION,
  type: MsgType.ASSIGN,
  sender: 0,
  seq: 78,
  ts: TS_2026 + 4,
  body: {
    channel: 3,
    version: 12,
    k: 4,
    tier: 0,
    parents: [
      { node: 1, address: "127.0.1.1", port: 40_123 },
      { node: 2, address: "::1", port: 40_124 },
      null,
      { node: 70_000, address: "2001:db8::7", port: 5_000 },
    ],
    children: [
      { node: 5, address: "127.0.1.5", port: 40_200, substreams: 0b0001 },
      { node: 6, address: "::ffff:127.0.2.6", port: 40_201, substreams: 0b1110 },
    ],
  },
};

/**
 * Three-tier ASSIGN of a tier-1 node: channel k = 2, one flooding parent, mesh neighbours, a
 * plain child and an erasure-coded child (coded substreams 0, 5 and 13 of 12 + 2), part 0 of 2.
 */
export const sampleAssignTiered: MessageOf<MsgType.ASSIGN> = {
  v: WIRE_VERSION,
  type: MsgType.ASSIGN,
  sender: 0,
  seq: 79,
  ts: TS_2026 + 5,
  body: {
    channel: 3,
    version: 13,
    k: 2,
    tier: 1,
    parents: [
      { node: 1, address: "127.0.0.1", port: 40_100, algorithm: LinkAlgorithm.FLOOD },
      { node: 1, address: "127.0.0.1", port: 40_100, algorithm: LinkAlgorithm.FLOOD },
    ],
    children: [
      { node: 5, address: "127.0.1.5", port: 40_200, substreams: 0b11 },
      {
        node: 70_001,
        address: "127.0.2.6",
        port: 40_201,
        substreams: (1 << 0) | (1 << 5) | (1 << 13),
        algorithm: LinkAlgorithm.FEC_TREE,
      },
    ],
    role: TierRole.TIER1,
    fec: { k: 12, n: 2 },
    mesh: [
      { node: 1, address: "127.0.0.1", port: 40_100 },
      { node: 9, address: "::1", port: 40_300 },
    ],
    part: 0,
    parts: 2,
  },
};

/** ASSIGN of a tier-2 node: 12 + 2 coded parents (parity ones absent), cluster 4. */
export const sampleAssignTier2: MessageOf<MsgType.ASSIGN> = {
  v: WIRE_VERSION,
  type: MsgType.ASSIGN,
  sender: 0,
  seq: 80,
  ts: TS_2026 + 6,
  body: {
    channel: 3,
    version: 2,
    k: 1,
    tier: 2,
    parents: Array.from({ length: 14 }, (_, j) =>
      j >= 12
        ? null
        : {
            node: 10 + (j % 3),
            address: `127.0.1.${10 + (j % 3)}`,
            port: 41_000,
            algorithm: LinkAlgorithm.FEC_TREE,
          },
    ),
    children: [{ node: 30, address: "127.0.1.30", port: 41_030, substreams: 1 }],
    role: TierRole.TIER2,
    cluster: 4,
    fec: { k: 12, n: 2 },
  },
};

/** ASSIGN with MAX_CHILDREN IPv4 children on k = 16 substreams and 16 parents. */
export function maxAssign(
  childAddress = "127.0.255.254",
  parentAddress = "127.0.255.253",
): MessageOf<MsgType.ASSIGN> {
  return {
    v: WIRE_VERSION,
    type: MsgType.ASSIGN,
    sender: 0,
    seq: 2 ** 32 - 1,
    ts: TS_2026,
    body: {
      channel: 2 ** 32 - 1,
      version: 2 ** 32 - 1,
      k: 16,
      tier: 255,
      parents: Array.from({ length: 16 }, (_, i) => ({
        node: 2 ** 32 - 1 - i,
        address: parentAddress,
        port: 65_535,
      })),
      children: Array.from({ length: 64 }, (_, i) => ({
        node: 2 ** 32 - 100 - i,
        address: childAddress,
        port: 65_535,
        substreams: 0xffff,
      })),
    },
  };
}

export const sampleLeave: MessageOf<MsgType.LEAVE> = {
  v: WIRE_VERSION,
  type: MsgType.LEAVE,
  sender: 123_457,
  seq: 2 ** 31 + 99,
  ts: TS_2026 + 60_000,
  body: { channel: 3, reason: LeaveReason.SHUTDOWN },
  auth: new Uint8Array(16).fill(0xab),
};

// ---------------------------------------------------------------- the handshake (docs/security.md)

/** A cookie as control makes it: u32 seconds || 16 MAC bytes (here fixed bytes: opaque to nodes). */
export const sampleCookie = new Uint8Array([
  ...[0, 0, 0, 0].map((_, i) => (Math.floor(TS_2026 / 1000) >>> (24 - 8 * i)) & 0xff),
  ...Array.from({ length: 16 }, (_, i) => (i * 29 + 101) & 0xff),
]);

/** The signature (or tag) of an authenticated sample: the bytes after the envelope's `06 58 40` (or `06 50`). */
function withAuth<T extends ControlMessage>(msg: T, datagram: Buffer, length: number): T {
  return { ...msg, auth: new Uint8Array(datagram.subarray(datagram.length - length)) };
}

const joinHandshakeUnsigned: MessageOf<MsgType.JOIN> = {
  v: WIRE_VERSION,
  type: MsgType.JOIN,
  sender: 0,
  seq: 0,
  ts: TS_2026 + 20,
  body: {
    key: sampleNodeKey.publicKey,
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 20_000,
    nat: NatType.PORT_RESTRICTED,
    httpPort: 8_123,
    regionHint: "region-a",
    epk: sampleNodeEphemeral.publicKey,
    cookie: sampleCookie,
    token: "tce_4q9Lw2mZ8xVb7nKp3sR6tY1uHc0dJf5e",
  },
};

/** The JOIN datagram of the sample handshake: epk, cookie, token; signed by sampleNodeKey for sampleControlKey. */
export const sampleJoinHandshakeBytes: Buffer = encodeSigned(
  joinHandshakeUnsigned,
  sampleNodeKey.privateKey,
  joinContext(sampleControlKey.publicKey),
);
/** sampleJoinHandshakeBytes decoded (its `auth` is the 64-byte signature). */
export const sampleJoinHandshake = withAuth(joinHandshakeUnsigned, sampleJoinHandshakeBytes, 64);

/** Control's COOKIE answer to a JOIN without a cookie (control's key: for nodes that trust on first use). */
export const sampleCookieMsg: MessageOf<MsgType.COOKIE> = {
  v: WIRE_VERSION,
  type: MsgType.COOKIE,
  sender: 0,
  seq: 41,
  ts: TS_2026 + 10,
  body: { cookie: sampleCookie, controlKey: sampleControlKey.publicKey } satisfies CookieBody,
};

/** A COOKIE without control's key. */
export const sampleCookieBare: MessageOf<MsgType.COOKIE> = {
  ...sampleCookieMsg,
  seq: 42,
  body: { cookie: sampleCookie },
};

const joinAckHandshakeUnsigned: MessageOf<MsgType.JOIN_ACK> = {
  ...sampleJoinAck,
  seq: 43,
  ts: TS_2026 + 21,
  body: { ...sampleJoinAck.body, epk: sampleControlEphemeral.publicKey },
};

/** What control signs its JOIN_ACK over: the context and SHA-256 of sampleJoinHandshakeBytes. */
export const sampleJoinAckContext: Buffer = joinAckContext(sha256(sampleJoinHandshakeBytes));

/** Control's JOIN_ACK to sampleJoinHandshake: its epk, signed by sampleControlKey over the JOIN's hash. */
export const sampleJoinAckSignedBytes: Buffer = encodeSigned(
  joinAckHandshakeUnsigned,
  sampleControlKey.privateKey,
  sampleJoinAckContext,
);
export const sampleJoinAckSigned = withAuth(joinAckHandshakeUnsigned, sampleJoinAckSignedBytes, 64);

/** The sample session's keys: what both ends of the sample handshake derive. */
export const sampleSessionKeys = (() => {
  const keys = deriveSessionKeys(sampleNodeEphemeral.privateKey, sampleControlEphemeral.publicKey, {
    nodeKey: sampleNodeKey.publicKey,
    nodeEpk: sampleNodeEphemeral.publicKey,
    controlEpk: sampleControlEphemeral.publicKey,
  });
  if (keys === undefined) throw new Error("the sample ephemerals give no session keys");
  return keys;
})();

const heartbeatSession: MessageOf<MsgType.HEARTBEAT> = { ...sampleHeartbeat(), seq: 17 };

/** The 4-parent, 8-child HEARTBEAT as a node sends it in the sample session: counter 17, tagged. */
export const sampleHeartbeatTaggedBytes: Buffer = encodeTagged(
  heartbeatSession,
  sampleSessionKeys.nodeToControl,
);
export const sampleHeartbeatTagged = withAuth(heartbeatSession, sampleHeartbeatTaggedBytes, 16);

/** sampleAssign as control sends it in the sample session: its counter 1, tagged with the control-to-node key. */
export const sampleAssignTaggedBytes: Buffer = encodeTagged(
  { ...sampleAssign, seq: 1 },
  sampleSessionKeys.controlToNode,
);
export const sampleAssignTagged = withAuth({ ...sampleAssign, seq: 1 }, sampleAssignTaggedBytes, 16);

/** The authenticated and handshake samples (not in sampleControl: other tests treat those as the v1 base set). */
export const sampleHandshake: ControlMessage[] = [
  sampleJoinHandshake,
  sampleCookieMsg,
  sampleCookieBare,
  sampleJoinAckSigned,
  sampleHeartbeatTagged,
  sampleAssignTagged,
];

export const sampleControl: ControlMessage[] = [
  sampleJoinAgent,
  sampleJoinOrigin,
  sampleJoinAck,
  sampleJoinAckRejoin,
  sampleHeartbeat(),
  sampleAssign,
  sampleAssignTiered,
  sampleAssignTier2,
  sampleLeave,
];

/** A META signed by sampleOriginKey for channel 3 (sampleDataHeader's). */
export const sampleMeta: SegmentMeta = signSegmentMeta(
  3,
  {
    segmentId: 1_781_234,
    durationMs: 2_002,
    totalBytes: 752_396,
    firstSeq: 2 ** 31 + 5,
    packetCount: 642,
    discontinuity: false,
    publishedAt: TS_2026 - 150,
    sha256: new Uint8Array(Array.from({ length: 32 }, (_, i) => (i * 71 + 3) & 0xff)),
  },
  sampleOriginKey.privateKey,
);

export const sampleDataHeader: DataHeader = {
  channel: 3,
  seq: 2 ** 31 + 6,
  substream: 2,
  flags: 0,
  fecGroup: 0,
  fecIndex: 0,
  segmentId: 1_781_234,
  offset: 1_172,
};

export const sampleEndHeader: DataHeader = {
  ...sampleDataHeader,
  seq: 2 ** 31 + 647,
  substream: 3,
  flags: FLAG_END,
  offset: 751_224,
};
export const sampleMetaHeader: DataHeader = {
  ...sampleDataHeader,
  seq: 2 ** 31 + 4,
  substream: 0,
  flags: FLAG_META,
  offset: 0,
};

/** A small deterministic payload. */
export function samplePayload(n: number): Uint8Array {
  return new Uint8Array(Array.from({ length: n }, (_, i) => (i * 13 + 7) & 0xff));
}
