/**
 * The node's identity: an Ed25519 key pair made on first start and kept in
 * <dataDir>/identity.json, so a restarted box keeps its compact node id (control maps the
 * public key to the id). The file is written atomically (temp file, fsync, rename, fsync of
 * the directory): after a power cut it is either the old one or the new one, never half.
 * A file that exists but cannot be read as a key pair is an error naming the path; it is
 * never silently replaced, because that would change the node's identity.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { IdentityError } from "./errors.js";

export const IDENTITY_FILE = "identity.json";
const FORMAT = "tiercast-identity-v1";

export interface Identity {
  /** Raw Ed25519 public key, 32 bytes: JOIN.key. */
  publicKey: Uint8Array;
  privateKey: KeyObject;
  /** True when this start made the key pair. */
  created: boolean;
}

interface IdentityFile {
  format: string;
  /** PKCS#8 DER, base64. */
  privateKey: string;
  /** Raw 32-byte public key, base64 (informational; derived again from the private key). */
  publicKey: string;
  createdAt: string;
}

/** Loads <dataDir>/identity.json, or makes and stores a new key pair when there is none. */
export function loadOrCreateIdentity(config: { dataDir: string; now?: () => number }): Identity {
  const path = join(config.dataDir, IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new IdentityError("E_IDENTITY_CORRUPT", `cannot read ${path}: ${(e as Error).message}`);
    }
  }
  if (text !== undefined) return { ...parseIdentity(text, path), created: false };

  const { privateKey } = generateKeyPairSync("ed25519");
  const publicKey = rawPublicKey(privateKey);
  const file: IdentityFile = {
    format: FORMAT,
    privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    publicKey: Buffer.from(publicKey).toString("base64"),
    createdAt: new Date(config.now?.() ?? Date.now()).toISOString(),
  };
  mkdirSync(config.dataDir, { recursive: true });
  writeFileAtomic(path, JSON.stringify(file, null, 2) + "\n", 0o600);
  return { publicKey, privateKey, created: true };
}

/** Signs `data` with the node's key (for the authentication tag of later wire versions). */
export function signWith(identity: Identity, data: Uint8Array): Uint8Array {
  return sign(null, data, identity.privateKey);
}

function parseIdentity(text: string, path: string): Omit<Identity, "created"> {
  const bad = (why: string): never => {
    throw new IdentityError(
      "E_IDENTITY_CORRUPT",
      `${path}: ${why} (move the file away to make a new identity; the node then gets a new id)`,
    );
  };
  let obj: Partial<IdentityFile>;
  try {
    obj = JSON.parse(text) as Partial<IdentityFile>;
  } catch {
    return bad("not valid JSON");
  }
  if (
    typeof obj !== "object" ||
    obj === null ||
    obj.format !== FORMAT ||
    typeof obj.privateKey !== "string"
  ) {
    return bad(`expected {"format":"${FORMAT}","privateKey":...}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: Buffer.from(obj.privateKey, "base64"),
      format: "der",
      type: "pkcs8",
    });
  } catch {
    return bad("privateKey is not a PKCS#8 key");
  }
  if (privateKey.asymmetricKeyType !== "ed25519") return bad("privateKey is not an Ed25519 key");
  return { publicKey: rawPublicKey(privateKey), privateKey };
}

function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
}

/** Writes `path` so that a crash leaves either the old or the new content. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    closeSync(dir);
  }
}
