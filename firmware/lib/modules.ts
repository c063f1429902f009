/**
 * Kernel modules the guest loads from its initramfs, in dependency order. The order comes
 * from each module's own `depends=` (and `softdep=pre:`) in its .modinfo, so no depmod is
 * needed on the build host and busybox insmod suffices in the guest.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

function modinfo(file: string): Map<string, string[]> {
  const buf = readFileSync(file);
  const info = new Map<string, string[]>();
  for (const key of ["depends", "softdep"]) {
    const needle = Buffer.from(`${key}=`);
    let i = buf.indexOf(needle);
    while (i >= 0) {
      const start = i + needle.length;
      const end = buf.indexOf(0, start);
      // An entry starts after a NUL, or at the start of .modinfo, which may follow any byte
      // that is not text (armhf's ext4.ko opens .modinfo with its softdep).
      const before = i > 0 ? (buf[i - 1] as number) : 0;
      if (before < 0x20 || before > 0x7e) {
        info.set(key, [...(info.get(key) ?? []), buf.subarray(start, end).toString("latin1")]);
      }
      i = buf.indexOf(needle, end);
    }
  }
  return info;
}

function index(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) index(p, out);
    else if (name.endsWith(".ko")) out.set(basename(name, ".ko").replace(/-/g, "_"), p);
  }
  return out;
}

/** `wanted` and everything they depend on, dependencies first: [name, file] pairs. */
export function moduleClosure(
  modulesDir: string,
  wanted: string[],
  aliases: Record<string, string> = {},
): [string, string][] {
  const all = index(modulesDir);
  const order: [string, string][] = [];
  const seen = new Set<string>();
  const visit = (raw: string): void => {
    const name = (aliases[raw] ?? raw).replace(/-/g, "_");
    if (seen.has(name)) return;
    seen.add(name);
    const file = all.get(name);
    if (file === undefined) throw new Error(`kernel module ${name} not found under ${modulesDir}`);
    const info = modinfo(file);
    for (const soft of info.get("softdep") ?? []) {
      const pre = /pre:\s*([^]*?)(?:post:|$)/.exec(soft)?.[1] ?? "";
      for (const d of pre.split(/\s+/).filter(Boolean)) visit(d);
    }
    for (const deps of info.get("depends") ?? []) for (const d of deps.split(",").filter(Boolean)) visit(d);
    order.push([name, file]);
  };
  wanted.forEach(visit);
  return order;
}
