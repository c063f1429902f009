/**
 * The origin's files in its data dir: identity.json (its Ed25519 key pair, made on first start;
 * the same format as the agent's) and state.json (the next segment id and channel sequence, so a
 * restarted origin continues where it stopped instead of reusing ids agents already cached).
 * Writes are atomic (temp file + rename).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const IDENTITY_FILE = "identity.json";
export const STATE_FILE = "state.json";
const IDENTITY_FORMAT = "tiercast-identity-v1";

export class OriginStateError extends Error {
  override readonly name = "OriginStateError";
  readonly code = "E_ORIGIN_STATE";
}

/** Loads the key pair from <dataDir>/identity.json, making one on first start. Returns the raw 32-byte public key. */
export function loadOrCreateKey(dataDir: string): { publicKey: Uint8Array; created: boolean } {
  const path = join(dataDir, IDENTITY_FILE);
  const text = readIfExists(path);
  if (text !== undefined) {
    let key: KeyObject;
    try {
      const obj = JSON.parse(text) as { format?: unknown; privateKey?: unknown };
      if (obj.format !== IDENTITY_FORMAT || typeof obj.privateKey !== "string")
        throw new Error("unexpected content");
      key = createPrivateKey({ key: Buffer.from(obj.privateKey, "base64"), format: "der", type: "pkcs8" });
      if (key.asymmetricKeyType !== "ed25519") throw new Error("not an Ed25519 key");
    } catch (e) {
      throw new OriginStateError(
        `${path}: ${(e as Error).message} (move the file away to make a new identity; the origin then gets a new id)`,
      );
    }
    return { publicKey: rawPublicKey(key), created: false };
  }
  const { privateKey } = generateKeyPairSync("ed25519");
  const publicKey = rawPublicKey(privateKey);
  const file = {
    format: IDENTITY_FORMAT,
    privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    publicKey: Buffer.from(publicKey).toString("base64"),
    createdAt: new Date().toISOString(),
  };
  writeAtomic(path, JSON.stringify(file, null, 2) + "\n", 0o600);
  return { publicKey, created: true };
}

export interface OriginState {
  channel: string;
  nextSegmentId: number;
  nextSeq: number;
}

/** The saved ids for `channel`, or undefined (none yet, another channel, or unreadable: start at 0). */
export function loadState(dataDir: string, channel: string): OriginState | undefined {
  const text = readIfExists(join(dataDir, STATE_FILE));
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as Partial<OriginState>;
    const u32 = (v: unknown): v is number =>
      Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff_ffff;
    if (s.channel !== channel || !u32(s.nextSegmentId) || !u32(s.nextSeq)) return undefined;
    return { channel, nextSegmentId: s.nextSegmentId, nextSeq: s.nextSeq };
  } catch {
    return undefined;
  }
}

export function saveState(dataDir: string, state: OriginState): void {
  writeAtomic(join(dataDir, STATE_FILE), JSON.stringify(state) + "\n");
}

function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new OriginStateError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function writeAtomic(path: string, data: string, mode = 0o644): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}
