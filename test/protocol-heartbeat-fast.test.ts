/**
 * HEARTBEAT's body reader (protocol/control-bodies.ts) takes every heartbeat through a fast loop
 * and falls back to the field-by-field reader for anything the loop does not take. Differential:
 * on random bodies, well formed or with any field, element or link replaced by junk, the codec's
 * read gives exactly what the field-by-field reader gives: the same body, or the same error.
 */
import test from "ava";
import fc from "fast-check";
import { heartbeatCodec, readHeartbeatChecked } from "../protocol/control-bodies.js";
import { FieldError } from "../protocol/fields.js";

const junk = fc.constantFrom<unknown>(
  undefined,
  null,
  -1,
  -0,
  0.5,
  2,
  256,
  65_536,
  2 ** 32,
  2 ** 53,
  Number.NaN,
  Infinity,
  "7",
  true,
  new Uint8Array(2),
  new Map(),
  [],
  [1, 2],
  [1, 2, 3, 4, 5, 6, 7, 8, 9],
);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 150, arbitrary: a as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk });
const u = (max: number): fc.Arbitrary<unknown> => maybe(fc.integer({ min: 0, max }));
const link = maybe(
  fc
    .tuple(u(0xffffffff), u(0xffff), u(0xffff), fc.option(u(1), { nil: undefined }))
    .map(([n, a, s, x]) => (x === undefined ? [n, a, s] : [n, a, s, x])),
);
const resources = maybe(
  fc
    .tuple(
      u(0xffffffff),
      maybe(fc.constantFrom(0, 1, 2, 3, 4)),
      u(Number.MAX_SAFE_INTEGER),
      u(0xffff),
      u(0xffff),
      fc.option(fc.oneof(u(255), fc.constant(null)), { nil: undefined }),
      fc.option(u(255), { nil: undefined }),
    )
    .map(([a, b, c, d, e, loss, shed]) => {
      const out: unknown[] = [a, b, c, d, e];
      if (loss !== undefined || shed !== undefined) out.push(loss ?? null);
      if (shed !== undefined) out.push(shed);
      return out;
    }),
);
const body = fc
  .record({
    channel: u(0xffffffff),
    assignVersion: u(0xffffffff),
    parents: maybe(fc.array(fc.oneof(link, fc.constant(null)), { maxLength: 17 })),
    children: maybe(fc.array(link, { maxLength: 65, size: "small" })),
    buffers: maybe(fc.array(u(0xffff), { maxLength: 17 })),
    resources,
    newestSegment: u(0xffffffff),
    drop: fc.oneof(
      { weight: 20, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }) },
    ),
  })
  .map((r) => {
    const m = new Map<unknown, unknown>([
      [0, r.channel],
      [1, r.assignVersion],
      [2, r.parents],
      [3, r.children],
      [4, r.buffers],
      [5, r.resources],
      [6, r.newestSegment],
      [9, "an unknown key"],
    ]);
    if (r.drop !== undefined) m.delete(r.drop);
    return m;
  });

function outcome(read: () => unknown): unknown {
  try {
    return { value: read() };
  } catch (e) {
    if (e instanceof FieldError) return { code: e.code, field: e.field, message: e.message };
    throw e;
  }
}

test("the fast HEARTBEAT reader takes and gives exactly what the field-by-field reader does", (t) => {
  let good = 0;
  let bad = 0;
  fc.assert(
    fc.property(body, (m) => {
      const got = outcome(() => heartbeatCodec.read(m));
      const want = outcome(() => readHeartbeatChecked(m));
      t.deepEqual(got, want);
      if ((want as { value?: unknown }).value === undefined) bad++;
      else good++;
    }),
    { numRuns: 5000, seed: 13 },
  );
  t.true(good > 500 && bad > 500, `${good} read, ${bad} refused`);
});
