import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHostPort, parseOptions, UsageError, type Command, type Spec } from "../common/options.js";

const cmd = {
  name: "thing",
  summary: "a test command",
  spec: {
    uploadKbps: { kind: "int", help: "upload", default: 1000, min: 1 },
    control: { kind: "address", help: "control", default: { host: "127.0.0.1", port: 7700 } },
    role: { kind: "string", help: "role", default: "agent", choices: ["agent", "waypoint"] },
    verbose: { kind: "boolean", help: "verbose", default: false },
    hint: { kind: "string", help: "hint" },
  },
} as const satisfies Command<Spec>;

test("defaults < config file < environment < flags", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "opts-"));
  const file = join(dir, "c.json");
  writeFileSync(file, JSON.stringify({ uploadKbps: 2000, role: "waypoint", hint: "east" }));
  t.like(parseOptions(cmd, [], {}), { uploadKbps: 1000, role: "agent", verbose: false, hint: undefined });
  t.like(parseOptions(cmd, ["--config", file], {}), { uploadKbps: 2000, role: "waypoint", hint: "east" });
  t.like(parseOptions(cmd, ["--config", file], { TIERCAST_UPLOAD_KBPS: "3000" }), { uploadKbps: 3000 });
  t.like(parseOptions(cmd, ["--config", file, "--upload-kbps=4000"], { TIERCAST_UPLOAD_KBPS: "3000" }), {
    uploadKbps: 4000,
  });
  t.deepEqual(parseOptions(cmd, ["--control", "[::1]:9000"], {})?.control, { host: "::1", port: 9000 });
  t.is(parseOptions(cmd, ["--verbose"], {})?.verbose, true);
});

test("every error names the field and where the value came from", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "opts-"));
  const bad = (argv: string[], env: NodeJS.ProcessEnv, re: RegExp): void => {
    const e = t.throws(() => parseOptions(cmd, argv, env), { instanceOf: UsageError });
    t.regex(e!.message, re);
  };
  bad(
    ["--upload-kbps", "0"],
    {},
    /uploadKbps \(flag --upload-kbps\): expected an integer in 1\.\.inf, got "0"/,
  );
  bad([], { TIERCAST_UPLOAD_KBPS: "1.5" }, /uploadKbps \(environment TIERCAST_UPLOAD_KBPS\)/);
  bad(["--role", "king"], {}, /role \(flag --role\): expected one of agent, waypoint/);
  bad(["--control", "host"], {}, /control \(flag --control\): expected host:port/);
  bad(["--nope"], {}, /nope/);
  const f1 = join(dir, "unknown.json");
  writeFileSync(f1, JSON.stringify({ uplodKbps: 5 }));
  bad(["--config", f1], {}, /unknown key "uplodKbps"/);
  const f2 = join(dir, "badtype.json");
  writeFileSync(f2, JSON.stringify({ uploadKbps: "fast" }));
  bad(["--config", f2], {}, new RegExp(`uploadKbps \\(config ${f2.replace(/[.\\/]/g, "\\$&")}\\)`));
  const f3 = join(dir, "broken.json");
  writeFileSync(f3, "{");
  bad(["--config", f3], {}, /not valid JSON/);
  bad(["--config", join(dir, "missing.json")], {}, /cannot read/);
});

test("--help prints usage and returns undefined", (t) => {
  let out = "";
  t.is(
    parseOptions(cmd, ["--help"], {}, (s) => (out += s)),
    undefined,
  );
  t.regex(out, /--upload-kbps <int>/);
  t.regex(out, /TIERCAST_UPLOAD_KBPS/);
});

test("host:port parsing", (t) => {
  t.deepEqual(parseHostPort("example.net:1"), { host: "example.net", port: 1 });
  t.is(parseHostPort("a:0"), undefined);
  t.is(parseHostPort("a:65536"), undefined);
  t.is(parseHostPort(":80"), undefined);
  t.is(parseHostPort("::1:80"), undefined);
});
