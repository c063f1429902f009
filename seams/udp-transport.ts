/** Transport over a real UDP socket (node:dgram). */
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import type { Address, DatagramHandler, Transport } from "./transport.js";

export interface UdpTransportConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Socket buffer sizes in bytes; the kernel may clamp them. */
  recvBufferBytes?: number;
  sendBufferBytes?: number;
}

export class UdpTransport implements Transport {
  readonly local: Address;
  /** What was asked for (UdpTransportConfig.recvBufferBytes); undefined: the kernel's default. */
  readonly requestedRecvBufferBytes: number | undefined;
  sendErrors = 0;
  #socket: dgram.Socket;
  #handler: DatagramHandler = () => {};

  private constructor(socket: dgram.Socket, local: Address, requested: number | undefined) {
    this.#socket = socket;
    this.local = local;
    this.requestedRecvBufferBytes = requested;
    socket.on("message", (msg, rinfo) => this.#handler(msg, { address: rinfo.address, port: rinfo.port }));
  }

  static bind(config: UdpTransportConfig): Promise<UdpTransport> {
    const socket = dgram.createSocket({ type: isIPv6(config.host) ? "udp6" : "udp4" });
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(config.port, config.host, () => {
        socket.off("error", reject);
        if (config.recvBufferBytes) trySet(() => socket.setRecvBufferSize(config.recvBufferBytes!));
        if (config.sendBufferBytes) trySet(() => socket.setSendBufferSize(config.sendBufferBytes!));
        const a = socket.address();
        const t = new UdpTransport(
          socket,
          { address: a.address, port: a.port },
          config.recvBufferBytes || undefined,
        );
        // Errors after bind (ICMP unreachable reported on Linux, EPERM from a firewall) are counted, never fatal.
        socket.on("error", () => t.sendErrors++);
        resolve(t);
      });
    });
  }

  /**
   * The receive buffer as the kernel reports it, bytes. Linux reports twice what it granted (its
   * bookkeeping overhead counted in) and clamps a request to net.core.rmem_max.
   */
  get recvBufferBytes(): number {
    try {
      return this.#socket.getRecvBufferSize();
    } catch {
      return 0;
    }
  }

  /** The kernel granted less receive buffer than asked for (raise net.core.rmem_max: docs/operations.md). */
  get recvBufferClamped(): boolean {
    const asked = this.requestedRecvBufferBytes;
    if (asked === undefined) return false;
    return this.recvBufferBytes < (process.platform === "linux" ? 2 * asked : asked);
  }

  send(data: Uint8Array, to: Address): void {
    this.#socket.send(data, to.port, to.address, (err) => {
      if (err) this.sendErrors++;
    });
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

function trySet(f: () => void): void {
  try {
    f();
  } catch {
    // The kernel refused the size (e.g. above rmem_max): the default stays, which is still correct.
  }
}
