/**
 * Network namespace operations the network lab shares between tear-down (Lab.destroy, kill) and
 * the stale-lab sweep (sweep.ts): listing lab namespaces, killing every process inside one,
 * and deleting one (deleting a namespace deletes every link in it).
 */
import { LAB_PREFIX } from "./plan.js";
import { run, tool } from "./run.js";

/** Every lab namespace (name starting with `prefix`, default "tcl-"). */
export async function labNamespaces(prefix = LAB_PREFIX): Promise<string[]> {
  const { stdout } = await run(tool("ip"), ["netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(LAB_PREFIX) && n.startsWith(prefix));
}

export async function killAllIn(ns: string): Promise<void> {
  let out: string;
  try {
    out = (await run(tool("ip"), ["netns", "pids", ns])).stdout;
  } catch {
    return; // no such namespace
  }
  for (const pid of out.split("\n").filter((s) => /^\d+$/.test(s))) killPid(Number(pid));
}

export function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export async function deleteNamespace(ns: string): Promise<void> {
  try {
    await run(tool("ip"), ["netns", "del", ns]);
  } catch (e) {
    if (!/No such file/.test((e as Error).message)) throw e;
  }
}
