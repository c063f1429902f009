/**
 * A Transport decorator for a node behind QEMU's user-mode network (slirp): the guest
 * reaches the host's loopback at an alias (10.0.2.2), and slirp rewrites every datagram the
 * host sends from 127.0.0.0/8 to come from that alias. Control, which runs on the host,
 * names peers by their loopback addresses, so without this the agent would send to its own
 * loopback and reject its parent's packets (wrong source). With it, the guest's view matches
 * control's: datagrams to 127.0.0.0/8 go to the alias, datagrams from the alias are reported
 * as coming from 127.0.0.1. Only for test benches and emulators; a real network needs none.
 */
import type { Address, DatagramHandler, Transport } from "../seams/transport.js";

const LOOPBACK = "127.0.0.1";

function isLoopback(address: string): boolean {
  return /^127\./.test(address);
}

export class HostAliasTransport implements Transport {
  constructor(
    readonly inner: Transport,
    /** Where the host's loopback is reached from here, e.g. "10.0.2.2". */
    readonly alias: string,
  ) {}

  get local(): Address {
    return this.inner.local;
  }

  send(data: Uint8Array, to: Address): void {
    this.inner.send(data, isLoopback(to.address) ? { address: this.alias, port: to.port } : to);
  }

  onDatagram(handler: DatagramHandler): void {
    this.inner.onDatagram((data, from) =>
      handler(data, from.address === this.alias ? { address: LOOPBACK, port: from.port } : from),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
