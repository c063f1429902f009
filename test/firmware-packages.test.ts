/**
 * The .deb and .ipk packages (firmware/lib/deb.ts, firmware/lib/ipk.ts), built with
 * `firmware/build.ts --deb --ipk`:
 *   - x64 .deb: dpkg-deb --info/--contents, unpacked (dpkg -x) its executable runs, the unit's
 *     ExecStart on the shipped config exits 2 naming controlKey, and starts an agent once
 *     control's key is set where README.Debian says (with the enrolment token from agent.env),
 *     systemd-analyze verify, the maintainer scripts run twice against stub commands
 *     (idempotent), and a fresh build gives the same bytes;
 *   - arm64 and armv7 .ipk: its files alone plus a static busybox in a chroot (no host C
 *     library), under qemu-aarch64-static / qemu-arm-static: the wrapper runs the
 *     executable through the shipped glibc
 *     loader (--version, agent --help), the procd init script parses, and its UCI-to-flags
 *     translation (run with stub procd/UCI functions; control_key a flag, enrolment_token in
 *     the environment) starts an agent that writes its identity where keep.d says; a fresh
 *     build gives the same bytes. Needs root (chroot).
 *
 * @heavy privileged, processes: firmware builds, packages unpacked and run, a chroot under QEMU
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDeb } from "../firmware/lib/deb.js";
import { DebianArch } from "../firmware/lib/debian.js";
import { buildIpk } from "../firmware/lib/ipk.js";
import { BETTER_SQLITE3, TARGETS, type Arch } from "../firmware/lib/targets.js";
import { Proc, ROOT } from "./firmware-harness.js";
import { FIRMWARE_BUILD, needs } from "./helpers/needs.js";

const CACHE = join(ROOT, "firmware", "cache");

interface BuiltFile {
  file: string;
  sha256: string;
  bytes: number;
}

/**
 * Builds with firmware/build.ts; the packages are read from its log, not from manifest.json,
 * which another test's concurrent build of the same arch (without packages) may rewrite.
 */
function build(
  arch: Arch,
  kinds: ("deb" | "ipk")[],
): { out: string } & Partial<Record<"deb" | "ipk", BuiltFile>> {
  const args = [
    "--import",
    "tsx",
    "firmware/build.ts",
    "--arch",
    arch,
    "--no-image",
    ...kinds.map((k) => `--${k}`),
  ];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 30 * 60_000 });
  const log = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`firmware build ${arch} failed:\n${log}`);
  const out = join(ROOT, "images", "out", arch);
  const found: Partial<Record<"deb" | "ipk", BuiltFile>> = {};
  for (const kind of kinds) {
    const m = new RegExp(`/(tiercast_[^/\\s]+\\.${kind}): [0-9.]+ MB, sha256 ([0-9a-f]{64})`).exec(log);
    if (m?.[1] === undefined || m[2] === undefined) throw new Error(`no .${kind} in the build log:\n${log}`);
    found[kind] = { file: m[1], sha256: m[2], bytes: statSync(join(out, m[1])).size };
  }
  return { out, ...found };
}

function sh(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(command, args, { encoding: "utf8", ...opts });
  if (r.status !== 0) {
    const why = r.error?.message ?? r.status ?? r.signal;
    throw new Error(`${command} ${args.join(" ")}: ${why}\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** A control public key as `tiercast control` prints it (hex); no control runs in these tests. */
function someControlKey(): string {
  const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32).toString("hex");
}

/** The addon the executable was built with (the build cached it). */
function addonOf(arch: Arch): string {
  const t = TARGETS[arch];
  return join(
    CACHE,
    "addon",
    `${arch}-node${t.nodeVersion}-better-sqlite3-${BETTER_SQLITE3.version}`,
    "better_sqlite3.node",
  );
}

/** Serial, both: each builds and runs what it built. */
const debRuns = needs(test, "test/firmware-packages.test.ts (.deb)", FIRMWARE_BUILD);
const debTest = debRuns ? test.serial : test.skip;
/**
 * The .deb test verifies its unit with systemd-analyze (package systemd, firmware/deps.txt); asked
 * only when that test runs. Without it the rest of the .deb test still runs, and needs() fails the
 * run under CI or says SKIPPED elsewhere.
 */
const verifyUnit = debRuns && needs(test, "test/firmware-packages.test.ts (.deb unit)", ["systemd-analyze"]);
const ipkTest = needs(test, "test/firmware-packages.test.ts (.ipk)", [
  ...FIRMWARE_BUILD,
  "root",
  "chroot",
  "qemu-aarch64-static",
  "qemu-arm-static",
])
  ? test.serial
  : test.skip;

debTest(
  "x64 .deb: metadata, contents, runs unpacked, unit verifies, idempotent scripts, same bytes",
  async (t) => {
    t.timeout(40 * 60_000, "a cold build compiles the SQLite addon");
    const b = build("x64", ["deb"]);
    const meta = b.deb;
    if (meta === undefined) throw new Error("no .deb");
    t.regex(meta.file, /^tiercast_\d+\.\d+\.\d+_amd64\.deb$/);
    const deb = join(b.out, meta.file);
    t.log(`${meta.file}: ${(meta.bytes / 1e6).toFixed(1)} MB, sha256 ${meta.sha256}`);

    const info = sh("dpkg-deb", ["--info", deb]);
    t.regex(info, /^ Package: tiercast$/m);
    t.regex(info, /^ Architecture: amd64$/m);
    t.regex(info, /^ Depends: libc6 \(>= 2\.\d+\), libstdc\+\+6.*, libgcc-s1, adduser$/m);
    t.is(sh("dpkg-deb", ["--info", deb, "conffiles"]), "/etc/tiercast/agent.json\n/etc/tiercast/agent.env\n");
    const contents = sh("dpkg-deb", ["--contents", deb]).trim().split("\n");
    const paths = contents.map((l) => l.split(/\s+/).pop());
    for (const p of [
      "./usr/bin/tiercast",
      "./lib/systemd/system/tiercast.service",
      "./etc/tiercast/agent.json",
      "./etc/tiercast/agent.env",
      "./usr/share/doc/tiercast/copyright",
      "./usr/share/doc/tiercast/README.Debian",
    ]) {
      t.true(paths.includes(p), `${p} in the package`);
    }
    t.regex(
      contents.find((l) => l.endsWith(" ./etc/tiercast/agent.env")) ?? "",
      /^-rw------- /,
      "agent.env (it may hold the enrolment token) is mode 0600",
    );
    t.true(
      contents.every((l) => / root\/root /.test(l) && / 2026-01-01 00:00 /.test(l)),
      "fixed owners and mtimes",
    );

    const dir = mkdtempSync(join(tmpdir(), "tiercast-deb-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const root = join(dir, "root");
    sh("dpkg", ["-x", deb, root]);
    t.regex(sh(join(root, "usr/bin/tiercast"), ["--version"]), /^tiercast \d+\.\d+\.\d+ \(node v22\./);

    const unit = readFileSync(join(root, "lib/systemd/system/tiercast.service"), "utf8");
    for (const line of [
      "Type=simple",
      "Restart=on-failure",
      "User=tiercast",
      "StateDirectory=tiercast",
      "EnvironmentFile=-/etc/tiercast/agent.env",
      "ExecStart=/usr/bin/tiercast agent --config /etc/tiercast/agent.json --data-dir /var/lib/tiercast",
    ]) {
      t.true(unit.split("\n").includes(line), line);
    }
    // ExecStart as the unit has it (paths moved into the scratch root; loopback and any HTTP
    // port for the test). The shipped config names no control key: exit 2 (the unit's
    // RestartPreventExitStatus), the line naming controlKey.
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(" ") ?? [];
    const args = exec.slice(1).map((a) => (a.startsWith("/") ? join(root, a) : a));
    const execStart = ["--host", "127.0.0.1", "--http-port", "0"];
    const noKey = { ...process.env };
    for (const k of Object.keys(noKey)) if (k.startsWith("TIERCAST_")) delete noKey[k];
    const unset = new Proc(join(root, "usr/bin/tiercast"), [...args, ...execStart], { env: noKey });
    t.teardown(() => unset.stop("SIGKILL"));
    await unset.waitForLine("controlKey named", (l) => l.includes("controlKey: required"), 60_000);
    t.is(await unset.exited, 2, "no control key: exit 2, the unit fails instead of looping");

    // As README.Debian says: controlKey in agent.json, the enrolment token in agent.env (every
    // variable there, commented out, names an agent option).
    const readme = readFileSync(join(root, "usr/share/doc/tiercast/README.Debian"), "utf8");
    t.regex(readme, /"controlKey": /);
    t.regex(readme, /TIERCAST_ENROLMENT_TOKEN=/);
    const help = sh(join(root, "usr/bin/tiercast"), ["agent", "--help"]);
    const envFile = readFileSync(join(root, "etc/tiercast/agent.env"), "utf8");
    const vars = [...envFile.matchAll(/^#(TIERCAST_[A-Z_]+)=/gm)].map((m) => m[1] as string);
    t.deepEqual(vars, ["TIERCAST_CONTROL_KEY", "TIERCAST_ENROLMENT_TOKEN", "TIERCAST_TRUST_ON_FIRST_USE"]);
    for (const v of vars) {
      const flag = "--" + v.slice("TIERCAST_".length).toLowerCase().replace(/_/g, "-");
      t.true(help.includes(flag), `${v}: tiercast agent has ${flag}`);
    }
    t.is(
      envFile.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#")).length,
      0,
      "agent.env sets nothing as shipped",
    );
    const agentJson = join(root, "etc/tiercast/agent.json");
    const shipped = JSON.parse(readFileSync(agentJson, "utf8")) as Record<string, unknown>;
    t.false("controlKey" in shipped, "the shipped config cannot know the operator's key");
    writeFileSync(agentJson, JSON.stringify({ ...shipped, controlKey: someControlKey() }));
    const agent = new Proc(join(root, "usr/bin/tiercast"), [...args, ...execStart], {
      env: { ...noKey, TIERCAST_ENROLMENT_TOKEN: "tce_test" },
    });
    t.teardown(() => agent.stop("SIGKILL"));
    await agent.waitForEvent("ready", 60_000);
    await agent.stop();
    t.true(existsSync(join(root, "var/lib/tiercast/identity.json")));

    if (verifyUnit) {
      // verify checks that ExecStart's program exists: point it at the unpacked one.
      mkdirSync(join(dir, "unit"));
      writeFileSync(
        join(dir, "unit", "tiercast.service"),
        unit.replace(/^ExecStart=\/usr\/bin\/tiercast/m, `ExecStart=${join(root, "usr/bin/tiercast")}`),
      );
      const v = spawnSync("systemd-analyze", ["verify", join(dir, "unit", "tiercast.service")], {
        encoding: "utf8",
      });
      t.is(v.status, 0, v.stderr);
      t.is(v.stderr.trim(), "", "no warnings");
    }

    // Maintainer scripts against stubs that record their calls: configure twice (install, then
    // reconfigure as after an upgrade), remove, purge twice.
    const control = join(dir, "control");
    sh("dpkg-deb", ["-e", deb, control]);
    const stubs = join(dir, "stubs");
    mkdirSync(stubs);
    const calls = join(dir, "calls");
    const stub = (name: string, body = ""): void => {
      writeFileSync(join(stubs, name), `#!/bin/sh\necho "${name} $*" >>"${calls}"\n${body}\n`);
      chmodSync(join(stubs, name), 0o755);
    };
    const users = join(dir, "users");
    stub("getent", `grep -qx "$2" "${users}" 2>/dev/null`);
    stub("adduser", `echo "$9" >>"${users}"`);
    for (const n of ["deb-systemd-helper", "deb-systemd-invoke", "systemctl"]) stub(n);
    const state = join(dir, "dpkgroot");
    mkdirSync(join(state, "var/lib/tiercast"), { recursive: true });
    const env = { PATH: `${stubs}:/usr/bin:/bin`, DPKG_ROOT: state };
    const runScript = (name: string, ...a: string[]): string => {
      const r = spawnSync("sh", [join(control, name), ...a], { env, encoding: "utf8" });
      if (r.status !== 0)
        throw new Error(`${name} ${a.join(" ")}: exit ${r.status ?? r.signal}\n${r.stderr}`);
      return r.stderr;
    };
    t.regex(
      runScript("postinst", "configure", ""),
      /set control's public key \(controlKey in \/etc\/tiercast\/agent\.json\)/,
      "a fresh install says what to set",
    );
    mkdirSync(join(state, "etc/tiercast"), { recursive: true });
    writeFileSync(join(state, "etc/tiercast/agent.json"), JSON.stringify({ controlKey: someControlKey() }));
    t.is(runScript("postinst", "configure", "0.1.0"), "", "with the key set, nothing to say");
    const log = readFileSync(calls, "utf8");
    t.is(log.match(/^adduser /gm)?.length, 1, `one user made:\n${log}`);
    t.regex(log, /^adduser --system --group --home \/var\/lib\/tiercast .* tiercast$/m);
    t.is(readFileSync(users, "utf8"), "tiercast\n");
    t.regex(log, /^deb-systemd-helper enable tiercast\.service$/m);
    runScript("prerm", "remove");
    runScript("postrm", "remove");
    runScript("postrm", "purge");
    t.false(existsSync(join(state, "var/lib/tiercast")), "purge removes the state");
    runScript("postrm", "purge");
    for (const f of ["postinst", "prerm", "postrm"]) sh("sh", ["-n", join(control, f)]);

    // Reproducible: a build without the package cache gives the same bytes.
    const again = buildDeb(TARGETS.x64, {
      root: ROOT,
      cacheDir: CACHE,
      exe: join(b.out, "tiercast"),
      addon: addonOf("x64"),
      outDir: join(dir, "again"),
      fresh: true,
    });
    t.is(again.sha256, meta.sha256, "a second build gives the same .deb");
  },
);

/** Whether the kernel runs the target's programs by itself (binfmt_misc, e.g. qemu-aarch64). */
function binfmt(qemu: string): boolean {
  try {
    return readFileSync(`/proc/sys/fs/binfmt_misc/${qemu.replace(/-static$/, "")}`, "utf8").startsWith(
      "enabled",
    );
  } catch {
    return false;
  }
}

/** Stand-ins for OpenWrt's /etc/rc.common, UCI and procd functions: print the command built. */
const PROCD_STUBS = `
config_load() {
  section=
  while read -r kw key val; do
    case "$kw" in
      config) section=\${val:-$key}; section=\${section#\\'}; section=\${section%\\'} ;;
      option) val=\${val#\\'}; val=\${val%\\'}; eval "CONFIG_\${section}_\${key}=\\$val" ;;
    esac
  done <"/etc/config/$1"
}
config_get() { eval "$1=\\\${CONFIG_$2_$3:-\\$4}"; }
config_get_bool() {
  config_get "$@"
  eval "case \\$$1 in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
}
procd_open_instance() { :; }
procd_close_instance() { :; }
procd_set_param() {
  k=$1; shift
  if [ "$k" = command ]; then printf '%s\\n' "$@" >/tmp/command; else echo "$k $*" >>/tmp/params; fi
}
procd_append_param() { shift; printf '%s\\n' "$@" >>/tmp/command; }
procd_add_reload_trigger() { :; }
. /etc/init.d/tiercast
start_service
`;

/**
 * The chroot's shell is arm64's busybox-static (the arm64 image build has it cached) for both
 * cases, run under qemu-aarch64-static: the armv7 case needs no armhf package lists.
 */
const BUSYBOX_QEMU = "qemu-aarch64-static";

const IPK_CASES: { arch: Arch; qemu: string; openwrt: string; version: RegExp }[] = [
  {
    arch: "arm64",
    qemu: "qemu-aarch64-static",
    openwrt: "aarch64_generic",
    version: /^tiercast \d+\.\d+\.\d+ \(node v22\.\d+\.\d+, linux-arm64\)/,
  },
  {
    arch: "armv7",
    qemu: "qemu-arm-static",
    openwrt: "arm_cortex-a7_neon-vfpv4",
    version: /^tiercast \d+\.\d+\.\d+ \(node v20\.11\.0, linux-arm\)/,
  },
];

for (const c of IPK_CASES) {
  ipkTest(`${c.arch} .ipk: runs in a chroot of its own files + busybox under ${c.qemu}`, async (t) => {
    t.timeout(40 * 60_000, "a cold build compiles the SQLite addon");
    const b = build(c.arch, c.arch === "arm64" ? ["deb", "ipk"] : ["ipk"]);
    const meta = b.ipk;
    if (meta === undefined) throw new Error("no .ipk");
    t.regex(meta.file, new RegExp(`^tiercast_\\d+\\.\\d+\\.\\d+_${c.openwrt}\\.ipk$`));
    t.log(`${meta.file}: ${(meta.bytes / 1e6).toFixed(1)} MB, sha256 ${meta.sha256}`);
    const debMeta = b.deb;
    if (c.arch === "arm64") {
      if (debMeta === undefined) throw new Error("no .deb");
      t.log(`${debMeta.file}: ${(debMeta.bytes / 1e6).toFixed(1)} MB, sha256 ${debMeta.sha256}`);
      t.regex(sh("dpkg-deb", ["--info", join(b.out, debMeta.file)]), /^ Architecture: arm64$/m);
    }

    const dir = mkdtempSync(join(tmpdir(), "tiercast-ipk-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const ipk = join(b.out, meta.file);
    t.deepEqual(sh("tar", ["-tzf", ipk]).trim().split("\n"), [
      "./debian-binary",
      "./data.tar.gz",
      "./control.tar.gz",
    ]);
    const outer = join(dir, "outer");
    mkdirSync(outer);
    sh("tar", ["-xzf", ipk, "-C", outer]);
    t.is(readFileSync(join(outer, "debian-binary"), "utf8"), "2.0\n");
    const control = sh("tar", ["-xzOf", join(outer, "control.tar.gz"), "./control"]);
    t.regex(control, new RegExp(`^Architecture: ${c.openwrt}$`, "m"));
    t.is(sh("tar", ["-xzOf", join(outer, "control.tar.gz"), "./conffiles"]), "/etc/config/tiercast\n");

    // The chroot: the package's files, a static busybox, the (static) emulator. Nothing else.
    const root = join(dir, "root");
    mkdirSync(root);
    sh("tar", ["-xzf", join(outer, "data.tar.gz"), "-C", root]);
    const keep = readFileSync(join(root, "lib/upgrade/keep.d/tiercast"), "utf8").trim().split("\n");
    t.deepEqual(keep, ["/etc/tiercast/identity.json", "/etc/tiercast/control-key"]);
    const libc = sh("find", [root, "-name", "libc.so*"]).trim().split("\n");
    t.deepEqual(libc, [join(root, "usr/lib/tiercast/lib/libc.so.6")], "the only C library is the package's");
    const busybox = new DebianArch(CACHE, "arm64").unpacked("busybox-static");
    mkdirSync(join(root, "bin"));
    copyFileSync(join(busybox, "bin", "busybox"), join(root, "bin", "busybox"));
    symlinkSync("busybox", join(root, "bin", "sh"));
    for (const d of ["tmp", "proc"]) mkdirSync(join(root, d));
    for (const q of new Set([c.qemu, BUSYBOX_QEMU])) {
      copyFileSync(sh("sh", ["-c", `command -v ${q}`]).trim(), join(root, q));
      chmodSync(join(root, q), 0o755);
    }
    t.log(`chroot: ${readdirSync(root).sort().join(" ")}`);

    // Without binfmt_misc the kernel cannot exec the loader from the wrapper: the wrapper's
    // test hook names the emulator. With binfmt_misc the wrapper runs as on a device.
    const native = binfmt(c.qemu) && binfmt(BUSYBOX_QEMU);
    t.log(
      native
        ? "binfmt_misc runs the target: wrapper runs unmodified"
        : "no binfmt_misc: TIERCAST_EMULATOR hook",
    );
    const env = {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      ...(native ? {} : { TIERCAST_EMULATOR: `/${c.qemu}` }),
    };
    // chroot arguments: busybox sh, and the wrapper as a command. Without binfmt_misc the
    // kernel cannot follow the wrapper's #!/bin/sh (an arm64 busybox) either, so the
    // emulated busybox reads the wrapper itself.
    const emu = native ? [] : [`/${BUSYBOX_QEMU}`];
    const busyboxSh = (...args: string[]): string[] => [root, ...emu, "/bin/busybox", "sh", ...args];
    const tiercast = (...args: string[]): string[] =>
      native ? [root, "/usr/bin/tiercast", ...args] : busyboxSh("/usr/bin/tiercast", ...args);

    t.regex(sh("chroot", tiercast("--version"), { env }), c.version);
    t.regex(sh("chroot", tiercast("agent", "--help"), { env }), /--upload-kbps/);
    sh("chroot", busyboxSh("-n", "/etc/init.d/tiercast"), { env });
    sh("chroot", busyboxSh("-n", "/usr/bin/tiercast"), { env });

    // UCI -> flags, with the test's loopback bind and any HTTP port, and control's key and an
    // enrolment token where the shipped file's comments say.
    const uci = join(root, "etc/config/tiercast");
    const key = someControlKey();
    const shippedUci = readFileSync(uci, "utf8");
    t.regex(shippedUci, /^\t#option control_key /m);
    t.regex(shippedUci, /^\t#option enrolment_token /m);
    writeFileSync(
      uci,
      shippedUci
        .replace("option host '0.0.0.0'", "option host '127.0.0.1'")
        .replace("option http_port '8081'", "option http_port '0'")
        .replace("#option region_hint 'A'", "option region_hint 'B'")
        .replace(/#option control_key '[^']*'/, `option control_key '${key}'`)
        .replace(/#option enrolment_token '[^']*'/, "option enrolment_token 'tce_test'"),
    );
    writeFileSync(join(root, "tmp", "procd-stubs.sh"), PROCD_STUBS);
    sh("chroot", busyboxSh("/tmp/procd-stubs.sh"), { env });
    const argv = readFileSync(join(root, "tmp", "command"), "utf8")
      .trim()
      .split("\n");
    t.deepEqual(argv, [
      "/usr/bin/tiercast",
      "agent",
      ...[
        "--data-dir",
        "/etc/tiercast",
        "--control",
        "127.0.0.1:7700",
        "--control-key",
        key,
        "--channel",
        "demo",
        "--role",
        "preferred",
      ],
      ...["--upload-kbps", "4000", "--cache-mb", "16", "--host", "127.0.0.1", "--http-port", "0"],
      ...["--region-hint", "B", "--log-level", "info"],
    ]);
    const params = readFileSync(join(root, "tmp", "params"), "utf8");
    t.regex(params, /^respawn 3600 5 0$/m);
    t.regex(params, /^env TIERCAST_ENROLMENT_TOKEN=tce_test$/m, "the token in the environment");
    t.regex(params, /^stdout 1$/m);
    t.regex(params, /^stderr 1$/m);

    // That command, through the wrapper, in the chroot: the agent starts, writes its identity
    // at the path keep.d names, and its SQLite cache (the addon loads through the shipped glibc).
    const agent = new Proc("chroot", tiercast(...argv.slice(1)), { env });
    t.teardown(() => agent.stop("SIGKILL"));
    await agent.waitForEvent("ready", 120_000);
    await agent.stop();
    t.true(existsSync(join(root, (keep[0] ?? "").slice(1))), "identity at the keep.d path");
    t.true(existsSync(join(root, "etc/tiercast/cache.db")));

    const again = buildIpk(TARGETS[c.arch], {
      root: ROOT,
      cacheDir: CACHE,
      exe: join(b.out, "tiercast"),
      addon: addonOf(c.arch),
      outDir: join(dir, "again"),
      fresh: true,
    });
    t.is(again.sha256, meta.sha256, "a second build gives the same .ipk");
  });
}
