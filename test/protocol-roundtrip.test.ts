// Round-trip properties of wire v1: decode(encode(x)) gives x back for every control
// message type, data packets and segment meta; plus the address and demux rules.
import test from "ava";
import fc from "fast-check";
import { generateKeyPairSync } from "node:crypto";
import { SocketAddress } from "node:net";
import {
  SIGNATURE_BYTES,
  TAG_BYTES,
  checkSignature,
  checkTag,
  encodeSigned,
  encodeTagged,
} from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { classifyDatagram, decodeData, encodeData } from "../protocol/data-codec.js";
import { bytesToIp, ipToBytes } from "../protocol/ip-bytes.js";
import {
  DATA_HEADER_BYTES,
  MAX_CONTROL_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
  SEGMENT_META_BYTES,
} from "../protocol/limits.js";
import { decodeSegmentMeta, encodeSegmentMeta } from "../protocol/segment-meta.js";
import { controlByType, controlMessage, dataHeader, segmentMeta } from "./protocol-arbitraries.js";
import { sampleControl } from "../tools/vectors/samples.js";

const SEED = 0x7ec4;

for (const [name, arb] of Object.entries(controlByType)) {
  test(`${name} round-trips through encodeControl/decodeControl`, (t) => {
    fc.assert(
      fc.property(arb, (msg) => {
        const bytes = encodeControl(msg);
        if (bytes.length > MAX_CONTROL_BYTES) return false;
        const r = decodeControl(bytes);
        if (!r.ok) throw r.error;
        t.deepEqual(r.value, msg);
        return true;
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
}

test("tagged and signed messages decode to the message with its tag or signature, the last entry, and check", (t) => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  fc.assert(
    fc.property(
      controlMessage,
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 40 }),
      (msg, key, context) => {
        const tagged = encodeTagged(msg, key);
        const r = decodeControl(tagged);
        if (!r.ok) throw r.error;
        t.deepEqual(r.value, { ...msg, auth: new Uint8Array(tagged.subarray(-TAG_BYTES)) });
        t.deepEqual([...tagged.subarray(-TAG_BYTES - 2, -TAG_BYTES)], [0x06, 0x50]);
        t.true(checkTag(tagged, key));
        t.true(encodeControl(r.value).equals(tagged), "the decoded message encodes to the same bytes");
        const signed = encodeSigned(msg, privateKey, context);
        const s = decodeControl(signed);
        if (!s.ok) throw s.error;
        t.deepEqual(s.value, { ...msg, auth: new Uint8Array(signed.subarray(-SIGNATURE_BYTES)) });
        t.deepEqual([...signed.subarray(-SIGNATURE_BYTES - 3, -SIGNATURE_BYTES)], [0x06, 0x58, 0x40]);
        t.true(checkSignature(signed, publicKey, context));
        t.false(checkTag(signed, key));
        t.false(checkSignature(tagged, publicKey, context));
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
});

test("control decoding also accepts a Uint8Array that is not a Buffer, at an offset", (t) => {
  fc.assert(
    fc.property(controlMessage, fc.nat({ max: 7 }), (msg, pad) => {
      const bytes = encodeControl(msg);
      const backing = new Uint8Array(pad + bytes.length + 3);
      backing.set(bytes, pad);
      const r = decodeControl(backing.subarray(pad, pad + bytes.length));
      if (!r.ok) throw r.error;
      t.deepEqual(r.value, msg);
    }),
    { seed: SEED, numRuns: 200 },
  );
});

test("data packets round-trip, payload as a view into the datagram", (t) => {
  fc.assert(
    fc.property(dataHeader, fc.uint8Array({ maxLength: MAX_DATA_PAYLOAD_BYTES }), (h, payload) => {
      const bytes = encodeData(h, payload);
      t.is(bytes.length, DATA_HEADER_BYTES + payload.length);
      const r = decodeData(bytes);
      if (!r.ok) throw r.error;
      const { payload: got, ...header } = r.value;
      t.deepEqual(header, h);
      t.deepEqual(new Uint8Array(got), payload);
      t.is(got.buffer, bytes.buffer, "payload is a view, not a copy");
      t.is(got.byteOffset, bytes.byteOffset + DATA_HEADER_BYTES);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test("segment meta round-trips in exactly SEGMENT_META_BYTES", (t) => {
  fc.assert(
    fc.property(segmentMeta, (m) => {
      const bytes = encodeSegmentMeta(m);
      t.is(bytes.length, SEGMENT_META_BYTES);
      const r = decodeSegmentMeta(bytes);
      if (!r.ok) throw r.error;
      t.deepEqual(r.value, m);
      t.not(r.value.sha256.buffer, bytes.buffer, "sha256 is a copy");
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test("IPv6 literals: bytes and text agree with node's own formatting (inet_ntop)", (t) => {
  fc.assert(
    fc.property(fc.ipV6(), (a) => {
      const canonical = new SocketAddress({ address: a, family: "ipv6" }).address;
      const bytes = ipToBytes(a, "address");
      t.is(bytes.length, 16);
      t.is(bytesToIp(bytes, "address"), canonical);
      t.deepEqual(ipToBytes(canonical, "address"), bytes);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      t.deepEqual(ipToBytes(bytesToIp(b, "address"), "address"), b);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test("IPv4 literals round-trip; zone ids and names are refused", (t) => {
  fc.assert(
    fc.property(fc.ipV4(), (a) => t.is(bytesToIp(ipToBytes(a, "address"), "address"), a)),
    { seed: SEED, numRuns: 500 },
  );
  for (const bad of ["fe80::1%eth0", "localhost", "127.0.0.01", "1.2.3", "::g", ""]) {
    t.throws(() => ipToBytes(bad, "address"), undefined, bad);
  }
});

test("ipToBytes: a literal asked again (its bytes remembered) gives the same bytes, past the cache's bound too", (t) => {
  // 40,000 distinct literals (over the cache's 16,384), each asked twice, then the first ones again.
  const v4 = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const want = (i: number): number[] => [10, (i >> 16) & 255, (i >> 8) & 255, i & 255];
  let wrong = 0;
  for (let round = 0; round < 2; round++)
    for (let i = 0; i < 40_000; i++) {
      const a = ipToBytes(v4(i), "address");
      const b = ipToBytes(v4(i), "address");
      if (a.join(".") !== want(i).join(".") || b.join(".") !== a.join(".")) wrong++;
    }
  t.is(wrong, 0);
  // A refused literal stays refused however often it is asked.
  for (let i = 0; i < 3; i++) t.throws(() => ipToBytes("127.0.0.01", "address"));
  t.deepEqual(
    [...ipToBytes("::ffff:1.2.3.4", "address")],
    [...new Array<number>(10).fill(0), 255, 255, 1, 2, 3, 4],
  );
});

test("classifyDatagram: 0x01 is data, CBOR maps are control, anything else unknown", (t) => {
  for (const msg of sampleControl) t.is(classifyDatagram(encodeControl(msg)), "control");
  t.is(classifyDatagram(encodeData({ ...zeroHeader }, new Uint8Array(3))), "data");
  for (let b = 0; b < 256; b++) {
    const expected = b === 0x01 ? "data" : b >= 0xa0 && b <= 0xbf ? "control" : "unknown";
    t.is(classifyDatagram(Uint8Array.of(b, 0, 0)), expected, `first byte 0x${b.toString(16)}`);
  }
  t.is(classifyDatagram(new Uint8Array(0)), "unknown");
});

const zeroHeader = {
  channel: 0,
  seq: 0,
  substream: 0,
  flags: 0,
  fecGroup: 0,
  fecIndex: 0,
  segmentId: 0,
  offset: 0,
};
