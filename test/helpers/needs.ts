/**
 * What a privileged test needs from the machine (root, a system tool, QEMU, etcd, ffmpeg), and
 * the one rule for when it is missing: a test never passes quietly.
 *
 *   - everything present: `needs()` returns true and the file declares its tests;
 *   - something missing under CI (`CI` set, as `CI=true bash .ci/run` does): one failing test
 *     names what is missing and how to install it, so the run fails;
 *   - something missing elsewhere: one loud line on stderr, and one skipped test with the same
 *     words, so ava's summary counts it;
 *   - called in the fast set (`npm run test:fast`, TIERCAST_TEST_SET=fast): a failing test, since
 *     a file that needs the machine belongs to the full suite (`@heavy privileged` in its header).
 *
 * Every file that gates tests on the machine calls this; test/heavy-tags.test.ts checks that such
 * a file says `@heavy privileged`, and that a file saying it calls this.
 */
import type { TestFn } from "ava";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { FAST_SET } from "./test-set.js";

interface Capability {
  present(): boolean;
  /** How to get it, for the message. */
  install: string;
}

/**
 * Where system tools are looked for: PATH without node_modules/.bin (under npm it comes first
 * and holds an unrelated `nft`, @vercel/nft), then the sbin folders a non-root PATH may lack.
 */
function searchDirs(): string[] {
  const path = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d !== "" && !d.includes("node_modules"));
  return [...path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
}

/** The first executable `name` in searchDirs(), or undefined. */
export function findTool(name: string): string | undefined {
  for (const d of searchDirs()) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A command from a Debian package (the packages are in scripts/test-deps.sh and firmware/deps.txt). */
function command(name: string, debianPackage: string): Capability {
  return { present: () => findTool(name) !== undefined, install: `apt-get install ${debianPackage}` };
}

const CAPABILITIES = {
  root: {
    present: () => process.getuid?.() === 0,
    install: "run the tests as root (sudo), as CI does",
  },
  etcd: command("etcd", "etcd-server"),
  ffmpeg: command("ffmpeg", "ffmpeg"),
  python3: command("python3", "python3"),
  ip: command("ip", "iproute2"),
  tc: command("tc", "iproute2"),
  nft: command("nft", "nftables"),
  sysctl: command("sysctl", "procps"),
  chroot: command("chroot", "coreutils"),
  "qemu-system-aarch64": command("qemu-system-aarch64", "qemu-system-arm"),
  "qemu-system-arm": command("qemu-system-arm", "qemu-system-arm"),
  "qemu-arm-static": command("qemu-arm-static", "qemu-user-static"),
  "qemu-aarch64-static": command("qemu-aarch64-static", "qemu-user-static"),
  "aarch64-linux-gnu-g++": command("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"),
  "arm-linux-gnueabihf-g++": command("arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf"),
  "g++": command("g++", "g++"),
  make: command("make", "make"),
  cpio: command("cpio", "cpio"),
  "mkfs.ext4": command("mkfs.ext4", "e2fsprogs"),
  e2fsck: command("e2fsck", "e2fsprogs"),
  debugfs: command("debugfs", "e2fsprogs"),
  "dpkg-deb": command("dpkg-deb", "dpkg"),
  "systemd-analyze": command("systemd-analyze", "systemd"),
} satisfies Record<string, Capability>;

export type Need = keyof typeof CAPABILITIES;

/** What the firmware build itself needs (firmware/deps.txt): every firmware test builds first. */
export const FIRMWARE_BUILD: readonly Need[] = [
  "aarch64-linux-gnu-g++",
  "arm-linux-gnueabihf-g++",
  "g++",
  "make",
  "python3",
  "cpio",
  "mkfs.ext4",
  "dpkg-deb",
];

/** The needs among `wanted` this machine does not meet, each with how to meet it. */
export function unmet(wanted: readonly Need[]): { need: Need; install: string }[] {
  return [...new Set(wanted)]
    .filter((n) => !CAPABILITIES[n].present())
    .map((n) => ({ need: n, install: CAPABILITIES[n].install }));
}

/** CI as the CI runner sets it (`CI=true`); "", "0" and "false" are not CI. */
export function underCi(): boolean {
  const v = process.env.CI;
  return v !== undefined && !["", "0", "false"].includes(v.toLowerCase());
}

/**
 * True when the machine has everything `file`'s gated tests need; otherwise reports it (the
 * rule in the header) and returns false: declare the gated tests only when it returns true, or
 * as `test.skip` when it does not.
 */
export function needs<C>(test: TestFn<C>, file: string, wanted: readonly Need[]): boolean {
  if (FAST_SET) {
    test(`${file} needs ${wanted.join(", ")}: not a fast test`, (t) => {
      t.fail(
        `${file} needs the machine (${wanted.join(", ")}): give its header an "@heavy privileged: ..." line`,
      );
    });
    return false;
  }
  const missing = unmet(wanted);
  if (missing.length === 0) return true;
  const what = missing.map((m) => m.need).join(", ");
  const how = [...new Set(missing.map((m) => m.install))].join("; ");
  const message = `${file} cannot run: missing ${what} (${how}; \`sudo bash scripts/test-deps.sh\` installs every package the tests use)`;
  if (underCi()) {
    test(`${file}: missing ${what}`, (t) => {
      t.fail(`${message}. Under CI a test that cannot run fails the run.`);
    });
  } else {
    console.error(`\n*** SKIPPED ${message}; under CI this fails the run ***\n`);
    test.skip(`${file}: SKIPPED, missing ${what}`, () => undefined);
  }
  return false;
}
