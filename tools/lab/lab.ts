/**
 * The network lab: real tiercast processes on a real (virtual) network, built from Linux
 * network namespaces, for the tests and `npm run bench:lab`. Needs root.
 *
 * Layout for a lab named N (docs/operations.md, "The network lab"):
 *   - router namespace `tcl-N-r`: one bridge `br<r>` per region r holding 10.77.r.1/24, and
 *     ip_forward=1, so it switches inside a region and routes between regions;
 *   - one namespace per host, `tcl-N-<i>` (i = the host's index in the spec): its `eth0` is a
 *     veth whose peer `h<i>` sits on its region's bridge; address 10.77.r.(10+k) for the k-th
 *     host of region r; default route via 10.77.r.1. Region 0 is the core (origin, control).
 * Every interface is created directly inside its namespace, so names never meet in the root
 * namespace (two labs can run at once) and deleting the namespaces deletes every link.
 *
 * Impairments, per host link (the kernel has no netem):
 *   - loss: nftables `netdev` chains on eth0 egress and ingress drop UDP at random, so a
 *     datagram crosses two lossy links (sender's, receiver's) whichever regions they are in.
 *     Netdev hooks drop silently like a wire; an `inet output` drop would fail sendmsg with EPERM;
 *   - upload cap: a tbf qdisc on eth0 (egress);
 *   - delay/jitter: in the processes themselves, `--net-delay` (seams/impaired-transport.ts):
 *     `netDelayFor(host)` gives the prefixes of the other regions.
 *
 * Management path: `lab.fetch(url)` / `lab.getJson(url)` reach any host's HTTP server from the
 * test process (in the root namespace, which has no route into the lab) through a relay
 * (relay.ts) started on first use in the router namespace and listening on a Unix socket:
 * nothing is added to the lab's network, and labs running at once do not clash. A player such
 * as ffmpeg runs inside a host instead (`lab.exec`), as a LAN player would.
 *
 * Clean-up: `destroy()` (also on process exit and SIGINT/SIGTERM/SIGHUP, synchronously) kills
 * what the lab spawned and everything else inside its namespaces, then deletes them. The owner
 * (pid and start time) is written on the router's loopback alias, so `Lab.sweep()` can remove
 * labs whose owner died without cleaning up (SIGKILL) and leave live ones alone.
 *
 * Commands run with execFile/spawn argument vectors, never through a shell. Run as a program
 * (scripts/lab) it is the operators' CLI: up / down / hold / sweep / list.
 *
 * The parts, one concern each (this module re-exports the public API and is the CLI's entry):
 *   plan.ts (spec → plan, pure), rules.ts (nftables / tbf rule text, pure), run.ts
 *   (tool paths, running commands), process.ts (LabProcess), build.ts (building the
 *   network), instance.ts (the Lab class), live.ts (exit hooks), netns.ts and
 *   owner.ts (namespaces, owner tags), sweep.ts (stale labs), cli.ts (scripts/lab).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { cli } from "./cli.js";

export {
  DEFAULT_UP_QUEUE_MS,
  LAB_PREFIX,
  MAX_HOSTS_PER_REGION,
  planLab,
  regionPrefix,
  routerAddress,
  type LabHost,
  type LabHostSpec,
  type LabPlan,
  type LabSpec,
} from "./plan.js";
export { lossRuleset, tbfArgs } from "./rules.js";
export { nodeArgv, REPO_ROOT, run, tool, type RunOptions, type RunResult } from "./run.js";
export { LabProcess, type SpawnOptions } from "./process.js";
export { Lab, type LabHttpResponse } from "./instance.js";

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error((e as Error).message);
      process.exit(1);
    },
  );
}
