/**
 * Running commands for the network lab: absolute paths of the system tools it drives (ip, tc,
 * nft, sysctl; never looked up on PATH), `run` (execFile-style argument vector, no shell, with a
 * timeout; rejects with stderr), and the argv that runs a TypeScript file with node + tsx.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Killed (SIGKILL) and rejected past this; default 30 s. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const SYSTEM_DIRS = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
const PACKAGE_OF: Record<string, string> = {
  ip: "iproute2",
  tc: "iproute2",
  nft: "nftables",
  sysctl: "procps",
};
const toolPaths = new Map<string, string>();

/**
 * Absolute path of a system tool. Never looked up on PATH: under npm/npx, node_modules/.bin
 * comes first and holds an unrelated `nft` (@vercel/nft, pulled in by ava) that exits 0.
 */
export function tool(name: "ip" | "tc" | "nft" | "sysctl"): string {
  let path = toolPaths.get(name);
  if (path === undefined) {
    path = SYSTEM_DIRS.map((d) => `${d}/${name}`).find((p) => existsSync(p));
    if (path === undefined) {
      throw new Error(
        `lab: ${name} not found in ${SYSTEM_DIRS.join(":")} (Debian package ${PACKAGE_OF[name]}; see scripts/test-deps.sh)`,
      );
    }
    toolPaths.set(name, path);
  }
  return path;
}

/** Runs a command (no shell); rejects with its stderr on a non-zero exit or past the timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(" ")}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise({ stdout, stderr });
      else {
        const why = signal === null ? `exit ${code}` : `killed by ${signal} (timeout ${timeoutMs} ms?)`;
        reject(new Error(`${cmd} ${args.join(" ")}: ${why}: ${stderr.trim()}`));
      }
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** argv for running a TypeScript file with node + tsx (cwd must be the repo, as spawn's default is). */
export function nodeArgv(script: string, ...args: string[]): string[] {
  return [process.execPath, "--import", "tsx", script, ...args];
}
