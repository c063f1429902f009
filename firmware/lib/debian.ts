/**
 * Debian packages for another architecture (the guest's kernel, busybox-static), fetched
 * with apt-get through a private configuration: its own architecture, state and cache under
 * firmware/cache/apt/<arch>, nothing in the host's apt state changes. The .deb files are
 * kept, so a warm build uses exactly the kernel it used before.
 *
 * Mirrors are sometimes caught mid-sync ("File has unexpected size ... Mirror sync in
 * progress?"): update and download are tried 3 times, 10 s apart. If the package lists still
 * cannot all be fetched, the build falls back to bookworm and bookworm-updates without
 * bookworm-security (a second sources list; the log says so) rather than failing.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BuildError, log, run } from "./sh.js";

const MIRROR = "http://deb.debian.org/debian";
const SECURITY = "http://deb.debian.org/debian-security";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const TRIES = 3;
const PAUSE_MS = 10_000;

const pause = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** `fn` until it returns, at most TRIES times; the last failure is thrown. */
function retried<T>(what: string, fn: () => T): T {
  for (let i = 1; ; i++) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof BuildError) || i >= TRIES) throw e;
      const first = e.message.split("\n").find((l) => l.startsWith("E: ")) ?? e.message.split("\n")[0];
      log(`${what} failed (try ${i} of ${TRIES}): ${first ?? ""}; again in ${PAUSE_MS / 1000} s`);
      pause(PAUSE_MS);
    }
  }
}

export class DebianArch {
  readonly #dir: string;
  readonly #conf: string;
  #updated = false;
  /** Set when bookworm-security could not be fetched: apt reads the list without it. */
  #sourceList: string | undefined;

  constructor(
    cacheDir: string,
    /** Debian's name: arm64, armhf, amd64. */
    readonly debArch: string,
  ) {
    this.#dir = join(cacheDir, "apt", debArch);
    this.#conf = join(this.#dir, "apt.conf");
  }

  /** This architecture's cache folder (debs/ holds the downloaded packages). */
  get cacheDir(): string {
    return this.#dir;
  }

  #setup(): void {
    if (existsSync(this.#conf)) return;
    const d = this.#dir;
    for (const sub of [
      "state/lists/partial",
      "cache/archives/partial",
      "etc/apt.conf.d",
      "etc/preferences.d",
      "etc/trusted.gpg.d",
    ]) {
      mkdirSync(join(d, sub), { recursive: true });
    }
    writeFileSync(join(d, "state", "status"), "");
    const opt = `[arch=${this.debArch} signed-by=${KEYRING}]`;
    writeFileSync(
      join(d, "etc", "sources.list"),
      [
        `deb ${opt} ${MIRROR} bookworm main`,
        `deb ${opt} ${MIRROR} bookworm-updates main`,
        `deb ${opt} ${SECURITY} bookworm-security main`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      `${this.#conf}.tmp`,
      [
        `APT::Architecture "${this.debArch}";`,
        `APT::Architectures { "${this.debArch}"; };`,
        `Dir::State "${d}/state";`,
        `Dir::State::status "${d}/state/status";`,
        `Dir::Cache "${d}/cache";`,
        `Dir::Etc "${d}/etc";`,
        `Dir::Etc::SourceList "${d}/etc/sources.list";`,
        `Dir::Etc::SourceParts "${d}/etc/sources.list.d";`,
        `Dir::Etc::Parts "${d}/etc/apt.conf.d";`,
        `Dir::Etc::PreferencesParts "${d}/etc/preferences.d";`,
        `Dir::Etc::TrustedParts "${d}/etc/trusted.gpg.d";`,
        "",
      ].join("\n"),
    );
    mkdirSync(join(d, "etc", "sources.list.d"), { recursive: true });
    renameSync(`${this.#conf}.tmp`, this.#conf);
  }

  #apt(cmd: string, args: string[], cwd?: string): string {
    this.#setup();
    const env = { ...process.env, APT_CONFIG: this.#conf, DEBIAN_FRONTEND: "noninteractive" };
    const list = this.#sourceList === undefined ? [] : ["-o", `Dir::Etc::SourceList=${this.#sourceList}`];
    return run(cmd, [...list, ...args], { env, ...(cwd === undefined ? {} : { cwd }) });
  }

  #update(): void {
    if (this.#updated) return;
    try {
      retried(`apt-get update (${this.debArch})`, () => this.#apt("apt-get", ["update", "-qq"]));
    } catch (e) {
      if (!(e instanceof BuildError)) throw e;
      log(
        `apt-get update (${this.debArch}): package lists still incomplete after ${TRIES} tries; ` +
          "using bookworm and bookworm-updates without bookworm-security",
      );
      const list = join(this.#dir, "etc", "sources.main.list");
      const all = readFileSync(join(this.#dir, "etc", "sources.list"), "utf8").split("\n");
      writeFileSync(list, all.filter((l) => !l.includes("-security")).join("\n"));
      this.#sourceList = list;
      retried(`apt-get update (${this.debArch}, without security)`, () =>
        this.#apt("apt-get", ["update", "-qq"]),
      );
    }
    this.#updated = true;
  }

  /** The package a metapackage (e.g. linux-image-arm64) currently depends on. */
  resolveDepends(meta: string, prefix: string): string {
    this.#update();
    const out = this.#apt("apt-cache", ["depends", meta]);
    const m = new RegExp(`Depends: (${prefix}[^\\s]*)`).exec(out);
    if (m?.[1] === undefined) throw new Error(`${meta}: no dependency starting with ${prefix}`);
    return m[1];
  }

  /**
   * The package unpacked (dpkg -x) under the cache, downloading its .deb on first use.
   * `name` may be a metapackage's target found with resolveDepends, or a plain name.
   */
  unpacked(name: string): string {
    const debs = join(this.#dir, "debs");
    const dest = join(this.#dir, "root", name);
    if (existsSync(dest)) return dest;
    mkdirSync(debs, { recursive: true });
    let deb = readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith(".deb"));
    if (deb === undefined) {
      this.#update();
      retried(`apt-get download ${name}`, () => this.#apt("apt-get", ["download", "-qq", name], debs));
      deb = readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith(".deb"));
      if (deb === undefined) throw new Error(`apt-get download ${name}: no .deb appeared`);
    }
    const tmp = `${dest}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    run("dpkg-deb", ["-x", join(debs, deb), tmp]);
    renameSync(tmp, dest);
    return dest;
  }

  /** Which cached .deb holds `name` (for the manifest). */
  debFile(name: string): string | undefined {
    const debs = join(this.#dir, "debs");
    return existsSync(debs) ? readdirSync(debs).find((f) => f.startsWith(`${name}_`)) : undefined;
  }
}
