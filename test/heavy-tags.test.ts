/**
 * The fast set and the full suite (the rule: ava.fast.config.js): every `@heavy` line names its
 * kinds and why; a file saying `privileged` gates its tests through needs() and a file calling
 * needs() says `privileged`; a file saying `processes` reaches node:child_process through its
 * imports (a stale tag keeps a light file out of the fast loop); the fast set is every test file
 * but the heavy ones. That a fast file starts no process is checked where it would happen: in
 * the fast set's workers (test/helpers/no-processes.ts).
 */
import test from "ava";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KINDS = new Set(["privileged", "processes", "soak"]);

interface FastConfig {
  default: { files: string[] };
  HEAVY_LINE: RegExp;
}
const fast = (await import(pathToFileURL(join(ROOT, "ava.fast.config.js")).href)) as FastConfig;

const testFiles = readdirSync(join(ROOT, "test"), { recursive: true })
  .map((f) => String(f))
  .filter((f) => f.endsWith(".test.ts"))
  .sort()
  .map((f) => `test/${f}`);

const source = (file: string): string => readFileSync(join(ROOT, file), "utf8");

/** The `@heavy` kinds of a file, undefined when it has no `@heavy` line; throws on a malformed one. */
function heavyKinds(file: string): string[] | undefined {
  const text = source(file);
  if (!/^\s*(?:\*|\/\/)\s*@heavy\b/m.test(text)) return undefined;
  const m = fast.HEAVY_LINE.exec(text);
  if (m === null) throw new Error(`${file}: write the line as "@heavy <kinds>: <why>"`);
  return (m[1] ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
}

/** Whether a module, or anything it imports of ours (transitively), imports node:child_process. */
function reachesChildProcess(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file)) return false;
  seen.add(file);
  const text = source(file);
  if (/from "node:child_process"/.test(text)) return true;
  for (const m of text.matchAll(/(?:from|import)\s+"(\.{1,2}\/[^"]+)"/g)) {
    const spec = m[1] ?? "";
    const ts = resolve(ROOT, dirname(file), spec.replace(/\.js$/, ".ts"));
    if (!existsSync(ts)) continue;
    if (reachesChildProcess(relative(ROOT, ts), seen)) return true;
  }
  return false;
}

test("every @heavy line names known kinds and says why", (t) => {
  for (const f of testFiles) {
    const kinds = heavyKinds(f);
    if (kinds === undefined) continue;
    t.true(kinds.length > 0, `${f}: @heavy names no kind`);
    for (const k of kinds)
      t.true(KINDS.has(k), `${f}: unknown @heavy kind "${k}" (${[...KINDS].join(", ")})`);
  }
});

test("a file gating tests on the machine (needs()) says @heavy privileged, and only such a file", (t) => {
  for (const f of testFiles) {
    const callsNeeds = /from "\.\/helpers\/needs\.js"/.test(source(f)) && /\bneeds\(/.test(source(f));
    const privileged = heavyKinds(f)?.includes("privileged") ?? false;
    t.is(privileged, callsNeeds, `${f}: calls needs() ${callsNeeds}, says @heavy privileged ${privileged}`);
  }
});

test("a file saying @heavy processes reaches node:child_process through its imports", (t) => {
  for (const f of testFiles) {
    if (!(heavyKinds(f)?.includes("processes") ?? false)) continue;
    t.true(reachesChildProcess(f), `${f} says @heavy processes but starts none: drop the kind`);
  }
});

test("the fast set is every test file but the heavy ones, and the heavy ones are not all", (t) => {
  const heavy = testFiles.filter((f) => heavyKinds(f) !== undefined);
  t.deepEqual(
    fast.default.files,
    testFiles.filter((f) => !heavy.includes(f)),
  );
  t.true(
    heavy.length > 0 && heavy.length < testFiles.length / 2,
    `${heavy.length} of ${testFiles.length} heavy`,
  );
  t.log(`${testFiles.length} test files: ${testFiles.length - heavy.length} fast, ${heavy.length} heavy`);
});
