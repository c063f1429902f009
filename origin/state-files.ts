/**
 * The origin's files in its data dir: identity.json (its Ed25519 key pair, made on first start;
 * the same format and code as the agent's: common/identity.ts) and state.json (the next segment
 * id and channel sequence, so a restarted origin continues where it stopped instead of reusing
 * ids agents already cached). Writes are atomic (temp file + rename, common/atomic-file.ts).
 */
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic-file.js";
import { IdentityFileError, loadOrCreateKeyPair } from "../common/identity.js";

export { IDENTITY_FILE } from "../common/identity.js";
export const STATE_FILE = "state.json";

export class OriginStateError extends Error {
  override readonly name = "OriginStateError";
  readonly code = "E_ORIGIN_STATE";
}

/**
 * Loads the key pair from <dataDir>/identity.json, making one on first start: the raw 32-byte
 * public key (JOIN.key, ChannelInfo.originKey) and the private key that signs every META.
 */
export function loadOrCreateKey(dataDir: string): {
  publicKey: Uint8Array;
  privateKey: KeyObject;
  created: boolean;
} {
  try {
    const { publicKey, privateKey, created } = loadOrCreateKeyPair({ dataDir, holder: "origin" });
    return { publicKey, privateKey, created };
  } catch (e) {
    if (e instanceof IdentityFileError) throw new OriginStateError(e.message);
    throw e;
  }
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

/**
 * Rewritten after every published segment, with fsync: losing it to a power cut would make a
 * restarted origin reuse segment ids that agents already cache. One small fsync per segment
 * (about one a second) is cheap on an origin server.
 */
export function saveState(dataDir: string, state: OriginState): void {
  writeFileAtomic(join(dataDir, STATE_FILE), JSON.stringify(state) + "\n");
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new OriginStateError(`cannot read ${path}: ${(e as Error).message}`);
  }
}
