// The origin is a node of its channel's DCM too: when its control server dies it resumes its
// session at another configured endpoint like an agent (origin/control-session.ts over
// common/control-link.ts), with no JOIN, while its children keep getting the stream. Scripted
// control servers of one deployment (test/helpers/scripted-servers.ts) on the memory network.
import test from "ava";
import { decodeData } from "../protocol/data-codec.js";
import { MsgType, type ControlMessage } from "../protocol/messages.js";
import { Origin } from "../origin/origin.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";
import { type ScriptedServer, ScriptedServers } from "./helpers/scripted-servers.js";

const HB = 500;
const CHANNEL = {
  name: "demo",
  id: 7,
  k: 1,
  streamKbps: 700,
  segmentMs: 1000,
  fallbackUrl: "http://127.0.0.1:8080",
};

function setup() {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const group = new ScriptedServers(clock, { channels: [CHANNEL], node: 1 });
  const a = group.add(net.bind("127.0.0.1", 7700));
  const b = group.add(net.bind("127.0.0.2", 7700));
  const transport = net.bind("127.0.0.1", 5000);
  const child = net.bind("127.0.1.1", 6000);
  const childGot: number[] = [];
  child.onDatagram((buf) => {
    const d = decodeData(buf);
    if (d.ok) childGot.push(d.value.seq);
  });
  const origin = new Origin(
    {
      clock,
      transport,
      logger: new MemoryLogger(),
      signingKey: TEST_ORIGIN.privateKey,
      resources: () => ({ cpuPct: 3, rssMB: 50 }),
    },
    {
      control: [a.address, b.address],
      channel: "demo",
      key: TEST_ORIGIN.publicKey,
      controlKey: group.publicKey,
      streamKbps: 700,
      segmentMs: 1000,
      fallbackUrl: "http://127.0.0.1:8080",
      httpPort: 8080,
    },
  );
  const assign = (server: ScriptedServer, version: number): void => {
    const body = {
      channel: 7,
      version,
      k: 1,
      tier: 0,
      parents: [null],
      children: [{ node: 2, address: child.local.address, port: child.local.port, substreams: 0b1 }],
    };
    server.send(server.seal(1, MsgType.ASSIGN, body), transport.local);
    clock.advance(2);
  };
  let n = 0;
  const publish = (): void => {
    origin.publish({
      mediaSequence: n++,
      durationMs: 1000,
      discontinuity: false,
      bytes: Buffer.alloc(3000, n),
    });
  };
  return { clock, a, b, origin, assign, publish, childGot };
}

test("the origin resumes at another endpoint when its control server dies; no JOIN, the children keep the stream", (t) => {
  const s = setup();
  s.origin.start();
  s.clock.advance(5);
  t.true(s.origin.joined);
  s.assign(s.a, 3);
  t.is(s.origin.assignVersion, 3);
  s.clock.advance(HB); // a heartbeat reports version 3
  s.publish();
  s.clock.advance(50);
  const before = s.childGot.length;
  t.true(before > 0);

  s.a.kill();
  const t0 = s.clock.now();
  while (s.b.got(MsgType.HEARTBEAT).length === 0 && s.clock.now() - t0 < 3 * HB) {
    if ((s.clock.now() - t0) % 200 === 0) s.publish(); // the source goes on during the outage
    s.clock.advance(1);
  }
  const took = s.clock.now() - t0;
  t.true(took <= 2 * HB, `resumed ${took} ms after the kill`);
  t.true(s.childGot.length > before, "the child got packets published during the failover");
  const resume = s.b.got(MsgType.RESUME);
  t.is(resume.length, 1);
  t.true(resume[0]!.tagged);
  t.like(resume[0]!.msg, { sender: 1, body: { channel: 7, assignVersion: 3, placement: { tier: 0 } } });
  t.is(s.b.of(MsgType.JOIN).length, 0);
  t.is(s.a.of(MsgType.JOIN).length, 1, "the only JOIN is the first");
  s.clock.advance(2 * HB + 5);
  const hbs = s.b.got(MsgType.HEARTBEAT);
  t.true(hbs.length >= 3);
  t.true(
    hbs.every((r) => r.tagged),
    "B verifies the heartbeats with the resumed keys",
  );
  t.like(hbs.at(-1)!.msg as Extract<ControlMessage, { type: MsgType.HEARTBEAT }>, {
    sender: 1,
    body: { channel: 7, assignVersion: 3 },
  });
  // B's ASSIGN, tagged with the resumed keys, is taken; the origin's status says where it is.
  s.assign(s.b, 4);
  t.is(s.origin.assignVersion, 4);
  const control = s.origin.status().control as {
    endpoint: string;
    resuming: boolean;
    rejoins: number;
    failover: { failovers: number; resumes: Record<string, number> };
  };
  t.like(control, { endpoint: "127.0.0.2:7700", resuming: false, rejoins: 0 });
  t.like(control.failover, { failovers: 1, resumes: { ok: 1, refused: 0, unanswered: 0 } });
});

test("the origin: a REJOIN hint with a ticket costs a RESUME; a refused one a full JOIN", (t) => {
  const s = setup();
  s.origin.start();
  s.clock.advance(5);
  s.a.hint({ address: "127.0.0.1", port: 5000 });
  s.clock.advance(5);
  t.is(s.a.got(MsgType.RESUME).length, 1);
  t.is(s.a.of(MsgType.JOIN).length, 1);
  t.true(s.origin.joined);
  s.clock.advance(2000);
  s.a.behaviour.resume = "refuse";
  s.a.hint({ address: "127.0.0.1", port: 5000 });
  s.clock.advance(5);
  t.is(s.a.got(MsgType.RESUME).length, 2);
  t.is(s.a.of(MsgType.JOIN).length, 2, "refused: JOIN afresh");
  t.true(s.origin.joined);
});
