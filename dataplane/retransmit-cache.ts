/**
 * The last data packets a node held, by sequence number, as the datagrams it received or made
 * (pure): what it can resend when a child's NACK asks. A ring of `size` slots indexed by seq:
 * a newer packet takes the slot of one `size` older, so memory stays bounded (4096 slots of at
 * most 1200 bytes: under 5 MB, several seconds of a 5 Mbit/s channel) and lookups are O(1).
 * The datagrams are kept by reference, not copied: the transport hands each one its own buffer.
 */

export class RetransmitCache {
  readonly #seqs: Float64Array;
  readonly #data: Array<Uint8Array | undefined>;

  constructor(size = 4096) {
    const n = Math.max(1, Math.floor(size));
    this.#seqs = new Float64Array(n).fill(-1);
    this.#data = new Array<Uint8Array | undefined>(n);
  }

  put(seq: number, datagram: Uint8Array): void {
    const s = seq >>> 0;
    const i = s % this.#seqs.length;
    this.#seqs[i] = s;
    this.#data[i] = datagram;
  }

  get(seq: number): Uint8Array | undefined {
    const s = seq >>> 0;
    const i = s % this.#seqs.length;
    return this.#seqs[i] === s ? this.#data[i] : undefined;
  }

  clear(): void {
    this.#seqs.fill(-1);
    this.#data.fill(undefined);
  }
}
