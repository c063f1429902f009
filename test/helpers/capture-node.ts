/**
 * A data plane whose sends are captured, not delivered (the test delivers them, or cuts them):
 * for tests of forwarding and the erasure-coded tier without a network.
 */
import { Pacer } from "../../dataplane/pacer.js";
import { DataPlane } from "../../agent/relay/data-plane.js";
import { decodeData } from "../../protocol/data-codec.js";
import { FLAG_PARITY } from "../../protocol/limits.js";
import type { DataPacket, Peer } from "../../protocol/messages.js";
import type { ManualClock } from "../../seams/manual-clock.js";
import { MemoryLogger } from "../../seams/log.js";
import type { Address, DatagramHandler, Transport } from "../../seams/transport.js";

/** A transport that keeps what is sent. */
export class Capture implements Transport {
  readonly sent: Array<{ data: Buffer; to: Address }> = [];
  constructor(readonly local: Address) {}
  send(data: Uint8Array, to: Address): void {
    this.sent.push({ data: Buffer.from(data), to });
  }
  onDatagram(_h: DatagramHandler): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** An unpaced data plane at `address`:5000; `sunk` holds copies of what reached its sink. */
export function captureNode(clock: ManualClock, address: string) {
  const transport = new Capture({ address, port: 5000 });
  const pacer = new Pacer({ clock, transport }, { rateBytesPerSec: 0 });
  const sunk: DataPacket[] = [];
  const dp = new DataPlane({
    clock,
    logger: new MemoryLogger(),
    pacer,
    sink: (p) => sunk.push({ ...p, payload: Buffer.from(p.payload) }),
  });
  const peer = (id: number): Peer => ({ node: id, address, port: 5000 });
  return { transport, dp, sunk, peer };
}

/** Coded substream of a datagram on a FEC_TREE link: seq mod fec.k for data, fecIndex for parity. */
export function codedIndex(d: Buffer, fk: number): number {
  const p = decodeData(d);
  if (!p.ok) throw new Error(p.error.message);
  return (p.value.flags & FLAG_PARITY) !== 0 ? p.value.fecIndex : p.value.seq % fk;
}
