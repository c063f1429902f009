import test from "ava";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { Assembler } from "../agent/store/assembler.js";
import { coalesce } from "../agent/store/segment-repair.js";
import { testRepairer, until } from "./helpers/segment-repairer.js";
import { parseRange } from "../common/http-range.js";
import type { SegmentMetaFields } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { metaHeader, verifiedMeta } from "../tools/origin-key.js";

const BYTES = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const SHA = createHash("sha256").update(BYTES).digest();

const FIELDS: SegmentMetaFields = {
  segmentId: 7,
  durationMs: 2000,
  totalBytes: BYTES.length,
  firstSeq: 1,
  packetCount: 5,
  discontinuity: false,
  publishedAt: 0,
  sha256: SHA,
};

/** An origin that answers Range requests from `body` (or ignores them, or lies, as told). */
function setup(opts: { body?: Buffer; ignoreRange?: boolean } = {}) {
  const clock = new ManualClock();
  const asked: Array<{ range: string | undefined }> = [];
  const body = opts.body ?? BYTES;
  const fetchFake = (async (_input: string | URL | Request, init?: RequestInit) => {
    const range = (init?.headers as Record<string, string> | undefined)?.range;
    asked.push({ range });
    const r = opts.ignoreRange === true ? undefined : parseRange(range, body.length);
    if (r === undefined || r === "unsatisfiable")
      return new Response(BYTES, { headers: { "x-tiercast-meta": metaHeader(FIELDS) } });
    return new Response(body.subarray(r[0], r[1] + 1), {
      status: 206,
      headers: { "content-range": `bytes ${r[0]}-${r[1]}/${body.length}` },
    });
  }) as typeof fetch;
  const assembler = new Assembler();
  assembler.onMeta(verifiedMeta(FIELDS), clock.now());
  // Packets of 1000 bytes; the second and the fourth were lost.
  for (const at of [0, 2000, 4000]) assembler.onChunk(7, at, BYTES.subarray(at, at + 1000), clock.now());
  const { repairer, committed } = testRepairer(clock, assembler, fetchFake);
  return { clock, repairer, committed, asked, assembler };
}

test("the assembler says which bytes of a segment are missing", (t) => {
  const { assembler } = setup();
  t.deepEqual(assembler.missingRanges(7), [
    [1000, 2000],
    [3000, 4000],
  ]);
  t.is(assembler.missingRanges(8), undefined, "unknown segment");
});

test("a segment missing a few packets is completed with Range requests for those bytes only", async (t) => {
  const { clock, repairer, committed, asked } = setup();
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1 || repairer.stats.failed > 0);
  t.true(Buffer.from(committed[0]!.seg.bytes).equals(BYTES));
  t.is(committed[0]!.source, "fallback");
  t.deepEqual(
    asked.map((a) => a.range),
    ["bytes=1000-1999", "bytes=3000-3999"],
  );
  t.is(repairer.stats.fromRanges, 1);
  t.is(repairer.stats.originBytes, 2000, "2 KB from the origin, not 5 KB");
});

test("bytes from a Range that spoil the hash are never committed: the whole segment comes instead", async (t) => {
  const forged = Buffer.from(BYTES);
  forged[1500] = forged[1500]! ^ 0xff;
  const { clock, repairer, committed, asked } = setup({ body: forged });
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1 || repairer.stats.failed > 0);
  t.true(Buffer.from(committed[0]!.seg.bytes).equals(BYTES));
  t.is(repairer.stats.fromRanges, 0);
  t.is(asked.at(-1)!.range, undefined, "then the whole segment, verified against the origin's header");
});

test("an origin that ignores Range (200): the whole segment is fetched and verified", async (t) => {
  const { clock, repairer, committed } = setup({ ignoreRange: true });
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1 || repairer.stats.failed > 0);
  t.true(Buffer.from(committed[0]!.seg.bytes).equals(BYTES));
  t.is(repairer.stats.fromRanges, 0);
  t.is(repairer.stats.failed, 0);
});

test("coalesce: at most max ranges, covering every input range, closing the smallest gaps", (t) => {
  t.deepEqual(
    coalesce(
      [
        [0, 10],
        [12, 20],
        [100, 110],
        [200, 210],
      ],
      3,
    ),
    [
      [0, 20],
      [100, 110],
      [200, 210],
    ],
  );
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 10_000 }), { minLength: 2, maxLength: 40 }),
      fc.integer({ min: 1, max: 6 }),
      (points, max) => {
        const p = [...points].sort((a, b) => a - b);
        const ranges: Array<[number, number]> = [];
        for (let i = 0; i + 1 < p.length; i += 2) ranges.push([p[i]!, p[i + 1]!]);
        const out = coalesce(ranges, max);
        const covered = ranges.every(([s, e]) => out.some(([a, b]) => a <= s && e <= b));
        const ordered = out.every((r, i) => i === 0 || out[i - 1]![1] <= r[0]);
        return out.length <= Math.max(1, Math.min(max, ranges.length)) && covered && ordered;
      },
    ),
  );
});
