/**
 * The network lab's command line (scripts/lab, run through lab.ts): `up` / `hold` build a lab
 * from a spec file (`up` leaves it, `hold` keeps it while the command runs), `down` removes one
 * lab, `sweep` removes labs whose owner died, `list` shows lab namespaces and their owners.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Lab } from "./instance.js";
import { LAB_PREFIX, type LabSpec } from "./plan.js";

/** scripts/lab: the lab by hand. */
export async function cli(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  const usage =
    "usage: scripts/lab up <spec.json> | hold <spec.json> | down <name> | sweep [--force] | list\n" +
    "  up     build the lab and leave it (remove it with down)\n" +
    "  hold   build the lab and keep it while this command runs (Ctrl-C removes it)\n" +
    "  down   remove lab <name>: its processes and namespaces\n" +
    "  sweep  remove labs whose owner process died (--force: every lab)\n" +
    "  list   lab namespaces and their owners";
  const readSpec = (path: string | undefined): LabSpec => {
    if (path === undefined) throw new Error(usage);
    return JSON.parse(readFileSync(resolve(path), "utf8")) as LabSpec;
  };
  switch (cmd) {
    case "up":
    case "hold": {
      const lab = await Lab.create(readSpec(arg), { persistent: cmd === "up" });
      console.log(JSON.stringify(lab.describe(), null, 2));
      for (const h of lab.hosts) {
        console.error(`${h.name.padEnd(12)} ${h.address.padEnd(14)} ip netns exec ${h.namespace} <command>`);
      }
      if (cmd === "up") {
        console.error(`remove with: scripts/lab down ${lab.name}`);
        return 0;
      }
      console.error("holding the lab; Ctrl-C removes it");
      // The exit/signal hook tears it down; this only keeps the process alive.
      setInterval(() => {}, 1 << 30);
      return await new Promise<number>(() => {});
    }
    case "down": {
      if (arg === undefined || !/^[a-z0-9]{1,12}$/.test(arg)) throw new Error(usage);
      const removed = await Lab.sweep(`${LAB_PREFIX}${arg}-`, { force: true });
      console.log(removed.length === 0 ? `no lab named ${arg}` : `removed ${removed.join(" ")}`);
      return 0;
    }
    case "sweep": {
      const removed = await Lab.sweep(LAB_PREFIX, { force: arg === "--force" });
      console.log(removed.length === 0 ? "nothing to sweep" : `removed ${removed.join(" ")}`);
      return 0;
    }
    case "list": {
      for (const ns of await Lab.namespaces()) {
        const name = /^tcl-([a-z0-9]+)-r$/.exec(ns)?.[1];
        console.log(name === undefined ? ns : `${ns}  owner=${(await Lab.owner(name)) ?? "?"}`);
      }
      return 0;
    }
    default:
      console.error(usage);
      return 2;
  }
}
