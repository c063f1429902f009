import test from "ava";
import { createHash } from "node:crypto";
import { Assembler, type PendingSegment } from "../agent/assembler.js";
import { FallbackError } from "../agent/errors.js";
import { FallbackClient } from "../agent/fallback-client.js";
import { Repairer, REPAIR_LIMITS, repairDue, repairTiming } from "../agent/repair.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";

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

function client(
  respond: (url: string) => Response | Promise<Response>,
  maxSegmentBytes = 1000,
): FallbackClient {
  return new FallbackClient(
    { fetch: (async (u: string | URL | Request) => respond(String(u))) as typeof fetch },
    { maxSegmentBytes, timeoutMs: 1000 },
  );
}

test("segment: verified against the origin's header; duration and discontinuity from headers", async (t) => {
  const c = client(
    () =>
      new Response(body, {
        headers: {
          "x-tiercast-sha256": hex,
          "x-tiercast-duration-ms": "1960",
          "x-tiercast-discontinuity": "1",
        },
      }),
  );
  const s = await c.segment("http://o/", "demo", 4);
  t.true(s.bytes.equals(body));
  t.is(s.durationMs, 1960);
  t.true(s.discontinuity);
  t.true(s.headerVerified);
  t.is(c.stats.bytes, body.length);
});

test("segment: typed errors for a bad hash, no hash, HTTP errors, oversize and network failure", async (t) => {
  const code = async (c: FallbackClient, expected?: Uint8Array) =>
    (
      await t.throwsAsync(c.segment("http://o", "demo", 1, { sha256: expected }), {
        instanceOf: FallbackError,
      })
    )?.code;
  t.is(
    await code(client(() => new Response("other", { headers: { "x-tiercast-sha256": hex } }))),
    "E_FALLBACK_HASH",
  );
  t.is(await code(client(() => new Response(body))), "E_FALLBACK_BAD_RESPONSE");
  t.is(
    await code(
      client(() => new Response(body)),
      new Uint8Array(32),
    ),
    "E_FALLBACK_HASH",
  );
  t.is(
    await code(client(() => new Response(body, { headers: { "x-tiercast-sha256": "zz" } }))),
    "E_FALLBACK_BAD_RESPONSE",
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
  // Without the header, the caller's expected hash is enough.
  const ok = await client(() => new Response(body)).segment("http://o", "demo", 1, {
    sha256: createHash("sha256").update(body).digest(),
    durationMs: 2000,
  });
  t.false(ok.headerVerified);
  t.is(ok.durationMs, 2000);
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
  const repairer = new Repairer(
    {
      clock,
      logger: new MemoryLogger(),
      client: client((u) => {
        fetches.push(u);
        return new Response("no", { status: 503 });
      }),
      assembler,
      commit: () => {},
      wanted: () => true,
      segmentMs: 2000,
      askPackets: (seqs) => asked.push([...seqs]),
    },
    { ...T, ...REPAIR_LIMITS, channel: "demo", fallbackUrl: "http://origin:8000" },
  );
  const meta = {
    segmentId: 1,
    durationMs: 2000,
    totalBytes: 30,
    firstSeq: 100,
    packetCount: 3,
    sha256: new Uint8Array(32),
    discontinuity: false,
    publishedAt: 0,
    signature: new Uint8Array(64), // not checked before agents verify METAs
  };
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
