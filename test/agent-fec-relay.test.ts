import test from "ava";
import fc from "fast-check";
import type { Assignment } from "../agent/relay/assignment.js";
import { decodeData } from "../protocol/data-codec.js";
import { FLAG_PARITY } from "../protocol/limits.js";
import { LinkAlgorithm } from "../protocol/messages.js";
import type { Address } from "../seams/transport.js";
import { packetizeSegment } from "../origin/packetizer.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { ManualClock } from "../seams/manual-clock.js";

fc.configureGlobal({ includeErrorInReport: true });

import { captureNode, codedIndex } from "./helpers/capture-node.js";

const CHANNEL = 4;

function segments(count: number, k: number, k4 = 4): Buffer[][] {
  const out: Buffer[][] = [];
  let seq = 1000;
  for (let s = 0; s < count; s++) {
    const bytes = Buffer.alloc(9000 + s * 777);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + s) & 0xff;
    const p = packetizeSegment({
      channel: CHANNEL,
      signingKey: TEST_ORIGIN.privateKey,
      segmentId: 50 + s,
      firstSeq: seq,
      k,
      durationMs: 2000,
      discontinuity: false,
      publishedAt: 1,
      bytes,
      alignTo: k4,
    });
    seq = p.nextSeq;
    out.push(p.packets.map((x) => x.datagram));
  }
  return out;
}

test("tier 2 (k = 4, n = 2): any 2 of the 6 coded substreams cut, the cluster node still rebuilds every packet", (t) => {
  const fec = { k: 4, n: 2 };
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 2 }), (cut) => {
      const clock = new ManualClock();
      const origin: Address = { address: "127.0.0.1", port: 4000 };
      const top = captureNode(clock, "127.0.1.1"); // tier 1: encodes
      const leaf = captureNode(clock, "127.0.2.1"); // tier 2: decodes
      const all = (1 << (fec.k + fec.n)) - 1;
      const topA: Assignment = {
        channel: CHANNEL,
        version: 1,
        k: 2,
        parents: [
          { node: 1, ...origin },
          { node: 1, ...origin },
        ],
        children: [{ ...leaf.peer(3), substreams: all, algorithm: LinkAlgorithm.FEC_TREE }],
        tier: 1,
        fec,
      };
      const leafA: Assignment = {
        channel: CHANNEL,
        version: 1,
        k: 2,
        parents: Array.from({ length: fec.k + fec.n }, () => ({
          ...top.peer(2),
          algorithm: LinkAlgorithm.FEC_TREE,
        })),
        children: [],
        tier: 2,
        fec,
      };
      top.dp.setAssignment(topA);
      leaf.dp.setAssignment(leafA);
      const segs = segments(3, 2);
      let expected = 0;
      for (const seg of segs) {
        for (const d of seg) top.dp.onDatagram(d, origin);
        expected += seg.length;
        clock.advance(300); // the encoder codes the segment's partial tail group
        for (const { data } of top.transport.sent.splice(0))
          if (!cut.includes(codedIndex(data, fec.k))) leaf.dp.onDatagram(data, top.transport.local);
      }
      const seqs = new Set(leaf.sunk.map((p) => p.seq));
      if (seqs.size !== expected) throw new Error(`cut ${cut}: ${seqs.size} of ${expected} packets`);
      // Byte-identical to what the origin sent.
      const sent = new Map(segs.flat().map((d) => [decodeData(d).ok ? d.readUInt32BE(8) : -1, d]));
      for (const p of leaf.sunk) {
        const orig = decodeData(sent.get(p.seq)!);
        if (!orig.ok || !Buffer.from(orig.value.payload).equals(p.payload))
          throw new Error(`seq ${p.seq} differs`);
      }
      if ((leaf.dp.fecStats?.recovered ?? 0) === 0 && cut.some((c) => c < fec.k))
        throw new Error("nothing was rebuilt although data substreams were cut");
    }),
    { numRuns: 15 },
  );
  t.pass();
});

test("tier 2: a coded interior node forwards parity once to the coded children that take its index", (t) => {
  const clock = new ManualClock();
  const fec = { k: 4, n: 2 };
  const origin: Address = { address: "127.0.0.1", port: 4000 };
  const top = captureNode(clock, "127.0.1.1");
  const mid = captureNode(clock, "127.0.2.1");
  const kid = captureNode(clock, "127.0.2.2");
  top.dp.setAssignment({
    channel: CHANNEL,
    version: 1,
    k: 1,
    parents: [{ node: 1, ...origin }],
    children: [{ ...mid.peer(3), substreams: 0b111111, algorithm: LinkAlgorithm.FEC_TREE }],
    fec,
  });
  mid.dp.setAssignment({
    channel: CHANNEL,
    version: 1,
    k: 1,
    parents: Array.from({ length: 6 }, () => ({ ...top.peer(2), algorithm: LinkAlgorithm.FEC_TREE })),
    children: [{ ...kid.peer(4), substreams: 1 << 4, algorithm: LinkAlgorithm.FEC_TREE }], // parity 4 only
    fec,
  });
  for (const d of segments(1, 1)[0]!) top.dp.onDatagram(d, origin);
  clock.advance(300);
  const fromTop = top.transport.sent.splice(0);
  const parity = fromTop.filter(({ data }) => (data[1]! & FLAG_PARITY) !== 0);
  t.true(parity.length > 0);
  for (const { data } of fromTop) mid.dp.onDatagram(data, top.transport.local);
  for (const { data } of parity) mid.dp.onDatagram(data, top.transport.local); // duplicates
  const toKid = mid.transport.sent.splice(0);
  t.true(toKid.length > 0);
  t.true(toKid.every(({ data }) => (data[1]! & FLAG_PARITY) !== 0 && data[13] === 4));
  t.is(toKid.length, parity.filter(({ data }) => data[13] === 4).length, "each parity datagram once");
  t.true((mid.dp.fecStats?.parityDuplicates ?? 0) > 0);
});

test("a parity datagram to a node without coded links is rejected", (t) => {
  const clock = new ManualClock();
  const origin: Address = { address: "127.0.0.1", port: 4000 };
  const top = captureNode(clock, "127.0.1.1");
  const plain = captureNode(clock, "127.0.2.1");
  top.dp.setAssignment({
    channel: CHANNEL,
    version: 1,
    k: 1,
    parents: [{ node: 1, ...origin }],
    children: [{ ...plain.peer(3), substreams: 0b111111, algorithm: LinkAlgorithm.FEC_TREE }],
    fec: { k: 4, n: 2 },
  });
  plain.dp.setAssignment({ channel: CHANNEL, version: 1, k: 1, parents: [top.peer(2)], children: [] });
  for (const d of segments(1, 1)[0]!) top.dp.onDatagram(d, origin);
  clock.advance(300);
  for (const { data } of top.transport.sent.splice(0)) plain.dp.onDatagram(data, top.transport.local);
  t.true(plain.dp.stats.rejected > 0);
  t.true(plain.sunk.every((p) => (p.flags & FLAG_PARITY) === 0));
});
