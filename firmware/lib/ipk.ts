/**
 * The OpenWrt package: images/out/<arch>/tiercast_<version>_<openwrt-arch>.ipk. OpenWrt's C
 * library is musl and official Node builds are glibc-only, so the package carries its own
 * C runtime (the same closure the boot image gathers, firmware/lib/elf.ts):
 *   /usr/bin/tiercast                 shell wrapper: exec <loader> --library-path <lib> <exe>
 *   /usr/lib/tiercast/tiercast        the single executable
 *   /usr/lib/tiercast/lib/            glibc's loader, libc, libm, libstdc++, libgcc_s, ...
 *   /etc/init.d/tiercast              procd script: respawn, output to logd, options from UCI
 *   /etc/config/tiercast              UCI config (a conffile)
 *   /lib/upgrade/keep.d/tiercast      names the identity key and the learnt control key,
 *                                     so sysupgrade keeps them
 * Format as OpenWrt's ipkg-build writes it: a gzip'd tar of ./debian-binary, ./data.tar.gz
 * and ./control.tar.gz (opkg also reads the older ar form). Every tar is sorted with fixed
 * owners and mtimes and gzip -n: the same inputs give the same bytes.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runtimeLibs } from "./elf.js";
import {
  cachedBuild,
  inputKey,
  packageVersion,
  Staging,
  sourceDateEpoch,
  tarGz,
  type BuiltPackage,
} from "./pkg.js";
import type { Arch, Target } from "./targets.js";

/**
 * OpenWrt's package architecture (opkg installs only architectures listed in
 * /etc/opkg/arch.conf; a device whose list differs adds this one, see docs/firmware.md).
 */
export const OPENWRT_ARCH: Record<Arch, string> = {
  arm64: "aarch64_generic",
  armv7: "arm_cortex-a7_neon-vfpv4",
  x64: "x86_64",
};

export interface IpkInputs {
  /** Repository root (package.json, firmware/packaging/ipk). */
  root: string;
  cacheDir: string;
  exe: string;
  addon: string;
  outDir: string;
  /** OpenWrt architecture name (default OPENWRT_ARCH). */
  openwrtArch?: string;
  fresh?: boolean;
}

export function buildIpk(t: Target, i: IpkInputs): BuiltPackage {
  const version = packageVersion(i.root);
  const arch = i.openwrtArch ?? OPENWRT_ARCH[t.arch];
  const src = join(i.root, "firmware", "packaging", "ipk");
  const rt = runtimeLibs(t, [i.exe, i.addon]);
  const loader = basename(rt.interpreter);
  if (!rt.libs.has(loader))
    throw new Error(`${rt.interpreter}: the loader is not among ${[...rt.libs.keys()]}`);
  const libs = [...rt.libs.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const pieces = ["tiercast.sh", "tiercast.init", "tiercast.config", "keep.d", "postinst", "prerm"];
  const epoch = sourceDateEpoch();
  const key = inputKey(
    [
      i.exe,
      i.addon,
      ...libs.map(([, f]) => f),
      ...pieces.map((f) => join(src, f)),
      fileURLToPath(import.meta.url),
    ],
    [version, arch, String(epoch), ...libs.map(([n]) => n)],
  );
  const out = join(i.outDir, `tiercast_${version}_${arch}.ipk`);
  return cachedBuild(i.cacheDir, out, key, i.fresh ?? false, (tmp) => {
    const work = join(i.cacheDir, "work", `${t.arch}-ipk`);
    const data = new Staging(join(work, "data"));
    const wrapper = readFileSync(join(src, "tiercast.sh"), "utf8").replaceAll("@LOADER@", loader);
    data.write("usr/bin/tiercast", wrapper, 0o755);
    data.copy(i.exe, "usr/lib/tiercast/tiercast", 0o755);
    for (const [soname, file] of libs) data.copy(file, `usr/lib/tiercast/lib/${soname}`, 0o755);
    data.copy(join(src, "tiercast.init"), "etc/init.d/tiercast", 0o755);
    data.copy(join(src, "tiercast.config"), "etc/config/tiercast", 0o644);
    data.copy(join(src, "keep.d"), "lib/upgrade/keep.d/tiercast", 0o644);
    data.normalize(epoch);

    const control = new Staging(join(work, "control"));
    control.write(
      "control",
      [
        "Package: tiercast",
        `Version: ${version}`,
        "Source: tiercast",
        "SourceName: tiercast",
        "License: UNLICENSED",
        "Section: net",
        `Architecture: ${arch}`,
        `Installed-Size: ${data.installedKiB("") * 1024}`,
        "Description: tiercast agent: peer-assisted live video relay and LAN HLS server. Carries",
        " its own glibc runtime (/usr/lib/tiercast/lib), so it runs on musl systems.",
        "",
      ].join("\n"),
      0o644,
    );
    control.write("conffiles", "/etc/config/tiercast\n", 0o644);
    control.copy(join(src, "postinst"), "postinst", 0o755);
    control.copy(join(src, "prerm"), "prerm", 0o755);
    control.normalize(epoch);

    const outer = new Staging(join(work, "outer"));
    outer.write("debian-binary", "2.0\n", 0o644);
    tarGz(data.dir, join(outer.dir, "data.tar.gz"), epoch);
    tarGz(control.dir, join(outer.dir, "control.tar.gz"), epoch);
    outer.normalize(epoch);
    tarGz(outer.dir, tmp, epoch, ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
  });
}
