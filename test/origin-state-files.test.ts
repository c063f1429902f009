import test, { type ExecutionContext } from "ava";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  IDENTITY_FILE,
  loadOrCreateKey,
  loadState,
  OriginStateError,
  saveState,
  STATE_FILE,
} from "../origin/state-files.js";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-origin-state-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("the origin's key is made once and kept (mode 0600, no temp file left)", (t) => {
  const dir = join(tempDir(t), "data");
  const a = loadOrCreateKey(dir);
  t.true(a.created);
  t.is(a.publicKey.length, 32);
  t.deepEqual(readdirSync(dir), [IDENTITY_FILE]);
  t.is(statSync(join(dir, IDENTITY_FILE)).mode & 0o777, 0o600);
  const b = loadOrCreateKey(dir);
  t.false(b.created);
  t.deepEqual([...b.publicKey], [...a.publicKey]);
});

test("a corrupt identity file is E_ORIGIN_STATE naming the path, never replaced", (t) => {
  const dir = tempDir(t);
  for (const content of ["{not json", "null", '{"format":"tiercast-identity-v1","privateKey":"AAAA"}']) {
    writeFileSync(join(dir, IDENTITY_FILE), content);
    const e = t.throws(() => loadOrCreateKey(dir), { instanceOf: OriginStateError });
    t.is(e?.code, "E_ORIGIN_STATE");
    t.true(e!.message.includes(join(dir, IDENTITY_FILE)));
    t.true(e!.message.includes("the origin then gets a new id"));
    t.is(readFileSync(join(dir, IDENTITY_FILE), "utf8"), content);
  }
});

test("state.json round-trips per channel; another channel or bad content reads as none", (t) => {
  const dir = join(tempDir(t), "data");
  t.is(loadState(dir, "ch"), undefined);
  saveState(dir, { channel: "ch", nextSegmentId: 7, nextSeq: 4242 });
  t.deepEqual(readdirSync(dir), [STATE_FILE]);
  t.deepEqual(loadState(dir, "ch"), { channel: "ch", nextSegmentId: 7, nextSeq: 4242 });
  t.is(loadState(dir, "other"), undefined);
  writeFileSync(join(dir, STATE_FILE), "{broken");
  t.is(loadState(dir, "ch"), undefined);
});
