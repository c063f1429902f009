/**
 * The ASSIGN body codec (wire v1; the key table is in control-bodies.ts's header): a node's
 * parents per substream, children with their substream masks and link algorithms, and the
 * three-tier keys (role, cluster, fec, mesh, parts, parentHttpPorts). Split from
 * control-bodies.ts; both use body-helpers.ts.
 */
import { compact, record, type BodyCodec } from "./body-helpers.js";
import {
  badField,
  bytes,
  eachOf,
  enumValues,
  int,
  list,
  member,
  need,
  port,
  U16_MAX,
  u32,
  u8,
  uSafe,
  within,
  wireUint,
} from "./fields.js";
import { bytesToIp, ipToBytes } from "./ip-bytes.js";
import { MAX_ASSIGN_PARTS, MAX_CHILDREN, MAX_PARENTS, MAX_SUBSTREAMS } from "./limits.js";
import {
  type AssignBody,
  type ChildLink,
  type FecParams,
  LinkAlgorithm,
  type Peer,
  TierRole,
} from "./messages.js";

const TIER_ROLES = enumValues(TierRole);
const ALGORITHMS = enumValues(LinkAlgorithm);

// ---------------------------------------------------------------- ASSIGN

export const assignCodec: BodyCodec<AssignBody> = {
  write(b) {
    const k = int(b.k, "k", 1, MAX_SUBSTREAMS);
    const fec = b.fec === undefined ? undefined : within("fec", () => fecParams(b.fec));
    const slots = slotsOf(k, fec);
    const m = new Map<number, unknown>([
      [0, u32(b.channel, "channel")],
      [1, u32(b.version, "version")],
      [2, k],
      [3, u8(b.tier, "tier")],
      [4, eachOf(list(b.parents, "parents", slots), "parents", writePeerOrNull)],
      [5, eachOf(list(b.children, "children", MAX_CHILDREN), "children", (c) => writeChildLink(c, k, fec))],
    ]);
    if (b.role !== undefined) m.set(6, member(b.role, "role", TIER_ROLES));
    if (b.cluster !== undefined) m.set(7, u32(b.cluster, "cluster"));
    if (fec !== undefined) m.set(8, [fec.k, fec.n]);
    if (b.mesh !== undefined) m.set(9, eachOf(list(b.mesh, "mesh", MAX_CHILDREN), "mesh", writePeer));
    if (b.parentHttpPorts !== undefined) m.set(12, httpPorts(b.parentHttpPorts, b.parents.length));
    if (b.epoch !== undefined) m.set(13, wireUint(uSafe(b.epoch, "epoch")));
    if (b.part !== undefined || b.parts !== undefined) {
      const parts = int(b.parts ?? 1, "parts", 1, MAX_ASSIGN_PARTS);
      m.set(10, int(b.part ?? 0, "part", 0, parts - 1));
      m.set(11, parts);
    }
    return m;
  },
  read(m) {
    const k = int(need(m, 2, "k"), "k", 1, MAX_SUBSTREAMS);
    const rawFec = m.get(8);
    const fec = rawFec === undefined ? undefined : within("fec", () => readFec(rawFec));
    const slots = slotsOf(k, fec);
    const body: AssignBody = {
      channel: u32(need(m, 0, "channel"), "channel"),
      version: u32(need(m, 1, "version"), "version"),
      k,
      tier: u8(need(m, 3, "tier"), "tier"),
      parents: eachOf(list(need(m, 4, "parents"), "parents", slots), "parents", readPeerOrNull),
      children: eachOf(list(need(m, 5, "children"), "children", MAX_CHILDREN), "children", (c) =>
        readChildLink(c, k, fec),
      ),
    };
    const role = m.get(6);
    if (role !== undefined) body.role = member<TierRole>(role, "role", TIER_ROLES);
    const cluster = m.get(7);
    if (cluster !== undefined) body.cluster = u32(cluster, "cluster");
    if (fec !== undefined) body.fec = fec;
    const mesh = m.get(9);
    if (mesh !== undefined) body.mesh = eachOf(list(mesh, "mesh", MAX_CHILDREN), "mesh", readPeer);
    const ports = m.get(12);
    if (ports !== undefined) body.parentHttpPorts = httpPorts(ports, body.parents.length);
    const epoch = m.get(13);
    if (epoch !== undefined) body.epoch = uSafe(epoch, "epoch");
    const part = m.get(10);
    const parts = m.get(11);
    if (part !== undefined || parts !== undefined) {
      body.parts = int(parts ?? 1, "parts", 1, MAX_ASSIGN_PARTS);
      body.part = int(part ?? 0, "part", 0, body.parts - 1);
    }
    return body;
  },
};

/** parentHttpPorts: one port (0..65535, 0 = unknown) per parents entry. */
function httpPorts(v: unknown, parents: number): number[] {
  return within("parentHttpPorts", () => {
    const a = list(v, "", MAX_PARENTS);
    if (a.length !== parents) throw badField("", `${a.length} ports for ${parents} parents`);
    return a.map((x, i) => int(x, String(i), 0, 65535));
  });
}

/** Entries a parents list may have, and bits a FEC_TREE mask may use. */
function slotsOf(k: number, fec: FecParams | undefined): number {
  return fec === undefined ? k : Math.max(k, fec.k + fec.n);
}

export function fecParams(v: unknown): FecParams {
  const f = record<FecParams>(v, "fec");
  return checkFec(f.k, f.n);
}

export function readFec(v: unknown): FecParams {
  const a = compact(v, 2);
  return checkFec(a[0], a[1]);
}

function checkFec(kv: unknown, nv: unknown): FecParams {
  const k = int(kv, "k", 1, MAX_SUBSTREAMS - 1);
  const n = int(nv, "n", 0, MAX_SUBSTREAMS - k);
  return { k, n };
}

function writePeer(v: unknown): unknown[] {
  const p = record<Peer>(v, "peer");
  if (typeof p.address !== "string") throw badField("address", "expected a string");
  return [u32(p.node, "node"), ipToBytes(p.address, "address"), port(p.port, "port")];
}

function writePeerOrNull(v: unknown): unknown[] | null {
  if (v === null) return null;
  const a = writePeer(v);
  const alg = (v as Peer).algorithm;
  if (alg !== undefined && alg !== LinkAlgorithm.TREE) a.push(member(alg, "algorithm", ALGORITHMS));
  return a;
}

function writeChildLink(v: unknown, k: number, fec: FecParams | undefined): unknown[] {
  const a = writePeer(v);
  const c = v as ChildLink;
  const alg =
    c.algorithm === undefined
      ? LinkAlgorithm.TREE
      : member<LinkAlgorithm>(c.algorithm, "algorithm", ALGORITHMS);
  a.push(substreamMask(c.substreams, maskBits(k, fec, alg)));
  if (alg !== LinkAlgorithm.TREE) a.push(alg);
  return a;
}

function readPeer(v: unknown): Peer {
  const a = compact(v, 3);
  return {
    node: u32(a[0], "node"),
    address: bytesToIp(bytes(a[1], "address", 16), "address"),
    port: port(a[2], "port"),
  };
}

function readPeerOrNull(v: unknown): Peer | null {
  if (v === null) return null;
  const p = readPeer(v);
  const alg = (v as unknown[])[3];
  if (alg !== undefined) {
    const a = member<LinkAlgorithm>(alg, "algorithm", ALGORITHMS);
    if (a !== LinkAlgorithm.TREE) p.algorithm = a;
  }
  return p;
}

function readChildLink(v: unknown, k: number, fec: FecParams | undefined): ChildLink {
  const a = compact(v, 4);
  const alg = a[4] === undefined ? LinkAlgorithm.TREE : member<LinkAlgorithm>(a[4], "algorithm", ALGORITHMS);
  const link: ChildLink = {
    node: u32(a[0], "node"),
    address: bytesToIp(bytes(a[1], "address", 16), "address"),
    port: port(a[2], "port"),
    substreams: substreamMask(a[3], maskBits(k, fec, alg)),
  };
  if (alg !== LinkAlgorithm.TREE) link.algorithm = alg;
  return link;
}

/** Bits a child mask may use: channel substreams, or coded ones on a FEC_TREE link (which needs fec). */
function maskBits(k: number, fec: FecParams | undefined, alg: LinkAlgorithm): number {
  if (alg !== LinkAlgorithm.FEC_TREE) return k;
  if (fec === undefined) throw badField("algorithm", "a FEC_TREE link needs the assignment's fec");
  return fec.k + fec.n;
}

function substreamMask(v: unknown, bits: number): number {
  const mask = int(v, "substreams", 0, U16_MAX);
  if (mask >= 2 ** bits) throw badField("substreams", `mask ${mask} names a substream >= ${bits}`);
  return mask;
}
