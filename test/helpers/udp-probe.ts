/**
 * A tiny UDP probe the lab tests run inside namespaces (`node --import tsx test/helpers/udp-probe.ts
 * <mode> ...`), to measure the lab's network with real datagrams. It prints JSON lines on stdout.
 *
 *   echo --port P [--net-delay R]  answers every PING with a PONG naming the sender's address as seen here
 *   ping --to A:P --count N [--net-delay R]
 *                                  waits for the path (first PONG, retried), then sends N PINGs and
 *                                  reports how many were answered, round trips, the addresses the echo saw
 *   (--net-delay: the rules tiercast's programs take, through the same ImpairedTransport)
 *   sink --port P                  counts DATA per run; on a run's first FIN prints its summary
 *                                  (datagrams, bytes, unique seqs, receive rate); ACKs every FIN
 *   send --to A:P --count N --size S --kbps K [--duration-ms D] [--run R]
 *                                  paced DATA (bounded by count and time), then FIN until ACKed
 *
 * Wire (all big-endian): DATA = 1,run u32,seq u32,padding; FIN = 2,run u32,sent u32; ACK = 3,run u32;
 * PING = 4,seq u32; PONG = 5,seq u32,utf-8 "address". Every loop is bounded in count and time.
 */
import dgram from "node:dgram";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { systemClock } from "../../seams/clock.js";
import { ImpairedTransport, parseDelayRules } from "../../seams/impaired-transport.js";
import type { Transport } from "../../seams/transport.js";
import { UdpTransport } from "../../seams/udp-transport.js";

const DATA = 1;
const FIN = 2;
const ACK = 3;
const PING = 4;
const PONG = 5;
const FIN_EVERY_MS = 20;
const MAX_FINS = 250;
/** Sends not yet completed by the kernel beyond which the sender waits (keeps memory bounded). */
const MAX_IN_FLIGHT = 256;

const emit = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(o) + "\n");
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseTarget(text: string | undefined): { address: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text ?? "");
  if (m === null) throw new Error(`--to must be a.b.c.d:port, got ${JSON.stringify(text)}`);
  return { address: m[1]!, port: Number(m[2]) };
}

function int(text: string | undefined, name: string, fallback?: number): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
  return n;
}

function bind(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket("udp4");
  // Errors after bind (e.g. ICMP unreachable) must not kill a probe.
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind(port, "0.0.0.0", () => {
      s.off("error", reject);
      s.on("error", () => {});
      resolve(s);
    });
  });
}

/** A UdpTransport on 0.0.0.0:port, delayed like the programs' --net-delay when rules are given. */
async function openTransport(port: number, netDelay: string | undefined): Promise<Transport> {
  const udp = await UdpTransport.bind({ host: "0.0.0.0", port });
  if (netDelay === undefined) return udp;
  const rules = parseDelayRules(netDelay);
  if (!rules.ok) throw new Error(`--net-delay: ${rules.error}`);
  return new ImpairedTransport(udp, rules.rules, { clock: systemClock, random: Math.random });
}

async function runEcho(port: number, netDelay: string | undefined): Promise<void> {
  const t = await openTransport(port, netDelay);
  t.onDatagram((msg, from) => {
    if (msg.length < 5 || msg[0] !== PING) return;
    t.send(Buffer.concat([Buffer.from([PONG]), msg.subarray(1, 5), Buffer.from(from.address)]), from);
  });
  emit({ event: "ready", mode: "echo", port: t.local.port });
}

async function runPing(
  to: { address: string; port: number },
  count: number,
  timeoutMs: number,
  netDelay: string | undefined,
): Promise<void> {
  const t = await openTransport(0, netDelay);
  const sentAt = new Map<number, number>();
  const rtts = new Map<number, number>();
  const seenFrom = new Set<string>();
  let pathUp = false;
  t.onDatagram((msg) => {
    if (msg.length < 5 || msg[0] !== PONG) return;
    pathUp = true;
    const seq = msg.readUInt32BE(1);
    const at = sentAt.get(seq);
    if (at !== undefined && seq < count) rtts.set(seq, performance.now() - at);
    seenFrom.add(msg.subarray(5).toString());
  });
  const ping = (seq: number): void => {
    const b = Buffer.alloc(5);
    b[0] = PING;
    b.writeUInt32BE(seq, 1);
    sentAt.set(seq, performance.now());
    t.send(b, to);
  };
  const deadline = performance.now() + timeoutMs;
  // Warm-up: the path is up once anything comes back (ARP resolved, processes listening).
  const WARM = 1_000_000;
  for (let i = 0; !pathUp && performance.now() < deadline && i < 200; i++) {
    ping(WARM + i);
    await sleep(25);
  }
  for (let seq = 0; pathUp && seq < count; seq++) {
    ping(seq);
    await sleep(2);
  }
  for (let i = 0; pathUp && rtts.size < count && performance.now() < deadline && i < 1000; i++)
    await sleep(5);
  const sorted = [...rtts.values()].sort((a, b) => a - b);
  emit({
    event: "result",
    mode: "ping",
    pathUp,
    sent: pathUp ? count : 0,
    answered: rtts.size,
    seenFrom: [...seenFrom],
    rttMs: { min: sorted[0] ?? null, median: sorted[sorted.length >> 1] ?? null, max: sorted.at(-1) ?? null },
  });
  await t.close();
}

interface RunStats {
  received: number;
  bytes: number;
  seqs: Set<number>;
  firstMs: number;
  lastMs: number;
  firstBytes: number;
  reported: boolean;
}

function runSink(port: number): Promise<void> {
  return bind(port).then((s) => {
    s.setRecvBufferSize(4 << 20);
    const runs = new Map<number, RunStats>();
    s.on("message", (msg, from) => {
      const now = performance.now();
      if (msg.length < 5) return;
      const run = msg.readUInt32BE(1);
      if (msg[0] === DATA && msg.length >= 9) {
        let r = runs.get(run);
        if (r === undefined) {
          r = {
            received: 0,
            bytes: 0,
            seqs: new Set(),
            firstMs: now,
            lastMs: now,
            firstBytes: msg.length,
            reported: false,
          };
          runs.set(run, r);
        }
        r.received++;
        r.bytes += msg.length;
        r.seqs.add(msg.readUInt32BE(5));
        r.lastMs = now;
      } else if (msg[0] === FIN && msg.length >= 9) {
        const r = runs.get(run);
        if (r === undefined || !r.reported) {
          const spanMs = r === undefined ? 0 : r.lastMs - r.firstMs;
          emit({
            event: "summary",
            run,
            sent: msg.readUInt32BE(5),
            received: r?.received ?? 0,
            bytes: r?.bytes ?? 0,
            uniqueSeqs: r?.seqs.size ?? 0,
            spanMs,
            // Bytes after the first datagram over the time since it: kbit/s (bits per ms).
            kbps: r !== undefined && spanMs > 0 ? ((r.bytes - r.firstBytes) * 8) / spanMs : 0,
          });
          if (r !== undefined) r.reported = true;
          else
            runs.set(run, {
              received: 0,
              bytes: 0,
              seqs: new Set(),
              firstMs: now,
              lastMs: now,
              firstBytes: 0,
              reported: true,
            });
        }
        const ack = Buffer.alloc(5);
        ack[0] = ACK;
        ack.writeUInt32BE(run, 1);
        s.send(ack, from.port, from.address, () => {});
      }
    });
    emit({ event: "ready", mode: "sink", port: s.address().port });
  });
}

async function runSend(
  to: { address: string; port: number },
  o: { count: number; size: number; kbps: number; durationMs: number; run: number },
): Promise<void> {
  const s = await bind(0);
  let acked = false;
  s.on("message", (msg) => {
    if (msg.length >= 5 && msg[0] === ACK && msg.readUInt32BE(1) === o.run) acked = true;
  });
  const size = Math.max(9, Math.min(1400, o.size));
  const pps = (o.kbps * 1000) / 8 / size;
  let sent = 0;
  let errors = 0;
  let inFlight = 0;
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  while (sent < o.count && performance.now() < end) {
    const due = Math.min(o.count, Math.floor(((performance.now() - t0) * pps) / 1000) + 1);
    while (sent < due && inFlight < MAX_IN_FLIGHT) {
      const b = Buffer.alloc(size);
      b[0] = DATA;
      b.writeUInt32BE(o.run, 1);
      b.writeUInt32BE(sent, 5);
      inFlight++;
      sent++;
      s.send(b, to.port, to.address, (err) => {
        inFlight--;
        if (err) errors++;
      });
    }
    await sleep(1);
  }
  for (let i = 0; inFlight > 0 && i < 1000; i++) await sleep(1);
  const elapsedMs = performance.now() - t0;
  let fins = 0;
  while (!acked && fins < MAX_FINS) {
    const b = Buffer.alloc(9);
    b[0] = FIN;
    b.writeUInt32BE(o.run, 1);
    b.writeUInt32BE(sent, 5);
    s.send(b, to.port, to.address, () => {});
    fins++;
    await sleep(FIN_EVERY_MS);
  }
  emit({ event: "sent", mode: "send", run: o.run, sent, sendErrors: errors, elapsedMs, acked, fins });
  s.close();
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      to: { type: "string" },
      count: { type: "string" },
      size: { type: "string" },
      kbps: { type: "string" },
      "duration-ms": { type: "string" },
      "timeout-ms": { type: "string" },
      run: { type: "string" },
      "net-delay": { type: "string" },
    },
  });
  switch (positionals[0]) {
    case "echo":
      return runEcho(int(values.port, "port", 0), values["net-delay"]);
    case "sink":
      return runSink(int(values.port, "port", 0));
    case "ping":
      return runPing(
        parseTarget(values.to),
        int(values.count, "count", 20),
        int(values["timeout-ms"], "timeout-ms", 5000),
        values["net-delay"],
      );
    case "send":
      return runSend(parseTarget(values.to), {
        count: int(values.count, "count"),
        size: int(values.size, "size", 64),
        kbps: int(values.kbps, "kbps", 1000),
        durationMs: int(values["duration-ms"], "duration-ms", 10_000),
        run: int(values.run, "run", 1),
      });
    default:
      throw new Error("usage: udp-probe.ts echo|sink|ping|send [options] (see the comment at the top)");
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`udp-probe: ${(e as Error).message}\n`);
  process.exit(2);
});
