/**
 * Bodies of the failover messages of wire v1 (docs/resilience.md has the flows; the key table
 * style is control-bodies.ts's):
 *
 * JOIN_ACK (2)       6? ticket bstr<=MAX_TICKET_BYTES   (added to the JOIN_ACK keys)
 * RESUME (7)         0 ticket bstr<=MAX_TICKET_BYTES  1 nonce bstr 16  2 channel u32
 *                    3 assignVersion u32  4? placement
 *   placement        compact array: [tier u8, role u8|null, cluster u32|null, fec [k, n]|null,
 *                    mesh [u32]<=64|null]
 * RESUME_ACK (8)     0 error u8  1 nonce bstr 16  2 heartbeatMs u32  3? ticket bstr  4? epoch uint
 *                    5? retryAfterMs u32 (error BUSY: untagged, nonce = the RESUME's nonce echoed)
 * HEARTBEAT_ACK (9)  0? epoch uint
 * REDIRECT (10)      0 channel u32  1 endpoints [[ip bstr(4|16), port]]<=MAX_REDIRECT_ENDPOINTS
 * ASSIGN (4)         13? epoch uint (assign-codec.ts)
 *
 * RESUME carries the session tag of the resumption key, RESUME_ACK and HEARTBEAT_ACK the resumed
 * (or current) session's control-to-node tag; REDIRECT is unauthenticated (a hint among the
 * endpoints the node was configured with).
 */
import { compact, type BodyCodec } from "./body-helpers.js";
import { fecParams, readFec } from "./assign-codec.js";
import {
  badField,
  bytes,
  eachOf,
  enumValues,
  list,
  member,
  need,
  port,
  u32,
  u8,
  uSafe,
  within,
  wireUint,
} from "./fields.js";
import { bytesToIp, ipToBytes } from "./ip-bytes.js";
import { MAX_CHILDREN, MAX_REDIRECT_ENDPOINTS, MAX_TICKET_BYTES, RESUME_NONCE_BYTES } from "./limits.js";
import {
  type HeartbeatAckBody,
  JoinError,
  type Placement,
  type RedirectBody,
  type ResumeAckBody,
  type ResumeBody,
  TierRole,
} from "./messages.js";

const JOIN_ERRORS = enumValues(JoinError);
const TIER_ROLES = enumValues(TierRole);

export const resumeCodec: BodyCodec<ResumeBody> = {
  write(b) {
    const m = new Map<number, unknown>([
      [0, bytes(b.ticket, "ticket", MAX_TICKET_BYTES)],
      [1, nonce(b.nonce)],
      [2, u32(b.channel, "channel")],
      [3, u32(b.assignVersion, "assignVersion")],
    ]);
    if (b.placement !== undefined)
      m.set(
        4,
        within("placement", () => writePlacement(b.placement!)),
      );
    return m;
  },
  read(m) {
    const body: ResumeBody = {
      ticket: new Uint8Array(bytes(need(m, 0, "ticket"), "ticket", MAX_TICKET_BYTES)),
      nonce: new Uint8Array(nonce(need(m, 1, "nonce"))),
      channel: u32(need(m, 2, "channel"), "channel"),
      assignVersion: u32(need(m, 3, "assignVersion"), "assignVersion"),
    };
    const p = m.get(4);
    if (p !== undefined) body.placement = within("placement", () => readPlacement(p));
    return body;
  },
};

export const resumeAckCodec: BodyCodec<ResumeAckBody> = {
  write(b) {
    const m = new Map<number, unknown>([
      [0, member(b.error, "error", JOIN_ERRORS)],
      [1, nonce(b.nonce)],
      [2, u32(b.heartbeatMs, "heartbeatMs")],
    ]);
    if (b.ticket !== undefined) m.set(3, bytes(b.ticket, "ticket", MAX_TICKET_BYTES));
    if (b.epoch !== undefined) m.set(4, wireUint(uSafe(b.epoch, "epoch")));
    if (b.retryAfterMs !== undefined) m.set(5, u32(b.retryAfterMs, "retryAfterMs"));
    return m;
  },
  read(m) {
    const body: ResumeAckBody = {
      error: member<JoinError>(need(m, 0, "error"), "error", JOIN_ERRORS),
      nonce: new Uint8Array(nonce(need(m, 1, "nonce"))),
      heartbeatMs: u32(need(m, 2, "heartbeatMs"), "heartbeatMs"),
    };
    const ticket = m.get(3);
    if (ticket !== undefined) body.ticket = new Uint8Array(bytes(ticket, "ticket", MAX_TICKET_BYTES));
    const epoch = m.get(4);
    if (epoch !== undefined) body.epoch = uSafe(epoch, "epoch");
    const retryAfterMs = m.get(5);
    if (retryAfterMs !== undefined) body.retryAfterMs = u32(retryAfterMs, "retryAfterMs");
    return body;
  },
};

export const heartbeatAckCodec: BodyCodec<HeartbeatAckBody> = {
  write(b) {
    const m = new Map<number, unknown>();
    if (b.epoch !== undefined) m.set(0, wireUint(uSafe(b.epoch, "epoch")));
    return m;
  },
  read(m) {
    const epoch = m.get(0);
    return epoch === undefined ? {} : { epoch: uSafe(epoch, "epoch") };
  },
};

export const redirectCodec: BodyCodec<RedirectBody> = {
  write(b) {
    return new Map<number, unknown>([
      [0, u32(b.channel, "channel")],
      [
        1,
        eachOf(list(b.endpoints, "endpoints", MAX_REDIRECT_ENDPOINTS), "endpoints", (e) => {
          const ep = e as { address: unknown; port: unknown };
          if (typeof ep.address !== "string") throw badField("address", "expected a string");
          return [ipToBytes(ep.address, "address"), port(ep.port, "port")];
        }),
      ],
    ]);
  },
  read(m) {
    return {
      channel: u32(need(m, 0, "channel"), "channel"),
      endpoints: eachOf(
        list(need(m, 1, "endpoints"), "endpoints", MAX_REDIRECT_ENDPOINTS),
        "endpoints",
        (v) => {
          const a = compact(v, 2);
          return { address: bytesToIp(bytes(a[0], "address", 16), "address"), port: port(a[1], "port") };
        },
      ),
    };
  },
};

function nonce(v: unknown): Uint8Array {
  const b = bytes(v, "nonce", RESUME_NONCE_BYTES);
  if (b.length !== RESUME_NONCE_BYTES)
    throw badField("nonce", `expected ${RESUME_NONCE_BYTES} bytes, got ${b.length}`);
  return b;
}

function writePlacement(p: Placement): unknown[] {
  return [
    u8(p.tier, "tier"),
    p.role === undefined ? null : member(p.role, "role", TIER_ROLES),
    p.cluster === undefined ? null : u32(p.cluster, "cluster"),
    p.fec === undefined
      ? null
      : within("fec", () => {
          const f = fecParams(p.fec);
          return [f.k, f.n];
        }),
    p.mesh === undefined ? null : eachOf(list(p.mesh, "mesh", MAX_CHILDREN), "mesh", (id) => u32(id, "")),
  ];
}

function readPlacement(v: unknown): Placement {
  const a = compact(v, 5);
  const p: Placement = { tier: u8(a[0], "tier") };
  if (a[1] !== null) p.role = member<TierRole>(a[1], "role", TIER_ROLES);
  if (a[2] !== null) p.cluster = u32(a[2], "cluster");
  if (a[3] !== null) p.fec = within("fec", () => readFec(a[3]));
  if (a[4] !== null) p.mesh = eachOf(list(a[4], "mesh", MAX_CHILDREN), "mesh", (id) => u32(id, ""));
  return p;
}
