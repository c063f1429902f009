/**
 * sameAssignment (control/assign-body.ts) against the canonical form it replaced in ClusterDcm:
 * the body's JSON without the version, the parts, the parents' HTTP ports and the epoch, the
 * children sorted by node. Two bodies are the same assignment exactly when their canonical
 * forms are equal, whatever differs between them.
 */
import test from "ava";
import fc from "fast-check";
import { sameAssignment } from "../control/assign-body.js";
import type { AssignBody, ChildLink } from "../protocol/messages.js";
import { canonicalAssignment } from "./helpers/assign-canonical.js";
import { assignBody } from "./protocol-arbitraries.js";

/** A copy of `b` changed by one of the edits an assignment goes through (or none at all). */
const edited: fc.Arbitrary<[AssignBody, AssignBody]> = assignBody.chain((b) =>
  fc
    .tuple(
      fc.constantFrom(
        "none",
        "version",
        "epoch",
        "parts",
        "ports",
        "reorder",
        "parent-port",
        "parent-gone",
        "child-substreams",
        "child-gone",
        "role",
        "cluster",
        "fec",
        "mesh",
        "tier",
      ),
      fc.nat(),
    )
    .map(([edit, r]): [AssignBody, AssignBody] => {
      const c: AssignBody = { ...b, parents: [...b.parents], children: [...b.children] };
      const at = <T>(list: T[]): number => r % Math.max(1, list.length);
      switch (edit) {
        case "version":
          c.version = (b.version + 1) >>> 0;
          break;
        case "epoch":
          c.epoch = (b.epoch ?? 0) + 1;
          break;
        case "parts":
          c.parts = (b.parts ?? 1) + 1;
          break;
        case "ports":
          c.parentHttpPorts = (b.parentHttpPorts ?? []).map((p) => (p + 1) & 0xffff);
          break;
        case "reorder":
          c.children.reverse();
          break;
        case "parent-port": {
          const p = c.parents[at(c.parents)];
          if (p !== undefined && p !== null) c.parents[at(c.parents)] = { ...p, port: (p.port % 65535) + 1 };
          break;
        }
        case "parent-gone":
          if (c.parents.length > 0) c.parents[at(c.parents)] = null;
          break;
        case "child-substreams": {
          const ch: ChildLink | undefined = c.children[at(c.children)];
          if (ch !== undefined)
            c.children[at(c.children)] = { ...ch, substreams: (ch.substreams + 1) & 0xffff };
          break;
        }
        case "child-gone":
          c.children.splice(at(c.children), 1);
          break;
        case "role":
          if (c.role === undefined) c.role = b.tier % 2;
          else delete c.role;
          break;
        case "cluster":
          c.cluster = (b.cluster ?? 0) + 1;
          break;
        case "fec":
          if (c.fec === undefined) c.fec = { k: 1, n: 0 };
          else c.fec = { k: c.fec.k, n: c.fec.n + 1 };
          break;
        case "mesh":
          if (c.mesh === undefined) c.mesh = [];
          else delete c.mesh;
          break;
        case "tier":
          c.tier = (b.tier + 1) & 0xff;
          break;
      }
      return [b, c];
    }),
);

test("sameAssignment is equality of the canonical form, after any one edit", (t) => {
  let same = 0;
  let differ = 0;
  fc.assert(
    fc.property(edited, ([a, b]) => {
      const want = canonicalAssignment(a) === canonicalAssignment(b);
      if (want) same++;
      else differ++;
      return sameAssignment(a, b) === want && sameAssignment(b, a) === want;
    }),
    { numRuns: 5000 },
  );
  // Both outcomes were exercised, many times over.
  t.true(same > 500 && differ > 500, `same ${same}, differ ${differ}`);
});

test("sameAssignment is equality of the canonical form for unrelated bodies", (t) => {
  fc.assert(
    fc.property(assignBody, assignBody, (a, b) => {
      return sameAssignment(a, b) === (canonicalAssignment(a) === canonicalAssignment(b));
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("children listed in another order are the same assignment; duplicates keep their order", (t) => {
  const child = (node: number, substreams: number): ChildLink => ({
    node,
    address: "10.0.0.1",
    port: 1,
    substreams,
  });
  const body = (children: ChildLink[]): AssignBody => ({
    channel: 1,
    version: 1,
    k: 4,
    tier: 2,
    parents: [],
    children,
  });
  t.true(
    sameAssignment(
      body([child(1, 1), child(2, 2), child(3, 4)]),
      body([child(3, 4), child(1, 1), child(2, 2)]),
    ),
  );
  t.false(sameAssignment(body([child(1, 1), child(2, 2)]), body([child(1, 1), child(2, 4)])));
  // The same node twice: sorted by node (stable), so the order between them still counts.
  const a = body([child(5, 1), child(5, 2)]);
  const b = body([child(5, 2), child(5, 1)]);
  t.is(sameAssignment(a, b), canonicalAssignment(a) === canonicalAssignment(b));
});
