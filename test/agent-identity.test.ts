import test, { type ExecutionContext } from "ava";
import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IdentityError } from "../agent/errors.js";
import { IDENTITY_FILE, loadOrCreateIdentity, signWith } from "../agent/identity.js";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-id-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("made on first start, the same key on later starts; a 32-byte raw public key", (t) => {
  const dir = join(tempDir(t), "nested", "data");
  const a = loadOrCreateIdentity({ dataDir: dir });
  t.true(a.created);
  t.is(a.publicKey.length, 32);
  t.deepEqual(readdirSync(dir), [IDENTITY_FILE], "no temp file left behind");
  t.is(statSync(join(dir, IDENTITY_FILE)).mode & 0o777, 0o600);
  const b = loadOrCreateIdentity({ dataDir: dir });
  t.false(b.created);
  t.deepEqual([...b.publicKey], [...a.publicKey]);
  const sig = signWith(b, Buffer.from("hello"));
  const spki = createPublicKey(a.privateKey);
  t.true(verify(null, Buffer.from("hello"), spki, sig));
  t.is(
    JSON.parse(readFileSync(join(dir, IDENTITY_FILE), "utf8")).publicKey,
    Buffer.from(a.publicKey).toString("base64"),
  );
});

test("a corrupt identity file is an error naming the path, never silently replaced", (t) => {
  const dir = tempDir(t);
  for (const content of [
    "{not json",
    '{"format":"other"}',
    '{"format":"tiercast-identity-v1","privateKey":"AAAA"}',
  ]) {
    writeFileSync(join(dir, IDENTITY_FILE), content);
    const e = t.throws(() => loadOrCreateIdentity({ dataDir: dir }), { instanceOf: IdentityError });
    t.is(e?.code, "E_IDENTITY_CORRUPT");
    t.true(e!.message.includes(join(dir, IDENTITY_FILE)));
    t.is(readFileSync(join(dir, IDENTITY_FILE), "utf8"), content);
  }
});
