/**
 * One way for every program to read its options: defaults < config file (JSON) <
 * environment (TIERCAST_<NAME>) < command-line flags. Every error names the field and where
 * the bad value came from, and the program exits non-zero (UsageError -> exit code 2).
 * Built on node:util parseArgs; the typed validation on top is ours because parseArgs only
 * knows strings and booleans. Kinds: string, int, number, boolean, address (host:port) and
 * addresses (a comma-separated list of host:port, or a JSON array of them: parseHostPortList).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "E_USAGE";
}

type Kind = "string" | "int" | "number" | "boolean" | "address" | "addresses";

export interface OptionSpec<K extends Kind = Kind> {
  kind: K;
  /** Shown in --help. */
  help: string;
  default?: ValueOf<K>;
  /** Inclusive bounds for int and number. */
  min?: number;
  max?: number;
  /** Allowed values for a string. */
  choices?: readonly string[];
  short?: string;
}

/** host:port, parsed. */
export interface HostPort {
  host: string;
  port: number;
}

type ValueOf<K extends Kind> = K extends "string"
  ? string
  : K extends "int" | "number"
    ? number
    : K extends "boolean"
      ? boolean
      : K extends "addresses"
        ? HostPort[]
        : HostPort;

export type Spec = Record<string, OptionSpec>;
export type Options<S extends Spec> = {
  [N in keyof S]: S[N] extends OptionSpec<infer K>
    ? S[N] extends { default: ValueOf<K> }
      ? ValueOf<K>
      : ValueOf<K> | undefined
    : never;
};

export interface Command<S extends Spec> {
  name: string;
  summary: string;
  spec: S;
}

/** Flag name for an option key: uploadKbps -> --upload-kbps. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** Environment variable for an option key: uploadKbps -> TIERCAST_UPLOAD_KBPS. */
export function envName(key: string): string {
  return "TIERCAST_" + flagName(key).replace(/-/g, "_").toUpperCase();
}

export function helpText<S extends Spec>(cmd: Command<S>): string {
  const lines = [`Usage: tiercast ${cmd.name} [options]`, "", cmd.summary, "", "Options:"];
  for (const [key, o] of Object.entries(cmd.spec)) {
    const flag = `--${flagName(key)}${o.kind === "boolean" ? "" : " <" + o.kind + ">"}`;
    const def = o.default === undefined ? "" : ` (default: ${formatValue(o.default)})`;
    const choices = o.choices ? ` [${o.choices.join("|")}]` : "";
    lines.push(`  ${flag.padEnd(30)} ${o.help}${choices}${def}`);
  }
  lines.push(`  ${"--config <file>".padEnd(30)} JSON file with any of the options above (camelCase keys)`);
  lines.push(`  ${"--help".padEnd(30)} show this help`);
  lines.push(
    "",
    `Each option can also come from the environment, e.g. ${envName(Object.keys(cmd.spec)[0] ?? "x")}.`,
  );
  return lines.join("\n");
}

/** A value as --help shows it (and the docs' option tables, test/docs-options.test.ts). */
export function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(formatValue).join(",");
  if (typeof v === "object" && v !== null && "host" in v) {
    const hp = v as HostPort;
    return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
  }
  return String(v);
}

/**
 * Parses argv against the spec. Returns undefined when --help was asked (the help text has
 * been written with `out`). Throws UsageError naming the field for anything wrong.
 */
export function parseOptions<S extends Spec>(
  cmd: Command<S>,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
): Options<S> | undefined {
  const parseSpec: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean" },
    config: { type: "string" },
  };
  for (const [key, o] of Object.entries(cmd.spec)) {
    parseSpec[flagName(key)] = {
      type: o.kind === "boolean" ? "boolean" : "string",
      ...(o.short ? { short: o.short } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parseSpec, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError(`tiercast ${cmd.name}: ${(e as Error).message} (see tiercast ${cmd.name} --help)`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  if (flags.help) {
    out(helpText(cmd));
    return undefined;
  }

  let file: Record<string, unknown> = {};
  const configPath = typeof flags.config === "string" ? flags.config : undefined;
  if (configPath !== undefined) file = readConfigFile(cmd, configPath);

  const result: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(cmd.spec)) {
    const flag = flags[flagName(key)];
    const ev = env[envName(key)];
    let raw: unknown;
    let from: string;
    if (flag !== undefined) {
      raw = flag;
      from = `flag --${flagName(key)}`;
    } else if (ev !== undefined) {
      raw = ev;
      from = `environment ${envName(key)}`;
    } else if (key in file) {
      raw = file[key];
      from = `config ${configPath}`;
    } else {
      result[key] = o.default;
      continue;
    }
    result[key] = coerce(cmd.name, key, o, raw, from);
  }
  return result as Options<S>;
}

function readConfigFile<S extends Spec>(cmd: Command<S>, path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`tiercast ${cmd.name}: --config: cannot read ${path}: ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `tiercast ${cmd.name}: --config: ${path} is not valid JSON: ${(e as Error).message}`,
    );
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new UsageError(`tiercast ${cmd.name}: --config: ${path} must hold a JSON object`);
  }
  for (const key of Object.keys(obj)) {
    if (!(key in cmd.spec)) {
      throw new UsageError(`tiercast ${cmd.name}: config ${path}: unknown key "${key}"`);
    }
  }
  return obj as Record<string, unknown>;
}

function coerce(cmdName: string, key: string, o: OptionSpec, raw: unknown, from: string): unknown {
  const bad = (expected: string): never => {
    throw new UsageError(
      `tiercast ${cmdName}: ${key} (${from}): expected ${expected}, got ${JSON.stringify(raw)}`,
    );
  };
  switch (o.kind) {
    case "boolean":
      if (typeof raw === "boolean") return raw;
      if (raw === "1" || raw === "true") return true;
      if (raw === "0" || raw === "false") return false;
      return bad("true or false");
    case "string":
      if (typeof raw !== "string") return bad("a string");
      if (o.choices && !o.choices.includes(raw)) return bad(`one of ${o.choices.join(", ")}`);
      return raw;
    case "int":
    case "number": {
      const n =
        typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
      const range = `${o.min ?? "-inf"}..${o.max ?? "inf"}`;
      const what = o.kind === "int" ? `an integer in ${range}` : `a number in ${range}`;
      if (!Number.isFinite(n) || (o.kind === "int" && !Number.isInteger(n))) return bad(what);
      if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) return bad(what);
      return n;
    }
    case "address": {
      if (typeof raw !== "string") return bad("host:port");
      const hp = parseHostPort(raw);
      if (hp === undefined) return bad("host:port (e.g. 127.0.0.1:7700)");
      return hp;
    }
    case "addresses": {
      const r = parseHostPortList(raw);
      if (typeof r === "string") {
        throw new UsageError(`tiercast ${cmdName}: ${key} (${from}): ${r}, got ${JSON.stringify(raw)}`);
      }
      return r;
    }
  }
}

/**
 * A list of endpoints: `host:port,host:port` (a flag, the environment, or a JSON string) or a
 * JSON array of `host:port` strings. At least one, each once. Returns what is wrong as text.
 */
export function parseHostPortList(raw: unknown): HostPort[] | string {
  const items =
    typeof raw === "string" ? raw.split(",").map((s) => s.trim()) : Array.isArray(raw) ? raw : undefined;
  const expected = "expected host:port[,host:port...] (e.g. 10.0.0.1:7700,10.0.0.2:7700)";
  if (items === undefined || items.length === 0) return expected;
  const out: HostPort[] = [];
  for (const [i, item] of items.entries()) {
    const hp = typeof item === "string" ? parseHostPort(item) : undefined;
    if (hp === undefined) return `entry ${i + 1} (${JSON.stringify(item)}): ${expected}`;
    if (out.some((o) => o.host === hp.host && o.port === hp.port))
      return `entry ${i + 1} (${JSON.stringify(item)}) is named twice`;
    out.push(hp);
  }
  return out;
}

export function parseHostPort(s: string): HostPort | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1], port };
}
