/**
 * A FIFO whose entries have keys: set() on a waiting key replaces its value and keeps its turn;
 * shift() takes the oldest. O(1) each.
 *
 * Written because a Map used as a queue (take `entries().next()`, then delete it) is not: V8
 * leaves a deleted entry as a hole until the table is rehashed, and iteration starts at the
 * table's front, so each take walks every hole before it: draining is quadratic in the queue's
 * length. Here the order is a Fifo of entries (common/fifo.ts), and the Map only finds an entry
 * by key.
 */
import { Fifo } from "../common/fifo.js";

interface Entry<V> {
  readonly key: string;
  value: V;
  live: boolean;
}

export class KeyedQueue<V> {
  readonly #byKey = new Map<string, Entry<V>>();
  readonly #order = new Fifo<Entry<V>>();

  get size(): number {
    return this.#byKey.size;
  }

  get(key: string): V | undefined {
    return this.#byKey.get(key)?.value;
  }

  /** Queues `value` under `key` at the back, or replaces the waiting one's value in its place. */
  set(key: string, value: V): void {
    const e = this.#byKey.get(key);
    if (e !== undefined) {
      e.value = value;
      return;
    }
    const entry: Entry<V> = { key, value, live: true };
    this.#byKey.set(key, entry);
    this.#order.push(entry);
  }

  delete(key: string): boolean {
    const e = this.#byKey.get(key);
    if (e === undefined) return false;
    e.live = false;
    this.#byKey.delete(key);
    return true;
  }

  /** The oldest entry, taken out of the queue; undefined when empty. */
  shift(): [string, V] | undefined {
    for (let e = this.#order.shift(); e !== undefined; e = this.#order.shift()) {
      if (!e.live) continue; // deleted while it waited
      e.live = false;
      this.#byKey.delete(e.key);
      return [e.key, e.value];
    }
    return undefined;
  }

  clear(): void {
    this.#byKey.clear();
    this.#order.clear();
  }
}
