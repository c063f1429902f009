/**
 * The one Prometheus text writer and reader (common/prometheus.ts): escaping, label order, a
 * family with no samples, checked names, values, and reading back what was written; control's
 * merge of its servers' answers (control/rsl/merge-admin.ts), which writes what it read again
 * byte for byte.
 */
import test from "ava";
import {
  EXPOSITION_CONTENT_TYPE,
  exposition,
  metricFamily,
  parseExposition,
  parseSamples,
  samplesByKey,
} from "../common/prometheus.js";
import { mergeExpositions } from "../control/rsl/merge-admin.js";

test("a family: HELP, TYPE and a line per sample; no labels, no braces", (t) => {
  t.is(
    metricFamily("x_total", "counter", "Things.", [
      [{}, 3],
      [{ a: "1" }, 4],
    ]),
    '# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\nx_total{a="1"} 4',
  );
  t.is(EXPOSITION_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

test("label values escape backslash, double quote and newline; HELP escapes backslash and newline", (t) => {
  const text = metricFamily("x", "gauge", 'a \\ "b"\nc', [[{ v: 'p\\q"r\ns' }, 1]]);
  t.is(text, '# HELP x a \\\\ "b"\\nc\n# TYPE x gauge\nx{v="p\\\\q\\"r\\ns"} 1');
  const [f] = parseExposition(exposition([text]));
  t.is(f?.help, 'a \\ "b"\nc');
  t.deepEqual(f?.samples, [{ name: "x", labels: { v: 'p\\q"r\ns' }, value: 1 }]);
});

test("labels are written in the order given, not sorted", (t) => {
  t.is(
    metricFamily("n", "gauge", "h", [[{ role: "a", region: "b" }, 1]]).split("\n")[2],
    'n{role="a",region="b"} 1',
  );
  t.is(
    metricFamily("n", "gauge", "h", [[{ region: "b", role: "a" }, 1]]).split("\n")[2],
    'n{region="b",role="a"} 1',
  );
});

test("a family with no samples is its HELP and TYPE lines", (t) => {
  t.is(
    exposition([metricFamily("empty_total", "counter", "None yet.", [])]),
    "# HELP empty_total None yet.\n# TYPE empty_total counter\n",
  );
  t.deepEqual(parseExposition("# HELP empty_total None yet.\n# TYPE empty_total counter\n"), [
    { name: "empty_total", type: "counter", help: "None yet.", samples: [] },
  ]);
  t.is(exposition([]), "", "no families, no text");
});

test("names are checked: a bad metric or label name throws", (t) => {
  t.throws(() => metricFamily("9lives", "gauge", "h", []), { message: /bad metric name/ });
  t.throws(() => metricFamily("a-b", "gauge", "h", []), { message: /bad metric name/ });
  t.throws(() => metricFamily("ok", "gauge", "h", [[{ "bad-label": "v" }, 1]]), {
    message: /bad label name/,
  });
  t.throws(() => metricFamily("ok", "gauge", "h", [[{ __reserved: "v" }, 1]]), { message: /bad label name/ });
  t.throws(() => metricFamily("ok", "histogram", "h", [[{}, 1, "-bucket"]]), { message: /bad metric name/ });
  t.notThrows(() => metricFamily("a:b_c", "gauge", "h", [[{ _x9: "v" }, 1]]));
});

test("values: null and NaN are NaN, infinities +Inf and -Inf, and they read back", (t) => {
  const text = exposition([
    metricFamily("v", "gauge", "h", [
      [{ k: "null" }, null],
      [{ k: "inf" }, Infinity],
      [{ k: "ninf" }, -Infinity],
      [{ k: "frac" }, 0.25],
      [{ k: "big" }, 1e21],
    ]),
  ]);
  t.is(
    text,
    '# HELP v h\n# TYPE v gauge\nv{k="null"} NaN\nv{k="inf"} +Inf\nv{k="ninf"} -Inf\nv{k="frac"} 0.25\nv{k="big"} 1e+21\n',
  );
  t.deepEqual(
    parseSamples(text).map((s) => s.value),
    [NaN, Infinity, -Infinity, 0.25, 1e21],
  );
});

test("samplesByKey: a map or a record, in key order, labelled by name or by a function", (t) => {
  t.deepEqual(
    samplesByKey(
      new Map([
        ["b", 2],
        ["a", 1],
      ]),
      "reason",
    ),
    [
      [{ reason: "a" }, 1],
      [{ reason: "b" }, 2],
    ],
  );
  t.deepEqual(
    samplesByKey({ "7": 1, "12": 2, fallback: 3 }, (source) => ({ channel: "demo", source })),
    [
      [{ channel: "demo", source: "12" }, 2],
      [{ channel: "demo", source: "7" }, 1],
      [{ channel: "demo", source: "fallback" }, 3],
    ],
  );
});

test("reading: histogram suffixes stay in their family, timestamps and other comments are skipped", (t) => {
  const text = [
    "# A free comment",
    "# HELP h_seconds Latency.",
    "# TYPE h_seconds histogram",
    'h_seconds_bucket{le="0.1"} 1',
    'h_seconds_bucket{le="+Inf"} 3 1700000000000',
    "h_seconds_sum 0.5",
    "h_seconds_count 3",
    'loose{a="1",} 2',
    "not a sample line",
  ].join("\n");
  const families = parseExposition(text);
  t.deepEqual(
    families.map((f) => [f.name, f.type, f.samples.length]),
    [
      ["h_seconds", "histogram", 4],
      ["loose", "untyped", 1],
    ],
  );
  t.deepEqual(families[1]?.samples[0], { name: "loose", labels: { a: "1" }, value: 2 });
  t.is(
    mergeExpositions([text]),
    [
      "# HELP h_seconds Latency.",
      "# TYPE h_seconds histogram",
      'h_seconds_bucket{le="0.1"} 1',
      'h_seconds_bucket{le="+Inf"} 3',
      "h_seconds_sum 0.5",
      "h_seconds_count 3",
      "# TYPE loose untyped",
      'loose{a="1"} 2',
      "",
    ].join("\n"),
  );
});

test("merge: series summed, a max gauge takes the largest, order of first appearance, our bytes kept", (t) => {
  const a = exposition([
    metricFamily("c_total", "counter", "C.", [
      [{ k: 'q"1' }, 1],
      [{ k: "2" }, 2],
    ]),
    metricFamily("lag_max_ms", "gauge", "Worst lag.", [[{}, 5]]),
    metricFamily("none_total", "counter", "None.", []),
  ]);
  const b = exposition([
    metricFamily("c_total", "counter", "C.", [
      [{ k: "3" }, 30],
      [{ k: 'q"1' }, 10],
    ]),
    metricFamily("lag_max_ms", "gauge", "Worst lag.", [[{}, 3]]),
  ]);
  t.is(mergeExpositions([a]), a, "one answer is written again byte for byte");
  t.is(
    mergeExpositions([a, b]),
    exposition([
      metricFamily("c_total", "counter", "C.", [
        [{ k: 'q"1' }, 11],
        [{ k: "2" }, 2],
        [{ k: "3" }, 30],
      ]),
      metricFamily("lag_max_ms", "gauge", "Worst lag.", [[{}, 5]]),
      metricFamily("none_total", "counter", "None.", []),
    ]),
  );
  t.is(mergeExpositions([]), "");
});
