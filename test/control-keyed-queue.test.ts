/**
 * KeyedQueue (control/keyed-queue.ts), the ASSIGN pacer's queue: against a plain reference (an
 * array of [key, value], a set on a waiting key replacing the value in place) over random
 * sequences of set, delete, shift and clear, long enough to cross its compaction.
 */
import test from "ava";
import fc from "fast-check";
import { KeyedQueue } from "../control/keyed-queue.js";

type Op =
  | { op: "set"; key: string; value: number }
  | { op: "delete"; key: string }
  | { op: "shift" }
  | { op: "clear" };

const key = fc.integer({ min: 0, max: 40 }).map((k) => `k${k}`);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), key, value: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), key }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("shift" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
);

test("KeyedQueue behaves as the reference FIFO with replace-in-place", (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 4000 }), (ops) => {
      const q = new KeyedQueue<number>();
      let ref: Array<[string, number]> = [];
      for (const o of ops) {
        if (o.op === "set") {
          const e = ref.find(([k]) => k === o.key);
          if (e !== undefined) e[1] = o.value;
          else ref.push([o.key, o.value]);
          q.set(o.key, o.value);
        } else if (o.op === "delete") {
          const had = ref.some(([k]) => k === o.key);
          ref = ref.filter(([k]) => k !== o.key);
          if (q.delete(o.key) !== had) return false;
        } else if (o.op === "shift") {
          const want = ref.shift();
          const got = q.shift();
          if (JSON.stringify(got) !== JSON.stringify(want)) return false;
        } else {
          ref = [];
          q.clear();
        }
        if (q.size !== ref.length) return false;
        for (const [k, v] of ref) if (q.get(k) !== v) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test("a long FIFO run: 5,000 queued, taken in order while more arrive, past several compactions", (t) => {
  const q = new KeyedQueue<number>();
  for (let i = 0; i < 5000; i++) q.set(`a${i}`, i);
  const taken: number[] = [];
  for (let i = 0; i < 5000; i++) {
    q.set(`b${i}`, 5000 + i);
    taken.push(q.shift()![1]);
  }
  while (q.size > 0) taken.push(q.shift()![1]);
  t.deepEqual(
    taken,
    Array.from({ length: 10_000 }, (_, i) => i),
  );
  t.is(q.shift(), undefined);
});
