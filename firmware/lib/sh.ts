/**
 * The build's only way to run programs and report progress: synchronous, argv arrays (no
 * shell), output shown on failure, and a step timer so the build prints where time goes.
 */
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export class BuildError extends Error {
  override readonly name = "BuildError";
  readonly code = "E_FIRMWARE_BUILD";
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Show the program's output as it runs (default: capture, show only on failure). */
  inherit?: boolean;
  input?: string | Buffer;
}

/** Runs a program, returns its stdout; throws BuildError with its output if it fails. */
export function run(command: string, args: string[], o: RunOptions = {}): string {
  const opts: SpawnSyncOptions = {
    cwd: o.cwd,
    env: o.env ?? process.env,
    input: o.input,
    stdio: o.inherit ? ["ignore", "inherit", "inherit"] : ["pipe", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  };
  const r = spawnSync(command, args, opts);
  if (r.error) throw new BuildError(`${command}: ${r.error.message}`);
  const out = r.stdout?.toString() ?? "";
  if (r.status !== 0) {
    const err = r.stderr?.toString() ?? "";
    const tail = (out + err).split("\n").slice(-40).join("\n");
    throw new BuildError(`${command} ${args.join(" ")} exited with ${r.status ?? r.signal}\n${tail}`);
  }
  return out;
}

export function sha256(buf: Uint8Array): string {
  return createHash("sha256").update(buf).digest("hex");
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

export function log(msg: string): void {
  process.stderr.write(`firmware: ${msg}\n`);
}

/** Runs one named step and logs how long it took. */
export function step<T>(name: string, fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  log(`${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return r;
}
