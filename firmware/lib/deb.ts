/**
 * The Debian package (set-top boxes, x64 waypoint servers): images/out/<arch>/
 * tiercast_<version>_<debarch>.deb holding
 *   /usr/bin/tiercast                      the single executable
 *   /lib/systemd/system/tiercast.service   Type=simple, Restart=on-failure, user tiercast,
 *                                          StateDirectory=tiercast (/var/lib/tiercast)
 *   /etc/tiercast/agent.json               the agent's config (a conffile)
 *   /etc/tiercast/agent.env                its environment, mode 0600 (a conffile, all
 *                                          commented: where control's key and the
 *                                          enrolment token go)
 *   /usr/share/doc/tiercast/copyright, README.Debian (what to set before it can start)
 * with idempotent maintainer scripts (firmware/packaging/deb/). Built by dpkg-deb with
 * --root-owner-group, SOURCE_DATE_EPOCH and every mtime fixed: the same inputs give the
 * same bytes. Depends are read from the executable's and the addon's symbol versions.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cachedBuild, inputKey, packageVersion, Staging, sourceDateEpoch, type BuiltPackage } from "./pkg.js";
import { run } from "./sh.js";
import { tool, type Arch, type Target } from "./targets.js";

export const DEB_ARCH: Record<Arch, string> = { arm64: "arm64", armv7: "armhf", x64: "amd64" };

/** GLIBCXX_3.4.N symbol version -> the GCC release whose libstdc++ first has it. */
const GLIBCXX_GCC: Record<string, number> = {
  "3.4.28": 10,
  "3.4.29": 11,
  "3.4.30": 12,
  "3.4.31": 13,
  "3.4.32": 13,
  "3.4.33": 14,
};

export interface DebInputs {
  /** Repository root (package.json, firmware/packaging/deb). */
  root: string;
  cacheDir: string;
  exe: string;
  addon: string;
  outDir: string;
  /** Build without the package cache (reproducibility check). */
  fresh?: boolean;
}

function cmpVersion(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The newest symbol version of `prefix` (GLIBC, GLIBCXX) that any of the files needs. */
export function newestSymbolVersion(t: Target, files: string[], prefix: string): string | undefined {
  let newest: string | undefined;
  const re = new RegExp(`Name: ${prefix}_([0-9.]+)`, "g");
  for (const f of files) {
    for (const m of run(tool(t, "readelf"), ["-V", "-W", f]).matchAll(re)) {
      const v = m[1] as string;
      if (newest === undefined || cmpVersion(v, newest) > 0) newest = v;
    }
  }
  return newest;
}

function depends(t: Target, files: string[]): string {
  const glibc = newestSymbolVersion(t, files, "GLIBC");
  const cxx = newestSymbolVersion(t, files, "GLIBCXX");
  const gcc = cxx === undefined ? undefined : GLIBCXX_GCC[cxx];
  return [
    glibc === undefined ? "libc6" : `libc6 (>= ${glibc})`,
    gcc === undefined ? "libstdc++6" : `libstdc++6 (>= ${gcc})`,
    "libgcc-s1",
    "adduser",
  ].join(", ");
}

export function buildDeb(t: Target, i: DebInputs): BuiltPackage {
  const version = packageVersion(i.root);
  const debArch = DEB_ARCH[t.arch];
  const src = join(i.root, "firmware", "packaging", "deb");
  const scripts = ["postinst", "prerm", "postrm"];
  const payload = ["tiercast.service", "agent.json", "agent.env", "copyright", "README.Debian"];
  const epoch = sourceDateEpoch();
  const key = inputKey(
    [i.exe, i.addon, ...[...scripts, ...payload].map((f) => join(src, f)), fileURLToPath(import.meta.url)],
    [version, debArch, String(epoch)],
  );
  const out = join(i.outDir, `tiercast_${version}_${debArch}.deb`);
  return cachedBuild(i.cacheDir, out, key, i.fresh ?? false, (tmp) => {
    const s = new Staging(join(i.cacheDir, "work", `${t.arch}-deb`));
    s.copy(i.exe, "usr/bin/tiercast", 0o755);
    s.copy(join(src, "tiercast.service"), "lib/systemd/system/tiercast.service", 0o644);
    s.copy(join(src, "agent.json"), "etc/tiercast/agent.json", 0o644);
    s.copy(join(src, "agent.env"), "etc/tiercast/agent.env", 0o600);
    s.copy(join(src, "copyright"), "usr/share/doc/tiercast/copyright", 0o644);
    s.copy(join(src, "README.Debian"), "usr/share/doc/tiercast/README.Debian", 0o644);
    for (const f of scripts) s.copy(join(src, f), `DEBIAN/${f}`, 0o755);
    s.write("DEBIAN/conffiles", "/etc/tiercast/agent.json\n/etc/tiercast/agent.env\n", 0o644);
    const control = [
      "Package: tiercast",
      `Version: ${version}`,
      `Architecture: ${debArch}`,
      "Maintainer: tiercast <tiercast@localhost>",
      `Installed-Size: ${s.installedKiB("DEBIAN")}`,
      `Depends: ${depends(t, [i.exe, i.addon])}`,
      "Section: net",
      "Priority: optional",
      "Description: tiercast agent: peer-assisted live video relay and LAN HLS server",
      " One executable (Node.js single-executable application with SQLite) that joins a",
      " tiercast control center, relays the live stream to its children, caches it and",
      " serves LAN players over HLS. Runs as the systemd service tiercast.service",
      " (config /etc/tiercast/agent.json, identity key and cache in /var/lib/tiercast).",
      " Set control's public key (controlKey) before it can start: see",
      " /usr/share/doc/tiercast/README.Debian.",
      "",
    ].join("\n");
    s.write("DEBIAN/control", control, 0o644);
    s.normalize(epoch);
    run("dpkg-deb", ["--root-owner-group", "-Zxz", "-z6", "--build", s.dir, tmp], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    });
  });
}
