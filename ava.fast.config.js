// The fast loop (`npm run test:fast`): every test file of ava.config.js whose header has no
// `@heavy` line; no root, no system tools, no child processes, a few minutes on 2 cores.
//
// The rule, written once and checked:
//   - a file is heavy, and runs only in `npm test`, when its header comment has a line
//     `@heavy <kinds>: <why>`, kinds among
//       privileged  it gates tests on the machine through test/helpers/needs.ts (root, netns,
//                   nftables, tc, QEMU, etcd, ffmpeg, python3 raw sockets);
//       processes   it starts processes (the compiled CLI, etcd, a lab, ffmpeg, a writer);
//       soak        it runs long at scale without either (the simulator's scenarios at 10^4);
//   - in the fast set, starting a process throws (test/helpers/no-processes.ts) and needs()
//     fails, so a file that should say `@heavy` and does not fails test:fast;
//   - test/heavy-tags.test.ts checks the other way: a file saying `privileged` calls needs() and
//     one saying `processes` reaches node:child_process through its imports, and this list is
//     every test file but the heavy ones.
// The fast files run three at a time on 2 cores: a worker spends much of its life starting up
// (node, tsx) or waiting on loopback timers, and 3 beat 2 by about a quarter (106 s against
// 138 s for the ava step, loaded machine); the heavy ones run one at a time (ava.config.js).
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath, URL } from "node:url";
import base from "./ava.config.js";

const TEST_DIR = fileURLToPath(new URL("./test/", import.meta.url));
export const HEAVY_LINE = /^\s*(?:\*|\/\/)\s*@heavy\s+([a-z, ]+):\s*(\S.*)$/m;

const fastFiles = readdirSync(TEST_DIR, { recursive: true })
  .map((f) => String(f))
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => !/^\s*(?:\*|\/\/)\s*@heavy\b/m.test(readFileSync(TEST_DIR + f, "utf8")))
  .sort()
  .map((f) => `test/${f}`);

export default {
  ...base,
  files: fastFiles,
  // Loaded in each test worker before its file (not through --import: worker threads, such as
  // control's DCM workers, inherit execArgv and run the built JS without tsx).
  require: ["./test/helpers/no-processes.ts"],
  environmentVariables: { TIERCAST_TEST_SET: "fast" },
  concurrency: 3,
};
