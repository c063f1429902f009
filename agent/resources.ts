/**
 * Resource measurements for the heartbeat and /status: CPU over the last interval (from
 * process.cpuUsage deltas), resident memory, and upload measured from bytes sent. The
 * process is behind a small probe interface so tests can feed numbers.
 */

export interface ResourceProbe {
  /** User + system CPU time of the process, microseconds. */
  cpuMicros(): number;
  rssBytes(): number;
}

export const processProbe: ResourceProbe = {
  cpuMicros: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  rssBytes: () => process.memoryUsage.rss(),
};

export interface Sample {
  /** Percent of one core over the interval. */
  cpuPct: number;
  rssMB: number;
  /** kbit/s sent over the interval. */
  uploadKbps: number;
}

/** Turns cumulative counters into rates over the interval between two `sample` calls. */
export class ResourceMeter {
  #lastAt: number;
  #lastCpu: number;
  #lastSent: number;
  #last: Sample = { cpuPct: 0, rssMB: 0, uploadKbps: 0 };

  constructor(
    private readonly probe: ResourceProbe,
    now: number,
    sentBytes = 0,
  ) {
    this.#lastAt = now;
    this.#lastCpu = probe.cpuMicros();
    this.#lastSent = sentBytes;
  }

  /** The most recent sample (zeros before the first interval ends). */
  get last(): Sample {
    return this.#last;
  }

  /** Measures since the previous call; `sentBytes` is the cumulative bytes sent. */
  sample(now: number, sentBytes: number): Sample {
    const ms = now - this.#lastAt;
    const cpu = this.probe.cpuMicros();
    const rssMB = Math.round((this.probe.rssBytes() / (1024 * 1024)) * 10) / 10;
    if (ms <= 0) return { ...this.#last, rssMB };
    const cpuPct = Math.round(((cpu - this.#lastCpu) / 1000 / ms) * 1000) / 10;
    const uploadKbps = Math.round(((sentBytes - this.#lastSent) * 8) / ms);
    this.#lastAt = now;
    this.#lastCpu = cpu;
    this.#lastSent = sentBytes;
    this.#last = { cpuPct: Math.max(0, cpuPct), rssMB, uploadKbps: Math.max(0, uploadKbps) };
    return this.#last;
  }
}
