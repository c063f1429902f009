/**
 * Control's public key as the nodes hold it (docs/security.md): given as text in a config
 * (`controlKey`: 64 hex digits or base64 of the 32 raw bytes, what `tiercast control` prints at
 * start as `publicKey`), or learnt on first use and kept in <dataDir>/control-key (the same
 * text), so that a node that trusted once keeps trusting only that key. Also the switch the
 * attack suite's negative controls use to turn every check off.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";

export const CONTROL_KEY_FILE = "control-key";

/** The 32 raw bytes of a key written as hex or base64; a string saying what is wrong otherwise. */
export function parseKeyText(text: string): Uint8Array | string {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return new Uint8Array(Buffer.from(t, "hex"));
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t, "base64");
    if (b.length === 32) return new Uint8Array(b);
  }
  return "expected a raw Ed25519 public key: 64 hex digits or 44 base64 characters";
}

export function keyText(key: Uint8Array): string {
  return Buffer.from(key).toString("hex");
}

/** The key learnt on first use, if one was kept (a file that does not parse is an error naming it). */
export function loadLearntControlKey(dataDir: string): Uint8Array | undefined {
  const path = join(dataDir, CONTROL_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  const key = parseKeyText(text);
  if (typeof key === "string")
    throw new Error(`${path}: ${key} (remove the file to trust on first use again)`);
  return key;
}

export function saveLearntControlKey(dataDir: string, key: Uint8Array): void {
  writeFileAtomic(join(dataDir, CONTROL_KEY_FILE), keyText(key) + "\n", { mode: 0o644 });
}

/**
 * True when TIERCAST_INSECURE_NO_VERIFY=1: control, origin and agents check nothing (signatures,
 * tags, counters, cookies, origin keys, segment signatures). Only the attack suite sets it, to
 * show that its attacks succeed without the defences; every process logs a warning when it is on.
 */
export function verificationDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TIERCAST_INSECURE_NO_VERIFY === "1";
}

export interface ControlTrust {
  controlKey?: Uint8Array;
  trustOnFirstUse?: boolean;
  verifyControl?: boolean;
}

/**
 * How a node knows control, from its options: the pinned controlKey, else a key learnt on first
 * use before (<dataDir>/control-key), else trustOnFirstUse. Neither: an Error whose message
 * names the field (main turns it into a usage error). With verificationDisabled(), no checks.
 */
export function resolveControlTrust(o: {
  controlKey?: string | undefined;
  trustOnFirstUse: boolean;
  dataDir: string;
}): ControlTrust {
  if (verificationDisabled()) return { verifyControl: false, trustOnFirstUse: true };
  if (o.controlKey !== undefined) {
    const key = parseKeyText(o.controlKey);
    if (typeof key === "string") throw new Error(`controlKey: ${key}`);
    return { controlKey: key };
  }
  let learnt: Uint8Array | undefined;
  try {
    learnt = loadLearntControlKey(o.dataDir);
  } catch (e) {
    throw new Error(`controlKey: ${(e as Error).message}`);
  }
  if (learnt !== undefined) return { controlKey: learnt };
  if (o.trustOnFirstUse) return { trustOnFirstUse: true };
  throw new Error(
    "controlKey: required (control's public key, printed by `tiercast control` at start as publicKey); or --trust-on-first-use",
  );
}

/** The option specs both node programs share. */
export const CONTROL_TRUST_OPTIONS = {
  controlKey: {
    kind: "string",
    help: "control's public key (hex or base64, as `tiercast control` prints it): only a control holding it is obeyed",
  },
  trustOnFirstUse: {
    kind: "boolean",
    help: "without --control-key: trust the key control presents first and keep it in <dataDir>/control-key (demo, lab)",
    default: false,
  },
} as const;
