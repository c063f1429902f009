/**
 * A node's last HEARTBEAT as control keeps it between heartbeats: every field of the body in one
 * array of numbers, of exactly its length (issue 13, memory: a decoded body is a dozen objects —
 * the body, its link arrays, a LinkState per link, buffers, resources — about 1 KB a node; this
 * is one array, ≈ 8 B a field, docs/performance.md). The node's record (the admin API's
 * lastHeartbeat) and the channel's DCM (the watchdog, adoption) hold the same one. The decoded
 * body itself is used while the heartbeat is handled and then let go (the congestion monitor
 * copies the link numbers it needs into arrays of its own). Lossless: unpackHeartbeat gives back
 * the body that was packed.
 *
 * Layout: HEAD numbers (channel, assignVersion, newestSegment, the three counts, the resources:
 * uploadKbps, nat, cacheBytes, cpuPct, rssMB, loss or -1, shed or -1), then LINK numbers per
 * parent slot and per child (node, ageMs, lastSeq; the node is -1 for an empty slot and
 * -2 - node when the link is flagged `suspect`), then the buffers.
 */
import type { HeartbeatBody, LinkState, NatType, Resources } from "../protocol/messages.js";

declare const packed: unique symbol;
/** A packed HeartbeatBody (packHeartbeat); read it with the functions below. */
export type HeartbeatReport = readonly number[] & { readonly [packed]: true };

const CHANNEL = 0;
const VERSION = 1;
const NEWEST = 2;
const PARENTS = 3;
const CHILDREN = 4;
const BUFFERS = 5;
const UPLOAD = 6;
const NAT = 7;
const CACHE = 8;
const CPU = 9;
const RSS = 10;
const LOSS = 11;
const SHED = 12;
const HEAD = 13;
const LINK = 3;
/** A node id in the array: an empty parent slot. */
const NONE = -1;

function putLink(a: number[], at: number, l: LinkState | null): void {
  a[at] = l === null ? NONE : l.suspect === true ? -2 - l.node : l.node;
  a[at + 1] = l?.ageMs ?? 0;
  a[at + 2] = l?.lastSeq ?? 0;
}

function getLink(p: HeartbeatReport, at: number): LinkState | null {
  const n = p[at]!;
  if (n === NONE) return null;
  const l: LinkState = { node: n < NONE ? -2 - n : n, ageMs: p[at + 1]!, lastSeq: p[at + 2]! };
  if (n < NONE) l.suspect = true;
  return l;
}

/**
 * The body as one array of exactly its length. With `over` — the same node's report of the same
 * channel, of the same length — that array is written over instead of a new one made: a node's
 * report changes at every heartbeat but rarely its length, and every holder of a node's report
 * (its record, its channel's DCM) wants the latest. A new array per heartbeat lived for an
 * interval each, promoted and then collected: in a bench:ingest profile the DCM worker's largest
 * item after the HMACs (issue 13).
 */
export function packHeartbeat(b: HeartbeatBody, over?: HeartbeatReport | null): HeartbeatReport {
  const np = b.parents.length;
  const nc = b.children.length;
  const r = b.resources;
  const length = HEAD + LINK * (np + nc) + b.buffers.length;
  const a =
    over !== undefined && over !== null && over.length === length && over[CHANNEL] === b.channel
      ? (over as unknown as number[])
      : new Array<number>(length);
  a[CHANNEL] = b.channel;
  a[VERSION] = b.assignVersion;
  a[NEWEST] = b.newestSegment;
  a[PARENTS] = np;
  a[CHILDREN] = nc;
  a[BUFFERS] = b.buffers.length;
  a[UPLOAD] = r.uploadKbps;
  a[NAT] = r.nat;
  a[CACHE] = r.cacheBytes;
  a[CPU] = r.cpuPct;
  a[RSS] = r.rssMB;
  a[LOSS] = r.loss ?? -1;
  a[SHED] = r.shed ?? -1;
  let at = HEAD;
  for (const l of b.parents) putLink(a, (at += LINK) - LINK, l);
  for (const l of b.children) putLink(a, (at += LINK) - LINK, l);
  for (const s of b.buffers) a[at++] = s;
  return a as unknown as HeartbeatReport;
}

/** The body that was packed (a new object: the admin API, tests). */
export function unpackHeartbeat(p: HeartbeatReport): HeartbeatBody {
  const np = p[PARENTS]!;
  const nc = p[CHILDREN]!;
  const parents: Array<LinkState | null> = [];
  const children: LinkState[] = [];
  for (let j = 0; j < np; j++) parents.push(getLink(p, HEAD + LINK * j));
  for (let i = 0; i < nc; i++) children.push(getLink(p, HEAD + LINK * (np + i))!);
  const resources: Resources = {
    uploadKbps: p[UPLOAD]!,
    nat: p[NAT]! as NatType,
    cacheBytes: p[CACHE]!,
    cpuPct: p[CPU]!,
    rssMB: p[RSS]!,
  };
  if (p[LOSS]! >= 0) resources.loss = p[LOSS]!;
  if (p[SHED]! >= 0) resources.shed = p[SHED]!;
  const from = HEAD + LINK * (np + nc);
  return {
    channel: p[CHANNEL]!,
    assignVersion: p[VERSION]!,
    parents,
    children,
    buffers: p.slice(from, from + p[BUFFERS]!),
    resources,
    newestSegment: p[NEWEST]!,
  };
}

export function reportedChannel(p: HeartbeatReport): number {
  return p[CHANNEL]!;
}

/** The ASSIGN version the node applied. */
export function reportedVersion(p: HeartbeatReport): number {
  return p[VERSION]!;
}

/** Children the node shed over its upload cap (0 when it did not say). */
export function reportedShed(p: HeartbeatReport): number {
  return Math.max(0, p[SHED]!);
}

/** Parent slots the heartbeat lists (parents.length). */
export function parentSlots(p: HeartbeatReport): number {
  return p[PARENTS]!;
}

/** The parent in slot j: null for an empty slot or past the slots listed. */
export function parentAt(p: HeartbeatReport, j: number): number | null {
  if (j < 0 || j >= p[PARENTS]!) return null;
  const n = p[HEAD + LINK * j]!;
  return n === NONE ? null : n < NONE ? -2 - n : n;
}

/** ms since the last packet from the parent in slot j (Infinity for an empty slot or none listed). */
export function parentAgeAt(p: HeartbeatReport, j: number): number {
  return parentAt(p, j) === null ? Infinity : p[HEAD + LINK * j + 1]!;
}

/** Children the heartbeat lists (children.length). */
export function childCount(p: HeartbeatReport): number {
  return p[CHILDREN]!;
}

/** The i-th child listed. */
export function childAt(p: HeartbeatReport, i: number): number {
  const n = p[HEAD + LINK * (p[PARENTS]! + i)]!;
  return n < NONE ? -2 - n : n;
}

/** ms since the last packet sent to the i-th child listed. */
export function childAgeAt(p: HeartbeatReport, i: number): number {
  return p[HEAD + LINK * (p[PARENTS]! + i) + 1]!;
}
