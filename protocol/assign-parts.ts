/**
 * An ASSIGN larger than one datagram (the origin's children at scale) travels as several
 * parts: every part repeats the header fields (channel, version, k, tier, role, cluster, fec)
 * and carries `part` i of `parts`; part 0 holds the parents, the children and mesh neighbours
 * are spread over the parts in order. The receiver applies the version once every part of it
 * arrived (AssignParts); a part of a newer version drops an incomplete older one. An ASSIGN that
 * fits one datagram is sent whole, without part keys. Resends (a heartbeat reporting an older
 * version) send every part again. Pure: no sockets.
 */
import { assignLength, elementBytes } from "./assign-writer.js";
import { encodeControl } from "./control-codec.js";
import { EncodeError } from "./errors.js";
import {
  MAX_ASSIGN_PARTS,
  MAX_CHILDREN,
  MAX_CONTROL_BYTES,
  SESSION_TAG_BYTES,
  WIRE_VERSION,
} from "./limits.js";
import { type AssignBody, type ChildLink, type ControlMessage, MsgType, type Peer } from "./messages.js";

/** Envelope values that encode to the largest size (so a part fits whatever seq and ts it gets). */
const WORST_ENVELOPE = { v: WIRE_VERSION, sender: 0, seq: 0xffffffff, ts: Number.MAX_SAFE_INTEGER };

/**
 * An ASSIGN with the worst-case envelope and the session tag's place. Written out, not spread:
 * on Node 20 a spread that adds keys (`{ ...WORST_ENVELOPE, body }`, `{ ...part, part: 0 }`) gives
 * its object a hidden class of its own, every time, and the encoder's reads of it go megamorphic.
 */
function worst(body: AssignBody): ControlMessage {
  return {
    v: WIRE_VERSION,
    sender: 0,
    seq: 0xffffffff,
    ts: Number.MAX_SAFE_INTEGER,
    type: MsgType.ASSIGN,
    body,
    auth: TAG,
  };
}

/** The session tag's place in a sized ASSIGN (its bytes do not change the size). */
const TAG = new Uint8Array(SESSION_TAG_BYTES);

/** Encoded size of an ASSIGN with `body` (worst-case envelope); Infinity when the encoder refuses it. */
export function assignBytes(body: AssignBody): number {
  // With the session tag every ASSIGN carries (protocol/auth.ts).
  const msg = worst(body);
  // The direct writer's count, when it takes the body, is encodeControl's (without a copy).
  const n = assignLength(msg);
  if (n >= 0) return n <= MAX_CONTROL_BYTES ? n : Infinity;
  try {
    return encodeControl(msg).length;
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

/**
 * The body without part keys. Keys are left out by destructuring rather than deleted (here and in
 * headOf, partOf): an object that had a key deleted turns slow to read and to copy.
 */
function wholeOf(body: AssignBody): AssignBody {
  const { part: _part, parts: _parts, ...whole } = body;
  return whole;
}

/** What every part repeats: the whole without its children and mesh (an empty children list in place). */
function headOf(whole: AssignBody): AssignBody {
  const { mesh: _mesh, ...rest } = whole;
  return { ...rest, children: [] };
}

/**
 * Splits an assignment into parts that each encode within `maxBytes`; one part (the body as
 * given, without part keys) when it fits. Throws EncodeError when even a part with a single
 * child does not fit, or more than MAX_ASSIGN_PARTS would be needed.
 *
 * Children, then mesh neighbours, fill each part in order while the part still fits (sized with
 * the worst-case envelope, the session tag and part keys `0` of MAX_ASSIGN_PARTS), at most
 * MAX_CHILDREN of each. Each element is sized once (assign-writer.ts: elementBytes) and
 * a part's size is its empty part's plus its elements': linear in the elements. The parts are
 * splitAssignByTrial's, the same objects and the same bytes (test/protocol-assign-parts.test.ts);
 * a body the direct writer declines anywhere (a bad field: its error must be the encoder's) is
 * split by trial.
 */
export function splitAssign(body: AssignBody, maxBytes = MAX_CONTROL_BYTES): AssignBody[] {
  const whole = wholeOf(body);
  if (withinLimits(whole) && assignBytes(whole) <= maxBytes) return [whole];
  const head = headOf(whole);
  const first = partOf(head, body.parents);
  const rest = partOf(head, []);
  // An empty part's size without its children's empty list (one byte), the list header added below.
  const firstBytes = directBytes(first) - 1;
  const restBytes = directBytes(rest) - 1;
  // A part over the encoder's limit does not fit whatever maxBytes says (the encoder refuses it).
  const limit = Math.min(maxBytes, MAX_CONTROL_BYTES);
  const sizes = elementBytes(body);
  if (sizes === undefined || firstBytes < 0 || restBytes < 0) return splitAssignByTrial(body, maxBytes);
  const children = body.children;
  const count = sizes.length;
  /** Bytes of a part: its empty size, then its children's and its mesh's lists. */
  const partBytes = (empty: number, nc: number, cb: number, nm: number, mb: number): number =>
    empty + listHeader(nc) + cb + (nm === 0 ? 0 : 1 + listHeader(nm) + mb);
  // Each part is the element range [start, end); part 0 carries the parents.
  const ends: number[] = [];
  let empty = firstBytes;
  let nc = 0;
  let cb = 0;
  let nm = 0;
  let mb = 0;
  for (let i = 0; i < count; i++) {
    const isChild = i < children.length;
    const size = sizes[i]!;
    const fits = isChild
      ? nc < MAX_CHILDREN && partBytes(empty, nc + 1, cb + size, nm, mb) <= limit
      : nm < MAX_CHILDREN && partBytes(empty, nc, cb, nm + 1, mb + size) <= limit;
    if (fits) {
      if (isChild) {
        nc++;
        cb += size;
      } else {
        nm++;
        mb += size;
      }
      continue;
    }
    const start = ends.length === 0 ? 0 : ends[ends.length - 1]!;
    if (i === start && ends.length > 0)
      tooLarge(withElements(first, rest, body, ends.length, start, i + 1), maxBytes);
    ends.push(i);
    empty = restBytes;
    const alone = isChild ? partBytes(empty, 1, size, 0, 0) : partBytes(empty, 0, 0, 1, size);
    if (alone > limit) tooLarge(withElements(first, rest, body, ends.length, i, i + 1), maxBytes);
    nc = isChild ? 1 : 0;
    cb = isChild ? size : 0;
    nm = isChild ? 0 : 1;
    mb = isChild ? 0 : size;
  }
  ends.push(count);
  if (ends.length > MAX_ASSIGN_PARTS)
    throw new EncodeError(`ASSIGN needs ${ends.length} parts, limit ${MAX_ASSIGN_PARTS}`);
  // Object.assign, not a spread that adds keys (worst()).
  return ends.map((end, p) =>
    Object.assign(withElements(first, rest, body, p, p === 0 ? 0 : ends[p - 1]!, end), {
      part: p,
      parts: ends.length,
    }),
  );
}

/** Bytes of a part (worst-case envelope, session tag, part keys) as the direct writer writes it; -1 when it declines. */
function directBytes(part: AssignBody): number {
  return assignLength(worst(Object.assign({}, part, { part: 0, parts: MAX_ASSIGN_PARTS })));
}

/** A CBOR array header's bytes for `n` elements (n <= 64 here). */
function listHeader(n: number): number {
  return n < 24 ? 1 : 2;
}

/**
 * Part `p` holding elements [start, end) of the children then the mesh: the object
 * splitAssignByTrial builds for it (the same keys in the same order).
 */
function withElements(
  first: AssignBody,
  rest: AssignBody,
  body: AssignBody,
  p: number,
  start: number,
  end: number,
): AssignBody {
  const nc = body.children.length;
  const out: AssignBody = {
    ...(p === 0 ? first : rest),
    children: body.children.slice(start, Math.min(end, nc)),
  };
  if (end > nc) out.mesh = (body.mesh ?? []).slice(Math.max(start, nc) - nc, end - nc);
  return out;
}

/**
 * splitAssign by trial: each element added to the part and the part encoded again (quadratic in
 * a part's elements). The reference splitAssign is held to, and its fallback for a body the
 * direct writer declines (its errors are the encoder's, naming the field).
 */
export function splitAssignByTrial(body: AssignBody, maxBytes = MAX_CONTROL_BYTES): AssignBody[] {
  const whole = wholeOf(body);
  if (withinLimits(whole) && assignBytes(whole) <= maxBytes) return [whole];
  const head = headOf(whole);
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
  // The parents' HTTP ports ride with the parents (part 0).
  if (parents.length > 0) return { ...head, parents, children: [] };
  const { parentHttpPorts: _ports, ...rest } = head;
  return { ...rest, parents, children: [] };
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
