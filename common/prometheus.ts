/**
 * Prometheus text exposition (format 0.0.4), shared by every /metrics: one family is a HELP
 * line, a TYPE line and a line per sample, `name{label="value",...} number`. Label values are
 * escaped (backslash, double quote, newline); a family with no labels has no braces.
 */

export type MetricType = "counter" | "gauge";
export type Labels = Readonly<Record<string, string>>;
/** One sample: its labels and its value (null: not known yet, written NaN). */
export type Sample = readonly [labels: Labels, value: number | null];

/** One metric family, its lines joined by "\n" (no trailing newline). */
export function metricFamily(
  name: string,
  type: MetricType,
  help: string,
  samples: readonly Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${formatLabels(labels)} ${value ?? "NaN"}`);
  return lines.join("\n");
}

/** The families as one exposition text, ending with a newline. */
export function exposition(families: readonly string[]): string {
  return families.join("\n") + "\n";
}

/** `{k="v",...}`, or "" when there are no labels. */
export function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
