/**
 * Prometheus text exposition (format 0.0.4): the one writer of every /metrics (control, its front,
 * the origin, the agent) and the one reader (control merging its servers' answers, the benches'
 * scrapes). A family is a HELP line, a TYPE line and a line per sample,
 * `name{label="value",...} number`; a family with no labels has no braces, one with no samples is
 * its two comment lines.
 *
 * Invariants: metric and label names are checked against the format's grammar (a bad one is a bug
 * in our code and throws, so a test finds it before a scrape does); label values escape backslash,
 * double quote and newline, HELP text backslash and newline; labels are written in the order given
 * (so the same code writes the same bytes); samples keyed by a map or record are written in key
 * order (so two scrapes line up). What is parsed and written again comes out byte for byte as our
 * writer wrote it.
 */

/** The Content-Type of every /metrics answer. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The format's types; what we write is counter or gauge, what we read may be any. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";
export type Labels = Readonly<Record<string, string>>;
/**
 * One sample: its labels, its value (null: not known yet, written NaN) and the suffix of its name
 * after the family's (`_bucket`, `_sum`, `_count` of a histogram; none for a counter or gauge).
 */
export type Sample = readonly [labels: Labels, value: number | null, suffix?: string];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Label names starting with `__` are reserved for Prometheus itself. */
const LABEL_NAME = /^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * One metric family, its lines joined by "\n" (no trailing newline). An empty help writes no HELP
 * line (the format makes it optional; only a parsed family without one has it empty).
 */
export function metricFamily(
  name: string,
  type: MetricType,
  help: string,
  samples: readonly Sample[],
): string {
  checkName(name);
  const lines = help === "" ? [] : [`# HELP ${name} ${escapeHelp(help)}`];
  lines.push(`# TYPE ${name} ${type}`);
  for (const [labels, value, suffix = ""] of samples) {
    if (suffix !== "") checkName(name + suffix);
    lines.push(`${name}${suffix}${formatLabels(labels)} ${formatValue(value)}`);
  }
  return lines.join("\n");
}

/** The families as one exposition text, each line ending with a newline ("" for none). */
export function exposition(families: readonly string[]): string {
  return families.length === 0 ? "" : families.join("\n") + "\n";
}

/**
 * One sample per entry of a map or record, in key order, labelled by `label` = the key or by
 * what `labelsOf` makes of it (e.g. the agent's `{channel, reason}`).
 */
export function samplesByKey(
  entries: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
  labelsOf: string | ((key: string) => Labels),
): Sample[] {
  const list: Array<[string, number]> =
    entries instanceof Map
      ? [...(entries as ReadonlyMap<string, number>)]
      : Object.entries(entries as Readonly<Record<string, number>>);
  const labels = typeof labelsOf === "string" ? (k: string): Labels => ({ [labelsOf]: k }) : labelsOf;
  return list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => [labels(k), v]);
}

/** `{k="v",...}` in the order given, or "" when there are no labels. */
export function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => {
    if (!LABEL_NAME.test(k)) throw new Error(`prometheus: bad label name ${JSON.stringify(k)}`);
    return `${k}="${escapeLabelValue(v)}"`;
  });
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** The format's spelling of a value: NaN, +Inf and -Inf; null is NaN. */
function formatValue(v: number | null): string {
  if (v === null) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function checkName(name: string): void {
  if (!METRIC_NAME.test(name)) throw new Error(`prometheus: bad metric name ${JSON.stringify(name)}`);
}

// ---- reading ----

export interface ParsedSample {
  /** The sample's own name (a histogram's `x_bucket` under family `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  /** As the TYPE line says; "untyped" without one. */
  type: MetricType;
  /** Unescaped; "" without a HELP line. */
  help: string;
  samples: ParsedSample[];
}

const TYPES: ReadonlySet<string> = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/**
 * The families of an exposition in the order they first appear. A sample belongs to the family of
 * its name when one was declared, else to the family being read when its name extends that one
 * (a histogram's `_bucket`), else to a new untyped family of its own. Lines that do not parse are
 * skipped, as are other comments and a sample's timestamp.
 */
export function parseExposition(text: string): ParsedFamily[] {
  const families = new Map<string, ParsedFamily>();
  const family = (name: string): ParsedFamily => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, type: "untyped", help: "", samples: [] }));
    return f;
  };
  let current: ParsedFamily | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
      if (meta === null) continue;
      const [, kind, name, rest = ""] = meta;
      current = family(name!);
      if (kind === "HELP") current.help = unescape(rest);
      else if (TYPES.has(rest.trim())) current.type = rest.trim() as MetricType;
      continue;
    }
    const s = parseSample(line);
    if (s === undefined) continue;
    const owner =
      families.get(s.name) ??
      (current !== undefined && s.name.startsWith(current.name) ? current : undefined);
    (owner ?? (current = family(s.name))).samples.push(s);
  }
  return [...families.values()];
}

/** Every sample of an exposition, in order. */
export function parseSamples(text: string): ParsedSample[] {
  return parseExposition(text).flatMap((f) => f.samples);
}

/** `name{k="v",...} value [timestamp]`; undefined when the line is not one. */
function parseSample(line: string): ParsedSample | undefined {
  const head = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (head === null) return undefined;
  const name = head[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    const pair = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,?)/y;
    for (;;) {
      while (line[i] === " ") i++;
      if (line[i] === "}") break;
      pair.lastIndex = i;
      const m = pair.exec(line);
      if (m === null) return undefined;
      labels[m[1]!] = unescape(m[2]!);
      i = pair.lastIndex;
      if (m[3] === "" && line.slice(i).trimStart()[0] !== "}") return undefined;
    }
    i++;
  }
  const rest = /^\s+(\S+)(?:\s+-?\d+)?\s*$/.exec(line.slice(i));
  if (rest === null) return undefined;
  const value = parseValue(rest[1]!);
  return Number.isNaN(value) && rest[1] !== "NaN" ? undefined : { name, labels, value };
}

function parseValue(v: string): number {
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return Number(v);
}

/** Undoes the escapes of a label value or HELP text (`\\`, `\"`, `\n`; any other kept as written). */
function unescape(v: string): string {
  return v.replace(/\\(.)/g, (all, c: string) => (c === "n" ? "\n" : c === "\\" || c === '"' ? c : all));
}
