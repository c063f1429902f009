/**
 * Spec constants of wire v1 (changing one changes the protocol) — tuning constants live
 * with the programs that use them.
 */

export const WIRE_VERSION = 1;

/** No datagram we send or accept is larger: 1200 bytes stays clear of IP fragmentation on any path. */
export const MAX_DATAGRAM_BYTES = 1200;
/** Control messages share the datagram limit. */
export const MAX_CONTROL_BYTES = MAX_DATAGRAM_BYTES;
/** Budget for a HEARTBEAT with 4 parents and 8 children (FIG. 9). */
export const HEARTBEAT_BUDGET_BYTES = 256;

/** Fixed data packet header (see data-codec.ts for the layout). */
export const DATA_HEADER_BYTES = 28;
export const MAX_DATA_PAYLOAD_BYTES = MAX_DATAGRAM_BYTES - DATA_HEADER_BYTES;
/**
 * Largest payload of a data packet that an erasure-coded (FEC_TREE) tier can carry: its coded
 * shard is a 12-byte prefix (protocol/fec-shard.ts) + the payload, and a parity datagram's payload
 * is as long as the group's longest shard, so the shard must fit in MAX_DATA_PAYLOAD_BYTES.
 */
export const MAX_CODED_PAYLOAD_BYTES = MAX_DATA_PAYLOAD_BYTES - 12;

/** Element limits enforced by the control decoder. */
export const MAX_SUBSTREAMS = 16;
export const MAX_PARENTS = MAX_SUBSTREAMS;
export const MAX_CHILDREN = 64;
/** Datagrams one ASSIGN may span (part/parts); each carries at most MAX_CHILDREN children. */
export const MAX_ASSIGN_PARTS = 256;
export const MAX_CHANNELS_PER_MESSAGE = 8;
export const MAX_STRING_BYTES = 200;
export const MAX_KEY_BYTES = 64;
/** Largest VoD chunk (ChannelInfo/JOIN chunkBytes): a chunk travels as one segment. */
export const MAX_VOD_CHUNK_BYTES = 16 * 1024 * 1024;
export const MAX_AUTH_BYTES = 64;
/** The session tag every ASSIGN, HEARTBEAT and LEAVE carries (protocol/auth.ts): HMAC-SHA256 truncated. */
export const SESSION_TAG_BYTES = 16;
/** COOKIE and JOIN.cookie: a control-made token, opaque to nodes. */
export const MAX_COOKIE_BYTES = 64;
/**
 * A session ticket (JOIN_ACK, RESUME, RESUME_ACK): opaque to nodes, sealed by control
 * (control/trust/ticket.ts) — the JOIN's facts, the resumption secret, nonce and GCM tag.
 */
export const MAX_TICKET_BYTES = 640;
/** RESUME and RESUME_ACK nonces: with the resumption secret they give the resumed session's keys. */
export const RESUME_NONCE_BYTES = 16;
/** JOIN_ACK BUSY `echo`: this many leading bytes of SHA-256 of the JOIN it answers. */
export const JOIN_ECHO_BYTES = 8;
/**
 * The longest wait a BUSY's `retryAfterMs` may ask for, ms: a node clamps to it, so a forged BUSY
 * (it is unsigned) delays a JOIN or RESUME by at most this much.
 */
export const MAX_RETRY_AFTER_MS = 30_000;
/** Control servers one REDIRECT may name. */
export const MAX_REDIRECT_ENDPOINTS = 8;
/** Raw Ed25519 and X25519 public keys (JOIN.epk, JOIN_ACK.epk and controlKey). */
export const PUBLIC_KEY_BYTES = 32;

/** Data packet flag bits. */
export const FLAG_META = 0x01;
export const FLAG_PARITY = 0x02;
export const FLAG_END = 0x04;
/** Not data: a request to resend the sequence numbers in the payload's bitmap (nack-codec.ts). */
export const FLAG_NACK = 0x08;
export const KNOWN_DATA_FLAGS = FLAG_META | FLAG_PARITY | FLAG_END | FLAG_NACK;
/** Sequence numbers one NACK may name: its bitmap is at most MAX_NACK_SPAN / 8 bytes. */
export const MAX_NACK_SPAN = 1024;

/** Control id 0 is the control center itself; nodes get ids from 1. */
export const CONTROL_NODE_ID = 0;

/** Data packet byte 0: the data plane's version, and the demux byte (control datagrams start with 0xA0..0xBF). */
export const DATA_VERSION = 1;
/** The signed part of a FLAG_META payload: the segment's fields (segment-meta.ts). */
export const SEGMENT_META_FIELDS_BYTES = 60;
/** Ed25519 signature by the channel's origin key (RFC 8032). */
export const META_SIGNATURE_BYTES = 64;
/** FLAG_META payload size: the fields, then the signature (see segment-meta.ts for the layout). */
export const SEGMENT_META_BYTES = SEGMENT_META_FIELDS_BYTES + META_SIGNATURE_BYTES;
/** ChannelInfo.originKey: the origin's raw Ed25519 public key. */
export const ORIGIN_KEY_BYTES = PUBLIC_KEY_BYTES;

/** What a link adds to each datagram on the wire: Ethernet header (14) + IPv4 (20) + UDP (8). */
export const WIRE_OVERHEAD_BYTES = 42;

/**
 * Share of a full-size data datagram's wire bytes that is stream payload (a coded-size payload in
 * the data header and WIRE_OVERHEAD_BYTES): what a node may promise control in stream terms is
 * its upload cap times this (the pacer charges the headers against the cap).
 */
export const PAYLOAD_SHARE_OF_WIRE =
  MAX_CODED_PAYLOAD_BYTES / (MAX_CODED_PAYLOAD_BYTES + DATA_HEADER_BYTES + WIRE_OVERHEAD_BYTES);
