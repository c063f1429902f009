/**
 * The bearer token of control's admin HTTP API: 32 random bytes (base64url) made at first start
 * into control's data folder (`<folder of --db>/admin-token`, or `--admin-token-file`), mode 0600,
 * and kept across restarts. Whoever can read the file can use the API; the token itself is never
 * logged, only the file's path. Requests present it as `Authorization: Bearer <token>`, compared
 * in constant time on SHA-256 digests of both sides (equal lengths whatever was sent).
 *
 * Tests, the demo and the lab read the token with `readAdminToken` once control logged "ready".
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";

export const ADMIN_TOKEN_FILE = "admin-token";
/** Random bytes in a token control makes. */
export const ADMIN_TOKEN_BYTES = 32;
/** An operator's own token file is accepted from this many characters (about 96 bits as base64). */
const MIN_TOKEN_CHARS = 16;
const MAX_TOKEN_CHARS = 1024;
/** Visible ASCII only: the token travels in an HTTP header. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** The admin token file exists but is not a usable token; the message names the file. */
export class AdminTokenError extends Error {
  override readonly name = "AdminTokenError";
  readonly code = "E_ADMIN_TOKEN";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminToken {
  token: string;
  /** The file it lives in. */
  path: string;
  /** True when this start made the file. */
  created: boolean;
  /** The file's permission bits when others than its owner may read or write it (warn about it). */
  looseMode?: number;
}

/** Where control keeps its admin token: `tokenFile` when given, else next to the database. */
export function adminTokenPath(db: string, tokenFile?: string): string | undefined {
  if (tokenFile !== undefined) return tokenFile;
  return db === ":memory:" ? undefined : join(dirname(db), ADMIN_TOKEN_FILE);
}

/** `<dir>/admin-token`: loads it, or makes a new token there when there is none. */
export function loadOrCreateAdminToken(dir: string): AdminToken {
  return loadOrCreateAdminTokenFile(join(dir, ADMIN_TOKEN_FILE));
}

/** Loads the token in `path`, or makes one there (mode 0600, its folder 0700 if new). */
export function loadOrCreateAdminTokenFile(path: string): AdminToken {
  const existing = tryRead(path);
  if (existing !== undefined) return existing;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = newAdminToken();
  // Written whole to a temp file, then linked into place: link fails if the name exists, so two
  // controls starting at once agree on one token and nobody ever reads half a file.
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    const buf = Buffer.from(token + "\n");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const other = tryRead(path);
    if (other !== undefined) return other;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
  return { token, path, created: true };
}

/** The token in an existing file (what a client of the admin API reads). */
export function readAdminToken(path: string): string {
  const t = tryRead(path);
  if (t === undefined) throw new AdminTokenError(path, `admin token file ${path} does not exist`);
  return t.token;
}

/** A fresh token: ADMIN_TOKEN_BYTES from the system's CSPRNG, base64url. */
export function newAdminToken(): string {
  return randomBytes(ADMIN_TOKEN_BYTES).toString("base64url");
}

/**
 * True when an Authorization header value is `Bearer <token>` for this token. Both tokens are
 * hashed first, so timingSafeEqual always compares 32 bytes and the time does not depend on
 * where (or whether, by length) the presented token differs.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = bearerOf(header);
  const want = createHash("sha256").update(token, "utf8").digest();
  const got = createHash("sha256")
    .update(presented ?? "", "utf8")
    .digest();
  return timingSafeEqual(got, want) && presented !== undefined;
}

/** The credentials of `Bearer <credentials>` (scheme case-insensitive), or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? "");
  return m?.[1];
}

function tryRead(path: string): AdminToken | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AdminTokenError(path, `cannot read admin token file ${path}: ${(e as Error).message}`);
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_CHARS || token.length > MAX_TOKEN_CHARS || !TOKEN_CHARS.test(token))
    throw new AdminTokenError(
      path,
      `admin token file ${path}: expected one token of ${MIN_TOKEN_CHARS}..${MAX_TOKEN_CHARS} visible ASCII characters; ` +
        `remove the file to have control make a new one`,
    );
  const mode = statSync(path).mode & 0o777;
  return { token, path, created: false, ...((mode & 0o077) !== 0 ? { looseMode: mode } : {}) };
}
