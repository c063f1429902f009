/**
 * The node's identity: an Ed25519 key pair made on first start and kept in
 * <dataDir>/identity.json (common/identity.ts: the format, the atomic write with fsync, the
 * checks), so a restarted box keeps its compact node id. A file that exists but cannot be read
 * as a key pair is an E_IDENTITY_CORRUPT error naming the path; it is never silently replaced.
 */
import { sign } from "node:crypto";
import { IdentityFileError, loadOrCreateKeyPair, type KeyPair } from "../common/identity.js";
import { IdentityError } from "./errors.js";

export { IDENTITY_FILE } from "../common/identity.js";

export type Identity = KeyPair;

/** Loads <dataDir>/identity.json, or makes and stores a new key pair when there is none. */
export function loadOrCreateIdentity(config: { dataDir: string; now?: () => number }): Identity {
  try {
    return loadOrCreateKeyPair({ ...config, holder: "node" });
  } catch (e) {
    if (e instanceof IdentityFileError) throw new IdentityError("E_IDENTITY_CORRUPT", e.message);
    throw e;
  }
}

/** Signs `data` with the node's key (for the authentication tag of later wire versions). */
export function signWith(identity: Identity, data: Uint8Array): Uint8Array {
  return sign(null, data, identity.privateKey);
}
