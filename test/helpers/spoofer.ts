/**
 * Datagrams with a forged source address, for the attack suite: a python3 raw-socket sender
 * (spoof.py; root only) fed one JSON line per datagram. Node has no raw sockets, and spoofing is
 * the point: the receiver must see the datagram come from the address it trusts (control's, a
 * parent's) or a victim's that never sent it. Loopback destinations only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Address } from "../../seams/transport.js";

const SCRIPT = fileURLToPath(new URL("./spoof.py", import.meta.url));

export class Spoofer {
  readonly #child: ChildProcess;
  readonly #waiting: Array<(line: string) => void> = [];
  sent = 0;
  bytes = 0;

  constructor() {
    this.#child = spawn("python3", [SCRIPT], { stdio: ["pipe", "pipe", "inherit"] });
    createInterface({ input: this.#child.stdout! }).on("line", (line) => this.#waiting.shift()?.(line));
  }

  /** Sends `data` to `to` as if from `from`; resolves once the kernel took it. */
  send(data: Uint8Array, from: Address, to: Address): Promise<void> {
    const line = JSON.stringify({
      src: from.address,
      sport: from.port,
      dst: to.address,
      dport: to.port,
      hex: Buffer.from(data).toString("hex"),
    });
    return new Promise((resolve, reject) => {
      this.#waiting.push((answer) => {
        if (answer === "ok") {
          this.sent++;
          this.bytes += data.length;
          resolve();
        } else reject(new Error(`spoof.py: ${answer}`));
      });
      this.#child.stdin!.write(line + "\n");
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#child.exitCode !== null) return resolve();
      this.#child.once("exit", () => resolve());
      this.#child.stdin!.end();
    });
  }
}
