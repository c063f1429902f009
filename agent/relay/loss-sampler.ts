/**
 * Loss as the links deliver it, for the heartbeat's region quality (pure): between two samples,
 * 1 - new data packets received / sequence numbers the channel advanced by. Packets rebuilt
 * from parity or resent on a NACK are repair, so the data plane does not count them.
 */

export class LossSampler {
  #got = 0;
  #top: number | undefined;

  /** One new data packet arrived as sent (not rebuilt, not asked for). */
  onReceived(): void {
    this.#got++;
  }

  /**
   * Loss since the last sample, 0..1, given the channel's highest sequence number now; undefined
   * when nothing was expected (no data yet, or the stream did not move).
   */
  sample(highest: number | undefined): number | undefined {
    const before = this.#top;
    const got = this.#got;
    this.#top = highest;
    this.#got = 0;
    if (highest === undefined || before === undefined) return undefined;
    const expected = (highest - before) >>> 0;
    if (expected === 0 || expected > 1 << 20) return undefined;
    return Math.min(1, Math.max(0, 1 - got / expected));
  }
}
