/** The control center as main wires it: a real UDP socket on 127.0.0.1, SQLite on disk, real admin HTTP. */
import test from "ava";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { main, startControl, controlCommand } from "../control/main.js";
import { UsageError } from "../common/options.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../protocol/limits.js";
import { JoinError, MsgType, NatType, Role } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import type { Address } from "../seams/transport.js";
import { UdpNode } from "./helpers/udp-node.js";
import { randomBytes } from "node:crypto";
import { encodeTagged } from "../protocol/auth.js";
import { DEFAULT_MAX_CHILDREN } from "../control/topology/tree.js";

async function until<T>(what: string, f: () => T | undefined, deadlineMs = 5000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function join_(node: UdpNode, role: Role, extra: object): void {
  node.join({ role, channels: ["news"], uploadKbps: 2000, nat: NatType.OPEN, httpPort: 8080, ...extra });
}

test("main wiring over real UDP and HTTP: JOIN, ASSIGN, /api/nodes, /metrics", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-main-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logger = new MemoryLogger();
  const db = join(dir, "state", "control.db");
  const running = await startControl(
    {
      host: "127.0.0.1",
      port: 0,
      adminPort: 0,
      db,
      regions: undefined,
      heartbeatMs: 1000,
      logLevel: "info",
      topology: "tree",
    },
    { logger },
  );
  t.teardown(() => running.stop());
  t.true(existsSync(db));
  const ready = logger.lines.find((l) => l.event === "ready")!;
  t.deepEqual(ready.udp, running.udp);
  t.deepEqual(ready.http, running.http);

  const origin = await UdpNode.bind(running.udp, running.publicKey);
  const agent = await UdpNode.bind(running.udp, running.publicKey);
  t.teardown(async () => {
    await origin.udp.close();
    await agent.udp.close();
  });
  join_(origin, Role.ORIGIN, {
    streamKbps: 1000,
    segmentMs: 2000,
    fallbackUrl: "http://127.0.0.1:8080",
  });
  const oack = await until("origin JOIN_ACK", () => origin.inbox.find((m) => m.type === MsgType.JOIN_ACK));
  join_(agent, Role.AGENT, {});
  const aack = await until("agent JOIN_ACK", () => agent.inbox.find((m) => m.type === MsgType.JOIN_ACK));
  // A new key is placed once it has heartbeated twice (probation, docs/security.md).
  t.is(agent.inbox.filter((m) => m.type === MsgType.ASSIGN).length, 0);
  for (let i = 0; i < 2; i++) {
    agent.send({
      type: MsgType.HEARTBEAT,
      body: {
        channel: 1,
        assignVersion: 0,
        parents: [null],
        children: [],
        buffers: [0],
        resources: { uploadKbps: 0, nat: NatType.OPEN, cacheBytes: 0, cpuPct: 0, rssMB: 1 },
        newestSegment: 0,
      },
    });
  }
  const assign = await until("agent ASSIGN", () => agent.inbox.find((m) => m.type === MsgType.ASSIGN));
  if (oack.type !== MsgType.JOIN_ACK || aack.type !== MsgType.JOIN_ACK || assign.type !== MsgType.ASSIGN) {
    return t.fail();
  }
  t.is(aack.body.error, JoinError.NONE);
  t.deepEqual(assign.body.parents, [{ node: oack.body.node, ...origin.udp.local }]);

  const base = `http://${running.http.address}:${running.http.port}`;
  // The admin API wants the bearer token control made (test/control-admin-auth.test.ts).
  const auth = { headers: { authorization: `Bearer ${running.adminToken}` } };
  const nodes = (await (await fetch(`${base}/api/nodes`, auth)).json()) as Array<Record<string, unknown>>;
  t.is(nodes.length, 2);
  const a = nodes.find((n) => n.id === aack.body.node)!;
  t.like(a, {
    role: "agent",
    region: "default",
    address: "127.0.0.1",
    port: agent.udp.local.port,
    channel: "news",
    depth: 1,
    uploadKbps: 2000,
  });
  t.true(typeof a.lastHeartbeatAgoMs === "number");
  t.deepEqual(a.parents, [{ node: oack.body.node, ...origin.udp.local }]);
  const o = nodes.find((n) => n.id === oack.body.node)!;
  t.like(o, { role: "origin", depth: 0 });
  t.deepEqual(o.children, [{ node: aack.body.node, ...agent.udp.local, substreams: 1 }]);

  const topo = (await (await fetch(`${base}/api/topology`, auth)).json()) as Array<Record<string, unknown>>;
  t.like(topo[0], { channel: "news", depth: 1, unplaced: [] });
  t.deepEqual(topo[0]!.edges, [{ parent: oack.body.node, child: aack.body.node, substreams: 1 }]);
  const channels = (await (await fetch(`${base}/api/channels`, auth)).json()) as Array<
    Record<string, unknown>
  >;
  t.like(channels[0], { name: "news", id: 1, origin: oack.body.node, dcm: "dcm:news:all", members: 1 });

  const metrics = await (await fetch(`${base}/metrics`, auth)).text();
  t.regex(metrics, /^tiercast_control_nodes\{role="agent",region="default"\} 1$/m);
  t.regex(metrics, /^tiercast_control_assigns_sent_total 3$/m);
  t.regex(metrics, /^# TYPE tiercast_control_malformed_datagrams_total counter$/m);
  t.like(await (await fetch(`${base}/healthz`)).json(), { ok: true, nodes: 2 });
  const missing = await fetch(`${base}/api/nope`, auth);
  t.is(missing.status, 404);
  t.like(await missing.json(), { error: "not found" });
  t.is((await fetch(`${base}/api/nodes`, { ...auth, method: "POST" })).status, 405);
  // A request target that is not a URL gets 400, and the server keeps serving.
  const raw = await rawRequest(running.http, "GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  t.regex(raw, /^HTTP\/1\.1 400 /);
  t.is((await fetch(`${base}/healthz`)).status, 200);
});

function rawRequest(to: Address, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(to.port, to.address, () => sock.end(request));
    let got = "";
    sock.on("data", (d: Buffer) => (got += d.toString()));
    sock.on("end", () => resolve(got));
    sock.on("error", reject);
  });
}

test("main: a bad region policy file is a UsageError naming the field", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-control-main-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "regions.json");
  writeFileSync(
    file,
    JSON.stringify({
      regions: [
        { name: "east", prefixes: ["127.0.1.0/24"] },
        { name: "west", prefixes: ["127.0.1/24"] },
      ],
    }),
  );
  const e = await t.throwsAsync(
    main([`--regions=${file}`, "--port=0", "--admin-port=0", `--db=${join(dir, "c.db")}`]),
    {
      instanceOf: UsageError,
    },
  );
  t.true(e.message.includes('regions[1].prefixes[0]: "127.0.1/24" is not a CIDR prefix'), e.message);
  t.false(existsSync(join(dir, "c.db")));
});

test("the command spec lists the documented options and defaults", (t) => {
  t.is(controlCommand.name, "control");
  t.like(controlCommand.spec, {
    host: { default: "127.0.0.1" },
    port: { default: 7700 },
    adminPort: { default: 7701 },
    adminHost: { default: "127.0.0.1" },
    db: { default: ".tiercast/control.db" },
    heartbeatMs: { default: 1000 },
    logLevel: { default: "info" },
  });
  t.is(controlCommand.spec.regions.default, undefined);
  t.false("default" in controlCommand.spec.adminTokenFile);
});

test("an ASSIGN with 16 IPv6 parents and the most children the tree gives fits in one datagram, tag included", (t) => {
  const peer = (i: number) => ({
    node: 0xfffff000 + i,
    address: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i.toString(16)}`,
    port: 65535,
  });
  const buf = encodeTagged(
    {
      v: WIRE_VERSION,
      type: MsgType.ASSIGN,
      sender: 0,
      seq: 0xffffffff,
      ts: Date.now(),
      body: {
        channel: 0xffffffff,
        version: 0xffffffff,
        k: 16,
        tier: 255,
        parents: Array.from({ length: 16 }, (_, i) => peer(i)),
        children: Array.from({ length: DEFAULT_MAX_CHILDREN }, (_, i) => ({
          ...peer(100 + i),
          substreams: 0xffff,
        })),
      },
    },
    randomBytes(32),
  );
  t.true(buf.length <= MAX_CONTROL_BYTES, `${buf.length} bytes`);
  t.log(`${buf.length} bytes`);
});
