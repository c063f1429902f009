/**
 * `scripts/qemu-run --arch arm64|armv7 [--http-port 8081] [--disk FILE] [--fresh]
 *                   [--control-port 7700] [--host-dir DIR]
 *                   [--control-key KEY [--control HOST:PORT]] [--enrolment-token TOKEN] [--no-boot]`
 *
 * Boots images/out/<arch> under QEMU with the persistent partition FILE (default
 * images/out/<arch>/data.img, made on first use; --fresh remakes it), forwards the agent's LAN
 * HTTP port to 127.0.0.1 and prints where to point a player. Ctrl-A X quits.
 *
 * The guest's agent pins control's public key (`controlKey` in /data/tiercast.json; the image's
 * factory config has none and the agent refuses to start without it). Without --control-key,
 * qemu-run starts `tiercast control` on 127.0.0.1:<control-port> (0 = pick; its key pair and
 * database kept in --host-dir, default images/out/<arch>/host/, so the key stays the same from
 * one run to the next) and `tiercast origin` on this host from this checkout's compiled CLI,
 * reads the key from control's ready line, and stops both when QEMU exits (SIGTERM or SIGHUP
 * to qemu-run stops QEMU first, then them). With --control-key, the guest joins a control you run (at --control, default
 * 127.0.0.1:7700 = this host's loopback through hostAlias). Either way the key (and
 * --enrolment-token, for control's token policy) is written into the partition's
 * /data/tiercast.json, keeping its other keys, and the key is printed. --no-boot stops there.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { keyText, parseKeyText } from "../common/control-key.js";
import { seedGuestConfig, type GuestConfig } from "./lib/data-disk.js";
import { qemuCommand } from "./lib/qemu.js";
import { parseArch } from "./lib/targets.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The agent's LAN HTTP port in the factory config (firmware/rootfs/etc/tiercast/defaults.json). */
const GUEST_HTTP_PORT = 8081;
/** control's UDP port in the factory config. */
const CONTROL_PORT = "7700";
/** How long control and the origin get to come up before qemu-run gives up. */
const HOST_START_MS = 60_000;

const say = (line: string): void => void process.stderr.write(`qemu-run: ${line}\n`);

class RunError extends Error {}

/**
 * Every process qemu-run starts, QEMU last. SIGTERM or SIGHUP to qemu-run stops QEMU (main then
 * stops the origin and control in order), or, before QEMU runs, whatever has started.
 */
const children: ChildProcess[] = [];
for (const sig of ["SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
    const qemu = live.find((c) => c.spawnfile.startsWith("qemu-system-"));
    for (const c of qemu === undefined ? live : [qemu]) c.kill("SIGTERM");
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      arch: { type: "string", default: "arm64" },
      "http-port": { type: "string", default: String(GUEST_HTTP_PORT) },
      disk: { type: "string" },
      fresh: { type: "boolean", default: false },
      "control-port": { type: "string", default: CONTROL_PORT },
      "host-dir": { type: "string" },
      "control-key": { type: "string" },
      control: { type: "string" },
      "enrolment-token": { type: "string" },
      "no-boot": { type: "boolean", default: false },
    },
    strict: true,
  });
  const arch = parseArch(values.arch);
  const imageDir = join(ROOT, "images", "out", arch);
  const boot = !values["no-boot"];
  if (boot && !existsSync(join(imageDir, "initrd.img"))) {
    throw new RunError(`no image in ${imageDir}: build it first with npm run firmware -- --arch ${arch}`);
  }
  const hostPort = port("--http-port", values["http-port"], 1);
  const controlPort = port("--control-port", values["control-port"], 0);
  const given = values["control-key"];
  if (given === undefined && values.control !== undefined)
    throw new RunError("--control names a control you run: give its key with --control-key too");
  if (given !== undefined && (values["control-port"] !== CONTROL_PORT || values["host-dir"] !== undefined))
    throw new RunError(
      "--control-port and --host-dir are for the control qemu-run starts: not with --control-key",
    );
  if (given === undefined && !boot)
    throw new RunError("--no-boot starts no control: give the key with --control-key");
  const token = values["enrolment-token"];
  if (token?.trim() === "") throw new RunError("--enrolment-token: empty");
  // scripts/qemu-run changes to the repository; a relative path means the caller's folder.
  const cwd = process.env.TIERCAST_CWD ?? ".";
  const disk = resolve(cwd, values.disk ?? join(imageDir, "data.img"));

  let host: HostServers | undefined;
  let key: string;
  let control: string | undefined;
  if (given !== undefined) {
    const parsed = parseKeyText(given);
    if (typeof parsed === "string") throw new RunError(`--control-key: ${parsed}`);
    key = keyText(parsed);
    control = values.control;
    say(`control key ${key} (given with --control-key)`);
  } else {
    host = await startHostServers(resolve(cwd, values["host-dir"] ?? join(imageDir, "host")), controlPort);
    key = host.key;
    control = `127.0.0.1:${host.controlPort}`;
    say(`control key ${key} (from the control started here)`);
  }
  try {
    const patch: GuestConfig = {
      controlKey: key,
      ...(control === undefined ? {} : { control }),
      ...(token === undefined ? {} : { enrolmentToken: token }),
    };
    const seeded = seedGuestConfig(disk, patch, { fresh: values.fresh || !existsSync(disk) });
    const what = { created: "made with", updated: "updated:", unchanged: "already has" }[seeded.action];
    say(
      `persistent partition ${disk} ${what} /data/tiercast.json controlKey ${key}` +
        `${token === undefined ? "" : ", enrolmentToken (given)"}, control ${String(seeded.config.control)}`,
    );
    if (!boot) return 0;

    const q = qemuCommand({ arch, imageDir, disk, forward: [{ hostPort, guestPort: GUEST_HTTP_PORT }] });
    say(`booting ${arch}; the guest reaches this host as 10.0.2.2 (hostAlias 10.0.2.2, QEMU user-mode net)`);
    if (host === undefined) {
      say(`the guest joins the control at ${String(seeded.config.control)} that holds key ${key};`);
      say(`  its origin needs --fallback-url http://10.0.2.2:<its http port> and --control-key ${key}`);
    }
    say(`point a player at http://127.0.0.1:${hostPort}/live/demo/index.m3u8`);
    say("quit with Ctrl-A X");
    process.stderr.write("\n");
    const child = spawn(q.command, q.args, { stdio: "inherit" });
    children.push(child);
    return await new Promise<number>((done) => {
      child.on("error", (e) => {
        say(`${q.command}: ${e.message}`);
        done(2);
      });
      child.on("exit", (code, signal) => done(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await host?.stop();
  }
}

interface HostServers {
  /** control's public key, hex. */
  key: string;
  controlPort: number;
  stop(): Promise<void>;
}

/**
 * `tiercast control` on 127.0.0.1:`port` (key pair and database in `dir`) and `tiercast origin`
 * (the bundled clip, pinned to control's key, HTTP fallback on a free port, announced to
 * agents as http://10.0.2.2:<port>), from this checkout's CLI; their output goes to
 * dir/control.log and dir/origin.log. Resolves once the origin has joined.
 */
async function startHostServers(dir: string, port: number): Promise<HostServers> {
  const cli = join(ROOT, "bin", "tiercast.js");
  if (!existsSync(join(ROOT, "dist", "cli", "main.js")))
    throw new RunError(
      "this checkout is not built: run npm run build (or give --control-key of a control you run)",
    );
  mkdirSync(dir, { recursive: true });
  const started: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of [...started].reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await gone;
    }
  };
  try {
    const control = startLogged(cli, ["control", "--host", "127.0.0.1", "--port", String(port)], {
      extra: ["--admin-port", "0", "--db", join(dir, "control.db")],
      log: join(dir, "control.log"),
    });
    started.push(control.child);
    const ready = await control.event("ready", HOST_START_MS);
    const key = ready.publicKey;
    if (typeof key !== "string")
      throw new RunError(`control's ready line has no publicKey (${join(dir, "control.log")})`);
    const admin = ready.http as { port?: number } | undefined;
    const controlPort = (ready.udp as { port?: number } | undefined)?.port;
    if (controlPort === undefined)
      throw new RunError(`control's ready line has no udp port (${join(dir, "control.log")})`);
    say(
      `control: udp 127.0.0.1:${controlPort}, admin http://127.0.0.1:${String(admin?.port)} (log ${join(dir, "control.log")})`,
    );
    const httpPort = await freePort();
    const origin = startLogged(
      cli,
      ["origin", "--control", `127.0.0.1:${controlPort}`, "--control-key", key],
      {
        extra: [
          ...["--http-port", String(httpPort), "--fallback-url", `http://10.0.2.2:${httpPort}`],
          ...["--data-dir", join(dir, "origin")],
        ],
        log: join(dir, "origin.log"),
      },
    );
    started.push(origin.child);
    await origin.event("joined", HOST_START_MS);
    say(
      `origin: channel demo (the bundled clip), fallback http://10.0.2.2:${httpPort} (log ${join(dir, "origin.log")})`,
    );
    return { key, controlPort, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A tiercast subcommand with its JSON lines teed to a log file; `event` waits for one with a deadline. */
function startLogged(
  cli: string,
  args: string[],
  o: { extra: string[]; log: string },
): { child: ChildProcess; event(name: string, timeoutMs: number): Promise<Record<string, unknown>> } {
  const what = `tiercast ${args[0] ?? ""}`;
  const child = spawn(process.execPath, [cli, ...args, ...o.extra], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const log = createWriteStream(o.log, { flags: "a" });
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let exited: string | undefined;
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    log.write(d);
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      try {
        events.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a JSON line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log.write(d);
    process.stderr.write(`${what}: ${d.toString()}`);
  });
  // "close", not "exit": the output streams have ended, so nothing is written to the log after end().
  child.on("close", (code, signal) => {
    exited = `exited (${code ?? signal})`;
    log.end();
    for (const w of waiters) w();
  });
  child.on("error", (e) => {
    exited = `could not start: ${e.message}`;
    for (const w of waiters) w();
  });
  return {
    child,
    event: (name, timeoutMs) =>
      new Promise((resolveEvent, reject) => {
        const check = (): void => {
          const e = events.find((x) => x.event === name);
          if (e !== undefined) finish(() => resolveEvent(e));
          else if (exited !== undefined)
            finish(() => reject(new RunError(`${what} ${exited} before "${name}": see ${o.log}`)));
        };
        const timer = setTimeout(
          () =>
            finish(() => reject(new RunError(`${what}: no "${name}" within ${timeoutMs} ms: see ${o.log}`))),
          timeoutMs,
        );
        const finish = (fn: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      }),
  };
}

function port(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > 65535)
    throw new RunError(`${flag}: expected a port number, got ${text}`);
  return n;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() =>
        a !== null && typeof a === "object" ? resolvePort(a.port) : reject(new Error("no port")),
      );
    });
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(e instanceof Error ? e.message : String(e));
    process.exitCode = 2;
  },
);
