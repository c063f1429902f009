/**
 * seams/log.ts: the JSON line format (byte strings as hex, wherever they are), the fast path
 * for lines without byte strings giving the very same text, and LineBatch (one write per loop
 * turn, order kept, nothing lost when a worker thread ends: worker-main.ts).
 */
import test from "ava";
import fc from "fast-check";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { jsonLogger, LineBatch, type Fields } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";

/** What a line must be: JSON.stringify with every Uint8Array (a Buffer too) written as hex. */
function reference(t: number, level: string, event: string, base: Fields, fields: Fields): string {
  return (
    JSON.stringify({ t, level, proc: "p", event, ...base, ...fields }, function (this: unknown, k, v) {
      const raw = (this as Record<string, unknown>)[k];
      return raw instanceof Uint8Array ? Buffer.from(raw).toString("hex") : v;
    }) + "\n"
  );
}

function lines(base: Fields = {}): {
  logger: ReturnType<typeof jsonLogger>;
  out: string[];
  clock: ManualClock;
} {
  const out: string[] = [];
  const clock = new ManualClock();
  return {
    logger: jsonLogger(clock, { proc: "p", level: "debug", write: (l) => out.push(l) }, base),
    out,
    clock,
  };
}

test("byte strings are written as hex at any depth; other values as JSON", (t) => {
  const { logger, out, clock } = lines({ server: "s1" });
  logger.info("e", { key: Uint8Array.of(1, 2), deep: { list: [{ b: Buffer.from([255]) }] }, n: 3, s: "x" });
  logger.warn("plain", { n: 1, list: [1, "a", null], o: { a: true } });
  const now = clock.now();
  t.deepEqual(out, [
    `{"t":${now},"level":"info","proc":"p","event":"e","server":"s1","key":"0102","deep":{"list":[{"b":"ff"}]},"n":3,"s":"x"}\n`,
    `{"t":${now},"level":"warn","proc":"p","event":"plain","server":"s1","n":1,"list":[1,"a",null],"o":{"a":true}}\n`,
  ]);
  // Bytes in the base fields (a child's) too.
  const child = lines({ id: Uint8Array.of(0xab) });
  child.logger.info("c");
  t.regex(child.out[0]!, /"id":"ab"/);
});

test("a line is the same text with or without byte strings in it (the replacer skipped only when none)", (t) => {
  const leaf = fc.oneof(
    fc.integer(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 4 }),
    fc.uint8Array({ maxLength: 4 }).map((u) => Buffer.from(u)),
  );
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof(
      { depthSize: "small" },
      leaf,
      fc.array(tie("tree"), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 3 }), tie("tree"), { maxKeys: 3 }),
    ),
  }));
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 4 }), tree, { maxKeys: 4 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tree, { maxKeys: 2 }),
      (fields, base) => {
        const { logger, out, clock } = lines(base);
        logger.info("ev", fields);
        t.is(out[0], reference(clock.now(), "info", "ev", base, fields));
      },
    ),
    { numRuns: 2000 },
  );
});

test("LineBatch: the lines of one turn in one write, in order; flush writes at once", (t) => {
  const writes: string[] = [];
  const turns: Array<() => void> = [];
  const batch = new LineBatch(
    (s) => writes.push(s),
    (fn) => turns.push(fn),
  );
  batch.push("a\n");
  batch.push("b\n");
  batch.push("c\n");
  t.deepEqual(writes, [], "nothing before the turn ends");
  t.is(turns.length, 1, "one turn scheduled");
  turns.shift()!();
  t.deepEqual(writes, ["a\nb\nc\n"]);
  batch.push("d\n");
  batch.flush();
  t.deepEqual(writes, ["a\nb\nc\n", "d\n"], "flush: at once");
  for (const fn of turns.splice(0)) fn();
  t.is(writes.length, 2, "nothing written twice");
  t.is(batch.writes, 2);
});

/** The built module (a worker thread does not get tsx's loader: npm run build first). */
const BUILT = join(process.cwd(), "dist", "seams", "log.js");

async function workerLines(ending: "throw" | "exit" | "return", flushAtExit: boolean): Promise<string> {
  const code = `
    const { LineBatch } = await import(${JSON.stringify(pathToFileURL(BUILT).href)});
    const lines = new LineBatch((s) => process.stdout.write(s), (fn) => setImmediate(fn));
    if (${flushAtExit}) process.on("exit", () => lines.flush());
    for (let i = 0; i < 3; i++) lines.push("line " + i + "\\n");
    if (${JSON.stringify(ending)} === "throw") throw new Error("boom");
    if (${JSON.stringify(ending)} === "exit") process.exit(3);
  `;
  const w = new Worker(code, { eval: true, stdout: true, stderr: true });
  let out = "";
  w.stdout.on("data", (d: Buffer) => (out += d.toString()));
  w.on("error", () => {});
  await new Promise((resolve) => w.on("exit", resolve));
  // The stream may deliver the last chunk after "exit": wait for its end.
  await new Promise((resolve) => (w.stdout.readableEnded ? resolve(undefined) : w.stdout.on("end", resolve)));
  return out;
}

test("a worker thread's gathered lines reach stdout however it ends, with the exit flush (worker-main.ts)", async (t) => {
  if (!existsSync(BUILT)) return t.fail(`not built: ${BUILT} (npm run build)`);
  for (const ending of ["throw", "exit", "return"] as const)
    t.is(await workerLines(ending, true), "line 0\nline 1\nline 2\n", ending);
  // Without it, an uncaught error or process.exit in the same turn loses them: what the flush is for.
  t.is(await workerLines("throw", false), "");
  t.is(await workerLines("exit", false), "");
});
