/**
 * The bootable image for QEMU's `virt` board (arm64 and armv7):
 *   vmlinuz      Debian's kernel, unchanged;
 *   initrd.img   gzip'd cpio: busybox-static, /init, the supervisor, the tiercast executable,
 *                the C runtime it needs, and the virtio/ext4 modules it loads;
 * The persistent partition (ext4: config, identity key, chunk cache, ring log) is a separate
 * disk, made by makeDataDisk (scripts/qemu-run makes one on first boot).
 * The cpio is written in sorted order with fixed owners and mtimes, so identical inputs
 * give an identical initrd.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { DebianArch } from "./debian.js";
import { runtimeLibs } from "./elf.js";
import { moduleClosure } from "./modules.js";
import { run } from "./sh.js";
import type { Target } from "./targets.js";

export interface BootImage {
  kernel: string;
  initrd: string;
  kernelPackage: string;
  busyboxPackage: string | undefined;
}

/**
 * Debian's architecture, kernel metapackage and the modules /init loads, per bootable target.
 * arm64 boots with virtio on PCI (virtio_mmio stays for boards without PCI); armv7's
 * qemu-system-arm virt board gets virtio-*-device on the MMIO transports (firmware/lib/qemu.ts),
 * so its armmp kernel needs no virtio_pci (virtio itself and the PCI host are built in).
 */
const BOOT: Partial<Record<Target["arch"], { debArch: string; kernelMeta: string; modules: string[] }>> = {
  arm64: {
    debArch: "arm64",
    kernelMeta: "linux-image-arm64",
    modules: ["virtio_pci", "virtio_mmio", "virtio_net", "virtio_blk", "ext4"],
  },
  armv7: {
    debArch: "armhf",
    kernelMeta: "linux-image-armmp",
    modules: ["virtio_mmio", "virtio_net", "virtio_blk", "ext4"],
  },
};

const MODULE_ALIASES = { "crypto-crc32c": "crc32c_generic" };
/** 2026-01-01T00:00:00Z: every file in the initrd gets this mtime. */
const EPOCH = 1767225600;

export function bootable(t: Target): boolean {
  return BOOT[t.arch] !== undefined;
}

/** The kernel package: the one cached before (a warm build stays offline), else the current one. */
function kernelPackage(deb: DebianArch, meta: string): string {
  const flavour = meta.replace(/^linux-image-/, "");
  const debs = join(deb.cacheDir, "debs");
  const cached = existsSync(debs)
    ? readdirSync(debs).find((f) => new RegExp(`^linux-image-[0-9][^_]*-${flavour}_`).test(f))
    : undefined;
  return cached?.split("_")[0] ?? deb.resolveDepends(meta, "linux-image-");
}

export interface ImageInputs {
  cacheDir: string;
  /** firmware/rootfs: init, supervisor, udhcpc hook, factory config. */
  rootfsSrc: string;
  exe: string;
  addon: string;
  /** `tiercast --version` output, shown by the supervisor at boot. */
  versionText: string;
  outDir: string;
}

export function buildBootImage(t: Target, i: ImageInputs): BootImage {
  const { cacheDir, rootfsSrc, exe, addon, outDir } = i;
  const b = BOOT[t.arch];
  if (b === undefined) throw new Error(`no bootable image for ${t.arch}`);
  const deb = new DebianArch(cacheDir, b.debArch);
  const kpkg = kernelPackage(deb, b.kernelMeta);
  const kroot = deb.unpacked(kpkg);
  const busybox = deb.unpacked("busybox-static");
  const kver = readdirSync(join(kroot, "lib", "modules"))[0];
  if (kver === undefined) throw new Error(`${kpkg}: no lib/modules`);

  const root = join(cacheDir, "work", `${t.arch}-rootfs`);
  rmSync(root, { recursive: true, force: true });
  for (const d of [
    "bin",
    "sbin",
    "usr/bin",
    "lib/modules",
    "etc",
    "proc",
    "sys",
    "dev",
    "run",
    "tmp",
    "data",
  ]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  cpSync(rootfsSrc, root, { recursive: true });
  for (const f of ["init", "sbin/tiercast-supervise", "etc/udhcpc.script"]) chmodSync(join(root, f), 0o755);
  writeFileSync(join(root, "etc", "tiercast", "version"), i.versionText + "\n");
  copyFileSync(join(busybox, "bin", "busybox"), join(root, "bin", "busybox"));
  symlinkSync("busybox", join(root, "bin", "sh"));
  copyFileSync(exe, join(root, "usr", "bin", "tiercast"));
  chmodSync(join(root, "usr", "bin", "tiercast"), 0o755);

  // The C runtime: the interpreter at the path the executable names, the libraries in /lib.
  const rt = runtimeLibs(t, [exe, addon]);
  for (const [soname, file] of rt.libs) copyFileSync(file, join(root, "lib", soname));
  if (!existsSync(join(root, rt.interpreter))) {
    mkdirSync(join(root, dirname(rt.interpreter)), { recursive: true });
    copyFileSync(rt.libs.get(basename(rt.interpreter)) ?? "", join(root, rt.interpreter));
  }

  const mods = moduleClosure(join(kroot, "lib", "modules", kver), b.modules, MODULE_ALIASES);
  for (const [name, file] of mods) copyFileSync(file, join(root, "lib", "modules", `${name}.ko`));
  writeFileSync(join(root, "etc", "modules-load"), mods.map(([n]) => n).join("\n") + "\n");

  mkdirSync(outDir, { recursive: true });
  const kernel = join(outDir, "vmlinuz");
  copyFileSync(join(kroot, "boot", `vmlinuz-${kver}`), kernel);
  const initrd = join(outDir, "initrd.img");
  const files = run("find", [".", "-mindepth", "1"], { cwd: root }).split("\n").filter(Boolean).sort();
  run("find", [".", "-exec", "touch", "-h", "-d", `@${EPOCH}`, "{}", "+"], { cwd: root });
  // gzip -n: no name or time in the header; -6: the kernel unpacks it in about a second.
  run(
    "sh",
    ["-c", 'cpio --quiet -o -H newc --reproducible -R 0:0 | gzip -n -6 > "$1"', "sh", `${initrd}.tmp`],
    {
      cwd: root,
      input: files.join("\n") + "\n",
    },
  );
  renameSync(`${initrd}.tmp`, initrd);
  return { kernel, initrd, kernelPackage: kpkg, busyboxPackage: deb.debFile("busybox-static") };
}
