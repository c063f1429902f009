// Mutation fuzzing of the wire v1 decoders: 100,000 corrupted datagrams each
// (bit flips, truncations, extensions, random bytes, valid prefix + garbage, huge CBOR length
// prefixes, splices), seeded and deterministic. No exception may escape, every failure must
// be a DecodeError with a known code, and whatever decodes must re-encode consistently.
// The handshake's codecs (signed JOIN with epk, cookie and token; COOKIE; signed JOIN_ACK with
// epk) and the tagged envelope (HEARTBEAT) get 100,000 mutants each of their own, and the
// checks of protocol/auth.ts get 100,000 mutated datagrams with genuine and random keys and
// contexts: checkTag and checkSignature never throw, and never accept bytes that are not
// byte for byte what the key's holder sealed. (The counts are `npm test`'s; `npm run test:fast`
// runs the first fifth of the same seeded sequences: test/helpers/test-set.ts.)
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  checkSignature,
  checkTag,
  ed25519Key,
  encodeSigned,
  encodeTagged,
  rawPublicKey,
  x25519Key,
} from "../protocol/auth.js";
import { decodeCbor, encodeCbor } from "../protocol/cbor.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import { DecodeError, type DecodeErrorCode, type DecodeResult, EncodeError } from "../protocol/errors.js";
import { joinAckContext, joinContext, sha256 } from "../protocol/handshake.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import { type ControlMessage, type MessageOf, MsgType } from "../protocol/messages.js";
import { decodeSegmentMeta, encodeSegmentMeta } from "../protocol/segment-meta.js";
import {
  assignBody,
  controlMessage,
  cookieBody,
  dataHeader,
  heartbeatBody,
  joinAckBody,
  joinBody,
  key32,
  leaveBody,
  segmentMeta,
} from "./protocol-arbitraries.js";
import {
  maxAssign,
  sampleAssignTaggedBytes,
  sampleControl,
  sampleControlKey,
  sampleCookieBare,
  sampleCookieMsg,
  sampleDataHeader,
  sampleEndHeader,
  sampleHeartbeat,
  sampleHeartbeatTaggedBytes,
  sampleJoinAckContext,
  sampleJoinAckSignedBytes,
  sampleJoinHandshakeBytes,
  sampleMeta,
  sampleMetaHeader,
  sampleNodeKey,
  samplePayload,
  sampleSessionKeys,
} from "../tools/vectors/samples.js";
import { mulberry32 } from "../seams/prng.js";
import { fuzzIterations } from "./helpers/test-set.js";

const ITERATIONS = fuzzIterations(100_000);
const N = ITERATIONS.toLocaleString("en");
const CODES: ReadonlySet<DecodeErrorCode> = new Set([
  "E_EMPTY",
  "E_TOO_LARGE",
  "E_TRUNCATED",
  "E_BAD_VERSION",
  "E_BAD_TYPE",
  "E_BAD_CBOR",
  "E_BAD_FIELD",
  "E_LIMIT",
  "E_BAD_FLAGS",
  "E_BAD_LENGTH",
]);

const INTERESTING = [
  0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x5f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xd8, 0xd9,
  0xe0, 0xf4, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff,
];
/** Headers that claim far more than a datagram holds. */
const HUGE_PREFIXES = [
  "9bffffffffffffffff",
  "9b0000000100000000",
  "9affffffff",
  "9a7fffffff",
  "99ffff",
  "98ff",
  "bbffffffffffffffff",
  "baffffffff",
  "b9ffff",
  "5bffffffffffffffff",
  "5affffffff",
  "59ffff",
  "7bffffffffffffffff",
  "7a7fffffff",
  "79ffff",
  "1bffffffffffffffff",
  "3bffffffffffffffff",
].map((h) => Buffer.from(h, "hex"));

class Mutator {
  constructor(
    private readonly r: () => number,
    private readonly corpus: readonly Buffer[],
    /** Also edit decoded CBOR trees (control messages): reaches the field checks, not just the scanner. */
    private readonly cbor = false,
  ) {}

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }

  private randomBytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  private pick(): Buffer {
    return this.corpus[this.int(this.corpus.length)]!;
  }

  next(): { kind: string; bytes: Buffer } {
    const base = this.pick();
    const n = base.length;
    if (this.cbor && this.r() < 0.3) return { kind: "tree edit", bytes: this.treeEdit(base) };
    switch (this.int(9)) {
      case 0: {
        const b = Buffer.from(base);
        const flips = 1 + this.int(8);
        for (let i = 0; i < flips && n > 0; i++) b[this.int(n)]! ^= 1 << this.int(8);
        return { kind: "bit flips", bytes: b };
      }
      case 1:
        return { kind: "truncation", bytes: base.subarray(0, this.int(n)) };
      case 2:
        return {
          kind: "extension",
          bytes: Buffer.concat([base, this.randomBytes(1 + this.int(this.r() < 0.1 ? 1300 : 64))]),
        };
      case 3: {
        const len = this.int(this.r() < 0.2 ? 1300 : 80);
        const b = this.randomBytes(len);
        if (len > 0 && this.r() < 0.5) b[0] = base[0]!; // keep the demux byte so the decoder looks further
        return { kind: "random bytes", bytes: b };
      }
      case 4:
        return {
          kind: "prefix + garbage",
          bytes: Buffer.concat([base.subarray(0, this.int(n)), this.randomBytes(1 + this.int(40))]),
        };
      case 5: {
        const at = this.int(n + 1);
        const prefix = HUGE_PREFIXES[this.int(HUGE_PREFIXES.length)]!;
        const keep = this.r() < 0.5 ? at : Math.min(n, at + prefix.length); // insert or overwrite
        return {
          kind: "huge length",
          bytes: Buffer.concat([base.subarray(0, at), prefix, base.subarray(keep)]),
        };
      }
      case 6: {
        const b = Buffer.from(base);
        const sets = 1 + this.int(4);
        for (let i = 0; i < sets && n > 0; i++) b[this.int(n)] = INTERESTING[this.int(INTERESTING.length)]!;
        return { kind: "interesting bytes", bytes: b };
      }
      case 7: {
        const other = this.pick();
        const cut = this.int(n + 1);
        return {
          kind: "splice",
          bytes: Buffer.concat([base.subarray(0, cut), other.subarray(this.int(other.length + 1))]),
        };
      }
      default: {
        const from = this.int(n + 1);
        const to = from + this.int(n - from + 1);
        const at = this.int(n + 1);
        return {
          kind: "repeat",
          bytes: Buffer.concat([base.subarray(0, at), base.subarray(from, to), base.subarray(at)]),
        };
      }
    }
  }

  /** Replace, delete or multiply one value somewhere in the message's CBOR tree. */
  private treeEdit(base: Buffer): Buffer {
    const root = decodeCbor(base);
    const slots: Array<[Map<unknown, unknown> | unknown[], unknown]> = [];
    const walk = (v: unknown): void => {
      if (v instanceof Map) {
        for (const [k, x] of v) {
          slots.push([v, k]);
          walk(x);
        }
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          slots.push([v, i]);
          walk(v[i]);
        }
      }
    };
    walk(root);
    const edits = 1 + this.int(3);
    for (let e = 0; e < edits && slots.length > 0; e++) {
      const [container, key] = slots[this.int(slots.length)]!;
      const old = container instanceof Map ? container.get(key) : container[key as number];
      const roll = this.int(10);
      if (roll === 0 && container instanceof Map) container.delete(key);
      else if (roll === 1 && Array.isArray(container))
        for (let i = this.int(70); i > 0; i--) container.push(old);
      else if (container instanceof Map)
        container.set(roll === 2 ? this.randomValue() : key, this.randomValue());
      else container[key as number] = this.randomValue();
    }
    return encodeCbor(root);
  }

  private randomValue(): unknown {
    switch (this.int(12)) {
      case 0:
        return this.int(24);
      case 1:
        return (
          [0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53][this.int(8)]! +
          this.int(2) -
          1
        );
      case 2:
        return BigInt(2 ** 32 + this.int(1000)) * BigInt(1 + this.int(2 ** 20));
      case 3:
        return -this.int(2 ** 33);
      case 4:
        return this.r() * 1e6;
      case 5:
        return "é".repeat(this.int(120));
      case 6:
        return this.randomBytes([0, 4, 16, 32, 64, 65][this.int(6)]!);
      case 7:
        return null;
      case 8:
        return Array.from({ length: this.int(20) }, () => this.int(300));
      case 9:
        return new Map([[this.int(10), this.int(10)]]);
      case 10:
        return this.r() < 0.5;
      default:
        return undefined;
    }
  }
}

interface Tally {
  ok: number;
  codes: Record<string, number>;
  kinds: Record<string, number>;
}

/**
 * Feed ITERATIONS mutants to `decode`; `recheck` gets every successful decode and must throw
 * if re-encoding disagrees. Returns the tally; fails the test on any escaped exception.
 */
function fuzz<T>(
  t: ExecutionContext,
  seed: number,
  corpus: Buffer[],
  decode: (b: Uint8Array) => DecodeResult<T>,
  recheck: (value: T, input: Buffer) => void,
  cbor = false,
): Tally {
  const mutator = new Mutator(mulberry32(seed), corpus, cbor);
  const tally: Tally = { ok: 0, codes: {}, kinds: {} };
  let escaped = 0;
  let notDecodeError = 0;
  let firstProblem = "";
  for (let i = 0; i < ITERATIONS; i++) {
    const { kind, bytes } = mutator.next();
    tally.kinds[kind] = (tally.kinds[kind] ?? 0) + 1;
    let r: DecodeResult<T>;
    try {
      r = decode(bytes);
    } catch (e) {
      escaped++;
      firstProblem ||= `${kind} ${bytes.toString("hex")}: threw ${String(e)}`;
      continue;
    }
    if (r.ok) {
      tally.ok++;
      try {
        recheck(r.value, bytes);
      } catch (e) {
        notDecodeError++;
        firstProblem ||= `${kind} ${bytes.toString("hex")}: re-encode ${String(e)}`;
      }
    } else if (!(r.error instanceof DecodeError) || !CODES.has(r.error.code)) {
      notDecodeError++;
      firstProblem ||= `${kind} ${bytes.toString("hex")}: error ${String(r.error)}`;
    } else {
      tally.codes[r.error.code] = (tally.codes[r.error.code] ?? 0) + 1;
      // The subset scan (cbor.ts) must catch everything cbor-x would choke on, and the
      // field checks everything else: the codec's last-resort catch stays unused.
      if (/^(cbor|unexpected): /.test(r.error.message)) {
        notDecodeError++;
        firstProblem ||= `${kind} ${bytes.toString("hex")}: fell through to ${r.error.message}`;
      }
    }
  }
  t.is(escaped, 0, firstProblem);
  t.is(notDecodeError, 0, firstProblem);
  const errors = Object.values(tally.codes).reduce((a, b) => a + b, 0);
  t.is(tally.ok + errors, ITERATIONS);
  t.log(`${ITERATIONS} mutants: ${tally.ok} decoded, ${errors} DecodeErrors ${JSON.stringify(tally.codes)}`);
  return tally;
}

/** Whatever decodes re-encodes canonically, and that encoding is stable. */
function recheckControl(value: ControlMessage, input: Buffer): void {
  let once: Buffer;
  try {
    once = encodeControl(value);
  } catch (e) {
    // float32 integers can grow by 4 bytes as 8-byte integers: tolerated only at the very edge
    if (e instanceof EncodeError && input.length > MAX_CONTROL_BYTES - 8) return;
    throw e;
  }
  const again = decodeControl(once);
  if (!again.ok) throw again.error;
  if (!encodeControl(again.value).equals(once)) throw new Error("encoding not stable");
}

test(`decodeControl: ${N} mutants, no exception escapes, every failure is a DecodeError`, (t) => {
  const corpus = [
    ...sampleControl.map((m) => encodeControl(m)),
    ...fc.sample(controlMessage, { seed: 11, numRuns: 150 }).map((m) => encodeControl(m)),
  ];
  const big = maxAssign();
  big.body.parents = big.body.parents.slice(0, 1);
  corpus.push(encodeControl({ ...big, body: { ...big.body, k: 16 } }));
  const tally = fuzz(t, 0xc0ffee, corpus, decodeControl, recheckControl, true);
  t.true(
    (tally.codes.E_BAD_CBOR ?? 0) > 0 &&
      (tally.codes.E_TRUNCATED ?? 0) > 0 &&
      (tally.codes.E_BAD_FIELD ?? 0) > 0,
  );
});

// ---------------------------------------------------------------- the handshake and the tagged envelope

/** A fixed signer for the generated corpora (the samples' keys sign the sample datagrams). */
const corpusSigner = sampleNodeKey;

function envelopeOf<T extends MsgType>(type: T, body: MessageOf<T>["body"], i: number): ControlMessage {
  return {
    v: WIRE_VERSION,
    type,
    sender: i * 7_919,
    seq: i,
    ts: 1_779_021_296_789 + i,
    body,
  } as ControlMessage;
}

/** Sealed datagrams of generated messages; those that do not fit one datagram are left out. */
function sealAll(msgs: ControlMessage[], seal: (m: ControlMessage) => Buffer): Buffer[] {
  return msgs.flatMap((m) => {
    try {
      return [seal(m)];
    } catch (e) {
      if (e instanceof EncodeError) return [];
      throw e;
    }
  });
}

/** JOINs as a node sends them in a handshake: epk, a cookie (20 bytes, as control makes them), maybe a token; signed. */
function handshakeJoins(seed: number, n: number): Buffer[] {
  const bodies = fc.sample(fc.tuple(joinBody, key32, fc.uint8Array({ minLength: 20, maxLength: 20 })), {
    seed,
    numRuns: n,
  });
  const msgs = bodies.map(([b, epk, cookie], i) =>
    envelopeOf(MsgType.JOIN, { ...b, key: corpusSigner.publicKey, epk, cookie }, i),
  );
  const context = joinContext(sampleControlKey.publicKey);
  return sealAll(msgs, (m) => encodeSigned(m, corpusSigner.privateKey, context));
}

function signedJoinAcks(seed: number, n: number): Buffer[] {
  const bodies = fc.sample(fc.tuple(joinAckBody, key32, key32), { seed, numRuns: n });
  return sealAll(
    bodies.map(([b, epk], i) => envelopeOf(MsgType.JOIN_ACK, { ...b, epk }, i)),
    (m) => encodeSigned(m, sampleControlKey.privateKey, joinAckContext(sha256(Buffer.of(m.seq & 0xff)))),
  );
}

function cookies(seed: number, n: number): Buffer[] {
  return fc
    .sample(cookieBody, { seed, numRuns: n })
    .map((b, i) => encodeControl(envelopeOf(MsgType.COOKIE, b, i)));
}

/** Session messages (HEARTBEAT, LEAVE, ASSIGN) tagged with `key`. */
function taggedSession(seed: number, n: number, key: Uint8Array, types = [MsgType.HEARTBEAT]): Buffer[] {
  const arbs = {
    [MsgType.HEARTBEAT]: heartbeatBody,
    [MsgType.LEAVE]: leaveBody,
    [MsgType.ASSIGN]: assignBody,
  } as Record<number, fc.Arbitrary<unknown>>;
  const msgs = types.flatMap((type) =>
    fc
      .sample(arbs[type]!, { seed: seed + type, numRuns: n })
      .map((b, i) => envelopeOf(type, b as MessageOf<MsgType.HEARTBEAT>["body"], i)),
  );
  return sealAll(msgs, (m) => encodeTagged(m, key));
}

test(`decodeControl, handshake JOIN (epk, cookie, token, signed): ${N} mutants, typed errors, no throw`, (t) => {
  const corpus = [sampleJoinHandshakeBytes, ...handshakeJoins(21, 60)];
  const tally = fuzz(t, 0x101a, corpus, decodeControl, recheckControl, true);
  t.true(tally.ok > 0 && (tally.codes.E_BAD_FIELD ?? 0) > 0 && (tally.codes.E_LIMIT ?? 0) > 0);
});

test(`decodeControl, COOKIE: ${N} mutants, typed errors, no throw`, (t) => {
  const corpus = [encodeControl(sampleCookieMsg), encodeControl(sampleCookieBare), ...cookies(22, 60)];
  const tally = fuzz(t, 0xc00c1e, corpus, decodeControl, recheckControl, true);
  t.true(tally.ok > 0 && (tally.codes.E_BAD_FIELD ?? 0) > 0 && (tally.codes.E_TRUNCATED ?? 0) > 0);
});

test(`decodeControl, signed JOIN_ACK with epk: ${N} mutants, typed errors, no throw`, (t) => {
  const corpus = [sampleJoinAckSignedBytes, ...signedJoinAcks(23, 60)];
  const tally = fuzz(t, 0xac4, corpus, decodeControl, recheckControl, true);
  t.true(tally.ok > 0 && (tally.codes.E_BAD_FIELD ?? 0) > 0);
});

test(`decodeControl, tagged HEARTBEAT (the tagged envelope): ${N} mutants, typed errors, no throw`, (t) => {
  const key = sampleSessionKeys.nodeToControl;
  const corpus = [
    sampleHeartbeatTaggedBytes,
    encodeTagged(sampleHeartbeat(16, 40), key),
    ...taggedSession(24, 60, key),
  ];
  const tally = fuzz(t, 0x7a6, corpus, decodeControl, recheckControl, true);
  t.true(tally.ok > 0 && (tally.codes.E_BAD_FIELD ?? 0) > 0 && (tally.codes.E_LIMIT ?? 0) > 0);
});

// ---------------------------------------------------------------- checkTag and checkSignature

interface CheckTally {
  accepted: number;
  /** Mutants that came out byte for byte equal to a genuine datagram (and the key was its own). */
  genuineAccepted: number;
  keys: Record<string, number>;
}

/**
 * Feeds ITERATIONS mutants of `genuine` (datagram hex -> the credentials that sealed it) to
 * `check` with credentials from `credentials`; fails the test when a check throws or accepts a
 * mutant that is not genuine for the credentials it was given. After every 50 mutants, one of
 * `positives` (a genuine datagram with its own credentials) must be accepted: the harness itself
 * does not make every check fail.
 */
function fuzzCheck<C extends { id: string }>(
  t: ExecutionContext,
  seed: number,
  genuine: Map<string, Set<string>>,
  positives: Array<{ bytes: Buffer; cred: C }>,
  credentials: (r: () => number) => { kind: string; cred: C },
  check: (bytes: Buffer, cred: C) => boolean,
): CheckTally {
  const r = mulberry32(seed);
  const corpus = [...genuine.keys()].map((h) => Buffer.from(h, "hex"));
  const mutator = new Mutator(mulberry32(seed ^ 0x5eed), corpus, true);
  const tally: CheckTally = { accepted: 0, genuineAccepted: 0, keys: {} };
  let threw = 0;
  let forged = 0;
  let positivesRefused = 0;
  let firstProblem = "";
  t.true(positives.length > 0);
  for (let i = 0; i < ITERATIONS; i++) {
    if (i % 50 === 0) {
      const p = positives[(i / 50) % positives.length]!;
      if (!check(p.bytes, p.cred)) {
        positivesRefused++;
        firstProblem ||= `genuine ${p.bytes.toString("hex")} refused with ${p.cred.id}`;
      }
    }
    const { kind, bytes } = mutator.next();
    const { kind: keyKind, cred } = credentials(r);
    tally.keys[keyKind] = (tally.keys[keyKind] ?? 0) + 1;
    let ok: boolean;
    try {
      ok = check(bytes, cred);
    } catch (e) {
      threw++;
      firstProblem ||= `${kind} with ${keyKind} ${bytes.toString("hex")}: threw ${String(e)}`;
      continue;
    }
    if (!ok) continue;
    tally.accepted++;
    if (genuine.get(bytes.toString("hex"))?.has(cred.id) === true) tally.genuineAccepted++;
    else {
      forged++;
      firstProblem ||= `${kind} with ${keyKind} accepted: ${bytes.toString("hex")}`;
    }
  }
  t.is(threw, 0, firstProblem);
  t.is(forged, 0, firstProblem);
  t.is(positivesRefused, 0, firstProblem);
  t.log(
    `${ITERATIONS} mutants: ${tally.accepted} accepted (all byte-identical to genuine datagrams, with their own key), ` +
      `keys ${JSON.stringify(tally.keys)}; ${ITERATIONS / 50} genuine datagrams interleaved, all accepted`,
  );
  return tally;
}

/** Bytes `b` with one random bit flipped. */
function flipOne(b: Uint8Array, r: () => number): Buffer {
  const out = Buffer.from(b);
  if (out.length > 0) out[Math.floor(r() * out.length)]! ^= 1 << Math.floor(r() * 8);
  return out;
}

function randomBytesOf(n: number, r: () => number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test(`checkTag: ${N} mutated tagged datagrams and random keys: never throws, accepts only genuine bytes with their own key`, (t) => {
  const sessionKeys = [
    sampleSessionKeys.nodeToControl,
    sampleSessionKeys.controlToNode,
    new Uint8Array(32).fill(0x33),
  ];
  const genuine = new Map<string, Set<string>>();
  const add = (bytes: Buffer, key: Uint8Array): void => {
    const h = hex(bytes);
    genuine.set(h, (genuine.get(h) ?? new Set()).add(hex(key)));
  };
  add(sampleHeartbeatTaggedBytes, sampleSessionKeys.nodeToControl);
  add(sampleAssignTaggedBytes, sampleSessionKeys.controlToNode);
  for (const [i, key] of sessionKeys.entries())
    for (const b of taggedSession(30 + i, 12, key, [MsgType.HEARTBEAT, MsgType.LEAVE, MsgType.ASSIGN]))
      add(b, key);
  const positives = [...genuine].flatMap(([h, keys]) =>
    [...keys].map((k) => ({ bytes: Buffer.from(h, "hex"), cred: { id: k, key: Buffer.from(k, "hex") } })),
  );
  const tally = fuzzCheck(
    t,
    0x7a9,
    genuine,
    positives,
    (r) => {
      const genuineKey = sessionKeys[Math.floor(r() * sessionKeys.length)]!;
      const roll = r();
      const [kind, key] =
        roll < 0.6
          ? ["genuine key", genuineKey]
          : roll < 0.75
            ? ["genuine key, one bit flipped", flipOne(genuineKey, r)]
            : roll < 0.8
              ? ["empty key", new Uint8Array(0)]
              : ["random key", randomBytesOf([1, 16, 31, 32, 33, 64, 100][Math.floor(r() * 7)]!, r)];
      return { kind, cred: { id: hex(key), key } };
    },
    (bytes, c) => checkTag(bytes, c.key),
  );
  t.log(`${tally.genuineAccepted} mutants came out byte-identical to a genuine datagram, with its own key`);
});

test(`checkSignature: ${N} mutated signed datagrams, random keys and contexts: never throws, accepts only genuine bytes`, (t) => {
  interface Signer {
    raw: Uint8Array;
    key: KeyObject;
  }
  const signerOf = (raw: Uint8Array): Signer => ({ raw, key: ed25519Key(raw)! });
  const node = signerOf(sampleNodeKey.publicKey);
  const control = signerOf(sampleControlKey.publicKey);
  const joinCtx = joinContext(sampleControlKey.publicKey);
  const genuine = new Map<string, Set<string>>();
  const contexts: Uint8Array[] = [joinCtx, sampleJoinAckContext];
  const id = (s: Signer, context: Uint8Array): string => `${hex(s.raw)}/${hex(context)}`;
  const add = (bytes: Buffer, s: Signer, context: Uint8Array): void => {
    const h = hex(bytes);
    genuine.set(h, (genuine.get(h) ?? new Set()).add(id(s, context)));
  };
  add(sampleJoinHandshakeBytes, node, joinCtx);
  add(sampleJoinAckSignedBytes, control, sampleJoinAckContext);
  for (const b of handshakeJoins(40, 20)) add(b, node, joinCtx);
  for (const [i, b] of signedJoinAcks(41, 20).entries()) {
    // signedJoinAcks signs over joinAckContext(sha256(seq & 0xff)), seq = i
    const context = joinAckContext(sha256(Buffer.of(i & 0xff)));
    contexts.push(context);
    add(b, control, context);
  }
  const positives = [...genuine].flatMap(([h, ids]) =>
    [...ids].map((i) => {
      const [k, c] = i.split("/") as [string, string];
      const key = ed25519Key(Buffer.from(k, "hex"))!;
      return { bytes: Buffer.from(h, "hex"), cred: { id: i, key, context: Buffer.from(c, "hex") } };
    }),
  );
  const strangers = Array.from({ length: 4 }, () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    return signerOf(rawPublicKey(privateKey));
  });
  const x25519 = x25519Key(sampleNodeKey.publicKey)!;
  const randomSigner = (r: () => number): Signer => {
    const raw = randomBytesOf(32, r);
    const key = ed25519Key(raw);
    return key === undefined ? { raw: new Uint8Array(2), key: x25519 } : { raw, key };
  };
  const tally = fuzzCheck(
    t,
    0x5167,
    genuine,
    positives,
    (r) => {
      const roll = r();
      // genuine signers; other Ed25519 keys; 32 random bytes (node:crypto imports any 32 bytes as
      // an Ed25519 key, valid point or not); an X25519 key (verify throws inside: must be false)
      const [keyKind, signer]: [string, Signer] =
        roll < 0.6
          ? ["genuine key", r() < 0.5 ? node : control]
          : roll < 0.75
            ? ["stranger", strangers[Math.floor(r() * strangers.length)]!]
            : roll < 0.9
              ? ["random 32 bytes", randomSigner(r)]
              : ["X25519 key", { raw: new Uint8Array(1), key: x25519 }];
      const ctxRoll = r();
      const genuineCtx = contexts[Math.floor(r() * contexts.length)]!;
      const context =
        ctxRoll < 0.7
          ? genuineCtx
          : ctxRoll < 0.85
            ? flipOne(genuineCtx, r)
            : ctxRoll < 0.9
              ? new Uint8Array(0)
              : randomBytesOf(Math.floor(r() * 80), r);
      const kind = keyKind + (ctxRoll < 0.7 ? ", a genuine context" : ", another context");
      return { kind, cred: { id: id(signer, context), key: signer.key, context } };
    },
    (bytes, c) => checkSignature(bytes, c.key, c.context),
  );
  t.log(
    `${tally.genuineAccepted} mutants came out byte-identical to a genuine datagram, with its own key and context`,
  );
});

test(`decodeData: ${N} mutants, no exception escapes, every failure is a DecodeError`, (t) => {
  const corpus = [
    encodeData(sampleDataHeader, samplePayload(16)),
    encodeData(sampleEndHeader, new Uint8Array(0)),
    encodeData(sampleMetaHeader, encodeSegmentMeta(sampleMeta)),
    encodeData(sampleDataHeader, samplePayload(1172)),
    ...fc
      .sample(fc.tuple(dataHeader, fc.nat({ max: 300 })), { seed: 12, numRuns: 50 })
      .map(([h, n]) => encodeData(h, samplePayload(n))),
  ];
  const tally = fuzz(t, 0xda7a, corpus, decodeData, (p, input) => {
    const { payload, ...header } = p;
    if (!encodeData(header, payload).equals(input))
      throw new Error("data packet does not re-encode to its bytes");
  });
  t.true(tally.ok > 0 && (tally.codes.E_BAD_LENGTH ?? 0) > 0 && (tally.codes.E_BAD_FLAGS ?? 0) > 0);
});

test(`decodeSegmentMeta: ${N} mutants, no exception escapes, every failure is a DecodeError`, (t) => {
  const corpus = [
    encodeSegmentMeta(sampleMeta),
    ...fc.sample(segmentMeta, { seed: 13, numRuns: 50 }).map((m) => encodeSegmentMeta(m)),
  ];
  const tally = fuzz(t, 0x5e6, corpus, decodeSegmentMeta, (m, input) => {
    if (!encodeSegmentMeta(m).equals(input)) throw new Error("segment meta does not re-encode to its bytes");
  });
  t.true(tally.ok > 0 && (tally.codes.E_TRUNCATED ?? 0) > 0 && (tally.codes.E_BAD_FLAGS ?? 0) > 0);
});
