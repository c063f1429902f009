/**
 * Tier 2 across an ASSIGN that moves a coded link (control's congestion move, a rebuild): the
 * cluster node's FEC state carries on, so a group whose shards arrive partly before and partly
 * after the new assignment is still rebuilt. Found in the network lab (test/lab-tiered.test.ts,
 * d): with 2 of 6 coded substreams cut, every move of a coded link cost the groups in flight.
 */
import test from "ava";
import type { Assignment } from "../agent/relay/assignment.js";
import { LinkAlgorithm, type Peer } from "../protocol/messages.js";
import type { Address } from "../seams/transport.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { ManualClock } from "../seams/manual-clock.js";

import { captureNode, codedIndex } from "./helpers/capture-node.js";

const CHANNEL = 4;

test("a coded link moved mid-group (new ASSIGN) costs no group: 2 of 6 substreams cut, every packet rebuilt", (t) => {
  const fec = { k: 4, n: 2 };
  const clock = new ManualClock();
  const origin: Address = { address: "127.0.0.1", port: 4000 };
  const top = captureNode(clock, "127.0.1.1");
  const leaf = captureNode(clock, "127.0.2.1");
  const other = captureNode(clock, "127.0.1.2"); // another tier-1 node, the new parent of parity 5
  top.dp.setAssignment({
    channel: CHANNEL,
    version: 1,
    k: 2,
    parents: [{ node: 1, ...origin }],
    children: [{ ...leaf.peer(3), substreams: 0b111111, algorithm: LinkAlgorithm.FEC_TREE }],
    tier: 1,
    fec,
  });
  const leafAssign = (version: number, parity5: Peer): Assignment => ({
    channel: CHANNEL,
    version,
    k: 2,
    parents: Array.from({ length: fec.k + fec.n }, (_, j) => ({
      ...(j === 5 ? parity5 : top.peer(2)),
      algorithm: LinkAlgorithm.FEC_TREE,
    })),
    children: [],
    tier: 2,
    fec,
  });
  leaf.dp.setAssignment(leafAssign(1, top.peer(2)));
  const bytes = Buffer.alloc(40_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  const seg = packetizeSegment({
    channel: CHANNEL,
    signingKey: TEST_ORIGIN.privateKey,
    segmentId: 9,
    firstSeq: 2000,
    k: 2,
    durationMs: 1000,
    discontinuity: false,
    publishedAt: 1,
    bytes,
    alignTo: fec.k,
  });
  for (const p of seg.packets) top.dp.onDatagram(p.datagram, origin);
  clock.advance(300);
  const cut = [0, 1];
  const delivered = top.transport.sent.splice(0).filter(({ data }) => !cut.includes(codedIndex(data, fec.k)));
  // Shards 2, 3, 4, 5 of each group arrive in order; the ASSIGN lands between shards of a group.
  const half = delivered.findIndex(({ data }) => codedIndex(data, fec.k) === 3) + 1;
  t.true(half > 0 && half < delivered.length - 1);
  for (const { data } of delivered.slice(0, half)) leaf.dp.onDatagram(data, top.transport.local);
  leaf.dp.setAssignment(leafAssign(2, other.peer(5)));
  // The former parent stays accepted for its grace: the rest still comes from it.
  for (const { data } of delivered.slice(half)) leaf.dp.onDatagram(data, top.transport.local);
  const seqs = new Set(leaf.sunk.map((p) => p.seq));
  t.is(seqs.size, seg.packets.length, "every packet of the segment, received or rebuilt");
  t.is(leaf.dp.missed(0), 0);
  t.true((leaf.dp.fecStats?.recovered ?? 0) > 0);
  t.is(
    leaf.dp.stats.recovered,
    leaf.dp.fecStats?.recovered ?? -1,
    "the FEC counters carried on across the ASSIGN",
  );
});
