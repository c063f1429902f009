/**
 * The Transport of a control server that sits behind a front (docs/resilience.md): the front
 * owns the UDP socket and hands this server the datagrams of the channels it serves; what the
 * server sends goes back out through the front's socket, so nodes see one address whichever
 * server (worker) holds their DCM. In a worker thread the two callbacks cross a MessagePort
 * (worker-main.ts); in process they are plain calls.
 */
import type { Address, DatagramHandler, Transport } from "../../seams/transport.js";

export class RelayTransport implements Transport {
  readonly local: Address;
  readonly #send: (data: Uint8Array, to: Address) => void;
  #handler: DatagramHandler = () => {};
  #closed = false;

  /** `local`: the front's address (what nodes send to); `send`: out through the front's socket. */
  constructor(local: Address, send: (data: Uint8Array, to: Address) => void) {
    this.local = local;
    this.#send = send;
  }

  /** A datagram the front routed here. */
  deliver(data: Buffer, from: Address): void {
    if (!this.#closed) this.#handler(data, from);
  }

  send(data: Uint8Array, to: Address): void {
    if (!this.#closed) this.#send(data, to);
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
