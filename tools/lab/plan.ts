/**
 * The network lab's spec and plan (pure): what a test asks for (LabSpec: regions, hosts, loss,
 * delay, upload caps) and what the lab will build from it (LabPlan: namespace names and
 * addresses). For a lab named N: router namespace `tcl-N-r` with 10.77.r.1 on bridge `br<r>`
 * per region r, and host i in namespace `tcl-N-<i>` at 10.77.r.(10+k), the k-th host of its
 * region. planLab checks the spec and names the bad field, before anything is built.
 */
export const LAB_PREFIX = "tcl-";
/** Most hosts in one region (10.77.r.10 .. 10.77.r.249). */
export const MAX_HOSTS_PER_REGION = 240;
const MAX_REGIONS = 250;
/** tbf queue (default): how long a datagram may wait behind the cap before it is dropped. */
export const DEFAULT_UP_QUEUE_MS = 50;

export interface LabHostSpec {
  name: string;
  /** 0 = the core region (origin, control). */
  region: number;
  /** Upload cap in kbit/s (tbf on the host's egress); none when absent. */
  upKbps?: number;
}

export interface LabSpec {
  /** Short unique prefix for this run: 1..12 lowercase letters or digits, e.g. `tc${process.pid}`. */
  name: string;
  /** Number of regions including the core: regions 0 .. regions-1. */
  regions: number;
  hosts: LabHostSpec[];
  /** UDP loss on every host link, percent (each datagram crosses two such links). */
  lossPercent?: number;
  /** One-way delay added between regions (via --net-delay), ms. */
  interRegionDelayMs?: number;
  /** ± jitter on that delay, ms. */
  interRegionJitterMs?: number;
  /**
   * The upload cap's queue, ms at the cap's rate (tbf latency; default 50): what the uplink
   * buffers before it drops. Home modems often buffer a few hundred ms.
   */
  upQueueMs?: number;
}

export interface LabHost {
  name: string;
  region: number;
  /** Index in spec.hosts; the namespace is `tcl-<lab>-<index>`. */
  index: number;
  namespace: string;
  address: string;
  upKbps: number | undefined;
}

export interface LabPlan {
  name: string;
  regions: number;
  router: string;
  hosts: LabHost[];
  lossPercent: number;
  interRegionDelayMs: number;
  interRegionJitterMs: number;
  upQueueMs: number;
}

export const regionPrefix = (region: number): string => `10.77.${region}.0/24`;
export const routerAddress = (region: number): string => `10.77.${region}.1`;

/** Checks a spec and works out names and addresses (pure). Throws naming the bad field. */
export function planLab(spec: LabSpec): LabPlan {
  const bad = (why: string): never => {
    throw new Error(`lab spec: ${why}`);
  };
  if (typeof spec.name !== "string" || !/^[a-z0-9]{1,12}$/.test(spec.name)) {
    bad(`name ${JSON.stringify(spec.name)} must be 1..12 lowercase letters or digits`);
  }
  if (!Number.isInteger(spec.regions) || spec.regions < 1 || spec.regions > MAX_REGIONS) {
    bad(`regions ${JSON.stringify(spec.regions)} must be an integer in 1..${MAX_REGIONS}`);
  }
  if (!Array.isArray(spec.hosts) || spec.hosts.length === 0) bad("hosts must be a non-empty array");
  const percent = (field: string, v: number | undefined): number => {
    if (v === undefined) return 0;
    return typeof v === "number" && v >= 0 && v <= 100
      ? v
      : bad(`${field} ${JSON.stringify(v)} must be 0..100`);
  };
  const ms = (field: string, v: number | undefined): number => {
    if (v === undefined) return 0;
    return typeof v === "number" && v >= 0 && v <= 60_000
      ? v
      : bad(`${field} ${JSON.stringify(v)} must be 0..60000`);
  };
  const router = `${LAB_PREFIX}${spec.name}-r`;
  const seen = new Set<string>();
  const perRegion = new Map<number, number>();
  const hosts = spec.hosts.map((h, index): LabHost => {
    const where = `hosts[${index}]`;
    if (typeof h.name !== "string" || !/^[A-Za-z0-9_.-]{1,32}$/.test(h.name)) {
      bad(`${where}.name ${JSON.stringify(h.name)} must be 1..32 letters, digits, _ . or -`);
    }
    if (seen.has(h.name)) bad(`${where}.name "${h.name}" is used twice`);
    seen.add(h.name);
    if (!Number.isInteger(h.region) || h.region < 0 || h.region >= spec.regions) {
      bad(`${where}.region ${JSON.stringify(h.region)} must be an integer in 0..${spec.regions - 1}`);
    }
    if (h.upKbps !== undefined && !(Number.isInteger(h.upKbps) && h.upKbps >= 8 && h.upKbps <= 10_000_000)) {
      bad(`${where}.upKbps ${JSON.stringify(h.upKbps)} must be an integer in 8..10000000`);
    }
    const k = perRegion.get(h.region) ?? 0;
    if (k >= MAX_HOSTS_PER_REGION) bad(`region ${h.region} has more than ${MAX_HOSTS_PER_REGION} hosts`);
    perRegion.set(h.region, k + 1);
    return {
      name: h.name,
      region: h.region,
      index,
      namespace: `${LAB_PREFIX}${spec.name}-${index}`,
      address: `10.77.${h.region}.${10 + k}`,
      upKbps: h.upKbps,
    };
  });
  return {
    name: spec.name,
    regions: spec.regions,
    router,
    hosts,
    lossPercent: percent("lossPercent", spec.lossPercent),
    interRegionDelayMs: ms("interRegionDelayMs", spec.interRegionDelayMs),
    interRegionJitterMs: ms("interRegionJitterMs", spec.interRegionJitterMs),
    upQueueMs:
      spec.upQueueMs === undefined
        ? DEFAULT_UP_QUEUE_MS
        : Number.isInteger(spec.upQueueMs) && spec.upQueueMs >= 1 && spec.upQueueMs <= 10_000
          ? spec.upQueueMs
          : bad(`upQueueMs ${JSON.stringify(spec.upQueueMs)} must be an integer in 1..10000`),
  };
}
