import test from "ava";
import {
  defaultRegionPolicy,
  parseCidr,
  parseIp,
  parseRegionPolicy,
  regionFor,
  RegionPolicyError,
  type RegionMatch,
} from "../control/regions.js";

const policy = parseRegionPolicy({
  default: "elsewhere",
  regions: [
    { name: "east", prefixes: ["127.0.1.0/24", "2001:db8:1::/48"], asn: 64501, access: "fibre" },
    { name: "east-lab", prefixes: ["127.0.1.128/25"], access: "dsl" },
    { name: "west", prefixes: ["127.0.2.0/24", "10.0.0.0/8"], asn: 64502, access: "cable" },
    { name: "v6-lab", prefixes: ["2001:db8:1:2::/64"] },
    { name: "everything", prefixes: ["0.0.0.0/0"] },
  ],
});

const lookups: Array<
  [address: string, hint: string | undefined, region: string, source: RegionMatch["source"]]
> = [
  ["127.0.1.3", undefined, "east", "prefix"],
  ["127.0.1.200", undefined, "east-lab", "prefix"], // /25 beats /24
  ["127.0.2.9", "east", "west", "prefix"], // a prefix beats the hint
  ["10.200.3.4", undefined, "west", "prefix"],
  ["::ffff:127.0.1.3", undefined, "east", "prefix"], // IPv4-mapped IPv6 counts as IPv4
  ["2001:db8:1::5", undefined, "east", "prefix"],
  ["2001:db8:1:2::5", undefined, "v6-lab", "prefix"],
  ["2001:db8:1:2:0:0:0:5%lo", undefined, "v6-lab", "prefix"], // zone ignored
  ["192.0.2.1", undefined, "everything", "prefix"], // /0 catches any IPv4
  ["2001:db8:9::1", "west", "west", "hint"], // no IPv6 prefix matches: known hint
  ["2001:db8:9::1", "mars", "elsewhere", "default"], // unknown hint: default
  ["2001:db8:9::1", undefined, "elsewhere", "default"],
  ["not-an-ip", "elsewhere", "elsewhere", "hint"], // the default region is a known name too
];

for (const [address, hint, region, source] of lookups) {
  test(`regionFor ${address} hint=${hint ?? "-"} -> ${region} (${source})`, (t) => {
    const m = regionFor(policy, address, hint);
    t.is(m.region, region);
    t.is(m.source, source);
  });
}

test("regionFor reports the prefix that matched", (t) => {
  t.is(regionFor(policy, "127.0.1.200").prefix, "127.0.1.128/25");
});

test("without a policy file every node is in region default", (t) => {
  const p = defaultRegionPolicy();
  t.is(regionFor(p, "127.0.1.3").region, "default");
  t.is(regionFor(p, "127.0.1.3", "east").region, "default");
});

const invalid: Array<[doc: unknown, message: string]> = [
  [[], "(root): must be a JSON object"],
  [{ regions: {} }, "regions: must be an array"],
  [{ default: 7 }, "default: 7 is not a region name"],
  [{ regions: [], extra: 1 }, "extra: unknown key"],
  [
    {
      regions: [
        { name: "a", prefixes: ["127.0.1.0/24"] },
        { name: "b", prefixes: ["127.0.1/24"] },
      ],
    },
    'regions[1].prefixes[0]: "127.0.1/24" is not a CIDR prefix',
  ],
  [
    { regions: [{ name: "a", prefixes: ["127.0.1.5/24"] }] },
    'regions[0].prefixes[0]: "127.0.1.5/24" has host bits set (did you mean "127.0.1.0/24"?)',
  ],
  [
    { regions: [{ name: "a", prefixes: ["127.0.1.0/33"] }] },
    'regions[0].prefixes[0]: "127.0.1.0/33" is not a CIDR prefix (IPv4 length',
  ],
  [{ regions: [{ name: "a", prefixes: ["2001:db8::/129"] }] }, "regions[0].prefixes[0]"],
  [
    { regions: [{ name: "a", prefixes: ["2001:db8::1/32"] }] },
    'regions[0].prefixes[0]: "2001:db8::1/32" has host bits set',
  ],
  [{ regions: [{ name: "a", prefixes: [24] }] }, "regions[0].prefixes[0]: 24 is not a CIDR prefix"],
  [{ regions: [{ name: "a", prefixes: "127.0.0.0/8" }] }, "regions[0].prefixes: must be an array"],
  [{ regions: [{ name: "", prefixes: [] }] }, 'regions[0].name: "" is not a region name'],
  [{ regions: [{ prefixes: [] }] }, "regions[0].name: undefined is not a region name"],
  [{ regions: [{ name: "a" }, { name: "a" }] }, 'regions[1].name: "a" is already used by regions[0]'],
  [
    {
      regions: [
        { name: "a", prefixes: ["10.0.0.0/8"] },
        { name: "b", prefixes: ["10.0.0.0/8"] },
      ],
    },
    'regions[1].prefixes[0]: "10.0.0.0/8" is already listed at regions[0].prefixes[0]',
  ],
  [{ regions: [{ name: "a", asn: -1 }] }, "regions[0].asn: -1 is not an AS number"],
  [
    { regions: [{ name: "a", access: "carrier-pigeon" }] },
    'regions[0].access: "carrier-pigeon" is not one of dsl',
  ],
  [{ regions: [{ name: "a", prefix: [] }] }, "regions[0].prefix: unknown key"],
];

for (const [doc, message] of invalid) {
  test(`policy validation: ${message}`, (t) => {
    const e = t.throws(() => parseRegionPolicy(doc), { instanceOf: RegionPolicyError });
    t.true(e.message.startsWith(message), e.message);
    t.is(e.code, "E_BAD_POLICY");
  });
}

test("parseCidr normalises IPv4-mapped IPv6 prefixes to IPv4", (t) => {
  t.deepEqual(parseCidr("::ffff:127.0.1.0/120"), parseCidr("127.0.1.0/24"));
});

test("parseIp handles the IPv6 shorthand forms", (t) => {
  t.is(parseIp("::")?.value, 0n);
  t.is(parseIp("::1")?.value, 1n);
  t.is(parseIp("1::")?.value, 1n << 112n);
  t.is(parseIp("2001:db8::192.0.2.1")?.value, (0x20010db8n << 96n) | 0xc0000201n);
  t.is(parseIp("1.2.3")?.value, undefined);
});

test("policy: a region's fecN override and the topology section are read and validated by field", (t) => {
  const p = parseRegionPolicy({
    regions: [{ name: "east", prefixes: ["10.0.0.0/8"], fecN: 2 }],
    topology: { k: 4, c: 3, fecK: 4, levels: 3 },
  });
  t.is(p.regions[0]!.fecN, 2);
  t.deepEqual(p.topology, { k: 4, c: 3, fecK: 4, levels: 3 });
  t.throws(() => parseRegionPolicy({ regions: [{ name: "e", prefixes: [], fecN: 9 }] }), {
    message: /regions\[0\]\.fecN: 9 is not an integer 0\.\.8/,
  });
  t.throws(() => parseRegionPolicy({ topology: { k: 17 } }), {
    message: /topology\.k: 17 is not an integer 1\.\.16/,
  });
  t.throws(() => parseRegionPolicy({ topology: { speed: 1 } }), { message: /topology\.speed: unknown key/ });
  t.throws(() => parseRegionPolicy({ topology: [] }), { message: /topology: must be a JSON object/ });
});

test("policy: minClusterSize above maxClusterSize is refused when the file is read", (t) => {
  t.throws(() => parseRegionPolicy({ topology: { minClusterSize: 50, maxClusterSize: 10 } }), {
    message: /topology\.minClusterSize: 50 is above maxClusterSize 10/,
  });
});

test("policy: minClusterSize alone is compared with the default maxClusterSize", (t) => {
  t.throws(() => parseRegionPolicy({ topology: { minClusterSize: 2000 } }), {
    message: /topology\.minClusterSize: 2000 is above maxClusterSize 1000/,
  });
});
