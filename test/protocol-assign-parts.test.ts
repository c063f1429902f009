import test from "ava";
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import {
  AssignParts,
  assignBytes,
  encodeAssign,
  join,
  splitAssign,
  splitAssignByTrial,
} from "../protocol/assign-parts.js";
import { EncodeError } from "../protocol/errors.js";
import { bytesToIp, ipToBytes } from "../protocol/ip-bytes.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { encodeTagged } from "../protocol/auth.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import {
  type AssignBody,
  type ChildLink,
  type ControlMessage,
  LinkAlgorithm,
  MsgType,
  type Peer,
  TierRole,
} from "../protocol/messages.js";
import { assignBody, u32 } from "./protocol-arbitraries.js";

function origin(children: number, v6 = false, mesh = 0): AssignBody {
  const addr = (i: number): string =>
    v6 ? `2001:db8::${(i % 65535).toString(16)}` : `127.0.${(i >> 8) & 255}.${i & 255}`;
  return {
    channel: 7,
    version: 42,
    k: 4,
    tier: 1,
    role: TierRole.ORIGIN,
    fec: { k: 12, n: 2 },
    parents: [null, null, null, null],
    children: Array.from({ length: children }, (_, i): ChildLink => ({
      node: 1000 + i,
      address: addr(i),
      port: 40_000 + (i % 1000),
      substreams: i % 2 === 0 ? 0b1111 : 0b1000_0000_0001,
      ...(i % 2 === 0 ? {} : { algorithm: LinkAlgorithm.FEC_TREE }),
    })),
    ...(mesh > 0
      ? {
          mesh: Array.from({ length: mesh }, (_, i): Peer => ({
            node: 9000 + i,
            address: addr(i),
            port: 5000,
          })),
        }
      : {}),
  };
}

test("an assignment that fits is one part, without part keys", (t) => {
  const b = origin(10);
  const parts = splitAssign({ ...b, part: 0, parts: 1 });
  t.is(parts.length, 1);
  t.deepEqual(parts[0], b);
});

test("the origin's 3000 children (IPv6) split into parts of <= 1200 bytes that join back", (t) => {
  const b = origin(3000, true, 5);
  const parts = splitAssign(b);
  t.true(parts.length > 1);
  t.log(`${parts.length} parts`);
  for (const [i, p] of parts.entries()) {
    t.is(p.part, i);
    t.is(p.parts, parts.length);
    t.true(assignBytes(p) <= MAX_CONTROL_BYTES);
    const wire = encodeControl({ v: WIRE_VERSION, type: MsgType.ASSIGN, sender: 0, seq: 1, ts: 2, body: p });
    const back = decodeControl(wire);
    t.true(back.ok);
  }
  t.deepEqual(
    parts.slice(1).map((p) => p.parents.length),
    new Array(parts.length - 1).fill(0),
  );
  t.deepEqual(join(parts), b);
});

test("parts arriving in any order, with duplicates and an older version's parts, complete once", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 65, max: 400 }), fc.integer({ min: 0, max: 2 ** 31 }), (n, seed) => {
        const b = origin(n);
        const parts = splitAssign(b);
        const old = splitAssign({ ...b, version: b.version - 1 });
        const order = [...parts, parts[0]!, old[1]!].map((p, i) => ({
          p,
          key: (i * 2654435761 + seed) % 1000003,
        }));
        order.sort((x, y) => x.key - y.key);
        const r = new AssignParts();
        const done = order.map(({ p }) => r.accept(p)).filter((x) => x !== undefined);
        return done.length >= 1 && JSON.stringify(done[0]) === JSON.stringify(b);
      }),
      { numRuns: 50 },
    ),
  );
});

test("a newer version's part drops the incomplete older one", (t) => {
  const r = new AssignParts();
  const v1 = splitAssign(origin(200));
  const v2 = splitAssign({ ...origin(200), version: 43 });
  t.is(r.accept(v1[0]!), undefined);
  t.is(r.accept(v2[0]!), undefined);
  for (const p of v1.slice(1)) t.is(r.accept(p), undefined);
  let done: AssignBody | undefined;
  for (const p of v2.slice(1)) done = r.accept(p);
  t.is(done?.version, 43);
  t.is(done?.children.length, 200);
});

test("parentHttpPorts ride with the parents in part 0, and must match them one to one", (t) => {
  const parents = [{ node: 1, address: "10.0.0.1", port: 5000 }, null];
  const children = Array.from({ length: 100 }, (_, i) => ({
    node: 100 + i,
    address: `10.1.${i >> 8}.${i & 255}`,
    port: 6000,
    substreams: 1,
  }));
  const parts = splitAssign({
    channel: 1,
    version: 2,
    k: 2,
    tier: 3,
    parents,
    children,
    parentHttpPorts: [8080, 0],
  });
  t.true(parts.length > 1);
  t.deepEqual(parts[0]!.parentHttpPorts, [8080, 0]);
  for (const p of parts.slice(1)) t.is(p.parentHttpPorts, undefined);
  const r = decodeControl(
    encodeControl({ v: WIRE_VERSION, type: MsgType.ASSIGN, sender: 0, seq: 1, ts: 2, body: parts[0]! }),
  );
  t.true(r.ok && r.value.type === MsgType.ASSIGN && r.value.body.parentHttpPorts?.[0] === 8080);
  t.throws(
    () =>
      encodeControl({
        v: WIRE_VERSION,
        type: MsgType.ASSIGN,
        sender: 0,
        seq: 1,
        ts: 2,
        body: { channel: 1, version: 2, k: 2, tier: 3, parents, children: [], parentHttpPorts: [1] },
      }),
    { message: /parentHttpPorts.*1 ports for 2 parents/ },
  );
});

test("parts are sized with the session tag: every part still fits 1200 bytes once tagged", (t) => {
  const peer = (i: number) => ({
    node: 0xfffff000 + i,
    address: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i.toString(16)}`,
    port: 65535,
  });
  for (let n = 30; n <= 64; n++) {
    const body = {
      channel: 1,
      version: 7,
      k: 1,
      tier: 1,
      parents: [peer(0)],
      children: Array.from({ length: n }, (_, i) => ({ ...peer(100 + i), substreams: 1 })),
    };
    for (const part of splitAssign(body)) {
      const bytes = encodeTagged(
        {
          v: WIRE_VERSION,
          type: MsgType.ASSIGN,
          sender: 0,
          seq: 0xffffffff,
          ts: Number.MAX_SAFE_INTEGER,
          body: part,
        },
        new Uint8Array(32),
      ).length;
      t.true(bytes <= MAX_CONTROL_BYTES, `${n} children: a part of ${bytes} bytes`);
    }
  }
});

test("a part that cannot be encoded says why (the field), not that it is too large", (t) => {
  const children = Array.from({ length: 70 }, (_, i) => ({
    node: i + 2,
    address: i === 66 ? "not-an-address" : "127.0.0.1",
    port: 5000,
    substreams: 1,
  }));
  const e = t.throws(() => splitAssign({ channel: 1, version: 1, k: 1, tier: 1, parents: [null], children }));
  t.regex(e?.message ?? "", /address/);
  t.notRegex(e?.message ?? "", /exceeds/);
});

/** encodeAssign's `encode` as control's: an envelope with the next seq, tagged; the bodies it was given. */
function sealer(): { encode: (b: AssignBody) => Buffer; seen: AssignBody[] } {
  const seen: AssignBody[] = [];
  let seq = 0;
  const encode = (b: AssignBody): Buffer => {
    seen.push(b);
    const msg: ControlMessage = {
      v: WIRE_VERSION,
      type: MsgType.ASSIGN,
      sender: 0,
      seq: ++seq,
      ts: 1_780_000_000_000,
      body: b,
    };
    return encodeTagged(msg, new Uint8Array(32));
  };
  return { encode, seen };
}

test("encodeAssign: an assignment that fits is encoded once, whole, without part keys", (t) => {
  const b = origin(10);
  const { encode, seen } = sealer();
  const out = encodeAssign({ ...b, part: 0, parts: 1 }, encode);
  t.is(out.length, 1);
  t.deepEqual(seen, [b]);
  const back = decodeControl(out[0]!);
  t.true(back.ok && back.value.type === MsgType.ASSIGN);
  if (back.ok) t.deepEqual(back.value.body, b);
});

test("encodeAssign: one too large for a datagram is split; the parts decode and join back, each within 1200 bytes", (t) => {
  for (const [children, v6, mesh] of [
    [64, true, 0],
    [200, false, 3],
    [3000, true, 5],
  ] as const) {
    const b = origin(children, v6, mesh);
    const { encode, seen } = sealer();
    const out = encodeAssign(b, encode);
    t.true(out.length > 1, `${children} children`);
    t.deepEqual(out.length, splitAssign(b).length);
    // The whole was tried once (when within the list limits), then every part.
    t.is(seen.length, out.length + (children <= 64 ? 1 : 0));
    const bodies = out.map((buf) => {
      t.true(buf.length <= MAX_CONTROL_BYTES);
      const r = decodeControl(buf);
      if (!r.ok || r.value.type !== MsgType.ASSIGN) throw new Error("not an ASSIGN");
      return r.value.body;
    });
    // Addresses come back in their canonical form ("2001:db8::0" as "2001:db8::").
    const canonical = (a: string): string => bytesToIp(ipToBytes(a, "address"), "address");
    t.deepEqual(join(bodies), {
      ...b,
      children: b.children.map((c) => ({ ...c, address: canonical(c.address) })),
      ...(b.mesh === undefined ? {} : { mesh: b.mesh.map((m) => ({ ...m, address: canonical(m.address) })) }),
    });
  }
});

test("encodeAssign: sizes the whole with every field it carries (an epoch), and gives the encoder's error for a bad field", (t) => {
  // A body just under the limit without an epoch, over it with one: split, each part with the epoch.
  let n = 1;
  const at = (c: number): AssignBody => ({
    channel: 7,
    version: 42,
    k: 1,
    tier: 2,
    parents: [{ node: 1, address: "10.0.0.1", port: 5000 }],
    children: Array.from({ length: c }, (_, i) => ({
      node: 0xfffff000 + i,
      address: `2001:db8:ffff:ffff:ffff:ffff:ffff:${(i + 1).toString(16)}`,
      port: 65535,
      substreams: 1,
    })),
  });
  const size = (b: AssignBody): number => {
    try {
      return sealer().encode(b).length;
    } catch (e) {
      if (e instanceof EncodeError) return Infinity;
      throw e;
    }
  };
  while (n < 64 && size(at(n + 1)) <= MAX_CONTROL_BYTES) n++;
  const b = at(n);
  t.true(size(b) <= MAX_CONTROL_BYTES);
  const epoch = Number.MAX_SAFE_INTEGER;
  t.true(size({ ...b, epoch }) > MAX_CONTROL_BYTES, `${n} children`);
  const out = encodeAssign({ ...b, epoch }, sealer().encode);
  t.true(out.length > 1);
  for (const buf of out) {
    const r = decodeControl(buf);
    t.true(r.ok && r.value.type === MsgType.ASSIGN && r.value.body.epoch === epoch);
  }
  const bad = { ...origin(3), children: [{ node: 1, address: "no-address", port: 1, substreams: 1 }] };
  const e = t.throws(() => encodeAssign(bad, sealer().encode), { instanceOf: EncodeError });
  t.regex(e?.message ?? "", /address/);
});

/** A body of up to 300 children and 80 mesh neighbours, IPv4 and IPv6, ids and ports of every width. */
const largeBody: fc.Arbitrary<AssignBody> = fc
  .record({
    base: assignBody,
    children: fc.array(
      fc.record({
        node: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff })),
        address: fc.oneof(
          fc.ipV4(),
          fc.constantFrom("2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ),
        port: fc.integer({ min: 1, max: 0xffff }),
        substreams: fc.integer({ min: 0, max: 0xffff }),
        coded: fc.boolean(),
      }),
      { maxLength: 300 },
    ),
    mesh: fc.option(
      fc.array(fc.record({ node: u32, address: fc.ipV4(), port: fc.constant(5000) }), { maxLength: 80 }),
      {
        nil: undefined,
      },
    ),
  })
  .map(({ base, children, mesh }) => {
    const b: AssignBody = { ...base };
    delete b.part;
    delete b.parts;
    const coded = b.fec === undefined ? undefined : b.fec.k + b.fec.n;
    b.children = children.map(({ coded: c, substreams, ...p }): ChildLink => {
      const bits = c && coded !== undefined ? coded : b.k;
      const link: ChildLink = { ...p, substreams: substreams & (2 ** bits - 1) };
      if (c && coded !== undefined) link.algorithm = LinkAlgorithm.FEC_TREE;
      return link;
    });
    if (mesh === undefined) delete b.mesh;
    else b.mesh = mesh;
    return b;
  });

test("splitAssign (each element sized once) gives splitAssignByTrial's parts, keys in the same order, or its error", (t) => {
  let split = 0;
  fc.assert(
    fc.property(largeBody, fc.constantFrom(1200, 1200, 900, 400, 200), (b, maxBytes) => {
      const run = (f: typeof splitAssign): AssignBody[] | string => {
        try {
          return f(b, maxBytes);
        } catch (e) {
          return String(e);
        }
      };
      const mine = run(splitAssign);
      const trial = run(splitAssignByTrial);
      if (typeof mine !== "string" && mine.length > 1) split++;
      if (typeof mine === "string" || typeof trial === "string") return mine === trial;
      if (JSON.stringify(mine) !== JSON.stringify(trial)) return false;
      // Every part fits once tagged with the worst-case envelope (but part 0 with the parents
      // alone: no split makes it smaller), and they join back (an empty parentHttpPorts goes
      // with empty parents: part 0 carries the key only beside parents; so does an empty mesh).
      const want: AssignBody = { ...b };
      const parted = mine[0]?.parts !== undefined;
      if (parted && b.parents.length === 0) delete want.parentHttpPorts;
      if (parted && b.mesh?.length === 0) delete want.mesh;
      const fits = (p: AssignBody, i: number): boolean =>
        assignBytes(p) <= maxBytes || (i === 0 && p.children.length === 0 && p.mesh === undefined);
      return mine.every(fits) && isDeepStrictEqual(parted ? join(mine) : mine[0], want);
    }),
    { numRuns: 400 },
  );
  t.log(`${split} of 400 split`);
  t.true(split > 50);
});

test("splitAssign: a bad element anywhere gives splitAssignByTrial's error, naming the field", (t) => {
  const children = (bad: number): ChildLink[] =>
    Array.from({ length: 200 }, (_, i) => ({
      node: i + 2,
      address: i === bad ? "not-an-address" : `10.0.${i >> 8}.${i & 255}`,
      port: 5000,
      substreams: 1,
    }));
  for (const bad of [0, 1, 40, 63, 64, 65, 130, 199]) {
    const b: AssignBody = { channel: 1, version: 1, k: 1, tier: 1, parents: [null], children: children(bad) };
    const mine = t.throws(() => splitAssign(b), { instanceOf: EncodeError });
    const trial = t.throws(() => splitAssignByTrial(b), { instanceOf: EncodeError });
    t.is(mine?.message, trial?.message);
    t.regex(mine?.message ?? "", /address/);
  }
  // A part with one element over maxBytes: the size, the same way.
  const b = origin(100);
  t.is(t.throws(() => splitAssign(b, 60))?.message, t.throws(() => splitAssignByTrial(b, 60))?.message);
});
