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

const sample: HeartbeatBody = {
  channel: 1,
  assignVersion: 2,
  parents: [{ node: 3, ageMs: 4, lastSeq: 5 }, null],
  children: [{ node: 6, ageMs: 7, lastSeq: 8, suspect: true }],
  buffers: [9],
  resources: { uploadKbps: 10, nat: 0, cacheBytes: 11, cpuPct: 12, rssMB: 13 },
  newestSegment: 14,
};

test("a packed heartbeat unpacks to the body that was packed", (t) => {
  fc.assert(
    fc.property(heartbeat, (b) => {
      t.deepEqual(unpackHeartbeat(packHeartbeat(b)), b);
    }),
    { numRuns: 2000 },
  );
});

test("a report written over by the next heartbeat of the same length and channel is that heartbeat's; otherwise a new array", (t) => {
  let reused = 0;
  let fresh = 0;
  fc.assert(
    fc.property(heartbeat, heartbeat, fc.boolean(), (a, b0, sameShape) => {
      // Half the time b has a's shape (the same links, buffers and channel: the common case).
      const b: HeartbeatBody = sameShape
        ? {
            ...b0,
            channel: a.channel,
            parents: a.parents.map((l, i) => (l === null ? null : (b0.children[i] ?? l))),
            children: a.children,
            buffers: a.buffers.map((x) => x ^ 1),
          }
        : b0;
      const first = packHeartbeat(a);
      const before = [...first];
      const second = packHeartbeat(b, first);
      t.deepEqual(unpackHeartbeat(second), b);
      const same = before.length === second.length && a.channel === b.channel;
      if (same) {
        reused++;
        t.is(second, first);
      } else {
        fresh++;
        t.not(second, first);
        t.deepEqual([...first], before, "the old report is left as it was");
      }
    }),
    { numRuns: 1000 },
  );
  t.true(reused > 100 && fresh > 100);
  t.deepEqual(unpackHeartbeat(packHeartbeat(unpackHeartbeat(packHeartbeat(sample)), null)), sample);
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
