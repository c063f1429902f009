/**
 * Logs are JSON lines with a stable event name: {"t":..., "level":..., "proc":..., "event":..., ...fields}.
 * Logic takes a Logger; each program's main decides where the lines go.
 */
import type { Clock } from "./clock.js";

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerConfig {
  proc: string;
  level: Level;
  write: (line: string) => void;
}

export function jsonLogger(clock: Clock, config: JsonLoggerConfig, base: Fields = {}): Logger {
  const min = ORDER[config.level];
  const baseBytes = holdsBytes(base, 0);
  const emit = (level: Level, event: string, fields?: Fields): void => {
    if (ORDER[level] < min) return;
    const line = { t: clock.now(), level, proc: config.proc, event, ...base, ...fields };
    // The replacer costs a call per key: only lines with byte strings in them take it.
    const bytes = baseBytes || (fields !== undefined && holdsBytes(fields, 0));
    config.write(JSON.stringify(line, bytes ? bytesAsHex : undefined) + "\n");
  };
  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
    child: (f) => jsonLogger(clock, config, { ...base, ...f }),
  };
}

/** Byte strings in a field (a key, a hash) are written as hex, not as an object of numbered bytes. */
function bytesAsHex(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  return raw instanceof Uint8Array
    ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("hex")
    : value;
}

/** Nesting beyond which a field is taken to hold bytes (the replacer then looks, as it always did). */
const MAX_SCAN_DEPTH = 4;

/** Whether a byte string is somewhere in `value` (arrays and objects looked into). */
function holdsBytes(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object") return false;
  if (value instanceof Uint8Array) return true;
  if (depth >= MAX_SCAN_DEPTH) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (holdsBytes(v, depth + 1)) return true;
    return false;
  }
  for (const k in value) if (holdsBytes((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/**
 * Lines gathered and written with one `write` per loop turn (`defer`: setImmediate). A worker
 * thread's stdout is a message to the main thread per write, which the main thread then writes
 * out: a line per JOIN in a flash crowd was a message each. Order is kept; `flush()` writes what
 * is gathered at once (before a thread or process exits: nothing is lost on a clean stop, an
 * uncaught error or process.exit, whose "exit" handlers still write).
 */
export class LineBatch {
  readonly #write: (text: string) => void;
  readonly #defer: (fn: () => void) => void;
  #lines: string[] = [];
  #scheduled = false;
  /** Writes made (each of one or more lines). */
  writes = 0;

  constructor(write: (text: string) => void, defer: (fn: () => void) => void) {
    this.#write = write;
    this.#defer = defer;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#defer(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const text = this.#lines.length === 1 ? this.#lines[0]! : this.#lines.join("");
    this.#lines = [];
    this.writes++;
    this.#write(text);
  }
}

/** A logger that keeps lines in memory (tests) or drops them. */
export type LogLine = { level: Level; event: string } & Fields;

export class MemoryLogger implements Logger {
  /** Children share their parent's list, so a test sees every line in one place. */
  constructor(
    private readonly base: Fields = {},
    readonly lines: LogLine[] = [],
  ) {}
  debug(event: string, fields?: Fields): void {
    this.lines.push({ ...this.base, ...fields, level: "debug", event });
  }
  info(event: string, fields?: Fields): void {
    this.lines.push({ ...this.base, ...fields, level: "info", event });
  }
  warn(event: string, fields?: Fields): void {
    this.lines.push({ ...this.base, ...fields, level: "warn", event });
  }
  error(event: string, fields?: Fields): void {
    this.lines.push({ ...this.base, ...fields, level: "error", event });
  }
  child(fields: Fields): Logger {
    return new MemoryLogger({ ...this.base, ...fields }, this.lines);
  }
}
