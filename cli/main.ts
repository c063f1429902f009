/**
 * The `tiercast` command: one program with four subcommands. Each subcommand's module is
 * loaded only when it runs, so `tiercast agent` on a router does not load the control center.
 */
import { embeddedRuntime } from "../common/embedded.js";
import { UsageError } from "../common/options.js";
import { VERSION } from "./version.js";

interface Sub {
  summary: string;
  load: () => Promise<{ main(argv: string[]): Promise<void> }>;
}

const SUBCOMMANDS: Record<string, Sub> = {
  control: {
    summary: "run the control center (client manager, regions, content directory, DCMs, admin HTTP)",
    load: () => import("../control/main.js"),
  },
  origin: {
    summary: "ingest a live HLS source and feed it to the top of the tree; serve the HTTP fallback",
    load: () => import("../origin/main.js"),
  },
  agent: {
    summary: "run an agent: join, relay the live stream to children, cache it, serve LAN players over HLS",
    load: () => import("../agent/main.js"),
  },
  demo: {
    summary: "run control, an origin and 12 agents in 3 regions on loopback with a live status table",
    load: () => import("./demo.js"),
  },
};

export function usage(): string {
  const lines = ["Usage: tiercast <command> [options]", "", "Commands:"];
  for (const [name, s] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(8)} ${s.summary}`);
  lines.push(
    "",
    "Options:",
    "  --help      show this help (tiercast <command> --help for a command's options)",
  );
  lines.push("  --version   print the version and the Node.js runtime");
  return lines.join("\n");
}

export function versionText(): string {
  const note = embeddedRuntime()?.runtimeNote;
  return `tiercast ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})${note ? "; " + note : ""}`;
}

async function run(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(usage() + "\n");
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-v") {
    process.stdout.write(versionText() + "\n");
    return 0;
  }
  const sub = SUBCOMMANDS[first];
  if (sub === undefined) {
    process.stderr.write(`tiercast: unknown command "${first}"\n\n${usage()}\n`);
    return 2;
  }
  const mod = await sub.load();
  await mod.main(rest);
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(err.message + "\n");
      process.exitCode = 2;
    } else {
      process.stderr.write(`tiercast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
