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
  sendErrors = 0;
  #socket: dgram.Socket;
  #handler: DatagramHandler = () => {};

  private constructor(socket: dgram.Socket, local: Address) {
    this.#socket = socket;
    this.local = local;
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
        const t = new UdpTransport(socket, { address: a.address, port: a.port });
        // Errors after bind (ICMP unreachable reported on Linux, EPERM from a firewall) are counted, never fatal.
        socket.on("error", () => t.sendErrors++);
        resolve(t);
      });
    });
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
