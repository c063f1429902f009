/**
 * An ASSIGN larger than one datagram (the origin's children at scale) travels as several
 * parts: every part repeats the header fields (channel, version, k, tier, role, cluster, fec)
 * and carries `part` i of `parts`; part 0 holds the parents, the children and mesh neighbours
 * are spread over the parts in order. The receiver applies the version once every part of it
 * arrived (AssignParts); a part of a newer version drops an incomplete older one. An ASSIGN that
 * fits one datagram is sent whole, without part keys. Resends (a heartbeat reporting an older
 * version) send every part again. Pure: no sockets.
 */
import { encodeControl } from "./control-codec.js";
import { EncodeError } from "./errors.js";
import {
  MAX_ASSIGN_PARTS,
  MAX_CHILDREN,
  MAX_CONTROL_BYTES,
  SESSION_TAG_BYTES,
  WIRE_VERSION,
} from "./limits.js";
import { type AssignBody, type ChildLink, MsgType, type Peer } from "./messages.js";

/** Envelope values that encode to the largest size (so a part fits whatever seq and ts it gets). */
const WORST_ENVELOPE = { v: WIRE_VERSION, sender: 0, seq: 0xffffffff, ts: Number.MAX_SAFE_INTEGER };

/** Encoded size of an ASSIGN with `body` (worst-case envelope); Infinity when the encoder refuses it. */
export function assignBytes(body: AssignBody): number {
  try {
    // With the session tag every ASSIGN carries (protocol/auth.ts).
    const auth = new Uint8Array(SESSION_TAG_BYTES);
    return encodeControl({ ...WORST_ENVELOPE, type: MsgType.ASSIGN, body, auth }).length;
  } catch (e) {
    if (e instanceof EncodeError) return Infinity;
    throw e;
  }
}

/**
 * The datagrams of an ASSIGN. `encode` turns one body (the whole, or a part) into its datagram
 * with its envelope and session tag, throwing EncodeError past MAX_CONTROL_BYTES as
 * encodeTagged does. An assignment within the list limits is encoded once, whole, and sent so
 * when its datagram fits `maxBytes` (nearly every ASSIGN: no trial encoding to size it first);
 * otherwise, or when the encoder refused the whole, it is split (splitAssign: its error when it
 * cannot be) and each part encoded. `encode` may have been called once for a whole that did not
 * fit: it must not send.
 */
export function encodeAssign(
  body: AssignBody,
  encode: (part: AssignBody) => Buffer,
  maxBytes = MAX_CONTROL_BYTES,
): Buffer[] {
  if (withinLimits(body)) {
    const whole = body.part === undefined && body.parts === undefined ? body : wholeOf(body);
    try {
      const buf = encode(whole);
      if (buf.length <= maxBytes) return [buf];
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
    }
  }
  return splitAssign(body, maxBytes).map(encode);
}

function wholeOf(body: AssignBody): AssignBody {
  const whole: AssignBody = { ...body };
  delete whole.part;
  delete whole.parts;
  return whole;
}

/**
 * Splits an assignment into parts that each encode within `maxBytes`; one part (the body as
 * given, without part keys) when it fits. Throws EncodeError when even a part with a single
 * child does not fit, or more than MAX_ASSIGN_PARTS would be needed.
 */
export function splitAssign(body: AssignBody, maxBytes = MAX_CONTROL_BYTES): AssignBody[] {
  const whole = wholeOf(body);
  if (withinLimits(whole) && assignBytes(whole) <= maxBytes) return [whole];
  const head: AssignBody = { ...whole, children: [] };
  delete head.mesh;
  const items: Array<{ child: ChildLink } | { mesh: Peer }> = [
    ...body.children.map((child) => ({ child })),
    ...(body.mesh ?? []).map((mesh) => ({ mesh })),
  ];
  const parts: AssignBody[] = [];
  let current = partOf(head, parts.length === 0 ? body.parents : []);
  let added = 0;
  const close = (): void => {
    parts.push(current);
    current = partOf(head, []);
    added = 0;
  };
  for (const item of items) {
    const next = withItem(current, item);
    if (withinLimits(next) && assignBytes({ ...next, part: 0, parts: MAX_ASSIGN_PARTS }) <= maxBytes) {
      current = next;
      added++;
      continue;
    }
    if (added === 0 && parts.length > 0) tooLarge(next, maxBytes);
    close();
    const alone = withItem(current, item);
    if (assignBytes({ ...alone, part: 0, parts: MAX_ASSIGN_PARTS }) > maxBytes) tooLarge(alone, maxBytes);
    current = alone;
    added = 1;
  }
  parts.push(current);
  if (parts.length > MAX_ASSIGN_PARTS)
    throw new EncodeError(`ASSIGN needs ${parts.length} parts, limit ${MAX_ASSIGN_PARTS}`);
  return parts.map((p, i) => {
    const out: AssignBody = { ...p, part: i, parts: parts.length };
    if (out.mesh !== undefined && out.mesh.length === 0) delete out.mesh;
    return out;
  });
}

function partOf(head: AssignBody, parents: Array<Peer | null>): AssignBody {
  const out: AssignBody = { ...head, parents, children: [] };
  // The parents' HTTP ports ride with the parents (part 0).
  if (parents.length === 0) delete out.parentHttpPorts;
  return out;
}

function withItem(b: AssignBody, item: { child: ChildLink } | { mesh: Peer }): AssignBody {
  if ("child" in item) return { ...b, children: [...b.children, item.child] };
  return { ...b, mesh: [...(b.mesh ?? []), item.mesh] };
}

function withinLimits(b: AssignBody): boolean {
  return b.children.length <= MAX_CHILDREN && (b.mesh?.length ?? 0) <= MAX_CHILDREN;
}

/**
 * Reassembles parts on the receiving side. `accept` returns the whole assignment when the
 * body completes one (a single-datagram ASSIGN completes at once), else undefined.
 */
export class AssignParts {
  #version = -1;
  #channel = -1;
  #parts: Array<AssignBody | undefined> = [];

  accept(body: AssignBody): AssignBody | undefined {
    const parts = body.parts ?? 1;
    if (parts <= 1) return body;
    const part = body.part ?? 0;
    if (body.channel === this.#channel && body.version < this.#version) return undefined; // late part of an older version
    if (body.channel !== this.#channel || body.version !== this.#version || parts !== this.#parts.length) {
      // A different channel or a newer version starts over.
      this.#channel = body.channel;
      this.#version = body.version;
      this.#parts = new Array<AssignBody | undefined>(parts).fill(undefined);
    }
    this.#parts[part] = body;
    if (this.#parts.some((p) => p === undefined)) return undefined;
    const all = this.#parts as AssignBody[];
    this.#parts = [];
    this.#version = -1;
    return join(all);
  }
}

/** The whole assignment from its parts (in part order). */
export function join(parts: readonly AssignBody[]): AssignBody {
  const first = parts[0]!;
  const out: AssignBody = {
    ...first,
    parents: first.parents,
    children: parts.flatMap((p) => p.children),
  };
  const mesh = parts.flatMap((p) => p.mesh ?? []);
  if (mesh.length > 0) out.mesh = mesh;
  else delete out.mesh;
  delete out.part;
  delete out.parts;
  return out;
}

/**
 * Why a one-element part does not fit: the encoder's own error when it refuses a field (a bad
 * address, say), else the size.
 */
function tooLarge(part: AssignBody, maxBytes: number): never {
  encodeControl({
    ...WORST_ENVELOPE,
    type: MsgType.ASSIGN,
    body: { ...part, part: 0, parts: MAX_ASSIGN_PARTS },
  });
  throw new EncodeError(`ASSIGN part with one element exceeds ${maxBytes} bytes (session tag included)`);
}
