/**
 * What bench:ingest and the flash-crowd test read of other processes, from outside: CPU time and
 * RSS (/proc/<pid>/stat, /proc/<pid>/status), a UDP socket's kernel drops (/proc/net/udp, the
 * `drops` column of the socket bound to a port) and the namespace's UDP receive-buffer errors
 * (/proc/net/snmp RcvbufErrors), and control's Prometheus counters (GET /metrics with the admin
 * token). Linux only; every reader returns undefined when the file is not there or not readable.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { parseSamples, type ParsedSample } from "../../common/prometheus.js";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** CPU time (user + system, every thread) of process `pid`, µs; 10 ms resolution. With `tid`: that thread's. */
export function cpuMicros(pid: number, tid?: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1e6) / USER_HZ;
}

/**
 * CPU time (user + system) of each thread of process `pid`, µs by thread id (the main thread's
 * id is the pid); 10 ms resolution. Undefined when /proc/<pid>/task cannot be read.
 */
export function threadCpuMicros(pid: number): Map<number, number> | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const out = new Map<number, number>();
  for (const tid of tids) {
    const us = cpuMicros(pid, Number(tid));
    if (us !== undefined) out.set(Number(tid), us);
  }
  return out;
}

/** Resident set size of process `pid`, MB (VmRSS). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * The /proc/net/udp rows of the IPv4 UDP sockets bound to `port`, split into fields
 * (sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ref pointer drops);
 * undefined when the table cannot be read.
 */
function udpSocketRows(port: number): string[][] | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/net/udp", "utf8");
  } catch {
    return undefined;
  }
  const hexPort = ":" + port.toString(16).toUpperCase().padStart(4, "0");
  return text
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 13 && f[1]!.endsWith(hexPort));
}

/** Sums `field` over the rows of the sockets bound to `port`; undefined when there is none. */
function sumOverSockets(port: number, field: (f: string[]) => number): number | undefined {
  const rows = udpSocketRows(port);
  if (rows === undefined || rows.length === 0) return undefined;
  return rows.reduce((sum, f) => sum + field(f), 0);
}

/** Datagrams the kernel dropped for the IPv4 UDP socket bound to `port` (its receive buffer was full). */
export function udpSocketDrops(port: number): number | undefined {
  return sumOverSockets(port, (f) => Number(f[12]));
}

/** Bytes waiting in the receive queue of the IPv4 UDP socket bound to `port` (not yet read). */
export function udpRxQueue(port: number): number | undefined {
  // f[4] is tx_queue:rx_queue, hex
  return sumOverSockets(port, (f) => parseInt(f[4]!.split(":")[1] ?? "0", 16));
}

/** The growth of every counter family (`*_total`, summed over its labels) from `a` to `b`, where it grew. */
export function promGrowth(a: PromSample[], b: PromSample[]): Record<string, number> {
  const sum = (xs: PromSample[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const x of xs) if (x.name.endsWith("_total")) m.set(x.name, (m.get(x.name) ?? 0) + x.value);
    return m;
  };
  const before = sum(a);
  const out: Record<string, number> = {};
  for (const [name, v] of sum(b)) {
    const d = v - (before.get(name) ?? 0);
    if (d !== 0) out[name.replace(/^tiercast_control_/, "")] = d;
  }
  return out;
}

/** UDP datagrams the kernel dropped for a full receive buffer, every socket of this network namespace. */
export function rcvbufErrors(): number | undefined {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const i = names.indexOf("RcvbufErrors");
    return i < 0 || values[i] === undefined ? undefined : Number(values[i]);
  } catch {
    return undefined;
  }
}

/** Samples of a Prometheus text exposition, read by common/prometheus.ts (label values unescaped). */
export const parseProm = parseSamples;
export type PromSample = ParsedSample;

/** The sum of a family's samples (every label set), 0 when absent. */
export function promSum(samples: PromSample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

/** A family's samples by one label's value. */
export function promBy(samples: PromSample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples)
    if (s.name === name) out[s.labels[label] ?? ""] = (out[s.labels[label] ?? ""] ?? 0) + s.value;
  return out;
}

/** GET a text document with a bearer token; undefined when not answered (or not 2xx) in time. */
export async function getText(url: string, token: string, timeoutMs = 5000): Promise<string | undefined> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { authorization: `Bearer ${token}` },
    });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON log lines of a process's log file from byte `offset` on (a line that is not JSON is skipped). */
export function logEventsFrom(file: string, offset: number): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file).subarray(offset).toString("utf8");
  } catch {
    return [];
  }
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line being written as we read: the next read has it.
    }
  }
  return out;
}

/** Bytes in `file` now (0 when absent): where logEventsFrom starts for "from now on". */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
