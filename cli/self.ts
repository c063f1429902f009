/**
 * How this program starts another copy of itself: inside the single executable (firmware/,
 * a Node SEA) the executable is the command; from the npm package it is node + bin/tiercast.js.
 */
import { join } from "node:path";
import { embeddedRuntime } from "../common/embedded.js";
import { packageRoot } from "../common/package-root.js";

export function selfCommand(): { command: string; args: string[] } {
  if (embeddedRuntime() !== undefined) return { command: process.execPath, args: [] };
  return { command: process.execPath, args: [join(packageRoot(), "bin", "tiercast.js")] };
}
