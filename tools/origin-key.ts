/**
 * A fixed origin identity for tests (Ed25519 from a constant seed: signatures are deterministic,
 * so golden vectors can hold them) and helpers to sign METAs with it, as the origin does, and to
 * get the VerifiedMeta the agent's assembler takes.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { MetaVerifier, type VerifiedMeta } from "../agent/store/meta-verifier.js";
import type { SegmentMeta, SegmentMetaFields } from "../protocol/messages.js";
import { encodeSegmentMeta, signSegmentMeta } from "../protocol/segment-meta.js";

/** PKCS#8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410). */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface TestKey {
  privateKey: KeyObject;
  /** Raw 32 bytes: ChannelInfo.originKey. */
  publicKey: Uint8Array;
}

/** The Ed25519 key pair whose seed is 32 bytes of `seedByte`. */
export function keyFromSeed(seedByte: number): TestKey {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.alloc(32, seedByte)]),
    format: "der",
    type: "pkcs8",
  });
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** A fresh random key pair (an attacker's). */
export function randomKey(): TestKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublic(privateKey) };
}

function rawPublic(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
}

/** The origin of every test channel. */
export const TEST_ORIGIN = keyFromSeed(0x42);

/** `fields` signed by `key` (default TEST_ORIGIN) for `channel`. */
export function signedMeta(fields: SegmentMetaFields, channel = 0, key = TEST_ORIGIN): SegmentMeta {
  return signSegmentMeta(channel, fields, key.privateKey);
}

/** The x-tiercast-meta header value the origin's fallback sends with a segment. */
export function metaHeader(fields: SegmentMetaFields, channel = 0, key = TEST_ORIGIN): string {
  return encodeSegmentMeta(signedMeta(fields, channel, key)).toString("base64");
}

/** A META as the assembler gets it: signed by TEST_ORIGIN and verified for `channel`. */
export function verifiedMeta(fields: SegmentMetaFields, channel = 0): VerifiedMeta {
  const r = new MetaVerifier({ channel, originKey: TEST_ORIGIN.publicKey }).check(
    encodeSegmentMeta(signedMeta(fields, channel)),
    "test",
  );
  if (!r.ok) throw new Error(`test META does not verify: ${r.reason}`);
  return r.meta;
}
