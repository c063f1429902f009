// Golden vectors of wire v1 (test/vectors/*.json, written by scripts/gen-wire-vectors.ts):
// every valid vector must decode to its value and encode back to exactly its bytes, and
// every invalid one must fail with its code and field. A change to any encoding fails here.
// An authenticated vector (a signed JOIN or JOIN_ACK, a tagged HEARTBEAT or ASSIGN) must also
// verify with the fixed key it names, and fail with another key, another context or a flipped
// bit; its key must be the one tools/vectors/samples.ts derives (the handshake's KDF is pinned).
import test from "ava";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSignature, checkTag, ed25519Key } from "../protocol/auth.js";
import { deriveSessionKeys, joinAckContext, joinContext, sha256 } from "../protocol/handshake.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import { DecodeError, type DecodeResult } from "../protocol/errors.js";
import type { ControlMessage, DataPacket, SegmentMeta } from "../protocol/messages.js";
import { decodeSegmentMeta, encodeSegmentMeta } from "../protocol/segment-meta.js";
import { decodeNack, encodeNack, type Nack } from "../protocol/nack-codec.js";
import {
  sampleControlEphemeral,
  sampleControlKey,
  sampleJoinHandshakeBytes,
  sampleNodeEphemeral,
  sampleNodeKey,
  sampleOriginKey,
  sampleSessionKeys,
} from "../tools/vectors/samples.js";
import { type AuthCheck, VECTOR_FILES, type VectorFile, fromJson } from "../tools/vectors/vector-json.js";

const dir = join(import.meta.dirname, "vectors");

function decode(v: VectorFile, bytes: Buffer): DecodeResult<unknown> {
  switch (v.decoder) {
    case "control":
      return decodeControl(bytes);
    case "data": {
      const r = decodeData(bytes);
      // the payload is a view into `bytes` (a Buffer): compare it as plain bytes
      return r.ok ? { ok: true, value: { ...r.value, payload: new Uint8Array(r.value.payload) } } : r;
    }
    case "segment-meta":
      return decodeSegmentMeta(bytes);
    case "nack": {
      const r = decodeData(bytes);
      return r.ok ? decodeNack(r.value) : r;
    }
  }
}

function encode(v: VectorFile, value: unknown): Buffer {
  switch (v.decoder) {
    case "control":
      return encodeControl(value as ControlMessage);
    case "data": {
      const { payload, ...header } = value as DataPacket;
      return encodeData(header, payload);
    }
    case "segment-meta":
      return encodeSegmentMeta(value as SegmentMeta);
    case "nack": {
      const n = value as Nack;
      return encodeNack(n.channel, n.seqs);
    }
  }
}

for (const file of VECTOR_FILES) {
  const vectors = JSON.parse(readFileSync(join(dir, file), "utf8")) as VectorFile;

  for (const c of vectors.valid) {
    test(`${vectors.kind} vector "${c.name}" decodes to its value (${c.hex.length / 2} bytes)`, (t) => {
      const r = decode(vectors, Buffer.from(c.hex, "hex"));
      if (!r.ok) return t.fail(`${r.error.code}: ${r.error.message}`);
      t.deepEqual(r.value, fromJson(c.value));
    });

    test(`${vectors.kind} vector "${c.name}" encodes to its bytes`, (t) => {
      t.is(encode(vectors, fromJson(c.value)).toString("hex"), c.hex);
    });
  }

  for (const c of vectors.valid) {
    const auth = c.auth;
    if (auth === undefined) continue;
    test(`${vectors.kind} vector "${c.name}": its ${auth.scheme} verifies with the fixed key, not with another`, (t) => {
      const bytes = Buffer.from(c.hex, "hex");
      t.true(authentic(auth, bytes), "genuine bytes, fixed key");
      // another key
      const other =
        auth.scheme === "tag" ? { ...auth, key: flipHex(auth.key, 0) } : { ...auth, publicKey: otherKey };
      t.false(authentic(other, bytes), "another key");
      if (auth.scheme === "signature")
        t.false(authentic({ ...auth, context: flipHex(auth.context, 20) }, bytes));
      // a flipped bit in the envelope, in the body, in the tag or signature
      for (const at of [1, bytes.length >> 1, bytes.length - 1]) {
        const bad = Buffer.from(bytes);
        bad[at]! ^= 0x01;
        t.false(authentic(auth, bad), `bit 0 of byte ${at} flipped`);
      }
      t.false(authentic(auth, bytes.subarray(0, -1)), "one byte short");
      t.false(authentic(auth, Buffer.concat([bytes, Buffer.of(0)])), "one byte more");
    });
  }

  for (const c of vectors.invalid) {
    test(`${vectors.kind} invalid vector "${c.name}" fails with ${c.code}`, (t) => {
      const r = decode(vectors, Buffer.from(c.hex, "hex"));
      if (r.ok) return t.fail("decoded");
      t.true(r.error instanceof DecodeError);
      t.is(r.error.code as string, c.code, r.error.message);
      if (c.field !== undefined) t.is(r.error.field, c.field, r.error.message);
    });
  }
}

/** A fixed Ed25519 key that signed no control message (the samples' origin key signs METAs). */
const otherKey = hexOf(sampleOriginKey.publicKey);

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** `hex` with bit 0 of byte `at` flipped. */
function flipHex(hex: string, at: number): string {
  const b = Buffer.from(hex, "hex");
  b[at]! ^= 0x01;
  return b.toString("hex");
}

function authentic(auth: AuthCheck, bytes: Buffer): boolean {
  if (auth.scheme === "tag") return checkTag(bytes, Buffer.from(auth.key, "hex"));
  const key = ed25519Key(Buffer.from(auth.publicKey, "hex"));
  if (key === undefined) throw new Error(`not an Ed25519 key: ${auth.publicKey}`);
  return checkSignature(bytes, key, Buffer.from(auth.context, "hex"));
}

function authCases(): Array<{ file: string; name: string; auth: AuthCheck }> {
  return VECTOR_FILES.flatMap((file) => {
    const v = JSON.parse(readFileSync(join(dir, file), "utf8")) as VectorFile;
    return v.valid.flatMap((c) => (c.auth === undefined ? [] : [{ file, name: c.name, auth: c.auth }]));
  });
}

test("the authenticated vectors use the samples' fixed keys, and both ends of the sample handshake derive them", (t) => {
  const cases = authCases();
  const by = (file: string): AuthCheck => {
    const c = cases.find((x) => x.file === file);
    if (c === undefined) throw new Error(`${file} has no authenticated vector`);
    return c.auth;
  };
  t.deepEqual(cases.map((c) => c.file).sort(), [
    "assign.json",
    "heartbeat.json",
    "join-ack.json",
    "join.json",
  ]);
  const joinAuth = by("join.json");
  const ack = by("join-ack.json");
  const hb = by("heartbeat.json");
  const assign = by("assign.json");
  if (joinAuth.scheme !== "signature" || ack.scheme !== "signature")
    return t.fail("JOIN and JOIN_ACK are signed");
  if (hb.scheme !== "tag" || assign.scheme !== "tag") return t.fail("HEARTBEAT and ASSIGN are tagged");
  t.is(joinAuth.publicKey, hexOf(sampleNodeKey.publicKey));
  t.is(joinAuth.context, hexOf(joinContext(sampleControlKey.publicKey)));
  t.is(ack.publicKey, hexOf(sampleControlKey.publicKey));
  // the JOIN_ACK is signed over the hash of the JOIN vector's own bytes
  const joinVector = (JSON.parse(readFileSync(join(dir, "join.json"), "utf8")) as VectorFile).valid.find(
    (c) => c.auth !== undefined,
  );
  t.is(joinVector?.hex, hexOf(sampleJoinHandshakeBytes));
  t.is(ack.context, hexOf(joinAckContext(sha256(sampleJoinHandshakeBytes))));
  const transcript = {
    nodeKey: sampleNodeKey.publicKey,
    nodeEpk: sampleNodeEphemeral.publicKey,
    controlEpk: sampleControlEphemeral.publicKey,
  };
  const atNode = deriveSessionKeys(
    sampleNodeEphemeral.privateKey,
    sampleControlEphemeral.publicKey,
    transcript,
  );
  const atControl = deriveSessionKeys(
    sampleControlEphemeral.privateKey,
    sampleNodeEphemeral.publicKey,
    transcript,
  );
  if (atNode === undefined || atControl === undefined) return t.fail("no session keys");
  for (const keys of [atNode, atControl, sampleSessionKeys]) {
    t.is(hb.key, hexOf(keys.nodeToControl));
    t.is(assign.key, hexOf(keys.controlToNode));
  }
});

test("every vector file is present and non-empty", (t) => {
  for (const file of VECTOR_FILES) {
    const v = JSON.parse(readFileSync(join(dir, file), "utf8")) as VectorFile;
    t.true(v.valid.length > 0, file);
    t.true(v.invalid.length > 0, file);
  }
});
