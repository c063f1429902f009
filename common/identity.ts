/**
 * A node's identity key file, shared by the agent and the origin: an Ed25519 key pair made on
 * first start and kept in <dataDir>/identity.json, so a restarted process keeps its compact node
 * id (control maps the public key to the id). The file is written atomically with fsync
 * (common/atomic-file.ts): after a power cut it is either the old one or the new one, never half.
 * A file that exists but cannot be read as a key pair is an IdentityFileError naming the path
 * (each program maps it to its own error code); it is never silently replaced, because that
 * would change the node's identity.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
import { rawPublicKey } from "../protocol/auth.js";

export const IDENTITY_FILE = "identity.json";
const FORMAT = "tiercast-identity-v1";

export interface KeyPair {
  /** Raw Ed25519 public key, 32 bytes: JOIN.key. */
  publicKey: Uint8Array;
  privateKey: KeyObject;
  /** True when this start made the key pair. */
  created: boolean;
}

export interface IdentityFileConfig {
  dataDir: string;
  /** For the file's createdAt (default Date.now). */
  now?: () => number;
  /** Who gets a new id when the file is replaced, for the error's hint (default "node"). */
  holder?: string;
  /** The file's name in dataDir (default identity.json). */
  fileName?: string;
}

/** identity.json exists but cannot be read or parsed as a key pair; the message names the path. */
export class IdentityFileError extends Error {
  override readonly name = "IdentityFileError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
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
export function loadOrCreateKeyPair(config: IdentityFileConfig): KeyPair {
  const path = join(config.dataDir, config.fileName ?? IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new IdentityFileError(path, `cannot read ${path}: ${(e as Error).message}`);
    }
  }
  if (text !== undefined) return { ...parseKeyPair(text, path, config.holder ?? "node"), created: false };

  const { privateKey } = generateKeyPairSync("ed25519");
  const publicKey = rawPublicKey(privateKey);
  const file: IdentityFile = {
    format: FORMAT,
    privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    publicKey: Buffer.from(publicKey).toString("base64"),
    createdAt: new Date(config.now?.() ?? Date.now()).toISOString(),
  };
  writeFileAtomic(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  return { publicKey, privateKey, created: true };
}

function parseKeyPair(text: string, path: string, holder: string): Omit<KeyPair, "created"> {
  const bad = (why: string): never => {
    throw new IdentityFileError(
      path,
      `${path}: ${why} (move the file away to make a new identity; the ${holder} then gets a new id)`,
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
