/**
 * `tiercast agent` as a real process on loopback: real UDP, real SQLite, real HTTP. The test
 * plays the control center (UDP), the origin's data plane (UDP) and its HTTP fallback.
 * Every wait is on a condition with a deadline.
 *
 * @heavy processes: the compiled agent as a process
 */
import test from "ava";
import { packetizeSegment } from "../origin/packetizer.js";
import { metaHeader, TEST_ORIGIN } from "../tools/origin-key.js";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { removeIfPassed } from "./helpers/keep-on-failure.js";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { JoinError, MsgType, type ControlMessage, type JoinAckBody } from "../protocol/messages.js";
import type { Address } from "../seams/transport.js";
import { UdpTransport } from "../seams/udp-transport.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const sha = (b: Uint8Array): Buffer => createHash("sha256").update(b).digest();
const bytesOf = (id: number): Buffer => Buffer.alloc(20_000 + id, id & 0xff);

/** Resolves when `check` returns a value, polling on every event; rejects at the deadline. */
function until<T>(
  what: string,
  check: () => T | undefined,
  ms: number,
  subscribe: (f: () => void) => () => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const first = check();
    if (first !== undefined) return resolve(first);
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = subscribe(() => {
      const v = check();
      if (v === undefined) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

class Events {
  readonly list: Array<Record<string, unknown>> = [];
  readonly #subs = new Set<() => void>();
  push(e: Record<string, unknown>): void {
    this.list.push(e);
    for (const f of [...this.#subs]) f();
  }
  subscribe = (f: () => void): (() => void) => {
    this.#subs.add(f);
    return () => this.#subs.delete(f);
  };
  wait<T>(what: string, check: () => T | undefined, ms = 20_000): Promise<T> {
    return until(what, check, ms, this.subscribe);
  }
}

interface Proc {
  child: ChildProcess;
  log: Events;
  exited: Promise<number | string>;
  ready: Record<string, unknown>;
}

async function startAgent(args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "main.ts"), "agent", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = new Events();
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      log.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      log.push({ event: "non_json", line });
    }
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (c, s) => resolve(c ?? s ?? "?")),
  );
  void exited.then(() => log.push({ event: "exited" }));
  const ready = await log.wait("ready", () => {
    if (log.list.some((e) => e.event === "exited")) throw new Error(`agent exited: ${stderr}`);
    return log.list.find((e) => e.event === "ready");
  });
  return { child, log, exited, ready };
}

function packetize(id: number, bytes: Buffer, firstSeq: number): Buffer[] {
  const seg = packetizeSegment({
    channel: 3,
    signingKey: TEST_ORIGIN.privateKey,
    segmentId: id,
    firstSeq,
    k: 2,
    durationMs: 1000,
    discontinuity: false,
    publishedAt: Date.now(),
    bytes,
  });
  return seg.packets.map((p) => p.datagram);
}

test("a real agent process: join, fast path, UDP delivery, heartbeats, LAN HTTP, LEAVE; kill -9 keeps cache and identity", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tiercast-agent-"));
  const control = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  const origin = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  const fallback = http.createServer((req, res) => {
    if (req.url === "/live/demo/latest.json") {
      const segments = [4, 5].map((id) => ({
        id,
        durationMs: 1000,
        discontinuity: false,
        sha256: sha(bytesOf(id)).toString("hex"),
        bytes: bytesOf(id).length,
      }));
      res.end(JSON.stringify({ channel: "demo", segments }));
      return;
    }
    const m = /^\/live\/demo\/(\d+)\.ts$/.exec(req.url ?? "");
    if (m === null) return void res.writeHead(404).end();
    const b = bytesOf(Number(m[1]));
    res.writeHead(200, {
      "x-tiercast-sha256": sha(b).toString("hex"),
      "x-tiercast-duration-ms": "1000",
      "x-tiercast-discontinuity": "0",
      "x-tiercast-meta": metaHeader(
        {
          segmentId: Number(m[1]),
          durationMs: 1000,
          totalBytes: b.length,
          firstSeq: 0,
          packetCount: 1,
          discontinuity: false,
          publishedAt: 0,
          sha256: sha(b),
        },
        3,
      ),
    });
    res.end(b);
  });
  await new Promise<void>((r) => fallback.listen(0, "127.0.0.1", r));
  const procs: Proc[] = [];
  t.teardown(async () => {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await control.close();
    await origin.close();
    fallback.close();
    removeIfPassed(t, dir);
  });

  const inbox = new Events();
  const msgs: Array<{ msg: ControlMessage; from: Address; bytes: Buffer }> = [];
  const sc = new ScriptedControl();
  control.onDatagram((b, from) => {
    const m = sc.saw(b);
    if (m !== undefined) {
      msgs.push({ msg: m, from, bytes: b });
      inbox.push({});
    }
  });
  // Control's answers: the JOIN_ACK signed over the JOIN it saw last, the rest with the session's tag.
  const reply = (to: Address, type: MsgType, body: unknown): void =>
    control.send(type === MsgType.JOIN_ACK ? sc.ack(body as JoinAckBody) : sc.seal(type, body), to);
  const fallbackUrl = `http://127.0.0.1:${(fallback.address() as AddressInfo).port}`;
  const args = [
    `--control=127.0.0.1:${control.local.port}`,
    `--control-key=${Buffer.from(sc.publicKey).toString("hex")}`,
    "--host=127.0.1.7",
    "--http-port=0",
    `--data-dir=${join(dir, "agent")}`,
    "--upload-kbps=20000",
  ];

  const a = await startAgent(args);
  procs.push(a);
  const httpAddr = a.ready.http as Address;
  const lan = (path: string) => fetch(`http://${httpAddr.address}:${httpAddr.port}${path}`);
  const join1 = await inbox.wait("JOIN", () => msgs.find((m) => m.msg.type === MsgType.JOIN));
  t.is(join1.from.address, "127.0.1.7");
  const key1 = Buffer.from((join1.msg.body as { key: Uint8Array }).key).toString("hex");
  t.is((join1.msg.body as { httpPort: number }).httpPort, httpAddr.port);
  reply(join1.from, MsgType.JOIN_ACK, {
    error: JoinError.NONE,
    node: 17,
    region: "region-a",
    heartbeatMs: 200,
    channels: [
      {
        name: "demo",
        id: 3,
        k: 2,
        streamKbps: 1000,
        segmentMs: 1000,
        fallbackUrl,
        originKey: TEST_ORIGIN.publicKey,
      },
    ],
  });
  reply(join1.from, MsgType.ASSIGN, {
    channel: 3,
    version: 1,
    k: 2,
    tier: 1,
    parents: [
      { node: 1, ...origin.local },
      { node: 1, ...origin.local },
    ],
    children: [],
  });

  // Fast path: segment 5 over HTTP, then 6 and 7 over UDP.
  const committed = () =>
    a.log.list.filter((e) => e.event === "segment_committed").map((e) => `${e.id}:${e.source}`);
  await a.log.wait("fast path commit", () => (committed().includes("5:fallback") ? true : undefined));
  let seq = 1000;
  for (const id of [6, 7]) {
    const pkts = packetize(id, bytesOf(id), seq);
    seq += pkts.length;
    for (const p of pkts) origin.send(p, join1.from);
  }
  await a.log.wait("UDP commits", () => (committed().includes("7:peer") ? true : undefined));
  t.deepEqual(committed(), ["5:fallback", "6:peer", "7:peer"]);

  const hb = await inbox.wait("a heartbeat reporting the assignment", () =>
    msgs.find(
      (m) =>
        m.msg.type === MsgType.HEARTBEAT &&
        (m.msg.body as { assignVersion: number }).assignVersion === 1 &&
        (m.msg.body as { newestSegment: number }).newestSegment === 7,
    ),
  );
  t.like(hb.msg, { sender: 17, body: { channel: 3, parents: [{ node: 1 }, { node: 1 }], children: [] } });
  t.true(sc.tagged(hb.bytes), "the heartbeat carries the session's tag");

  const status = (await (await lan("/status")).json()) as Record<string, unknown>;
  t.like(status, {
    node: 17,
    region: "region-a",
    role: "agent",
    parents: [1],
    assignVersion: 1,
    segmentsHeld: 3,
    newestSegment: 7,
  });
  t.not(status.joinMs, null);
  const pl = await (await lan("/live/demo/index.m3u8")).text();
  t.deepEqual(
    pl.split("\n").filter((l) => l.endsWith(".ts")),
    ["5.ts", "6.ts", "7.ts"],
  );
  const seg = await lan("/live/demo/6.ts");
  t.is(seg.headers.get("content-type"), "video/mp2t");
  t.true(Buffer.from(await seg.arrayBuffer()).equals(bytesOf(6)));

  // SIGTERM: LEAVE, exit 0.
  a.child.kill("SIGTERM");
  t.is(await a.exited, 0);
  t.truthy(msgs.find((m) => m.msg.type === MsgType.LEAVE && m.msg.sender === 17));

  // Restart, kill -9, restart: the same key, the cache intact.
  const b = await startAgent(args);
  procs.push(b);
  const joins = () => msgs.filter((m) => m.msg.type === MsgType.JOIN);
  const n = joins().length;
  const join2 = await inbox.wait("JOIN after restart", () => joins()[n]);
  t.is(Buffer.from((join2.msg.body as { key: Uint8Array }).key).toString("hex"), key1, "same identity");
  b.child.kill("SIGKILL");
  await b.exited;
  const c = await startAgent(args);
  procs.push(c);
  const h = c.ready.http as Address;
  for (const id of [5, 6, 7]) {
    const r = await fetch(`http://${h.address}:${h.port}/live/demo/${id}.ts`);
    t.is(r.status, 200, `segment ${id} after kill -9`);
    t.true(Buffer.from(await r.arrayBuffer()).equals(bytesOf(id)));
  }
  c.child.kill("SIGTERM");
  t.is(await c.exited, 0);
});
