// Size and element limits of wire v1: the 256-byte heartbeat budget, the 1200-byte datagram
// limit on the encoder side (EncodeError), and the decoder's typed rejections.
import test, { type ExecutionContext } from "ava";
import { decodeCbor, encodeCbor } from "../protocol/cbor.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { encodeData } from "../protocol/data-codec.js";
import { DecodeError, EncodeError } from "../protocol/errors.js";
import {
  HEARTBEAT_BUDGET_BYTES,
  MAX_CHANNELS_PER_MESSAGE,
  MAX_CHILDREN,
  MAX_CONTROL_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_PARENTS,
  MAX_STRING_BYTES,
  MAX_SUBSTREAMS,
} from "../protocol/limits.js";
import {
  type ControlMessage,
  LinkAlgorithm,
  type MessageOf,
  MsgType,
  NatType,
} from "../protocol/messages.js";
import { encodeSegmentMeta } from "../protocol/segment-meta.js";
import { encodeTagged } from "../protocol/auth.js";
import {
  maxAssign,
  sampleAssign,
  sampleControl,
  sampleDataHeader,
  sampleHeartbeat,
  sampleJoinAck,
  sampleJoinAgent,
  sampleLeave,
  sampleMeta,
} from "../tools/vectors/samples.js";

type Tree = Map<unknown, unknown>;

/** The CBOR tree of a valid message, to break on purpose. */
const tree = (msg: ControlMessage): Tree => decodeCbor(encodeControl(msg)) as Tree;
const body = (t: Tree): Tree => t.get(5) as Tree;
/** Encode a tree as raw CBOR (integers above 32 bits as 8-byte integers, as the codec does). */
function raw(t: unknown): Buffer {
  const fix = (v: unknown): unknown =>
    typeof v === "number" && Number.isInteger(v) && v > 0xffffffff
      ? BigInt(v)
      : Array.isArray(v)
        ? v.map(fix)
        : v instanceof Map
          ? new Map([...v].map(([k, x]) => [k, fix(x)]))
          : v;
  return encodeCbor(fix(t));
}

function rejects(
  t: ExecutionContext,
  bytes: Uint8Array,
  code: string,
  field?: string,
): DecodeError | undefined {
  const r = decodeControl(bytes);
  if (r.ok) {
    t.fail(`decoded, expected ${code}`);
    return undefined;
  }
  t.true(r.error instanceof DecodeError);
  t.is(r.error.code as string, code, r.error.message);
  if (field !== undefined) t.is(r.error.field, field, r.error.message);
  return r.error;
}

// ---------------------------------------------------------------- budgets

const heartbeatBytes = encodeControl(sampleHeartbeat(4, 8)).length;

/** Every field of a 4-parent, 8-child HEARTBEAT at its largest on the wire. */
function worstHeartbeat(): ControlMessage {
  const M = 0xffffffff;
  const link = { node: M, ageMs: M, lastSeq: M };
  return {
    ...sampleHeartbeat(4, 8),
    sender: M,
    seq: M,
    ts: Number.MAX_SAFE_INTEGER,
    body: {
      channel: M,
      assignVersion: M,
      // An agent flags at most one parent per heartbeat as suspect.
      parents: [{ ...link, suspect: true }, link, link, link],
      children: Array.from({ length: 8 }, () => link),
      buffers: [M, M, M, M],
      resources: {
        uploadKbps: M,
        nat: NatType.SYMMETRIC,
        cacheBytes: Number.MAX_SAFE_INTEGER,
        cpuPct: M,
        rssMB: M,
        loss: 1,
        shed: 255,
      },
      newestSegment: M,
    },
  } as ControlMessage;
}

test(`a worst-case HEARTBEAT (4 parents, 8 children, every field at its largest) with its session tag fits ${HEARTBEAT_BUDGET_BYTES} bytes`, (t) => {
  const bytes = encodeTagged(worstHeartbeat(), new Uint8Array(32)).length;
  t.log(`worst-case heartbeat with tag: ${bytes} bytes`);
  t.true(bytes <= HEARTBEAT_BUDGET_BYTES, `${bytes} bytes`);
});

test(`HEARTBEAT with 4 parents and 8 children is ${heartbeatBytes} bytes (budget ${HEARTBEAT_BUDGET_BYTES})`, (t) => {
  const hb = sampleHeartbeat(4, 8);
  t.is(hb.body.parents.length, 4);
  t.is(hb.body.children.length, 8);
  t.true(hb.body.children.every((c) => c.lastSeq > 0xff && c.lastSeq <= 0xffff && c.ageMs <= 60_000));
  t.true(hb.ts > Date.UTC(2026, 0, 1));
  t.log(`heartbeat: ${heartbeatBytes} bytes`);
  t.true(heartbeatBytes <= HEARTBEAT_BUDGET_BYTES);
});

test("ASSIGN with MAX_CHILDREN IPv4 children and one parent fits in 1200 bytes", (t) => {
  const msg: MessageOf<MsgType.ASSIGN> = { ...maxAssign(), body: { ...maxAssign().body, k: 1, tier: 255 } };
  msg.body.parents = msg.body.parents.slice(0, 1);
  msg.body.children = msg.body.children.map((c) => ({ ...c, substreams: 1 }));
  t.is(msg.body.children.length, MAX_CHILDREN);
  const bytes = encodeControl(msg);
  t.log(`ASSIGN, 64 IPv4 children, 1 parent, all ids u32 max: ${bytes.length} bytes`);
  t.true(bytes.length <= MAX_CONTROL_BYTES);
  const r = decodeControl(bytes);
  t.true(r.ok);
});

test("ASSIGN over 1200 bytes (64 children plus 16 parents, or IPv6 children) throws EncodeError", (t) => {
  const full = t.throws(() => encodeControl(maxAssign()), { instanceOf: EncodeError });
  t.regex(full?.message ?? "", /encodes to \d+ bytes, limit 1200/);
  t.log(full?.message);
  const v6 = t.throws(() => encodeControl(maxAssign("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe")), {
    instanceOf: EncodeError,
  });
  t.log(v6?.message);
});

test("JOIN with every string at its limit is refused by the encoder, not truncated", (t) => {
  const channels = Array.from({ length: MAX_CHANNELS_PER_MESSAGE }, (_, i) =>
    `${i}`.padEnd(MAX_STRING_BYTES, "x"),
  );
  t.throws(() => encodeControl({ ...sampleJoinAgent, body: { ...sampleJoinAgent.body, channels } }), {
    instanceOf: EncodeError,
    message: /bytes, limit 1200/,
  });
});

// ---------------------------------------------------------------- decoder: sizes and elements

test("empty and oversized datagrams are refused before any CBOR is read", (t) => {
  rejects(t, new Uint8Array(0), "E_EMPTY");
  const big = Buffer.concat([encodeControl(sampleLeave), Buffer.alloc(MAX_CONTROL_BYTES)]);
  rejects(t, big, "E_TOO_LARGE");
  // a CBOR byte string that claims 4 GiB inside a small datagram
  rejects(t, Buffer.from("a1005affffffff00", "hex"), "E_TRUNCATED");
});

test("too many elements: each list limit answers E_LIMIT naming the list", (t) => {
  const link = [1, 1, 1];
  const cases: Array<[ControlMessage, (b: Tree) => void, string]> = [
    [sampleHeartbeat(), (b) => b.set(3, new Array(MAX_CHILDREN + 1).fill(link)), "body.children"],
    [sampleHeartbeat(), (b) => b.set(2, new Array(MAX_PARENTS + 1).fill(link)), "body.parents"],
    [sampleHeartbeat(), (b) => b.set(4, new Array(MAX_SUBSTREAMS + 1).fill(1)), "body.buffers"],
    [sampleJoinAgent, (b) => b.set(2, new Array(MAX_CHANNELS_PER_MESSAGE + 1).fill("a")), "body.channels"],
    [
      sampleJoinAck,
      (b) => b.set(4, new Array(MAX_CHANNELS_PER_MESSAGE + 1).fill((b.get(4) as Tree[])[0])),
      "body.channels",
    ],
    [
      sampleAssign,
      (b) => b.set(5, new Array(MAX_CHILDREN + 1).fill([1, Uint8Array.of(127, 0, 0, 1), 9, 1])),
      "body.children",
    ],
    [sampleAssign, (b) => b.set(4, new Array(5).fill(null)), "body.parents"], // k = 4
    [sampleJoinAgent, (b) => b.set(0, new Uint8Array(65)), "body.key"],
    [sampleJoinAgent, (b) => b.set(9, "é".repeat(101)), "body.regionHint"], // 202 UTF-8 bytes, 101 chars
    [sampleJoinAgent, (b) => b.set(2, ["x".repeat(MAX_STRING_BYTES + 1)]), "body.channels[0]"],
  ];
  for (const [msg, edit, field] of cases) {
    const tr = tree(msg);
    edit(body(tr));
    const bytes = raw(tr);
    t.true(bytes.length <= MAX_CONTROL_BYTES, `${field}: test datagram is ${bytes.length} bytes`);
    rejects(t, bytes, "E_LIMIT", field);
  }
  const withAuth = tree(sampleLeave);
  withAuth.set(6, new Uint8Array(65));
  rejects(t, raw(withAuth), "E_LIMIT", "auth");
});

test("an unknown version is E_BAD_VERSION with the version in the message", (t) => {
  for (const v of [0, 2, 255, 2 ** 40]) {
    const tr = tree(sampleHeartbeat());
    tr.set(0, v);
    t.regex(rejects(t, raw(tr), "E_BAD_VERSION", "v")?.message ?? "", new RegExp(`version ${v}\\b`));
  }
  // A future version may change the body entirely: the version is checked first.
  t.truthy(
    rejects(
      t,
      raw(
        new Map<number, unknown>([
          [0, 2],
          [1, 99],
        ]),
      ),
      "E_BAD_VERSION",
      "v",
    ),
  );
});

test("out-of-range and mistyped fields are E_BAD_FIELD naming the field", (t) => {
  const cases: Array<[ControlMessage, (t: Tree) => void, string]> = [
    [sampleLeave, (m) => m.set(2, 2 ** 32), "sender"],
    [sampleLeave, (m) => m.set(3, -1), "seq"],
    [sampleLeave, (m) => m.set(3, 1.5), "seq"],
    [sampleLeave, (m) => m.set(4, 2 ** 53), "ts"],
    [sampleLeave, (m) => m.set(4, "2026-05-17"), "ts"],
    [sampleLeave, (m) => m.set(5, [3, 0]), "body"],
    [sampleLeave, (m) => m.set(6, "not bytes"), "auth"],
    [sampleLeave, (m) => body(m).set(0, null), "body.channel"],
    [sampleAssign, (m) => body(m).set(2, 0), "body.k"],
    [sampleAssign, (m) => body(m).set(2, 17), "body.k"],
    [sampleAssign, (m) => body(m).set(3, 256), "body.tier"],
    [sampleAssign, (m) => ((body(m).get(4) as unknown[][])[0]![2] = 0), "body.parents[0].port"],
    [sampleAssign, (m) => ((body(m).get(4) as unknown[][])[0]![2] = 65_536), "body.parents[0].port"],
    [sampleAssign, (m) => ((body(m).get(5) as unknown[][])[1] = [1, 2]), "body.children[1]"],
    [sampleAssign, (m) => ((body(m).get(5) as unknown[][])[0]![1] = "127.0.0.1"), "body.children[0].address"],
    [sampleHeartbeat(), (m) => ((body(m).get(5) as unknown[])[2] = 2 ** 53), "body.resources.cacheBytes"],
    [sampleHeartbeat(), (m) => ((body(m).get(5) as unknown[])[1] = 6), "body.resources.nat"],
    [sampleHeartbeat(), (m) => ((body(m).get(5) as unknown[])[3] = 65536), "body.resources.cpuPct"],
    [sampleHeartbeat(), (m) => ((body(m).get(3) as unknown[][])[0]![2] = 65536), "body.children[0].lastSeq"],
    [sampleHeartbeat(), (m) => ((body(m).get(2) as unknown[])[1] = 7), "body.parents[1]"],
    [sampleHeartbeat(), (m) => ((body(m).get(4) as unknown[])[2] = -3), "body.buffers[2]"],
    [
      sampleJoinAck,
      (m) => ((body(m).get(4) as Tree[])[0]!.delete(5), undefined),
      "body.channels[0].fallbackUrl",
    ],
  ];
  for (const [msg, edit, field] of cases) {
    const tr = tree(msg);
    edit(tr);
    rejects(t, raw(tr), "E_BAD_FIELD", field);
  }
});

test("every required key, when missing, is E_BAD_FIELD", (t) => {
  const optional = new Map<MsgType, number[]>([
    [MsgType.JOIN, [6, 7, 8, 9]],
    [MsgType.ASSIGN, [6, 7, 9, 10, 11]],
  ]);
  // ASSIGN key 8 (fec) is optional, but the samples that carry it have coded links that need it.
  const conditional = new Map<MsgType, number[]>([[MsgType.ASSIGN, [8]]]);
  for (const msg of sampleControl) {
    for (const key of [0, 1, 2, 3, 4, 5]) {
      const tr = tree(msg);
      tr.delete(key);
      rejects(t, raw(tr), "E_BAD_FIELD", ["v", "type", "sender", "seq", "ts", "body"][key]);
    }
    for (const key of body(tree(msg)).keys()) {
      const tr = tree(msg);
      body(tr).delete(key);
      const r = decodeControl(raw(tr));
      if (conditional.get(msg.type)?.includes(key as number)) {
        t.false(r.ok, `${MsgType[msg.type]} key ${String(key)} is needed by the sample's coded links`);
      } else if (optional.get(msg.type)?.includes(key as number)) {
        t.true(r.ok, `${MsgType[msg.type]} key ${String(key)} is optional`);
      } else {
        t.false(r.ok, `${MsgType[msg.type]} key ${String(key)} is required`);
        if (!r.ok) t.is(r.error.code, "E_BAD_FIELD");
        if (!r.ok) t.true(r.error.field?.startsWith("body."), r.error.field);
      }
    }
  }
});

test("unknown message type is E_BAD_TYPE", (t) => {
  for (const type of [0, 11, 200, "JOIN"]) {
    const tr = tree(sampleLeave);
    tr.set(1, type);
    rejects(t, raw(tr), "E_BAD_TYPE", "type");
  }
});

test("unknown keys and extra compact-array elements are ignored (forward compatibility)", (t) => {
  for (const msg of [sampleHeartbeat(), sampleAssign, sampleJoinAck, sampleJoinAgent, sampleLeave]) {
    const tr = tree(msg);
    tr.set(7, "a later envelope field");
    tr.set(30, new Map([[0, [1, 2, 3]]]));
    body(tr).set(23, 12345);
    for (const v of body(tr).values()) {
      if (!Array.isArray(v)) continue;
      for (const e of v) {
        if (!Array.isArray(e)) continue;
        // ASSIGN's Peer and ChildLink arrays end with a link algorithm, a heartbeat's LinkState
        // with its suspect flag: extras come after them.
        if (msg === sampleAssign) e.push(LinkAlgorithm.TREE);
        if (msg.type === MsgType.HEARTBEAT && e.length === 3) e.push(0);
        e.push(99, "later");
      }
    }
    const r = decodeControl(raw(tr));
    if (!r.ok) return t.fail(r.error.message);
    t.deepEqual(r.value, msg);
  }
});

test("CBOR outside the v1 subset is E_BAD_CBOR", (t) => {
  const leave = encodeControl(sampleLeave).toString("hex");
  const cases: Record<string, string> = {
    "indefinite map": "bf0001ff",
    "tag 0 date": "a104c074323032362d30352d31375431323a33343a35365a",
    "bignum tag": "a104c24101",
    "simple value 16": "a104f0",
    "bad UTF-8": "a1076280ff",
    "two items": leave + leave,
    "duplicate envelope key": "a20001" + "0001",
    "break code": "ff",
    "reserved ai 28": "1c",
  };
  for (const [name, hex] of Object.entries(cases)) {
    const r = decodeControl(Buffer.from(hex, "hex"));
    t.false(r.ok, name);
    if (!r.ok) t.is(r.error.code, "E_BAD_CBOR", `${name}: ${r.error.message}`);
  }
  let deep = "";
  for (let i = 0; i < 40; i++) deep += "81";
  const r = decodeControl(Buffer.from("a107" + deep + "00", "hex"));
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, "E_BAD_CBOR");
});

// ---------------------------------------------------------------- encoder refusals

test("the control encoder refuses out-of-range fields with EncodeError naming the field", (t) => {
  const hb = sampleHeartbeat();
  const cases: Array<[string, ControlMessage]> = [
    ["sender", { ...sampleLeave, sender: -1 }],
    ["seq", { ...sampleLeave, seq: 2 ** 32 }],
    ["ts", { ...sampleLeave, ts: 1.5 }],
    ["v", { ...sampleLeave, v: 2 }],
    ["type", { ...sampleLeave, type: 11 } as unknown as ControlMessage],
    ["auth", { ...sampleLeave, auth: new Uint8Array(65) }],
    ["body.k", { ...sampleAssign, body: { ...sampleAssign.body, k: 17 } }],
    ["body.parents", { ...sampleAssign, body: { ...sampleAssign.body, k: 2 } }],
    [
      "body.children[1].substreams",
      {
        ...sampleAssign,
        body: {
          ...sampleAssign.body,
          children: [sampleAssign.body.children[0]!, { ...sampleAssign.body.children[1]!, substreams: 16 }],
        },
      },
    ],
    [
      "body.parents[0].address",
      {
        ...sampleAssign,
        body: { ...sampleAssign.body, parents: [{ node: 1, address: "localhost", port: 1 }] },
      },
    ],
    [
      "body.children",
      { ...hb, body: { ...hb.body, children: new Array(MAX_CHILDREN + 1).fill(hb.body.children[0]) } },
    ],
    [
      "body.regionHint",
      { ...sampleJoinAgent, body: { ...sampleJoinAgent.body, regionHint: "€".repeat(67) } },
    ],
    ["body.httpPort", { ...sampleJoinAgent, body: { ...sampleJoinAgent.body, httpPort: 0 } }],
    [
      "body.channels[0].k",
      {
        ...sampleJoinAck,
        body: { ...sampleJoinAck.body, channels: [{ ...sampleJoinAck.body.channels[0]!, k: 0 }] },
      },
    ],
  ];
  for (const [field, msg] of cases) {
    const e = t.throws(() => encodeControl(msg), { instanceOf: EncodeError }, field);
    t.true(e?.message.startsWith(`${field}: `), e?.message);
  }
});

test("measurements are rounded and clamped by the encoder, NaN is refused", (t) => {
  const hb = sampleHeartbeat(1, 2);
  const msg: MessageOf<MsgType.HEARTBEAT> = {
    ...hb,
    body: {
      ...hb.body,
      children: [
        { node: 1, ageMs: 12.6, lastSeq: 5 },
        { node: 2, ageMs: -40, lastSeq: 6 },
        { node: 3, ageMs: 2 ** 40, lastSeq: 7 },
      ],
      resources: { uploadKbps: 1234.4, nat: 0, cacheBytes: 1.5, cpuPct: 250.5, rssMB: Infinity },
    },
  };
  const r = decodeControl(encodeControl(msg));
  if (!r.ok) return t.fail(r.error.message);
  const body = (r.value as MessageOf<MsgType.HEARTBEAT>).body;
  t.deepEqual(
    body.children.map((c) => c.ageMs),
    [13, 0, 2 ** 16 - 1],
  );
  t.deepEqual(body.resources, { uploadKbps: 1234, nat: 0, cacheBytes: 2, cpuPct: 251, rssMB: 2 ** 16 - 1 });
  t.throws(
    () => encodeControl({ ...msg, body: { ...msg.body, children: [{ node: 1, ageMs: NaN, lastSeq: 0 }] } }),
    {
      instanceOf: EncodeError,
      message: /body\.children\[0\]\.ageMs/,
    },
  );
});

test("the data and segment meta encoders refuse what their decoders would", (t) => {
  const h = sampleDataHeader;
  t.notThrows(() => encodeData(h, new Uint8Array(MAX_DATA_PAYLOAD_BYTES)));
  t.throws(() => encodeData(h, new Uint8Array(MAX_DATA_PAYLOAD_BYTES + 1)), {
    instanceOf: EncodeError,
    message: /payload/,
  });
  t.throws(() => encodeData({ ...h, flags: 0x10 }, new Uint8Array(1)), {
    instanceOf: EncodeError,
    message: /^flags/,
  });
  t.throws(() => encodeData({ ...h, substream: MAX_SUBSTREAMS }, new Uint8Array(1)), {
    instanceOf: EncodeError,
    message: /^substream/,
  });
  t.throws(() => encodeData({ ...h, seq: 2 ** 32 }, new Uint8Array(1)), {
    instanceOf: EncodeError,
    message: /^seq/,
  });
  t.throws(() => encodeData({ ...h, fecIndex: 256 }, new Uint8Array(1)), {
    instanceOf: EncodeError,
    message: /^fecIndex/,
  });
  t.throws(() => encodeSegmentMeta({ ...sampleMeta, sha256: new Uint8Array(31) }), {
    instanceOf: EncodeError,
    message: /^sha256/,
  });
  t.throws(() => encodeSegmentMeta({ ...sampleMeta, publishedAt: 2 ** 53 }), {
    instanceOf: EncodeError,
    message: /^publishedAt/,
  });
  t.throws(() => encodeSegmentMeta({ ...sampleMeta, packetCount: 65_536 }), {
    instanceOf: EncodeError,
    message: /^packetCount/,
  });
});
