/**
 * `tiercast origin` as a real process (run from source through tsx) with the bundled sample,
 * against a fake control and a child on real loopback UDP: it logs "ready", joins, sends the
 * segments to the assigned child, serves the fallback, and on SIGTERM sends LEAVE and exits 0.
 *
 * @heavy processes: the origin as a process
 */
import test from "ava";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScriptedControl } from "./helpers/scripted-control.js";
import { decodeData } from "../protocol/data-codec.js";
import { FLAG_META } from "../protocol/limits.js";
import { JoinError, MsgType, Role, type ControlMessage, type JoinAckBody } from "../protocol/messages.js";
import { waitFor } from "../tools/cli.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  return s;
}

test("runs the sample: ready, JOIN, data to the assigned child, fallback over HTTP, LEAVE on SIGTERM", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "tiercast-origin-"));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const control = await udp();
  const child = await udp();
  t.teardown(() => {
    control.close();
    child.close();
  });
  const controlMsgs: ControlMessage[] = [];
  const sc = new ScriptedControl();
  const childPort = child.address().port;
  control.on("message", (buf, rinfo) => {
    const m = sc.saw(buf);
    if (m === undefined) return;
    controlMsgs.push(m);
    // The JOIN_ACK signed over the JOIN, the ASSIGN with the session's tag.
    const reply = (r: Omit<ControlMessage, "v" | "sender" | "seq" | "ts">): void => {
      const out = r.type === MsgType.JOIN_ACK ? sc.ack(r.body as JoinAckBody) : sc.seal(r.type, r.body);
      control.send(out, rinfo.port, rinfo.address);
    };
    if (m.type === MsgType.JOIN) {
      const j = m.body;
      reply({
        type: MsgType.JOIN_ACK,
        body: {
          error: JoinError.NONE,
          node: 1,
          region: "A",
          heartbeatMs: 1000,
          channels: [
            {
              name: "demo",
              id: 3,
              k: 1,
              streamKbps: j.streamKbps ?? 0,
              segmentMs: 1000,
              fallbackUrl: j.fallbackUrl ?? "",
            },
          ],
        },
      } as Omit<ControlMessage, "v" | "sender" | "seq" | "ts">);
      reply({
        type: MsgType.ASSIGN,
        body: {
          channel: 3,
          version: 1,
          k: 1,
          tier: 1,
          parents: [null],
          children: [{ node: 2, address: "127.0.0.1", port: childPort, substreams: 1 }],
        },
      } as Omit<ControlMessage, "v" | "sender" | "seq" | "ts">);
    }
  });
  const metas: number[] = [];
  let dataBytes = 0;
  child.on("message", (buf) => {
    const d = decodeData(buf);
    if (!d.ok) return;
    dataBytes += buf.length;
    if (d.value.flags & FLAG_META) metas.push(d.value.segmentId);
  });

  const script = `import("./origin/main.ts").then((m) => m.main(process.argv.slice(1)))`;
  const proc = spawn(
    process.execPath,
    [
      ...["--import", "tsx", "-e", script, "--"],
      ...["--control", `127.0.0.1:${control.address().port}`, "--http-port", "0", "--data-dir", dataDir],
      ...["--control-key", Buffer.from(sc.publicKey).toString("hex")],
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  t.teardown(() => proc.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("close", resolve));
  const events = (): Array<Record<string, unknown>> =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const ready = await waitFor("ready", () => events().find((e) => e.event === "ready"), 20_000, 50).catch(
    (e: Error) => {
      throw new Error(`${e.message}\n${stdout}\n${stderr}`);
    },
  );
  const http = ready.http as { address: string; port: number };
  t.is(ready.streamKbps, Math.ceil((2_515_816 * 8) / 30_000));
  t.true(events().some((e) => e.event === "identity_created"));

  const joinMsg = controlMsgs.find((m) => m.type === MsgType.JOIN);
  t.like(joinMsg?.body, {
    role: Role.ORIGIN,
    channels: ["demo"],
    fallbackUrl: `http://127.0.0.1:${http.port}`,
  });

  // Segment 0 is published 1 s after start; its META reaches the child (twice).
  await waitFor(
    "META of two segments at the child",
    () => (new Set(metas).size >= 2 ? true : undefined),
    10_000,
    50,
  );
  t.deepEqual([...new Set(metas)].slice(0, 2), [0, 1]);
  const published = events().filter((e) => e.event === "segment_published");
  t.deepEqual(
    published.slice(0, 2).map((e) => e.id),
    [0, 1],
  );

  const res = await fetch(`http://127.0.0.1:${http.port}/live/demo/0.ts`);
  t.is(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  t.is(body.length, published[0]!.bytes as number);
  t.is(body[0], 0x47);
  const received = dataBytes; // everything received so far was sent before /status answers
  const status = (await (await fetch(`http://127.0.0.1:${http.port}/status`)).json()) as {
    bytes: { udpSent: number; httpServed: number };
  };
  t.is(status.bytes.httpServed, body.length);
  t.true(status.bytes.udpSent >= received, `${status.bytes.udpSent} < ${received}`);

  proc.kill("SIGTERM");
  t.is(await exited, 0, stderr);
  await waitFor(
    "LEAVE",
    () => (controlMsgs.some((m) => m.type === MsgType.LEAVE) ? true : undefined),
    2000,
    20,
  );
  t.true(events().some((e) => e.event === "stopped"));
});
