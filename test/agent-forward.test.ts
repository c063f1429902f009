import test from "ava";
import { forwardTargets, type Assignment } from "../agent/relay/assignment.js";
import { LinkAlgorithm, type Peer } from "../protocol/messages.js";

const peer = (node: number): Peer => ({ node, address: `127.0.0.${node}`, port: 5000 });
const key = (p: Peer): string => `${p.address}:${p.port}`;

function assignment(over: Partial<Assignment>): Assignment {
  return { channel: 1, version: 1, k: 2, parents: [peer(1), peer(1)], children: [], ...over };
}

const nodes = (ps: Peer[]): number[] => ps.map((p) => p.node);

test("tree children get the substreams in their masks", (t) => {
  const a = assignment({
    children: [
      { ...peer(5), substreams: 0b01 },
      { ...peer(6), substreams: 0b10 },
      { ...peer(7), substreams: 0b11 },
    ],
  });
  t.deepEqual(nodes(forwardTargets(a, { seq: 10, substream: 0 }, key(peer(1)))), [5, 7]);
  t.deepEqual(nodes(forwardTargets(a, { seq: 11, substream: 1 }, key(peer(1)))), [6, 7]);
});

test("flooding: every mesh neighbour but the sender, each once; flood children in the mesh are not sent twice", (t) => {
  const a = assignment({
    mesh: [peer(1), peer(2), peer(3)],
    children: [{ ...peer(2), substreams: 0b11, algorithm: LinkAlgorithm.FLOOD }],
  });
  t.deepEqual(nodes(forwardTargets(a, { seq: 10, substream: 0 }, key(peer(1)))), [2, 3]);
  t.deepEqual(nodes(forwardTargets(a, { seq: 10, substream: 0 }, key(peer(3)))), [1, 2]);
});

test("fec-tree children get the systematic coded substreams: seq mod fec.k in the mask; parity bits carry nothing", (t) => {
  const a = assignment({
    fec: { k: 12, n: 2 },
    children: [
      { ...peer(8), substreams: (1 << 0) | (1 << 5), algorithm: LinkAlgorithm.FEC_TREE },
      { ...peer(9), substreams: (1 << 12) | (1 << 13), algorithm: LinkAlgorithm.FEC_TREE },
    ],
  });
  const to = (seq: number): number[] => nodes(forwardTargets(a, { seq, substream: seq % 2 }, key(peer(1))));
  t.deepEqual(to(24), [8]);
  t.deepEqual(to(29), [8]);
  t.deepEqual(to(30), []);
  for (let seq = 0; seq < 48; seq++) t.false(to(seq).includes(9));
  // Without fec a coded link gets nothing.
  t.deepEqual(
    nodes(forwardTargets({ ...a, fec: undefined } as Assignment, { seq: 24, substream: 0 }, "x")),
    [],
  );
});
