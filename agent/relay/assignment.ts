/**
 * An agent's assignment as the data plane uses it (pure): the view of an ASSIGN, where each new
 * packet goes by link algorithm, and whether two assignments have the same erasure-coded links.
 */
import {
  type AssignBody,
  type ChildLink,
  type FecParams,
  LinkAlgorithm,
  type Peer,
  type TierRole,
} from "../../protocol/messages.js";
import { addressKey } from "../../seams/transport.js";

export interface Assignment {
  channel: number;
  version: number;
  k: number;
  /** parents[i] feeds substream i (coded substream i on an erasure-coded tier). */
  parents: Array<Peer | null>;
  children: ChildLink[];
  /** Three-tier topology: tier, role, the code of FEC_TREE links, tier-1 flooding neighbours. */
  tier?: number;
  role?: TierRole;
  fec?: FecParams;
  mesh?: Peer[];
  /** LAN HTTP port per parent (0: unknown): where a missing segment is fetched first. */
  parentHttpPorts?: number[];
}

/** The data plane's view of an ASSIGN. */
export function assignmentOf(a: AssignBody): Assignment {
  return {
    channel: a.channel,
    version: a.version,
    k: a.k,
    parents: a.parents,
    children: a.children,
    tier: a.tier,
    ...(a.role === undefined ? {} : { role: a.role }),
    ...(a.fec === undefined ? {} : { fec: a.fec }),
    ...(a.mesh === undefined ? {} : { mesh: a.mesh }),
    ...(a.parentHttpPorts === undefined ? {} : { parentHttpPorts: a.parentHttpPorts }),
  };
}

/**
 * Where a new packet goes (pure), by link algorithm: every mesh neighbour but the sender
 * (`fromKey`, flooding), then each child link whose mask has the packet — TREE: bit
 * `substream`; FEC_TREE: bit seq mod fec.k (the systematic coded substream; parity goes by
 * FecRelay.parityTargets); FLOOD to a node outside the mesh: like TREE. Each address at most once.
 */
export function forwardTargets(
  a: Assignment,
  p: { seq: number; substream: number },
  fromKey: string,
): Peer[] {
  const out: Peer[] = [];
  const seen = new Set<string>();
  if (a.mesh !== undefined && a.mesh.length > 0) {
    seen.add(fromKey);
    for (const m of a.mesh) {
      const mk = addressKey(m);
      if (seen.has(mk)) continue;
      seen.add(mk);
      out.push(m);
    }
  }
  for (const c of a.children) {
    if (!childWants(c, a.fec, p)) continue;
    const ck = addressKey(c);
    if (seen.has(ck)) continue;
    seen.add(ck);
    out.push(c);
  }
  return out;
}

/** Does the child link take this data packet? TREE/FLOOD: bit `substream`; FEC_TREE: bit seq mod fec.k. */
export function childWants(
  c: ChildLink,
  fec: FecParams | undefined,
  p: { seq: number; substream: number },
): boolean {
  let bit: number;
  if (c.algorithm === LinkAlgorithm.FEC_TREE) {
    if (fec === undefined) return false;
    bit = p.seq % fec.k;
  } else bit = p.substream;
  return (c.substreams & (1 << bit)) !== 0;
}

/** Same erasure-coded parents and children (addresses and masks) in two assignments. */
export function sameLinks(a: Assignment | undefined, b: Assignment): boolean {
  if (a === undefined) return false;
  const coded = (x: Assignment): string =>
    JSON.stringify([
      x.parents.map((p) => (p?.algorithm === LinkAlgorithm.FEC_TREE ? addressKey(p) : null)),
      x.children
        .filter((c) => c.algorithm === LinkAlgorithm.FEC_TREE)
        .map((c) => [addressKey(c), c.substreams]),
    ]);
  return coded(a) === coded(b);
}

/**
 * Who sent a packet, for counters (pure): the node id of the parent or mesh neighbour at address
 * key `fromKey`, "rebuilt" for a packet rebuilt from parity (""), else the address key itself (a
 * parent replaced by the last ASSIGN, in its grace).
 */
export function senderLabel(a: Assignment | undefined, fromKey: string): string {
  if (fromKey === "") return "rebuilt";
  for (const p of [...(a?.parents ?? []), ...(a?.mesh ?? [])])
    if (p !== null && addressKey(p) === fromKey) return String(p.node);
  return fromKey;
}

/** Base URLs of the parents' LAN HTTP servers (each once, in substream order). */
export function parentUrls(a: Assignment | undefined): string[] {
  const out = new Set<string>();
  a?.parents.forEach((p, i) => {
    const port = a.parentHttpPorts?.[i] ?? 0;
    if (p === null || port === 0) return;
    out.add(p.address.includes(":") ? `http://[${p.address}]:${port}` : `http://${p.address}:${port}`);
  });
  return [...out];
}
