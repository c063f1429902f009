/**
 * Shared by the firmware tests: build an architecture (firmware/build.ts, cache in
 * firmware/cache), run processes whose output is JSON lines (tiercast) or a serial console
 * (QEMU) and wait for a line with a deadline, find free loopback ports, and start a host
 * control center + origin that a QEMU guest reaches at 10.0.2.2.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import test from "ava";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Arch } from "../firmware/lib/targets.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const BIN = join(ROOT, "bin", "tiercast.js");

export interface Manifest {
  arch: Arch;
  node: string;
  sha256: string;
  bytes: number;
  image?: { initrdSha256: string };
}

/** Runs firmware/build.ts; returns the manifest and how long the build took. */
export function buildFirmware(
  arch: Arch,
  image: boolean,
): { manifest: Manifest; seconds: number; log: string } {
  const t0 = performance.now();
  const args = [
    "--import",
    "tsx",
    join(ROOT, "firmware", "build.ts"),
    "--arch",
    arch,
    ...(image ? [] : ["--no-image"]),
  ];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 30 * 60_000 });
  const log = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`firmware build for ${arch} failed (${r.status ?? r.signal}):\n${log}`);
  const manifest = JSON.parse(
    readFileSync(join(ROOT, "images", "out", arch, "manifest.json"), "utf8"),
  ) as Manifest;
  return { manifest, seconds: (performance.now() - t0) / 1000, log };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/** A child process whose output lines are kept and can be waited on. */
export class Proc {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #waiters = new Set<() => void>();
  #done = false;

  constructor(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = "";
      stream?.on("data", (d: Buffer) => {
        const parts = (partial + d.toString()).split("\n");
        partial = parts.pop() ?? "";
        for (const p of parts) this.lines.push(p.replace(/\r$/, ""));
        this.#wake();
      });
    }
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code) => {
        this.#done = true;
        this.#wake();
        resolve(code);
      }),
    );
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** JSON objects among the lines (QEMU's console mixes them with the supervisor's text). */
  events(from = 0): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.lines.slice(from)) {
      const i = l.indexOf("{");
      if (i < 0) continue;
      try {
        out.push(JSON.parse(l.slice(i)) as Record<string, unknown>);
      } catch {
        // a console line that is not JSON
      }
    }
    return out;
  }

  /** Resolves with the first line from index `from` on that `match` accepts. */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      let next = from;
      const check = (): void => {
        for (; next < this.lines.length; next++) {
          const l = this.lines[next] as string;
          if (match(l)) return finish(() => resolve(l));
        }
        if (this.#done) finish(() => reject(new Error(`${what}: process exited first\n${this.tail()}`)));
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`)),
          ),
        timeoutMs,
      );
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        fn();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Waits for a JSON line with this `event` (and optional extra test). */
  waitForEvent(
    event: string,
    timeoutMs: number,
    from = 0,
    extra: (e: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    return this.waitForLine(
      `event ${event}`,
      (l) => {
        const e = parseEvent(l);
        return e !== undefined && e.event === event && extra(e);
      },
      timeoutMs,
      from,
    ).then((l) => parseEvent(l) as Record<string, unknown>);
  }

  tail(n = 40): string {
    return this.lines.slice(-n).join("\n");
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.#done) return;
    this.child.kill(signal);
    await this.exited;
  }
}

function parseEvent(line: string): Record<string, unknown> | undefined {
  const i = line.indexOf("{");
  if (i < 0) return undefined;
  try {
    return JSON.parse(line.slice(i)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A copy of a (possibly power-cut) ext4 disk image, checked with e2fsck, and files read out of it. */
export function inspectDisk(
  image: string,
  dir: string,
  files: string[],
): { fsck: number; files: Record<string, string | undefined> } {
  const copy = join(dir, "inspect.img");
  copyFileSync(image, copy);
  // -p would refuse some repairs; -y answers yes. 0 = clean, 1 = errors corrected (journal replay).
  const fsck = spawnSync("e2fsck", ["-f", "-y", copy], { encoding: "utf8" }).status ?? 99;
  const out: Record<string, string | undefined> = {};
  for (const f of files) {
    const dest = join(dir, f.replace(/\//g, "_"));
    spawnSync("debugfs", ["-R", `dump -p /${f} ${dest}`, copy], { encoding: "utf8" });
    out[f] = existsSync(dest) ? dest : undefined;
  }
  return { fsck, files: out };
}

export interface HostServers {
  controlPort: number;
  /** control's public key (hex, from its ready line): agents and the origin pin it (--control-key). */
  controlKey: string;
  originHttpPort: number;
  control: Proc;
  origin: Proc;
  stop(): Promise<void>;
}

/**
 * `tiercast control` and `tiercast origin` on 127.0.0.1 (the compiled CLI, or `command` for
 * an executable under test). The origin's fallback URL uses `fallbackHost` (10.0.2.2 for a
 * QEMU guest, whose 10.0.2.2 is this host's loopback). The origin pins control's key, read
 * from control's ready line, as every agent of the test must (`controlKey`).
 */
export async function startHostServers(
  dir: string,
  fallbackHost: string,
  command?: string,
): Promise<HostServers> {
  const cmd = command ?? process.execPath;
  const pre = command === undefined ? [BIN] : [];
  const control = new Proc(cmd, [
    ...pre,
    "control",
    "--port",
    "0",
    "--admin-port",
    "0",
    "--db",
    join(dir, "control.db"),
  ]);
  const ready = await control.waitForEvent("ready", 60_000);
  const controlPort = (ready.udp as { port: number }).port;
  const controlKey = ready.publicKey;
  if (typeof controlKey !== "string" || !/^[0-9a-f]{64}$/.test(controlKey)) {
    await control.stop();
    throw new Error(`control's ready line has no publicKey (64 hex digits): ${JSON.stringify(ready)}`);
  }
  const originHttpPort = await freePort();
  const origin = new Proc(cmd, [
    ...pre,
    "origin",
    ...["--control", `127.0.0.1:${controlPort}`, "--control-key", controlKey],
    ...["--http-port", String(originHttpPort)],
    ...["--fallback-url", `http://${fallbackHost}:${originHttpPort}`, "--data-dir", join(dir, "origin")],
  ]);
  try {
    await origin.waitForEvent("joined", 60_000);
  } catch (e) {
    await control.stop();
    await origin.stop();
    throw e;
  }
  return {
    controlPort,
    controlKey,
    originHttpPort,
    control,
    origin,
    stop: async () => {
      await origin.stop();
      await control.stop();
    },
  };
}

export { ffmpegDecode } from "./helpers/ffmpeg.js";

/**
 * What a QEMU boot test shares: before its tests, build `arch` with its image and start control
 * and an origin on the host (the guest reaches them at 10.0.2.2); after them, stop and clean up.
 */
export interface BootFixture {
  /** The test's scratch folder. */
  readonly dir: string;
  readonly host: HostServers;
}

export function useBootFixture(arch: "arm64" | "armv7", enabled = true): BootFixture {
  const fx: { dir?: string; host?: HostServers } = {};
  // Disabled when the machine lacks what the boot needs (test/helpers/needs.ts): no build then.
  if (enabled) registerBootHooks(arch, fx);
  return {
    get dir() {
      if (fx.dir === undefined) throw new Error("boot fixture used before its before hook ran");
      return fx.dir;
    },
    get host() {
      if (fx.host === undefined) throw new Error("boot fixture used before its before hook ran");
      return fx.host;
    },
  };
}

function registerBootHooks(arch: "arm64" | "armv7", fx: { dir?: string; host?: HostServers }): void {
  test.before(async (t) => {
    t.timeout(40 * 60_000, "cold firmware build (addon compile, npm and Debian downloads)");
    const b = buildFirmware(arch, true);
    t.log(
      `${arch} build: ${b.seconds.toFixed(1)} s, executable ${(b.manifest.bytes / 1e6).toFixed(1)} MB, sha256 ${b.manifest.sha256}`,
    );
    fx.dir = mkdtempSync(join(tmpdir(), `tiercast-fw-${arch}-`));
    fx.host = await startHostServers(fx.dir, "10.0.2.2");
  });
  test.after.always(async () => {
    await fx.host?.stop();
    if (fx.dir) rmSync(fx.dir, { recursive: true, force: true });
  });
}
