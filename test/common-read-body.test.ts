import test from "ava";
import { readBodyBounded } from "../common/read-body.js";

function streamed(chunks: number[]): { res: Response; cancelled: () => boolean } {
  let cancelled = false;
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const n = chunks[i++];
      if (n === undefined) c.close();
      else c.enqueue(new Uint8Array(n).fill(i));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { res: new Response(body), cancelled: () => cancelled };
}

test("a body within the limit is returned whole; every chunk is reported", async (t) => {
  const seen: number[] = [];
  const { res } = streamed([3, 4, 3]);
  const r = await readBodyBounded(res, 10, (n) => seen.push(n));
  t.true(r.ok);
  if (r.ok) t.deepEqual([...r.body], [1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
  t.deepEqual(seen, [3, 4, 3]);
  const empty = await readBodyBounded(new Response(null), 0);
  t.true(empty.ok && empty.body.length === 0);
});

test("a body that grows past the limit is cut off and the stream cancelled", async (t) => {
  const seen: number[] = [];
  const s = streamed([6, 6, 6]);
  t.deepEqual(await readBodyBounded(s.res, 10, (n) => seen.push(n)), { ok: false, declared: undefined });
  t.deepEqual(seen, [6, 6], "the chunk that passes the limit is reported too");
  t.true(s.cancelled());
});

test("a Content-Length above the limit is refused before reading", async (t) => {
  const s = streamed([20]);
  const res = new Response(s.res.body, { headers: { "content-length": "20" } });
  const seen: number[] = [];
  t.deepEqual(await readBodyBounded(res, 10, (n) => seen.push(n)), { ok: false, declared: 20 });
  t.deepEqual(seen, []);
  t.true(s.cancelled());
});

test("an error of the stream itself is thrown as it is", async (t) => {
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new Error("connection reset"));
    },
  });
  await t.throwsAsync(readBodyBounded(new Response(body), 10), { message: "connection reset" });
});
