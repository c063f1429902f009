/**
 * How this program starts another copy of itself: inside the single executable (Node SEA)
 * the executable is the command; from the npm package it is node + bin/tiercast.js.
 */
import { join } from "node:path";
import { packageRoot } from "../common/package-root.js";

/** Re-exported: the firmware build's override of this module mirrors its exports. */
export { packageRoot };

export function selfCommand(): { command: string; args: string[] } {
  const sea = isSea();
  if (sea) return { command: process.execPath, args: [] };
  return { command: process.execPath, args: [join(packageRoot(), "bin", "tiercast.js")] };
}

function isSea(): boolean {
  try {
    // node:sea exists from Node 20.12; older runtimes are never a SEA build of ours.
    const req = (globalThis as { require?: NodeJS.Require }).require;
    return req !== undefined && (req("node:sea") as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}
