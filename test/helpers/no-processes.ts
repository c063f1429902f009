/**
 * Loaded into every worker of the fast set (ava.fast.config.js, `require`): a test of the fast
 * set starts no process. Every way `node:child_process` starts one throws, naming the command
 * and the fix: a file that spawns belongs to the full suite, with an `@heavy processes: ...`
 * line in its header (the rule: ava.fast.config.js). Worker threads are not processes and stay
 * allowed (control's DCM workers are threads).
 */
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";

const STARTERS = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const;

for (const name of STARTERS) {
  Object.defineProperty(childProcess, name, {
    configurable: true,
    writable: true,
    value: (command: unknown) => {
      throw new Error(
        `test:fast starts no process, and this file started \`${String(command)}\` (child_process.${name}): ` +
          `give its header an "@heavy processes: ..." line so that only \`npm test\` runs it`,
      );
    },
  });
}
// `import { spawn } from "node:child_process"` binds the ES module's exports: bring them in line.
syncBuiltinESMExports();
