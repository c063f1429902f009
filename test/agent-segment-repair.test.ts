import test from "ava";
import { createHash } from "node:crypto";
import { Assembler, type PendingSegment } from "../agent/store/assembler.js";
import { FallbackError } from "../agent/errors.js";
import { FallbackClient } from "../agent/store/fallback-client.js";
import { MetaVerifier } from "../agent/store/meta-verifier.js";
import { SegmentRepairer, REPAIR_LIMITS, repairDue, repairTiming } from "../agent/store/segment-repair.js";
import type { SegmentMetaFields } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { metaHeader, randomKey, TEST_ORIGIN, verifiedMeta } from "../tools/origin-key.js";
import { testRepairer, until } from "./helpers/segment-repairer.js";

const T = repairTiming(2000); // after 1000, stall 300, tail 100, max 2000, gap 150

function p(over: Partial<PendingSegment>): PendingSegment {
  return {
    id: 1,
    firstSeenAt: 0,
    gap: false,
    meta: undefined,
    receivedBytes: 0,
    lastPacketAt: 0,
    endSeen: false,
    ...over,
  };
}

test("repairDue table", (t) => {
  const rows: Array<[string, PendingSegment, number, boolean]> = [
    ["too early", p({}), 999, false],
    ["due after half a segment", p({ lastPacketAt: 100 }), 1000, true],
    ["still flowing: wait", p({ lastPacketAt: 900 }), 1000, false],
    ["stalled: due", p({ lastPacketAt: 700 }), 1000, true],
    ["flowing but at maxWait: due", p({ lastPacketAt: 1990 }), 2000, true],
    ["gap within grace", p({ gap: true, lastPacketAt: undefined }), 149, false],
    ["gap after grace", p({ gap: true, lastPacketAt: undefined }), 150, true],
  ];
  for (const [name, pending, now, due] of rows) t.is(repairDue(pending, now, T), due, name);
});

const body = Buffer.from("segment bytes");
const hex = createHash("sha256").update(body).digest("hex");
const fields = (id: number, bytes: Buffer = body): SegmentMetaFields => ({
  segmentId: id,
  durationMs: 1960,
  totalBytes: bytes.length,
  firstSeq: 0,
  packetCount: 1,
  discontinuity: true,
  publishedAt: 0,
  sha256: createHash("sha256").update(bytes).digest(),
});
const verifier = (): MetaVerifier => new MetaVerifier({ channel: 0, originKey: TEST_ORIGIN.publicKey });
const check = (v: MetaVerifier, id: number) => (payload: Uint8Array) => v.check(payload, "fallback", id);

function client(
  respond: (url: string) => Response | Promise<Response>,
  maxSegmentBytes = 1000,
): FallbackClient {
  return new FallbackClient(
    { fetch: (async (u: string | URL | Request) => respond(String(u))) as typeof fetch },
    { maxSegmentBytes, timeoutMs: 1000 },
  );
}

test("segment: taken with the signed META it matches; duration and discontinuity from that META", async (t) => {
  const c = client(
    () =>
      new Response(body, {
        headers: {
          "x-tiercast-meta": metaHeader(fields(4)),
          "x-tiercast-duration-ms": "9999",
          "x-tiercast-discontinuity": "0",
        },
      }),
  );
  const v = verifier();
  const s = await c.segment("http://o/", "demo", 4, check(v, 4));
  t.true(s.bytes.equals(body));
  t.is(s.meta.durationMs, 1960, "the signed META, not the bare header");
  t.true(s.meta.discontinuity);
  t.is(v.stats.verified, 1);
  t.is(c.stats.bytes, body.length);
});

test("segment: typed errors for an unsigned or forged META, a bad hash, HTTP errors, oversize and network failure", async (t) => {
  const code = async (c: FallbackClient, id = 1) =>
    (
      await t.throwsAsync(c.segment("http://o", "demo", id, check(verifier(), id)), {
        instanceOf: FallbackError,
      })
    )?.code;
  const signed = (b: Buffer, meta: string): Response =>
    new Response(b, { headers: { "x-tiercast-meta": meta } });
  // No signed META: a bare x-tiercast-sha256 (anyone can write one) is not enough.
  t.is(
    await code(client(() => new Response(body, { headers: { "x-tiercast-sha256": hex } }))),
    "E_FALLBACK_META",
  );
  t.is(await code(client(() => signed(body, metaHeader(fields(1), 0, randomKey())))), "E_FALLBACK_META");
  t.is(await code(client(() => signed(body, metaHeader(fields(1), 9)))), "E_FALLBACK_META", "other channel");
  t.is(await code(client(() => signed(body, metaHeader(fields(2))))), "E_FALLBACK_META", "other segment");
  t.is(await code(client(() => signed(body, "not base64!"))), "E_FALLBACK_META");
  t.is(await code(client(() => signed(body, metaHeader(fields(1)).slice(4)))), "E_FALLBACK_META");
  t.is(
    await code(client(() => signed(Buffer.from("other bytes!!"), metaHeader(fields(1))))),
    "E_FALLBACK_HASH",
  );
  t.is(
    await code(client(() => signed(Buffer.concat([body, body]), metaHeader(fields(1))))),
    "E_FALLBACK_HASH",
  );
  t.is(await code(client(() => new Response("x", { status: 404 }))), "E_FALLBACK_HTTP");
  t.is(await code(client(() => new Response(Buffer.alloc(2000)), 1000)), "E_FALLBACK_TOO_LARGE");
  t.is(
    await code(
      client(() => {
        throw new TypeError("fetch failed");
      }),
    ),
    "E_FALLBACK_BAD_RESPONSE",
  );
  // Without an origin key nothing verifies (fail closed).
  const noKey = new MetaVerifier({ channel: 0, originKey: undefined });
  const e = await t.throwsAsync(
    client(() => signed(body, metaHeader(fields(1)))).segment("http://o", "demo", 1, check(noKey, 1)),
    { instanceOf: FallbackError },
  );
  t.is(e?.code, "E_FALLBACK_META");
  t.regex(e?.message ?? "", /no_key/);
});

test("the repairer never commits what the origin fallback sends with a bad or missing signature", async (t) => {
  const clock = new ManualClock(0);
  const assembler = new Assembler();
  let header: string | undefined;
  const { repairer, committed, logger } = testRepairer(
    clock,
    assembler,
    (async () =>
      new Response(
        body,
        header === undefined ? {} : { headers: { "x-tiercast-meta": header } },
      )) as typeof fetch,
  );
  assembler.onChunk(1, 0, body.subarray(0, 3), 0); // segment 1 is known, its META lost
  for (const h of [undefined, metaHeader(fields(1), 0, randomKey()), metaHeader(fields(1), 1)]) {
    header = h;
    clock.advance(REPAIR_LIMITS.retryMs + T.maxWaitMs);
    repairer.tick();
    await until(() => logger.lines.filter((l) => l.event === "repair_failed").length > 0);
    t.like(logger.lines.filter((l) => l.event === "repair_failed").at(-1), {
      id: 1,
      code: "E_FALLBACK_META",
    });
    logger.lines.length = 0;
  }
  t.deepEqual(committed, []);
  // The origin's own signature: committed.
  const fresh = new Assembler();
  const ok = testRepairer(
    clock,
    fresh,
    (async () =>
      new Response(body, { headers: { "x-tiercast-meta": metaHeader(fields(1)) } })) as typeof fetch,
  );
  fresh.onChunk(1, 0, body.subarray(0, 3), clock.now());
  clock.advance(T.maxWaitMs);
  ok.repairer.tick();
  await until(() => ok.committed.length === 1);
  t.like(ok.committed[0], { source: "fallback", seg: { id: 1, durationMs: 1960, discontinuity: true } });
  repairer.stop();
  ok.repairer.stop();
});

test("latest.json: parsed, bad entries skipped, sorted", async (t) => {
  const c = client((u) => {
    t.is(u, "http://o/live/demo/latest.json");
    return new Response(
      JSON.stringify({
        channel: "demo",
        segments: [
          { id: 8, durationMs: 2000, discontinuity: true, sha256: hex, bytes: 13 },
          { id: "x", durationMs: 2000, sha256: hex },
          { id: 7, durationMs: 2000, discontinuity: false, sha256: "nothex" },
          { id: 6, durationMs: 2000, discontinuity: false, sha256: hex, bytes: 13 },
        ],
      }),
    );
  });
  const l = await c.latest("http://o", "demo");
  t.deepEqual(
    l.map((s) => [s.id, s.discontinuity]),
    [
      [6, false],
      [8, true],
    ],
  );
  const bad = client(() => new Response("[1,2]"));
  t.is(
    (await t.throwsAsync(bad.latest("http://o", "demo"), { instanceOf: FallbackError }))?.code,
    "E_FALLBACK_BAD_RESPONSE",
  );
});

test("a quiet segment's missing packets are asked of the parents (once per quiet spell) before HTTP is due", (t) => {
  const clock = new ManualClock(0);
  const assembler = new Assembler();
  const asked: number[][] = [];
  const fetches: string[] = [];
  const repairer = new SegmentRepairer(
    {
      clock,
      logger: new MemoryLogger(),
      client: client((u) => {
        fetches.push(u);
        return new Response("no", { status: 503 });
      }),
      assembler,
      verifier: verifier(),
      commit: () => {},
      wanted: () => true,
      segmentMs: 2000,
      askPackets: (seqs) => asked.push([...seqs]),
    },
    { ...T, ...REPAIR_LIMITS, channel: "demo", fallbackUrl: "http://origin:8000" },
  );
  const meta = verifiedMeta({
    segmentId: 1,
    durationMs: 2000,
    totalBytes: 30,
    firstSeq: 100,
    packetCount: 3,
    sha256: new Uint8Array(32),
    discontinuity: false,
    publishedAt: 0,
  });
  assembler.onMeta(meta, 0);
  assembler.onChunk(1, 0, Buffer.alloc(10), 0);
  clock.advance(T.tailMs - 1);
  repairer.tick();
  t.deepEqual(asked, []);
  clock.advance(1);
  repairer.tick();
  t.deepEqual(asked, [[100, 101, 102]]);
  clock.advance(50);
  repairer.tick();
  t.is(asked.length, 1, "not again in the same quiet spell");
  clock.advance(100); // 300
  assembler.onChunk(1, 10, Buffer.alloc(10), clock.now());
  clock.advance(T.tailMs);
  repairer.tick();
  t.is(asked.length, 2, "asked again after a packet came and it went quiet again");
  t.deepEqual(fetches, [], "HTTP is not due yet");
});
