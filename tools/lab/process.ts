/**
 * A process running inside a network lab host (Lab.spawn): its stdout kept as lines (the last
 * 10,000) and the tail of its stderr, waiting on a line or JSON line with a deadline, and
 * stopping it (SIGTERM, then SIGKILL after a grace period).
 */
import type { ChildProcess } from "node:child_process";

export interface SpawnOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** "pipe" to write to the process; default "ignore". */
  stdin?: "pipe" | "ignore";
}

const MAX_LINES = 10_000;
const MAX_STDERR = 64 * 1024;

/** A process running inside a lab host, with its stdout kept as lines. */
export class LabProcess {
  /** The last MAX_LINES lines of stdout. */
  readonly lines: string[] = [];
  /** The tail of stderr. */
  stderr = "";
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  #partial = "";
  #done = false;
  readonly #waiters = new Set<{
    match: (line: string) => boolean;
    ok: (l: string) => void;
    fail: () => void;
  }>();

  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    child.stdout?.on("data", (d: Buffer) => this.#onData(d.toString()));
    child.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-MAX_STDERR);
    });
    this.exited = new Promise((resolveExit) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#done) return;
        this.#done = true;
        this.exitCode = code;
        this.exitSignal = signal;
        if (this.#partial !== "") this.#line(this.#partial);
        for (const w of this.#waiters) w.fail();
        this.#waiters.clear();
        resolveExit();
      };
      child.on("close", finish);
      child.on("error", (e) => {
        this.stderr += `\nspawn failed: ${e.message}`;
        finish(null, null);
      });
    });
  }

  get running(): boolean {
    return !this.#done;
  }

  /** Resolves with the first stdout line (already seen or to come) that matches. */
  waitForLine(
    match: (line: string) => boolean,
    timeoutMs: number,
    what = "a matching line",
  ): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    const label = `${this.host}: ${this.argv.join(" ")}`;
    if (this.#done) return Promise.reject(this.#error(`${label} exited before printing ${what}`));
    return new Promise((ok, fail) => {
      const w = {
        match,
        ok: (l: string) => {
          clearTimeout(timer);
          ok(l);
        },
        fail: () => {
          clearTimeout(timer);
          fail(this.#error(`${label} exited before printing ${what}`));
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        fail(this.#error(`${label}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Like waitForLine for JSON lines: the first object for which `match` holds. */
  async waitForJson<T = Record<string, unknown>>(
    match: (o: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what = "a matching JSON line",
  ): Promise<T> {
    const line = await this.waitForLine((l) => matchJson(l, match), timeoutMs, what);
    return JSON.parse(line) as T;
  }

  signal(sig: NodeJS.Signals = "SIGTERM"): void {
    if (!this.#done) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#done) return;
    this.signal("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (!this.#done) {
      this.signal("SIGKILL");
      await this.exited;
    }
  }

  #onData(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const l of parts) this.#line(l);
  }

  #line(l: string): void {
    this.lines.push(l);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    for (const w of this.#waiters) {
      if (w.match(l)) {
        this.#waiters.delete(w);
        w.ok(l);
      }
    }
  }

  #error(message: string): Error {
    const tail = this.stderr.trim().split("\n").slice(-15).join("\n");
    return new Error(tail === "" ? message : `${message}\nstderr:\n${tail}`);
  }
}

function matchJson(line: string, match: (o: Record<string, unknown>) => boolean): boolean {
  if (!line.startsWith("{")) return false;
  try {
    const o: unknown = JSON.parse(line);
    return typeof o === "object" && o !== null && match(o as Record<string, unknown>);
  } catch {
    return false;
  }
}
