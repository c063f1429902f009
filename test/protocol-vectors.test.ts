// Golden vectors of wire v1 (test/vectors/*.json, written by scripts/gen-wire-vectors.ts):
// every valid vector must decode to its value and encode back to exactly its bytes, and
// every invalid one must fail with its code and field. A change to any encoding fails here.
import test from "ava";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { decodeData, encodeData } from "../protocol/data-codec.js";
import { DecodeError, type DecodeResult } from "../protocol/errors.js";
import type { ControlMessage, DataPacket, SegmentMeta } from "../protocol/messages.js";
import { decodeSegmentMeta, encodeSegmentMeta } from "../protocol/segment-meta.js";
import { decodeNack, encodeNack, type Nack } from "../protocol/nack-codec.js";
import { VECTOR_FILES, type VectorFile, fromJson } from "./vectors/vector-json.js";

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

test("every vector file is present and non-empty", (t) => {
  for (const file of VECTOR_FILES) {
    const v = JSON.parse(readFileSync(join(dir, file), "utf8")) as VectorFile;
    t.true(v.valid.length > 0, file);
    t.true(v.invalid.length > 0, file);
  }
});
