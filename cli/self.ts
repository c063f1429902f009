/**
 * How this program starts another copy of itself: inside the single executable (Node SEA)
 * the executable is the command; from the npm package it is node + bin/tiercast.js.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

/** The folder holding package.json, found by walking up from this module. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = resolve(dir, "..");
    if (up === dir) throw new Error("tiercast: cannot find the package root (package.json)");
    dir = up;
  }
}
