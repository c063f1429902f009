/**
 * The QEMU command line that boots an image built by firmware/build.ts on the `virt` board:
 * serial console on stdio, user-mode networking (the guest is 10.0.2.15 and reaches the
 * host's loopback as 10.0.2.2), guest ports forwarded to 127.0.0.1 only, and the persistent
 * partition as a virtio disk. Shared by scripts/qemu-run and the boot tests.
 */
import { join } from "node:path";
import type { Arch } from "./targets.js";

export interface QemuOptions {
  arch: Arch;
  /** images/out/<arch>: vmlinuz and initrd.img. */
  imageDir: string;
  /** The persistent partition's image (raw ext4). */
  disk: string;
  /** Host port on 127.0.0.1 -> guest TCP port. */
  forward?: { hostPort: number; guestPort: number }[];
  memoryMb?: number;
  /** Extra kernel command line (e.g. tiercast.data=/dev/vdb). */
  append?: string;
}

interface Machine {
  qemu: string;
  machine: string;
  cpu: string;
  console: string;
  /** Where the virtio devices sit: on PCI, or on the board's virtio-mmio transports. */
  virtio: "pci" | "mmio";
}

const MACHINES: Partial<Record<Arch, Machine>> = {
  // cortex-a53: a typical router/set-top-box core; -cpu max is ~3x slower (pointer-auth emulation).
  arm64: {
    qemu: "qemu-system-aarch64",
    machine: "virt",
    cpu: "cortex-a53",
    console: "ttyAMA0",
    virtio: "pci",
  },
  // highmem=off: a 32-bit kernel without LPAE (Debian's armmp) cannot reach devices above 4 GB.
  armv7: {
    qemu: "qemu-system-arm",
    machine: "virt,highmem=off",
    cpu: "cortex-a15",
    console: "ttyAMA0",
    virtio: "mmio",
  },
};

export function qemuCommand(o: QemuOptions): { command: string; args: string[] } {
  const m = MACHINES[o.arch];
  if (m === undefined) throw new Error(`no QEMU board for ${o.arch}`);
  const fwd = (o.forward ?? []).map((f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`).join("");
  const pci = m.virtio === "pci";
  const append = `console=${m.console} rdinit=/init panic=-1 quiet${o.append ? " " + o.append : ""}`;
  return {
    command: m.qemu,
    args: [
      ...["-M", m.machine, "-cpu", m.cpu, "-m", String(o.memoryMb ?? 512), "-smp", "1"],
      ...["-nographic", "-no-reboot"],
      ...[
        "-kernel",
        join(o.imageDir, "vmlinuz"),
        "-initrd",
        join(o.imageDir, "initrd.img"),
        "-append",
        append,
      ],
      // romfile= : no PXE option ROM (efi-virtio.rom is not installed and not needed).
      ...[
        "-netdev",
        `user,id=n0${fwd}`,
        "-device",
        pci ? "virtio-net-pci,netdev=n0,romfile=" : "virtio-net-device,netdev=n0",
      ],
      ...[
        "-drive",
        `file=${o.disk},format=raw,if=none,id=d0,cache=writeback`,
        "-device",
        pci ? "virtio-blk-pci,drive=d0" : "virtio-blk-device,drive=d0",
      ],
    ],
  };
}
