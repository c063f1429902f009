/**
 * Sweeping stale network labs (Lab.sweep, scripts/lab sweep / down): removes the namespaces of
 * labs whose owner process died without cleaning up (SIGKILL), and leaves alone this process's
 * labs, persistent (CLI `up`) labs, labs whose owner still runs, and labs being built.
 */
import { statSync } from "node:fs";
import { isLive } from "./live.js";
import { deleteNamespace, killAllIn, labNamespaces } from "./netns.js";
import { labOwner, ownerId } from "./owner.js";
import { LAB_PREFIX } from "./plan.js";

/** How long an untagged lab (being built) is safe from sweep. */
const UNTAGGED_GRACE_MS = 60_000;

/** True when namespace `ns` exists and was made less than `ms` ago (its /run/netns file's time). */
function createdWithinMs(ns: string, ms: number): boolean {
  try {
    return statSync(`/run/netns/${ns}`).mtimeMs > Date.now() - ms;
  } catch {
    return false;
  }
}

/**
 * Removes lab namespaces whose name starts with `prefix` and whose owner process is gone
 * (killed before it could clean up), or whose owner is unknown. `force` removes them all,
 * including live and persistent (CLI `up`) labs. Returns the namespaces removed. A lab that
 * another process is building at this very moment has no owner tag for a few milliseconds: an
 * untagged lab whose router namespace is younger than a minute is left alone (test files that
 * sweep run at the same time as others that build labs).
 */
export async function sweepLabs(prefix = LAB_PREFIX, options: { force?: boolean } = {}): Promise<string[]> {
  const byLab = new Map<string, string[]>();
  for (const ns of await labNamespaces(prefix)) {
    const m = /^tcl-([a-z0-9]+)-(r|\d+)$/.exec(ns);
    if (m === null) continue;
    const list = byLab.get(m[1]!) ?? [];
    list.push(ns);
    byLab.set(m[1]!, list);
  }
  const removed: string[] = [];
  for (const [name, list] of byLab) {
    if (!options.force) {
      if (isLive(name)) continue;
      const owner = await labOwner(name);
      if (owner === "manual") continue;
      if (owner !== undefined && ownerId(Number(owner.split("@")[0])) === owner) continue;
      if (owner === undefined && createdWithinMs(`${LAB_PREFIX}${name}-r`, UNTAGGED_GRACE_MS)) continue;
    }
    // Hosts first, router last: a sweep cut short still leaves the owner tag to find.
    list.sort((a, b) => Number(a.endsWith("-r")) - Number(b.endsWith("-r")));
    for (const ns of list) {
      await killAllIn(ns);
      await deleteNamespace(ns);
      removed.push(ns);
    }
  }
  return removed;
}
