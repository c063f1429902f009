/**
 * What control holds, by kind of object: reads the two heap snapshots `npm run bench:memory --
 * --snapshot PREFIX` writes (PREFIX-alive.heapsnapshot with control alive, PREFIX-dropped with
 * control gone; V8 keeps an object's id across snapshots of one process) and lists the objects
 * of the first that are not in the second, grouped and summed by self size, largest first.
 * A JS object is grouped by its constructor and its first property names; anything else (an
 * array's backing store, a Map's table, a string, a number, a typed array's ArrayBuffer) by its
 * type, its name and the group of the freed object that holds it, so each row says what owns it.
 * Divide by the node count for bytes per node.
 *
 *   node --import tsx bench/control-memory-snapshot.ts PREFIX [--nodes 3001] [--rows 40] [--holder ClientManager]
 *
 * Prints a table, then as its last line one JSON object (the rows).
 */
import { readFileSync } from "node:fs";

interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const PREFIX = process.argv[2];
if (PREFIX === undefined || PREFIX.startsWith("--"))
  throw new Error("usage: control-memory-snapshot.ts PREFIX [--nodes N] [--rows 40]");
const NODES = Number(option("nodes", "3001"));
const ROWS = Number(option("rows", "40"));
/** Only the rows of holders whose name starts so (e.g. `ClientManager`). */
const HOLDER = option("holder", "");

function load(path: string): HeapSnapshot {
  return JSON.parse(readFileSync(path, "utf8")) as HeapSnapshot;
}

function ids(s: HeapSnapshot): Set<number> {
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const idAt = f.indexOf("id");
  const out = new Set<number>();
  for (let i = 0; i < s.nodes.length; i += width) out.add(s.nodes[i + idAt]!);
  return out;
}

const dropped = ids(load(`${PREFIX}-dropped.heapsnapshot`));
const alive = load(`${PREFIX}-alive.heapsnapshot`);
const meta = alive.snapshot.meta;
const NF = meta.node_fields.length;
const TYPE = meta.node_fields.indexOf("type");
const NAME = meta.node_fields.indexOf("name");
const ID = meta.node_fields.indexOf("id");
const SELF = meta.node_fields.indexOf("self_size");
const EDGES = meta.node_fields.indexOf("edge_count");
const EF = meta.edge_fields.length;
const ETYPE = meta.edge_fields.indexOf("type");
const ENAME = meta.edge_fields.indexOf("name_or_index");
const ETO = meta.edge_fields.indexOf("to_node");
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const count = alive.nodes.length / NF;

/** Per node (by ordinal): its first edge's index. */
const firstEdge = new Uint32Array(count + 1);
for (let n = 0, e = 0; n < count; n++) {
  firstEdge[n] = e;
  e += alive.nodes[n * NF + EDGES]! * EF;
}
firstEdge[count] = alive.edges.length;
const freed = new Uint8Array(count);
for (let n = 0; n < count; n++) if (!dropped.has(alive.nodes[n * NF + ID]!)) freed[n] = 1;

const OBJECT_TYPES = new Set(["object", "closure", "regexp"]);
const STRINGS = new Set(["string", "concatenated string", "sliced string"]);
/** A freed JS object's group: its constructor and first property names. */
function objectKey(n: number): string {
  const name = alive.strings[alive.nodes[n * NF + NAME]!]!;
  const props: string[] = [];
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]! && props.length < 6; e += EF) {
    if (edgeTypes[alive.edges[e + ETYPE]!] !== "property") continue;
    const p = alive.strings[alive.edges[e + ENAME]!]!;
    if (p !== "__proto__" && p !== "map") props.push(p);
  }
  return props.length === 0 ? name : `${name} {${props.join(",")}}`;
}

/**
 * Each freed node's first retainer among the freed (strong edges), to name where it sits: the
 * path of property names up from it to the nearest freed object with RECORD_PROPS or more named
 * properties (a record: a node's record, a session, a saved ASSIGN), e.g.
 * `Object {key,region,...}.heartbeat.parents[]`. An object shared by two records is named by one.
 */
const RECORD_PROPS = 3;
const retainer = new Int32Array(count).fill(-1);
const via = new Array<string>(count);
for (let n = 0; n < count; n++) {
  if (freed[n] !== 1) continue;
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF) {
    const t = edgeTypes[alive.edges[e + ETYPE]!]!;
    if (t === "weak") continue;
    const to = alive.edges[e + ETO]! / NF;
    if (freed[to] !== 1 || retainer[to] !== -1) continue;
    retainer[to] = n;
    via[to] = t === "element" ? "[]" : t === "property" ? `.${alive.strings[alive.edges[e + ENAME]!]!}` : "";
  }
}

function propertyCount(n: number): number {
  let c = 0;
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += EF)
    if (edgeTypes[alive.edges[e + ETYPE]!] === "property") c++;
  return c;
}

function isRecord(n: number): boolean {
  return OBJECT_TYPES.has(nodeTypes[alive.nodes[n * NF + TYPE]!]!) && propertyCount(n) > RECORD_PROPS;
}

/** Where a freed node sits: its record and the path from it. */
function place(n: number): string {
  let path = "";
  let cur = n;
  for (let d = 0; d < 10; d++) {
    const r = retainer[cur]!;
    if (r < 0) return `?${path}`;
    path = `${via[cur] ?? ""}${path}`;
    if (isRecord(r)) return `${objectKey(r)}${path}`;
    cur = r;
  }
  return `...${path}`;
}

/** Plain containers: an owner is the nearest instance of a class (ClientManager, Dcm, State, ...). */
const PLAIN = new Set(["Object", "Array", "Map", "Set", ""]);

/**
 * The class instances and fields that hold a freed node, outermost first below control's own
 * ControlCenter (and its ContentDirectory): e.g. `SessionTable.#sessions > KeyViews.nodeToControl`.
 */
const TOP = new Set(["ControlCenter", "ContentDirectory"]);
function owner(n: number): string {
  const chain: string[] = [];
  let cur = n;
  let field = "";
  for (let d = 0; d < 40; d++) {
    const r = retainer[cur]!;
    if (r < 0) break;
    const name = alive.strings[alive.nodes[r * NF + NAME]!]!;
    if (via[cur]?.startsWith(".") === true) field = via[cur]!;
    if (TOP.has(name)) break;
    if (
      nodeTypes[alive.nodes[r * NF + TYPE]!] === "object" &&
      !PLAIN.has(name) &&
      !name.startsWith("system")
    ) {
      chain.unshift(`${name}${field}`);
      field = "";
    }
    cur = r;
  }
  if (chain.length === 0) return "?";
  return chain.length === 1 ? chain[0]! : `${chain[0]!} > ${chain[chain.length - 1]!}`;
}

const owners = new Map<string, number>();
const rows = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let n = 0; n < count; n++) {
  if (freed[n] !== 1) continue;
  const type = nodeTypes[alive.nodes[n * NF + TYPE]!]!;
  const self = alive.nodes[n * NF + SELF]!;
  total += self;
  const what = OBJECT_TYPES.has(type)
    ? objectKey(n)
    : STRINGS.has(type)
      ? `(${type})`
      : `(${type} ${alive.strings[alive.nodes[n * NF + NAME]!]!.slice(0, 30)})`;
  const o = owner(n);
  owners.set(o, (owners.get(o) ?? 0) + self);
  if (!o.startsWith(HOLDER)) continue;
  const key = `${o}: ${isRecord(n) ? what : `${what} at ${place(n)}`}`;
  const r = rows.get(key) ?? { count: 0, bytes: 0 };
  r.count++;
  r.bytes += self;
  rows.set(key, r);
}

const byOwner = [...owners].sort((a, b) => b[1] - a[1]).filter(([, bytes]) => bytes / NODES >= 8);
console.log(`${"B/node".padStart(8)}  holder (class instance and field)`);
for (const [o, bytes] of byOwner) console.log(`${(bytes / NODES).toFixed(0).padStart(8)}  ${o}`);
const sorted = [...rows].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, ROWS);
console.log(
  `control's freed objects: ${(total / 1024).toFixed(0)} KB, ${(total / NODES).toFixed(0)} B per node`,
);
console.log(`${"B/node".padStart(8)}${"count/node".padStart(12)}  group`);
for (const [key, r] of sorted)
  console.log(
    `${(r.bytes / NODES).toFixed(0).padStart(8)}${(r.count / NODES).toFixed(2).padStart(12)}  ${key}`,
  );
console.log(
  JSON.stringify({
    nodes: NODES,
    bytesPerNode: Math.round(total / NODES),
    holders: Object.fromEntries(byOwner.map(([o, bytes]) => [o, Math.round(bytes / NODES)])),
    rows: sorted.map(([key, r]) => ({ key, bytesPerNode: Math.round(r.bytes / NODES), count: r.count })),
  }),
);
