/**
 * The docs from the code: every option table in docs/ is checked against the option specs the
 * programs parse (control/main.ts, origin/main.ts, agent/main.ts), so a new option, a renamed
 * one or a changed default fails here, naming the doc, the program and the option. Each
 * program's own page (its "## Options" table) must list every option, and nothing else, with
 * the spec's default; docs/configuration.md's tables name a program per row and are checked
 * row by row. The README must name every `bench:*` script of package.json.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { agentCommand } from "../agent/main.js";
import { envName, flagName, formatValue, type Spec } from "../common/options.js";
import { controlCommand } from "../control/main.js";
import { originCommand } from "../origin/main.js";

const SPECS: Record<string, Spec> = {
  agent: agentCommand.spec,
  control: controlCommand.spec,
  origin: originCommand.spec,
};

interface Row {
  line: number;
  cells: string[];
}

/** The rows (header and rule excluded) of every pipe table under `## <section>` (all sections if undefined). */
function tables(text: string, section?: string): Row[][] {
  const out: Row[][] = [];
  let inSection = section === undefined;
  let current: Row[] | undefined;
  text.split("\n").forEach((raw, i) => {
    if (raw.startsWith("## ")) inSection = section === undefined || raw.slice(3).trim() === section;
    if (!inSection || !raw.startsWith("|")) {
      current = undefined;
      return;
    }
    // Split on pipes that are not escaped (`\|` stays in its cell).
    const cells = raw
      .slice(1, raw.endsWith("|") ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    if (current === undefined) out.push((current = []));
    current.push({ line: i + 1, cells });
  });
  // Drop each table's header and its --- rule.
  return out.map((rows) => rows.filter((r) => !/^-+$/.test(r.cells[0] ?? "")).slice(1));
}

/** flag --admin-token-file -> adminTokenFile. */
function keyOfFlag(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The option a row documents: the first `--flag` in it. */
function optionOf(row: Row): string | undefined {
  const m = /`--([a-z0-9-]+)`/.exec(row.cells.join(" | "));
  return m?.[1] === undefined ? undefined : keyOfFlag(m[1]);
}

/**
 * What is wrong with a row's default cell, or undefined. A spec default must be the cell's first
 * `code` (it may be followed by words, e.g. "`8388608` (8 MiB)"); an option without a default
 * must not be shown with a bare `value`, which would read as one (a computed default is written
 * with a <placeholder>, or in words).
 */
function defaultProblem(spec: Spec, key: string, cell: string): string | undefined {
  const o = spec[key];
  if (o === undefined) return undefined;
  const shown = /^`([^`]*)`/.exec(cell)?.[1];
  if (o.default !== undefined) {
    const want = formatValue(o.default);
    return shown === want ? undefined : `default is \`${want}\` in the spec, the doc says ${cell}`;
  }
  // A computed default is described with a <placeholder>: `http://<http address>:<http port>`.
  return /^`[^`<]*`$/.test(cell) ? `has no default in the spec, the doc says ${cell}` : undefined;
}

/** The flag and environment names a row gives for `key` must be the ones parseOptions reads. */
function namesProblem(key: string, row: Row): string | undefined {
  const text = row.cells.join(" | ");
  if (!text.includes(`\`--${flagName(key)}\``)) return `the flag is --${flagName(key)}`;
  if (!text.includes(envName(key))) return `the environment variable is ${envName(key)}`;
  return undefined;
}

for (const program of ["agent", "control", "origin"] as const) {
  test(`docs/${program}.md: the options table lists every option of the spec, with its default`, (t) => {
    const spec = SPECS[program]!;
    const found = tables(readFileSync(`docs/${program}.md`, "utf8"), "Options");
    t.is(found.length, 1, `docs/${program}.md: one table under "## Options"`);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const row of found[0] ?? []) {
      const key = optionOf(row);
      const at = `docs/${program}.md:${row.line}`;
      if (key === undefined) {
        problems.push(`${at}: a row without a --flag`);
        continue;
      }
      if (!(key in spec)) {
        problems.push(`${at}: ${key} is not an option of tiercast ${program}`);
        continue;
      }
      if (seen.has(key)) problems.push(`${at}: ${key} is listed twice`);
      seen.add(key);
      const names = namesProblem(key, row);
      if (names !== undefined) problems.push(`${at}: ${key}: ${names}`);
      const def = defaultProblem(spec, key, row.cells[2] ?? "");
      if (def !== undefined) problems.push(`${at}: ${key}: ${def}`);
    }
    for (const key of Object.keys(spec)) {
      if (!seen.has(key)) problems.push(`docs/${program}.md: ${key} (--${flagName(key)}) is missing`);
    }
    t.deepEqual(problems, []);
  });
}

test("docs/configuration.md: every option row names real options of its programs, with their defaults", (t) => {
  const problems: string[] = [];
  let rows = 0;
  for (const table of tables(readFileSync("docs/configuration.md", "utf8"))) {
    for (const row of table) {
      // Option rows: "program(s) | `option` (`--flag` / env) | default | meaning".
      const programs = (row.cells[0] ?? "").split(",").map((p) => p.trim());
      if (!programs.every((p) => p in SPECS)) continue;
      const key = optionOf(row);
      const at = `docs/configuration.md:${row.line}`;
      if (key === undefined) {
        problems.push(`${at}: a row without a --flag`);
        continue;
      }
      rows++;
      for (const p of programs) {
        const spec = SPECS[p]!;
        if (!(key in spec)) {
          problems.push(`${at}: ${key} is not an option of tiercast ${p}`);
          continue;
        }
        const names = namesProblem(key, row);
        if (names !== undefined) problems.push(`${at}: ${key}: ${names}`);
        const def = defaultProblem(spec, key, row.cells[2] ?? "");
        if (def !== undefined) problems.push(`${at}: ${p} ${key}: ${def}`);
      }
    }
  }
  t.true(rows > 0, "docs/configuration.md has option rows");
  t.deepEqual(problems, []);
});

test("README names every bench:* script of package.json", (t) => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
  const readme = readFileSync("README.md", "utf8");
  const benches = Object.keys(pkg.scripts).filter((s) => s.startsWith("bench:"));
  t.true(benches.length > 0);
  t.deepEqual(
    benches.filter((b) => !new RegExp(`\`(npm run )?${b}\``).test(readme)),
    [],
    "bench scripts the README does not name",
  );
});

test("the checks see a wrong default, a missing option and an option that does not exist", (t) => {
  const spec = SPECS.control!;
  t.regex(defaultProblem(spec, "topology", "`tree`") ?? "", /default is `tiered` in the spec/);
  t.is(defaultProblem(spec, "topology", "`tiered`"), undefined);
  t.is(defaultProblem(spec, "recvBufferBytes", "`8388608` (8 MiB)"), undefined);
  t.regex(defaultProblem(spec, "regions", "`x`") ?? "", /has no default/);
  t.is(defaultProblem(spec, "regions", "none"), undefined);
  const doc =
    "## Options\n\n| flag | env | default |\n| - | - | - |\n| `--nope` | `TIERCAST_NOPE` | none |\n";
  const [rows] = tables(doc, "Options");
  t.is(rows?.length, 1);
  t.is(optionOf(rows![0]!), "nope");
  t.is(keyOfFlag("admin-token-file"), "adminTokenFile");
  t.regex(namesProblem("topology", rows![0]!) ?? "", /--topology/);
});

test("docs/firmware.md: the image's config keys are agent options, with the factory defaults the image ships", (t) => {
  const factory = JSON.parse(readFileSync("firmware/rootfs/etc/tiercast/defaults.json", "utf8")) as Record<
    string,
    unknown
  >;
  const found = tables(readFileSync("docs/firmware.md", "utf8")).filter((rows) =>
    rows.some((r) => r.cells[0] === "`controlKey`"),
  );
  t.is(found.length, 1, "docs/firmware.md: one table of config keys (the one naming `controlKey`)");
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const row of found[0] ?? []) {
    const key = /^`([A-Za-z]+)`$/.exec(row.cells[0] ?? "")?.[1];
    const at = `docs/firmware.md:${row.line}`;
    if (key === undefined || !(key in SPECS.agent!)) {
      problems.push(`${at}: ${row.cells[0]} is not a tiercast agent option`);
      continue;
    }
    listed.add(key);
    const shown = /^`([^`]*)`/.exec(row.cells[1] ?? "")?.[1];
    const want = factory[key] === undefined ? undefined : String(factory[key]);
    if (shown !== want) {
      problems.push(
        `${at}: ${key}: the image's defaults.json has ${want ?? "none"}, the doc says ${row.cells[1]}`,
      );
    }
  }
  for (const key of Object.keys(factory)) {
    if (!listed.has(key)) problems.push(`docs/firmware.md: ${key} (in the image's defaults.json) is missing`);
  }
  t.deepEqual(problems, []);
});
