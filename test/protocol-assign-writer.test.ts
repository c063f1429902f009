/**
 * protocol/assign-writer.ts, encodeControl's fast path for ASSIGN: whatever it writes is byte for
 * byte what the general path (the checked CBOR tree, cbor.ts) writes, on random ASSIGNs and on
 * ones with a field at an integer width's edge or wrong (out of range, -0, a float, a bad
 * address, null, the wrong type); what the general path refuses it declines; it takes every
 * ASSIGN the arbitraries make; assignLength is its length; and the element sizes it gives
 * splitAssign (elementBytes) are what it writes for them.
 */
import test from "ava";
import fc from "fast-check";
import { encodeCbor } from "../protocol/cbor.js";
import { controlTree, encodeControl } from "../protocol/control-codec.js";
import { assignLength, elementBytes, writeAssign } from "../protocol/assign-writer.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import { type AssignBody, type ControlMessage, LinkAlgorithm, MsgType } from "../protocol/messages.js";
import { assignBody, controlByType } from "./protocol-arbitraries.js";

/** The general path's bytes for `msg`, or the error it throws. */
function generalBytes(msg: ControlMessage): Buffer | string {
  try {
    return encodeCbor(controlTree(msg));
  } catch (e) {
    return String(e);
  }
}

const assign = (body: AssignBody, auth?: Uint8Array): ControlMessage => ({
  v: WIRE_VERSION,
  type: MsgType.ASSIGN,
  sender: 0,
  seq: 1,
  ts: 1_780_000_000_000,
  body,
  ...(auth === undefined ? {} : { auth }),
});

test("an ASSIGN written straight to its bytes is byte for byte the general path's, and every random ASSIGN is taken", (t) => {
  let taken = 0;
  fc.assert(
    fc.property(controlByType.ASSIGN, (msg) => {
      const mine = writeAssign(msg);
      const general = generalBytes(msg);
      if (typeof general === "string") return mine === undefined;
      if (mine === undefined) return false;
      taken++;
      return (
        mine.equals(general) && (general.length > MAX_CONTROL_BYTES || encodeControl(msg).equals(general))
      );
    }),
    { numRuns: 5000 },
  );
  t.is(taken, 5000);
});

const edges = [
  0,
  1,
  15,
  16,
  17,
  23,
  24,
  255,
  256,
  65535,
  65536,
  0xffffffff,
  0x100000000,
  Number.MAX_SAFE_INTEGER,
];
/** Values a field may be given by mistake. */
const odd = fc.constantFrom<unknown>(
  -0,
  -1,
  0.5,
  NaN,
  Infinity,
  null,
  undefined,
  "7",
  7n,
  [],
  {},
  true,
  2 ** 53,
  "not-an-address",
  "fe80::1%eth0",
  "10.0.0.1",
  "::ffff:1.2.3.4",
  new Uint8Array(4),
);
const value = fc.oneof(fc.constantFrom<unknown>(...edges), odd, fc.integer({ min: -3, max: 20 }));

/** A path into a body to a field (or a list element's field) and the value it gets. */
type Edit = { path: Array<string | number>; v: unknown };
const fieldNames = [
  "channel",
  "version",
  "k",
  "tier",
  "role",
  "cluster",
  "epoch",
  "part",
  "parts",
  "fec",
  "mesh",
  "parents",
  "children",
  "parentHttpPorts",
];
const linkFields = ["node", "address", "port", "substreams", "algorithm"];
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ path: fc.constantFrom(...fieldNames).map((f) => [f]), v: value }),
  fc.record({
    path: fc.tuple(fc.constantFrom("fec"), fc.constantFrom("k", "n")).map((p) => [...p]),
    v: value,
  }),
  fc.record({
    path: fc
      .tuple(fc.constantFrom("parents", "children", "mesh"), fc.nat(12), fc.constantFrom(...linkFields))
      .map((p) => [...p]),
    v: value,
  }),
  fc.record({
    path: fc
      .tuple(fc.constantFrom("parents", "children", "mesh", "parentHttpPorts"), fc.nat(16))
      .map((p) => [...p]),
    v: value,
  }),
);

/** A deep copy of `body` with `e` applied (where the path exists). */
function edited(body: AssignBody, e: Edit): AssignBody {
  const copy = structuredClone(body) as unknown as Record<string, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (let i = 0; i < e.path.length - 1; i++) {
    const next = at[e.path[i]!];
    // A typed array (a byte string where a list belongs) holds numbers only: an edit there is skipped.
    if (next === null || typeof next !== "object" || ArrayBuffer.isView(next))
      return copy as unknown as AssignBody;
    at = next as Record<string | number, unknown>;
  }
  at[e.path[e.path.length - 1]!] = e.v;
  return copy as unknown as AssignBody;
}

test("an ASSIGN with fields at the edges or wrong: written as the general path writes it, or declined; refused there, declined here", (t) => {
  let taken = 0;
  let declined = 0;
  let refused = 0;
  fc.assert(
    fc.property(
      assignBody,
      fc.array(edit, { minLength: 1, maxLength: 3 }),
      fc.option(fc.uint8Array({ maxLength: 80 }), { nil: undefined }),
      (body, edits, auth) => {
        const b = edits.reduce(edited, body);
        const msg = assign(b, auth);
        const mine = writeAssign(msg);
        const general = generalBytes(msg);
        if (typeof general === "string") refused++;
        if (mine === undefined) {
          declined++;
          return true;
        }
        taken++;
        return typeof general !== "string" && mine.equals(general);
      },
    ),
    { numRuns: 20_000 },
  );
  t.log(`${taken} written, ${declined} declined (${refused} refused by the general path)`);
  t.true(taken > 2000);
  t.true(refused > 2000);
});

test("the writer declines what the general path writes through cbor-x (-0), and what it refuses", (t) => {
  const body: AssignBody = {
    channel: 1,
    version: 2,
    k: 4,
    tier: 1,
    parents: [{ node: 1, address: "10.0.0.1", port: 5000 }],
    children: [{ node: 2, address: "10.0.0.2", port: 5000, substreams: 1 }],
  };
  t.truthy(writeAssign(assign(body)));
  t.is(writeAssign(assign({ ...body, cluster: -0 })), undefined);
  t.is(writeAssign({ ...assign(body), seq: -0 }), undefined);
  t.is(writeAssign(assign({ ...body, children: [{ ...body.children[0]!, substreams: 16 }] })), undefined);
  t.throws(() => encodeControl(assign({ ...body, children: [{ ...body.children[0]!, substreams: 16 }] })), {
    message: /substreams/,
  });
  // A FEC_TREE child needs the assignment's fec.
  const coded = { ...body.children[0]!, algorithm: LinkAlgorithm.FEC_TREE };
  t.is(writeAssign(assign({ ...body, children: [coded] })), undefined);
  t.truthy(writeAssign(assign({ ...body, fec: { k: 4, n: 2 }, children: [{ ...coded, substreams: 32 }] })));
  // -0 as an algorithm is TREE (the general path writes none): written here the same way.
  const tree = { ...body.children[0]!, algorithm: -0 as LinkAlgorithm };
  const mine = writeAssign(assign({ ...body, children: [tree] }));
  t.true(mine !== undefined && mine.equals(encodeCbor(controlTree(assign({ ...body, children: [tree] })))));
  t.is(writeAssign({ ...assign(body), type: MsgType.LEAVE } as ControlMessage), undefined);
});

test("elementBytes are the bytes the writer writes for each element (undefined where it declines one); assignLength is the length it writes", (t) => {
  fc.assert(
    fc.property(assignBody, value, fc.constantFrom(...linkFields), fc.nat(20), (body, v, field, which) => {
      // The body as it is, and once with a field of one element changed.
      const elements: unknown[] = [...body.children, ...(body.mesh ?? [])];
      const nc = body.children.length;
      const changed = elements.map((e, i) => (i === which ? { ...(e as object), [field]: v } : e));
      const b = { ...body, children: changed.slice(0, nc), mesh: changed.slice(nc) } as AssignBody;
      const sizes = elementBytes(b);
      const whole = writeAssign(assign(b));
      if (assignLength(assign(b)) !== (whole === undefined ? -1 : whole.length)) return false;
      if (whole !== undefined && sizes === undefined) return false;
      const base: AssignBody = { ...b, children: [], mesh: [] };
      const empty = writeAssign(assign(base));
      if (empty === undefined) return false;
      for (const [i, e] of changed.entries()) {
        const one = writeAssign(
          assign({ ...base, ...(i < nc ? { children: [e] } : { mesh: [e] }) } as AssignBody),
        );
        if (
          one === undefined
            ? sizes !== undefined
            : sizes !== undefined && sizes[i] !== one.length - empty.length
        )
          return false;
      }
      return sizes === undefined || sizes.length === changed.length;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
