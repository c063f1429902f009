/**
 * The datagram seam. Everything that speaks the wire (control, origin, agent) sends and
 * receives through a Transport; `udp-transport.ts` is the real one over node:dgram and
 * `memory-transport.ts` a simulated network with latency, loss and partitions.
 */

export interface Address {
  /** IPv4 or IPv6 literal. */
  address: string;
  port: number;
}

export type DatagramHandler = (data: Buffer, from: Address) => void;

export interface Transport {
  /** The address this transport is bound to. */
  readonly local: Address;
  /** Sends one datagram. Never throws for network errors: they are counted and logged by the implementation. */
  send(data: Uint8Array, to: Address): void;
  /** Sets the handler for incoming datagrams (one handler; a later call replaces it). */
  onDatagram(handler: DatagramHandler): void;
  close(): Promise<void>;
}

export function addressKey(a: Address): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.address === b.address;
}
