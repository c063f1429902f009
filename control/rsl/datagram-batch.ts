/**
 * Datagrams crossing the MessagePort between the front and a DCM worker, in batches
 * (worker-server.ts, worker-main.ts). One postMessage per datagram cost about 20 µs of CPU on
 * this project's 2-core test machine (structured clone, the port's wake-up) — as much as
 * control's whole heartbeat path — and a heartbeat crosses twice (in, and its HEARTBEAT_ACK out).
 * So each side gathers what one turn of its event loop produces and posts it at setImmediate
 * as one message: the bytes in one ArrayBuffer, transferred (not copied), lengths and addresses
 * beside it. Order is kept; a batch adds at most one loop turn of latency.
 */
import type { Address } from "../../seams/transport.js";

export interface DatagramBatch {
  /** Every datagram's bytes, one after another (transferred with the message). */
  bytes: Uint8Array;
  lengths: number[];
  addresses: string[];
  ports: number[];
}

/** Datagrams gathered during one loop turn, posted at setImmediate. */
export class BatchQueue {
  readonly #post: (batch: DatagramBatch, transfer: ArrayBuffer[]) => void;
  #data: Uint8Array[] = [];
  #to: Address[] = [];
  #bytes = 0;
  #scheduled: NodeJS.Immediate | undefined;

  constructor(post: (batch: DatagramBatch, transfer: ArrayBuffer[]) => void) {
    this.#post = post;
  }

  push(data: Uint8Array, address: Address): void {
    this.#data.push(data);
    this.#to.push(address);
    this.#bytes += data.length;
    this.#scheduled ??= setImmediate(() => this.flush());
  }

  /** Posts what is gathered now (also called before the port closes). */
  flush(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#data.length === 0) return;
    const bytes = new Uint8Array(this.#bytes);
    const lengths: number[] = [];
    let at = 0;
    for (const d of this.#data) {
      bytes.set(d, at);
      at += d.length;
      lengths.push(d.length);
    }
    const batch: DatagramBatch = {
      bytes,
      lengths,
      addresses: this.#to.map((a) => a.address),
      ports: this.#to.map((a) => a.port),
    };
    this.clear();
    this.#post(batch, [bytes.buffer as ArrayBuffer]);
  }

  /** Drops what is gathered (the worker is gone). */
  clear(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    this.#data = [];
    this.#to = [];
    this.#bytes = 0;
  }
}

/** Each datagram of a batch, in order: its bytes (a view on the batch's buffer) and its address. */
export function forEachDatagram(batch: DatagramBatch, fn: (data: Buffer, address: Address) => void): void {
  let at = 0;
  for (let i = 0; i < batch.lengths.length; i++) {
    const len = batch.lengths[i]!;
    const data = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset + at, len);
    at += len;
    fn(data, { address: batch.addresses[i]!, port: batch.ports[i]! });
  }
}
