/**
 * Who owns a network lab: the owner (pid and start time, or "manual" for the CLI's `up`) is
 * written as the alias of the router namespace's loopback when the lab is built (build.ts),
 * so a sweep (sweep.ts) can tell a lab whose owner died from a live one.
 */
import { readFileSync } from "node:fs";
import { LAB_PREFIX } from "./plan.js";
import { run, tool } from "./run.js";

export const OWNER_TAG = "tiercast-lab owner=";

/** "<pid>@<start time in clock ticks>": a pid alone could be reused by the time of a sweep. */
export function ownerId(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) counted after the ")" that ends the command name.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${pid}@${fields[19]}`;
  } catch {
    return undefined;
  }
}

/** Owner of lab `name`: "<pid>@<start>", "manual" (CLI up) or undefined (no router/tag). */
export async function labOwner(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(tool("ip"), [
      "-j",
      "-n",
      `${LAB_PREFIX}${name}-r`,
      "link",
      "show",
      "dev",
      "lo",
    ]);
    const [lo] = JSON.parse(stdout) as Array<{ ifalias?: string }>;
    const alias = lo?.ifalias ?? "";
    return alias.startsWith(OWNER_TAG) ? alias.slice(OWNER_TAG.length) : undefined;
  } catch {
    return undefined;
  }
}
