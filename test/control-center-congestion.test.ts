/**
 * Congestion moves through the whole control center (tiered engine) on a ManualClock and a
 * MemoryNetwork (helpers/control-harness.ts): heartbeats carry a link that is cut for good at
 * the child, the liveness tick runs the congestion check with the clock's time, and the events
 * show the backoff (`links_congested` {links: [{moves, backoffMs, spare...}], held}).
 */
import test from "ava";
import { SqliteNodeStore } from "../control/store.js";
import { type HeartbeatBody, type LinkState, MsgType, NatType } from "../protocol/messages.js";
import { type FakeNode, HB, Harness } from "./helpers/control-harness.js";

function cluster(): { h: Harness; nodes: FakeNode[] } {
  const h = new Harness(new SqliteNodeStore(":memory:"), { topology: "tiered" });
  const o = h.origin(3);
  const agents = [4, 3, 2, 1, 1, 0, 0, 0].map((c) => h.agent(c));
  return { h, nodes: [o, ...agents] };
}

function send(n: FakeNode, parents: Array<LinkState | null>, children: LinkState[]): void {
  const a = n.lastAssign()!;
  const body: HeartbeatBody = {
    channel: a.channel,
    assignVersion: a.version,
    parents,
    children,
    buffers: [0],
    resources: { uploadKbps: 800, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 1, rssMB: 40 },
    newestSegment: 0,
  };
  n.send({ type: MsgType.HEARTBEAT, body });
}

/**
 * `intervals` heartbeat intervals: every node heartbeats; the child's parents (in the plan in
 * force) report what they sent it, 100 packets an interval, and the child reports what it got:
 * nothing from the parents `cut` names (whoever they are now), all of it from the others.
 */
function run(
  h: Harness,
  nodes: FakeNode[],
  child: number,
  cut: (parents: ReadonlyArray<number | null>) => ReadonlySet<number | null>,
  intervals: number,
): void {
  const dcm = h.control.directory.all()[0]!.dcm;
  for (let i = 1; i <= intervals; i++) {
    const seq = 100 * i;
    const parents = dcm.plan.nodes.get(child)!.parents;
    const dropped = cut(parents);
    for (const n of nodes) {
      const kids = parents.includes(n.id) ? [{ node: child, ageMs: 0, lastSeq: seq }] : [];
      if (n.id === child) {
        const links = parents.map((p) =>
          p === null
            ? null
            : dropped.has(p)
              ? { node: p, ageMs: 60_000, lastSeq: 0 }
              : { node: p, ageMs: 5, lastSeq: seq },
        );
        send(n, links, []);
      } else if (kids.length > 0) send(n, [null], kids);
      else n.heartbeat();
    }
    h.clock.advance(HB);
  }
}

test("control center: a plain link cut for good is moved under the backoff, not every interval", (t) => {
  const { h, nodes } = cluster();
  const dcm = h.control.directory.all()[0]!.dcm;
  const origin = nodes[0]!.id;
  const [child] = [...dcm.plan.nodes].find(
    ([, n]) => n.role === "tier3" && n.parents[0] !== null && n.parents[0] !== origin,
  )!;
  run(h, nodes, child, (ps) => new Set(ps), 45);
  const moved = h.events("links_congested").map((e) => {
    const links = e.links as Array<Record<string, unknown>>;
    t.is(links.length, 1);
    t.is(links[0]!.child, child);
    t.is(links[0]!.spare, false);
    return [links[0]!.moves, links[0]!.backoffMs];
  });
  t.deepEqual(moved, [
    [1, 4000],
    [2, 8000],
    [3, 16_000],
    [4, 32_000],
  ]);
  t.is(h.control.metrics.congestedLinks, 4);
  t.true(h.events("links_congested_held").length > 20);
  t.is(h.events("node_lost").length, 0);
});

test("control center: a cut coded substream of a tier-2 node that still gets fec.k is held, no ASSIGN", (t) => {
  const { h, nodes } = cluster();
  const dcm = h.control.directory.all()[0]!.dcm;
  const once = (ps: ReadonlyArray<number | null>, p: number | null): boolean =>
    p !== null && ps.filter((x) => x === p).length === 1;
  const [child, np] = [...dcm.plan.nodes].find(
    ([, n]) =>
      n.fec !== undefined && n.parents.every((p) => p !== null) && n.parents.some((p) => once(n.parents, p)),
  )!;
  const cut = np.parents.find((p) => once(np.parents, p))!;
  const node = nodes.find((n) => n.id === child)!;
  const assigns = node.assigns().length;
  run(h, nodes, child, () => new Set([cut]), 45);
  t.deepEqual(h.events("links_congested"), []);
  const held = h.events("links_congested_held").flatMap((e) => e.links as Array<Record<string, unknown>>);
  t.true(held.length > 40, `${held.length} held`);
  t.true(held.every((l) => l.parent === cut && l.child === child && l.spare === true));
  t.is(node.assigns().length, assigns);
  t.true(dcm.plan.nodes.get(child)!.parents.includes(cut));
});
