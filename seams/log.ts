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
  const emit = (level: Level, event: string, fields?: Fields): void => {
    if (ORDER[level] < min) return;
    config.write(
      JSON.stringify({ t: clock.now(), level, proc: config.proc, event, ...base, ...fields }, bytesAsHex) +
        "\n",
    );
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
