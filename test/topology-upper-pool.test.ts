/**
 * UpperPool (control/topology/upper-pool.ts), the repairs' list of upper-tier feeders: against a
 * plain reference (the set of members). A cursor never starts past a member with room, whatever
 * the order of adds, removes, fills and frees; members come out once each.
 */
import test from "ava";
import fc from "fast-check";
import { NatType } from "../protocol/messages.js";
import { newNodePlan, NO_UPS, type Rec } from "../control/topology/state.js";
import { UpperPool } from "../control/topology/upper-pool.js";

function rec(id: number): Rec {
  return {
    id,
    region: "r",
    nat: NatType.OPEN,
    tier: 2,
    role: "tier2",
    cluster: 0,
    cap: 4,
    used: 0,
    maxKids: 8,
    home: -1,
    fan: 0,
    tdepth: [],
    tlocal: [],
    np: newNodePlan(1, 2, "tier2"),
    ups: NO_UPS,
  };
}

type Op =
  | { t: "add"; id: number }
  | { t: "remove"; id: number }
  | { t: "fill"; id: number }
  | { t: "free"; id: number }
  | { t: "cursor" };

const id = fc.integer({ min: 0, max: 40 });
const op: fc.Arbitrary<Op> = fc.oneof(
  id.map((x): Op => ({ t: "add", id: x })),
  id.map((x): Op => ({ t: "remove", id: x })),
  id.map((x): Op => ({ t: "fill", id: x })),
  id.map((x): Op => ({ t: "free", id: x })),
  fc.constant<Op>({ t: "cursor" }),
);

const hasRoom = (r: Rec): boolean => r.cap - r.used >= 1 && r.np.children.length < r.maxKids;

test("a cursor starts at or before every member with room; members are listed once", (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const recs = new Map<number, Rec>();
      const get = (x: number): Rec => recs.get(x) ?? recs.set(x, rec(x)).get(x)!;
      const pool = new UpperPool(hasRoom);
      const members = new Set<number>();
      for (const o of ops) {
        if (o.t === "add") {
          pool.add(get(o.id));
          members.add(o.id);
        } else if (o.t === "remove") {
          pool.remove(get(o.id));
          members.delete(o.id);
        } else if (o.t === "fill") {
          get(o.id).used = get(o.id).cap;
        } else if (o.t === "free") {
          const r = get(o.id);
          if (r.used === 0) continue;
          r.used = 0;
          pool.freed(r);
        } else {
          const c = pool.cursor();
          for (let i = 0; i < c.at; i++) if (hasRoom(c.items[i]!)) return false;
          const listed = c.items.map((r) => r.id);
          if (new Set(listed).size !== listed.length || listed.length !== members.size) return false;
          if (!listed.every((x) => members.has(x))) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test("a full node is skipped until a link of its goes", (t) => {
  const pool = new UpperPool(hasRoom);
  const [a, b, c] = [rec(1), rec(2), rec(3)];
  for (const r of [a, b, c]) pool.add(r);
  a.used = a.cap;
  b.used = b.cap;
  t.is(pool.cursor().at, 2);
  b.used = 0;
  pool.freed(b);
  const cur = pool.cursor();
  t.is(cur.items[cur.at], b);
  pool.remove(b);
  t.deepEqual(
    pool.all().map((r) => r.id),
    [1, 3],
  );
  t.is(pool.cursor().items[pool.cursor().at], c);
});
