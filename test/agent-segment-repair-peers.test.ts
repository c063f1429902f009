import test from "ava";
import { createHash } from "node:crypto";
import { Assembler } from "../agent/store/assembler.js";
import { MAX_RETRY_AFTER_MS, retryAfterMs } from "../agent/store/fallback-client.js";
import { testRepairer, until } from "./helpers/segment-repairer.js";
import type { SegmentMetaFields } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { metaHeader, verifiedMeta } from "../tools/origin-key.js";

const BYTES = Buffer.from("a segment of transport stream bytes".repeat(40));
const SHA = createHash("sha256").update(BYTES).digest();
const FIELDS: SegmentMetaFields = {
  segmentId: 7,
  durationMs: 2000,
  totalBytes: BYTES.length,
  firstSeq: 1,
  packetCount: 2,
  discontinuity: false,
  publishedAt: 0,
  sha256: SHA,
};
const META = verifiedMeta(FIELDS);

/** The origin's fallback answer for segment `id` (BYTES), with its signed META. */
function fromOrigin(url: string): Response {
  const segmentId = Number(/\/(\d+)\.ts$/.exec(url)?.[1]);
  return new Response(BYTES, { headers: { "x-tiercast-meta": metaHeader({ ...FIELDS, segmentId }) } });
}

function setup(answers: Record<string, (url: string) => Response>) {
  const clock = new ManualClock();
  const asked: string[] = [];
  const fetchFake = (async (input: string | URL | Request) => {
    const url = String(input);
    asked.push(url);
    const host = new URL(url).host;
    return (answers[host] ?? (() => new Response("no", { status: 404 })))(url);
  }) as typeof fetch;
  const assembler = new Assembler();
  assembler.onMeta(META, clock.now());
  const { repairer, committed, logger } = testRepairer(clock, assembler, fetchFake, [
    "http://10.0.0.1:8080",
    "http://10.0.0.2:8080",
  ]);
  return { clock, repairer, committed, asked, logger, assembler };
}

test("repair takes a missing segment from a parent, checked against the META hash only", async (t) => {
  const forged = Buffer.from("poisoned bytes");
  const { clock, repairer, committed, asked } = setup({
    // A parent that lies: wrong bytes with a header that matches them.
    "10.0.0.1:8080": () =>
      new Response(forged, {
        headers: { "x-tiercast-sha256": createHash("sha256").update(forged).digest("hex") },
      }),
    "10.0.0.2:8080": () => new Response(BYTES),
    "origin:8000": () => new Response("unused", { status: 500 }),
  });
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1);
  t.true(Buffer.from(committed[0]!.seg.bytes).equals(BYTES));
  t.is(repairer.stats.fromPeers, 1);
  t.is(repairer.stats.peerBytes, BYTES.length);
  t.is(repairer.stats.originBytes, 0);
  t.false(
    asked.some((u) => u.includes("origin")),
    "the origin was not asked",
  );
  t.deepEqual(
    asked.map((u) => new URL(u).host),
    ["10.0.0.1:8080", "10.0.0.2:8080"],
  );
});

test("when no parent has the segment it comes from the origin, and is counted so", async (t) => {
  const { clock, repairer, committed, asked, logger } = setup({
    "origin:8000": fromOrigin,
  });
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1 || repairer.stats.failed > 0);
  t.is(repairer.stats.failed, 0, JSON.stringify([asked, logger.lines]));
  t.is(repairer.stats.fromPeers, 0);
  t.is(repairer.stats.originBytes, BYTES.length);
  t.is(asked.length, 3);
  t.true(asked[2]!.startsWith("http://origin:8000/live/demo/7.ts"));
});

test("a parent that says 503 with a Retry-After is not asked again before then", async (t) => {
  const { clock, repairer, committed, asked, assembler } = setup({
    // Repairs off (agent/lan/lan-http.ts PEER_REPAIR_OFF_RETRY_S): come back in 600 s.
    "10.0.0.1:8080": () =>
      new Response("no repairs here", { status: 503, headers: { "Retry-After": "600" } }),
    "origin:8000": fromOrigin,
  });
  const hosts = (from: number) => asked.slice(from).map((u) => new URL(u).host);
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 1);
  t.deepEqual(hosts(0), ["10.0.0.1:8080", "10.0.0.2:8080", "origin:8000"]);

  const next = (segmentId: number): void => {
    assembler.onMeta(verifiedMeta({ ...FIELDS, segmentId, firstSeq: 1 + 2 * (segmentId - 7) }), clock.now());
  };
  let from = asked.length;
  next(8);
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 2);
  t.deepEqual(hosts(from), ["10.0.0.2:8080", "origin:8000"], "the paused parent is skipped");

  from = asked.length;
  clock.advance(600_000);
  next(9);
  clock.advance(2000);
  repairer.tick();
  await until(() => committed.length === 3);
  t.deepEqual(hosts(from), ["10.0.0.1:8080", "10.0.0.2:8080", "origin:8000"], "asked again after 600 s");
  t.is(repairer.stats.fromPeers, 0);
});

test("Retry-After is read as delta-seconds, capped at an hour; an HTTP-date or junk is ignored", (t) => {
  t.is(retryAfterMs("600"), 600_000);
  t.is(retryAfterMs(" 1 "), 1000);
  t.is(retryAfterMs("999999999"), MAX_RETRY_AFTER_MS);
  for (const v of [null, "", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "1e3"])
    t.is(retryAfterMs(v), undefined, String(v));
});
