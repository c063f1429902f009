/**
 * Building a network lab's network from its plan (plan.ts): the router namespace (owner tag
 * on its loopback, ip_forward, one bridge per region), then every host's namespace, a few at a
 * time: a veth whose peer sits on its region's bridge, its address and default route, and its
 * impairments (tbf upload cap, nftables loss; rules.ts). Every interface is created inside
 * its namespace, so names never meet in the root namespace. `addNamespace` creates a namespace
 * and records it at once, so a build that fails part-way is still torn down whole.
 */
import { OWNER_TAG, ownerId } from "./owner.js";
import { routerAddress, type LabHost, type LabPlan } from "./plan.js";
import { lossRuleset, tbfArgs } from "./rules.js";
import { run, tool } from "./run.js";

export interface BuildOptions {
  /** Tagged "manual" instead of this process as the owner (the CLI's `up`). */
  persistent: boolean;
  /** Creates namespace `ns` (`ip netns add`) and records it for tear-down. */
  addNamespace: (ns: string) => Promise<void>;
}

export async function buildLab(plan: LabPlan, options: BuildOptions): Promise<void> {
  const r = plan.router;
  await options.addNamespace(r);
  const owner = options.persistent ? "manual" : (ownerId(process.pid) ?? `${process.pid}@0`);
  await run(tool("ip"), ["-n", r, "link", "set", "dev", "lo", "alias", OWNER_TAG + owner]);
  await run(tool("ip"), ["-n", r, "link", "set", "dev", "lo", "up"]);
  await run(tool("ip"), ["netns", "exec", r, tool("sysctl"), "-q", "-w", "net.ipv4.ip_forward=1"]);
  for (let region = 0; region < plan.regions; region++) {
    const br = `br${region}`;
    await run(tool("ip"), ["-n", r, "link", "add", "name", br, "type", "bridge"]);
    await run(tool("ip"), ["-n", r, "addr", "add", `${routerAddress(region)}/24`, "dev", br]);
    await run(tool("ip"), ["-n", r, "link", "set", "dev", br, "up"]);
  }
  // Hosts are independent of each other: build a few at a time.
  const queue = [...plan.hosts];
  const worker = async (): Promise<void> => {
    for (let h = queue.shift(); h !== undefined; h = queue.shift()) await buildHost(plan, h, options);
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function buildHost(plan: LabPlan, h: LabHost, options: BuildOptions): Promise<void> {
  const { router } = plan;
  const ns = h.namespace;
  const port = `h${h.index}`;
  await options.addNamespace(ns);
  await run(tool("ip"), [
    "-n",
    ns,
    "link",
    "add",
    "name",
    "eth0",
    "type",
    "veth",
    "peer",
    "name",
    port,
    "netns",
    router,
  ]);
  await run(tool("ip"), ["-n", router, "link", "set", "dev", port, "master", `br${h.region}`]);
  await run(tool("ip"), ["-n", router, "link", "set", "dev", port, "up"]);
  await run(tool("ip"), ["-n", ns, "link", "set", "dev", "lo", "up"]);
  await run(tool("ip"), ["-n", ns, "addr", "add", `${h.address}/24`, "dev", "eth0"]);
  await run(tool("ip"), ["-n", ns, "link", "set", "dev", "eth0", "up"]);
  await run(tool("ip"), ["-n", ns, "route", "add", "default", "via", routerAddress(h.region)]);
  if (h.upKbps !== undefined) {
    await run(tool("tc"), [
      "-n",
      ns,
      "qdisc",
      "add",
      "dev",
      "eth0",
      "root",
      "tbf",
      ...tbfArgs(h.upKbps, plan.upQueueMs),
    ]);
  }
  if (plan.lossPercent > 0) {
    await run(tool("ip"), ["netns", "exec", ns, tool("nft"), "-f", "-"], {
      input: lossRuleset(plan.lossPercent),
    });
  }
}
