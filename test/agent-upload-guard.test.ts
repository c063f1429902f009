import test from "ava";
import { Pacer } from "../dataplane/pacer.js";
import { DataPlane } from "../agent/relay/data-plane.js";
import { UploadGuard } from "../agent/relay/upload-guard.js";
import { encodeData } from "../protocol/data-codec.js";
import { LinkAlgorithm, type ChildLink } from "../protocol/messages.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { MemoryLogger } from "../seams/log.js";

const child = (node: number, algorithm?: LinkAlgorithm): ChildLink => ({
  node,
  address: `127.0.1.${node}`,
  port: 5000,
  substreams: 1,
  ...(algorithm === undefined ? {} : { algorithm }),
});

test("upload guard: sheds only after overChecks intervals over the cap, lowest priority first", (t) => {
  const g = new UploadGuard({ maxQueueDelayMs: 400, overChecks: 2 });
  const kids = [child(1, LinkAlgorithm.FEC_TREE), child(2), child(3), child(4, LinkAlgorithm.FEC_TREE)];
  const rate = 10_000; // bytes/s: 400 ms = 4000 bytes
  t.is(g.check(3999, rate, kids), undefined);
  t.is(g.check(8000, rate, kids), undefined); // first interval over
  t.is(g.check(8000, rate, kids)?.node, 3); // second: the last TREE child
  t.is(g.check(8000, rate, kids), undefined);
  t.is(g.check(8000, rate, kids)?.node, 2);
  t.is(g.check(100, rate, kids), undefined); // back under: the count restarts
  t.is(g.check(8000, rate, kids), undefined);
  t.is(g.check(8000, rate, kids)?.node, 4); // then the coded children, last first
  t.is(g.shedCount, 3);
  t.true(g.isShed("127.0.1.2:5000"));
  t.is(g.check(1e9, 0, kids), undefined); // no cap: never sheds
  g.reset();
  t.is(g.shedCount, 0);
});

test("data plane over its upload cap sheds a child, stops sending to it and counts it for the heartbeat", (t) => {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const self = net.bind("127.0.1.100", 5000);
  const parent = net.bind("127.0.0.2", 6000);
  const got = new Map<number, number>();
  const kids = [child(1), child(2), child(3)];
  for (const k of kids) {
    const c = net.bind(k.address, k.port);
    c.onDatagram(() => got.set(k.node, (got.get(k.node) ?? 0) + 1));
  }
  // 20 kB/s cap; three children at 10 kB/s each need 30 kB/s.
  const pacer = new Pacer({ clock, transport: self }, { rateBytesPerSec: 20_000, burstBytes: 2000 });
  const dp = new DataPlane({ clock, logger: new MemoryLogger(), pacer, sink: () => {} });
  self.onDatagram((b, from) => dp.onDatagram(b, from));
  dp.setAssignment({
    channel: 1,
    version: 1,
    k: 1,
    parents: [{ node: 2, ...parent.local }],
    children: kids,
  });
  let seq = 0;
  const second = (): void => {
    for (let i = 0; i < 10; i++) {
      const h = {
        channel: 1,
        seq: seq++,
        substream: 0,
        flags: 0,
        fecGroup: 0,
        fecIndex: 0,
        segmentId: 1,
        offset: 0,
      };
      parent.send(encodeData(h, new Uint8Array(1000 - 28)), self.local);
      clock.advance(100);
    }
  };
  let shedAt = -1;
  for (let s = 0; s < 10 && shedAt < 0; s++) {
    second();
    if (dp.checkUpload() !== undefined) shedAt = s;
  }
  t.true(shedAt >= 1, "shed after the queue built up for two intervals");
  t.is(dp.shedCount, 1);
  clock.advance(5000); // what was queued before the shed drains
  const before = got.get(3) ?? 0;
  for (let s = 0; s < 5; s++) second();
  clock.advance(5000); // drain
  t.is(got.get(3) ?? 0, before, "the shed child gets nothing more");
  t.true((got.get(1) ?? 0) > before && (got.get(2) ?? 0) > before);
  // A new ASSIGN: the shed list is cleared.
  dp.setAssignment({ channel: 1, version: 2, k: 1, parents: [{ node: 2, ...parent.local }], children: kids });
  t.is(dp.shedCount, 0);
});
