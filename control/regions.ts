/**
 * Regions from a policy file (pure: plain data in, plain data out).
 *
 *   {"default": "default",
 *    "regions": [{"name": "east", "prefixes": ["127.0.1.0/24", "2001:db8:1::/48"], "asn": 64501, "access": "fibre"}],
 *    "topology": {"k": 4, "c": 3, "tier1PerRegion": 2, "levels": 3, "fecK": 12}}
 *
 * A region may also fix its tier-2 redundancy (`"fecN": 2`, 0..8), which overrides what its
 * measured loss and access technology would choose. `topology` (all keys optional) sets the
 * channel's substreams k and the three-tier engine's policy (docs/topology.md).
 *
 * A node's region is the region of the longest prefix that contains its source address
 * (IPv4 and IPv6; an IPv4-mapped IPv6 address counts as IPv4). When no prefix matches, a
 * JOIN's regionHint is used if it names a known region, else the default region.
 * Validation errors name the field: `regions[1].prefixes[0]: "127.0.1/24" is not a CIDR prefix`.
 */
import { isIPv4, isIPv6 } from "node:net";
import { DEFAULT_POLICY } from "./topology/tier-types.js";

export const ACCESS_TECHNOLOGIES = ["dsl", "cable", "fibre", "wireless", "satellite", "other"] as const;
export type AccessTechnology = (typeof ACCESS_TECHNOLOGIES)[number];

export interface RegionSpec {
  name: string;
  prefixes: string[];
  /** Autonomous system number of the access network (informational for now). */
  asn?: number;
  access?: AccessTechnology;
  /** Operator override of the region's tier-2 parity count n. */
  fecN?: number;
}

/** The `topology` section: substreams per channel and three-tier policy overrides. */
export interface TopologyPolicySpec {
  k?: number;
  c?: number;
  tier1PerRegion?: number;
  levels?: 2 | 3 | 4;
  fecK?: number;
  maxClusterSize?: number;
  minClusterSize?: number;
}

export interface RegionPolicy {
  readonly default: string;
  readonly regions: readonly RegionSpec[];
  readonly topology?: TopologyPolicySpec;
  /** Per family, one table per prefix length present, longest first. */
  readonly tables: Readonly<Record<4 | 6, readonly PrefixTable[]>>;
}

interface PrefixTable {
  len: number;
  /** Network bits (address >> (width - len)) -> the region index and the prefix as written. */
  nets: Map<bigint, { region: number; prefix: string }>;
}

export interface RegionMatch {
  region: string;
  /** How the region was found. */
  source: "prefix" | "hint" | "default";
  /** The matching prefix when source = "prefix". */
  prefix?: string;
}

/** A policy file that does not validate; `field` is the JSON path at fault. */
export class RegionPolicyError extends Error {
  override readonly name = "RegionPolicyError";
  readonly code = "E_BAD_POLICY";
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOP_KEYS = new Set(["default", "regions", "topology"]);
const REGION_KEYS = new Set(["name", "prefixes", "asn", "access", "fecN"]);
/** topology key -> inclusive bounds. */
const TOPOLOGY_KEYS: Record<keyof TopologyPolicySpec, [number, number]> = {
  k: [1, 16],
  c: [1, 8],
  tier1PerRegion: [1, 16],
  levels: [2, 4],
  fecK: [1, 15],
  maxClusterSize: [2, 100_000],
  minClusterSize: [1, 100_000],
};

/** Everything in one region (used when no policy file is given). */
export function defaultRegionPolicy(name = "default"): RegionPolicy {
  return { default: name, regions: [], tables: { 4: [], 6: [] } };
}

/** Validates a parsed policy document. Throws RegionPolicyError naming the field. */
export function parseRegionPolicy(doc: unknown): RegionPolicy {
  if (!isObject(doc)) throw new RegionPolicyError("(root)", "must be a JSON object");
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.has(key))
      throw new RegionPolicyError(key, `unknown key (expected one of: default, regions, topology)`);
  }
  const def = doc.default ?? "default";
  if (typeof def !== "string" || !NAME_RE.test(def)) {
    throw new RegionPolicyError(
      "default",
      `${JSON.stringify(def)} is not a region name (letters, digits, . _ -)`,
    );
  }
  const list = doc.regions ?? [];
  if (!Array.isArray(list)) throw new RegionPolicyError("regions", "must be an array");

  const regions: RegionSpec[] = [];
  const names = new Map<string, number>();
  const seen = new Map<string, string>();
  const tables: Record<4 | 6, Map<number, PrefixTable["nets"]>> = { 4: new Map(), 6: new Map() };

  list.forEach((r: unknown, i: number) => {
    const at = `regions[${i}]`;
    if (!isObject(r)) throw new RegionPolicyError(at, "must be an object");
    for (const key of Object.keys(r)) {
      if (!REGION_KEYS.has(key)) {
        throw new RegionPolicyError(
          `${at}.${key}`,
          "unknown key (expected one of: name, prefixes, asn, access, fecN)",
        );
      }
    }
    const name = r.name;
    if (typeof name !== "string" || !NAME_RE.test(name)) {
      throw new RegionPolicyError(
        `${at}.name`,
        `${JSON.stringify(name)} is not a region name (letters, digits, . _ -)`,
      );
    }
    const dup = names.get(name);
    if (dup !== undefined)
      throw new RegionPolicyError(`${at}.name`, `"${name}" is already used by regions[${dup}]`);
    names.set(name, i);

    const prefixes = r.prefixes ?? [];
    if (!Array.isArray(prefixes))
      throw new RegionPolicyError(`${at}.prefixes`, "must be an array of CIDR prefixes");
    const spec: RegionSpec = { name, prefixes: [] };
    prefixes.forEach((p: unknown, j: number) => {
      const field = `${at}.prefixes[${j}]`;
      const cidr = typeof p === "string" ? parseCidr(p) : "is not a CIDR prefix";
      if (typeof cidr === "string") throw new RegionPolicyError(field, `${JSON.stringify(p)} ${cidr}`);
      const canonical = `${cidr.family}/${cidr.len}/${cidr.net}`;
      const other = seen.get(canonical);
      if (other !== undefined)
        throw new RegionPolicyError(field, `"${p as string}" is already listed at ${other}`);
      seen.set(canonical, field);
      let byLen = tables[cidr.family].get(cidr.len);
      if (byLen === undefined) tables[cidr.family].set(cidr.len, (byLen = new Map()));
      byLen.set(cidr.net, { region: i, prefix: p as string });
      spec.prefixes.push(p as string);
    });

    if (r.asn !== undefined) {
      if (typeof r.asn !== "number" || !Number.isInteger(r.asn) || r.asn < 0 || r.asn > 0xffffffff) {
        throw new RegionPolicyError(
          `${at}.asn`,
          `${JSON.stringify(r.asn)} is not an AS number (0..4294967295)`,
        );
      }
      spec.asn = r.asn;
    }
    if (r.access !== undefined) {
      if (typeof r.access !== "string" || !(ACCESS_TECHNOLOGIES as readonly string[]).includes(r.access)) {
        throw new RegionPolicyError(
          `${at}.access`,
          `${JSON.stringify(r.access)} is not one of ${ACCESS_TECHNOLOGIES.join(", ")}`,
        );
      }
      spec.access = r.access as AccessTechnology;
    }
    if (r.fecN !== undefined) {
      if (typeof r.fecN !== "number" || !Number.isInteger(r.fecN) || r.fecN < 0 || r.fecN > 8)
        throw new RegionPolicyError(`${at}.fecN`, `${JSON.stringify(r.fecN)} is not an integer 0..8`);
      spec.fecN = r.fecN;
    }
    regions.push(spec);
  });

  const sorted = (m: Map<number, PrefixTable["nets"]>): PrefixTable[] =>
    [...m.entries()].sort((a, b) => b[0] - a[0]).map(([len, nets]) => ({ len, nets }));
  const topology = doc.topology === undefined ? undefined : parseTopology(doc.topology);
  return {
    default: def,
    regions,
    ...(topology === undefined ? {} : { topology }),
    tables: { 4: sorted(tables[4]), 6: sorted(tables[6]) },
  };
}

function parseTopology(t: unknown): TopologyPolicySpec {
  if (!isObject(t)) throw new RegionPolicyError("topology", "must be a JSON object");
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(t)) {
    const range = TOPOLOGY_KEYS[key as keyof TopologyPolicySpec] as [number, number] | undefined;
    if (range === undefined)
      throw new RegionPolicyError(
        `topology.${key}`,
        `unknown key (expected one of: ${Object.keys(TOPOLOGY_KEYS).join(", ")})`,
      );
    if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1])
      throw new RegionPolicyError(
        `topology.${key}`,
        `${JSON.stringify(v)} is not an integer ${range[0]}..${range[1]}`,
      );
    out[key] = v;
  }
  // Against the engine's defaults for the one not given.
  const min = out.minClusterSize ?? DEFAULT_POLICY.minClusterSize;
  const max = out.maxClusterSize ?? DEFAULT_POLICY.maxClusterSize;
  if (min > max)
    throw new RegionPolicyError("topology.minClusterSize", `${min} is above maxClusterSize ${max}`);
  return out as TopologyPolicySpec;
}

/** The region of a source address (longest prefix), else a known hint, else the default. */
export function regionFor(policy: RegionPolicy, address: string, hint?: string): RegionMatch {
  const ip = parseIp(address);
  if (ip !== undefined) {
    const width = ip.family === 4 ? 32 : 128;
    for (const t of policy.tables[ip.family]) {
      const hit = t.nets.get(ip.value >> BigInt(width - t.len));
      if (hit === undefined) continue;
      return { region: policy.regions[hit.region]!.name, source: "prefix", prefix: hit.prefix };
    }
  }
  if (hint !== undefined && hint !== "" && isKnownRegion(policy, hint))
    return { region: hint, source: "hint" };
  return { region: policy.default, source: "default" };
}

export function isKnownRegion(policy: RegionPolicy, name: string): boolean {
  return name === policy.default || policy.regions.some((r) => r.name === name);
}

/** All region names: the default first, then the policy's regions in file order. */
export function regionNames(policy: RegionPolicy): string[] {
  return [policy.default, ...policy.regions.map((r) => r.name).filter((n) => n !== policy.default)];
}

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** Parses an IPv4 or IPv6 literal (a zone suffix such as %eth0 is ignored); IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  const zone = text.indexOf("%");
  const s = zone >= 0 ? text.slice(0, zone) : text;
  if (isIPv4(s)) return { family: 4, value: ipv4Value(s) };
  if (!isIPv6(s)) return undefined;
  const v = ipv6Value(s);
  if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
  return { family: 6, value: v };
}

export interface Cidr {
  family: 4 | 6;
  len: number;
  /** Network bits: address >> (width - len). */
  net: bigint;
}

/** Parses "a.b.c.d/n" or "x:y::/n"; returns a description of the problem when it is not a valid prefix. */
export function parseCidr(text: string): Cidr | string {
  const m = /^([^/%\s]+)\/(\d{1,3})$/.exec(text);
  if (m === null) return "is not a CIDR prefix (address/length)";
  const addr = m[1]!;
  let len = Number(m[2]);
  const ip = isIPv4(addr) || isIPv6(addr) ? parseIp(addr) : undefined;
  if (ip === undefined) return "is not a CIDR prefix (bad address)";
  let family = ip.family;
  if (isIPv6(addr)) {
    if (len > 128) return "is not a CIDR prefix (IPv6 length is 0..128)";
    if (family === 4) {
      // An IPv4-mapped prefix (::ffff:a.b.c.d/n, n >= 96) stands for the IPv4 prefix.
      if (len < 96) family = 6;
      else len -= 96;
    }
  } else if (len > 32) {
    return "is not a CIDR prefix (IPv4 length is 0..32)";
  }
  const width = family === 4 ? 32 : 128;
  const value = family === 6 && ip.family === 4 ? ip.value | (0xffffn << 32n) : ip.value;
  const shift = BigInt(width - len);
  const net = value >> shift;
  if (net << shift !== value) {
    const fixed = family === 4 ? formatIpv4(net << shift) : "the network address";
    return `has host bits set (did you mean ${family === 4 ? `"${fixed}/${len}"` : fixed}?)`;
  }
  return { family, len, net };
}

function ipv4Value(s: string): bigint {
  return s.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function formatIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

/** Expands a validated IPv6 literal (with "::" and an optional dotted IPv4 tail) to 128 bits. */
function ipv6Value(s: string): bigint {
  const groups = (part: string): number[] => {
    if (part === "") return [];
    return part.split(":").flatMap((g) => {
      if (!g.includes(".")) return [parseInt(g, 16)];
      const v = Number(ipv4Value(g));
      return [Math.floor(v / 0x10000), v % 0x10000];
    });
  };
  const dbl = s.indexOf("::");
  let all: number[];
  if (dbl < 0) {
    all = groups(s);
  } else {
    const head = groups(s.slice(0, dbl));
    const tail = groups(s.slice(dbl + 2));
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
