/**
 * The packed last heartbeat (control/heartbeat-report.ts): lossless for every body the codec
 * decodes, and its readers agree with the body's fields.
 */
import test from "ava";
import fc from "fast-check";
import {
  childAgeAt,
  childAt,
  childCount,
  packHeartbeat,
  parentAgeAt,
  parentAt,
  parentSlots,
  reportedChannel,
  reportedShed,
  reportedVersion,
  unpackHeartbeat,
} from "../control/heartbeat-report.js";
import type { HeartbeatBody, LinkState } from "../protocol/messages.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
/** As the decoder gives it: `suspect` present only when set. */
const link: fc.Arbitrary<LinkState> = fc
  .record({ node: u32, ageMs: u16, lastSeq: u16, suspect: fc.boolean() })
  .map(({ suspect, ...l }) => (suspect ? { ...l, suspect: true } : l));
const heartbeat: fc.Arbitrary<HeartbeatBody> = fc.record({
  channel: u32,
  assignVersion: u32,
  parents: fc.array(fc.option(link, { nil: null, freq: 4 }), { maxLength: 16 }),
  children: fc.array(link, { maxLength: 40 }),
  buffers: fc.array(u16, { maxLength: 16 }),
  resources: fc.record(
    {
      uploadKbps: u32,
      nat: fc.integer({ min: 0, max: 4 }),
      cacheBytes: fc.maxSafeNat(),
      cpuPct: u32,
      rssMB: u32,
      loss: fc.integer({ min: 0, max: 255 }).map((x) => x / 255),
      shed: fc.integer({ min: 0, max: 255 }),
    },
    { requiredKeys: ["uploadKbps", "nat", "cacheBytes", "cpuPct", "rssMB"] },
  ),
  newestSegment: u32,
});

test("a packed heartbeat unpacks to the body that was packed", (t) => {
  fc.assert(
    fc.property(heartbeat, (b) => {
      t.deepEqual(unpackHeartbeat(packHeartbeat(b)), b);
    }),
    { numRuns: 2000 },
  );
});

test("the readers give the body's fields", (t) => {
  fc.assert(
    fc.property(heartbeat, (b) => {
      const p = packHeartbeat(b);
      t.is(reportedChannel(p), b.channel);
      t.is(reportedVersion(p), b.assignVersion);
      t.is(reportedShed(p), b.resources.shed ?? 0);
      t.is(parentSlots(p), b.parents.length);
      // Past the slots listed: no parent, never heard.
      for (let j = 0; j <= b.parents.length; j++) {
        t.is(parentAt(p, j), b.parents[j]?.node ?? null);
        t.is(parentAgeAt(p, j), b.parents[j]?.ageMs ?? Infinity);
      }
      t.is(childCount(p), b.children.length);
      b.children.forEach((c, i) => {
        t.is(childAt(p, i), c.node);
        t.is(childAgeAt(p, i), c.ageMs);
      });
    }),
    { numRuns: 2000 },
  );
});

test("a packed heartbeat is one array of its fields' length", (t) => {
  const b: HeartbeatBody = {
    channel: 3,
    assignVersion: 7,
    parents: [{ node: 5, ageMs: 20, lastSeq: 900, suspect: true }, null],
    children: [{ node: 9, ageMs: 1, lastSeq: 899 }],
    buffers: [40, 41],
    resources: { uploadKbps: 800, nat: 1, cacheBytes: 1 << 20, cpuPct: 3, rssMB: 40 },
    newestSegment: 12,
  };
  const p = packHeartbeat(b);
  t.true(Array.isArray(p));
  // 13 head fields, 3 per link (2 parent slots, 1 child), 2 buffers.
  t.is(p.length, 13 + 3 * 3 + 2);
  t.true(p.every((x) => typeof x === "number"));
});
