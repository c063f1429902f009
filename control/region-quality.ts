/**
 * Region quality (US 10,091,285: regions are "characterized by ... packet loss and jitter"):
 * what the heartbeats of a region's nodes say about its network, kept per region. Pure: the
 * heartbeat handler feeds it, the congestion tick reads it.
 *
 * - loss: each HEARTBEAT may carry the share of data packets the node missed over the last
 *   interval (resources.loss, before repair). The region's loss is an exponentially weighted
 *   mean of those samples.
 * - jitter: heartbeats leave every heartbeatMs; the spread of their arrival gaps at control
 *   (|gap - heartbeatMs|, RFC 3550's interarrival jitter idea) is the region's jitter, also an
 *   exponentially weighted mean.
 *
 * What the topology sees changes slowly (the partition must not flap): `publish()` moves a
 * region's value only once it has `minSamples` samples and when the mean left a band around the
 * value published before (a relative `band`, at least `minStep` absolute), so a region's tier-2
 * redundancy does not toggle on noise.
 */

export interface RegionQualityConfig {
  /** Weight of a new sample in the mean (0..1]. */
  alpha: number;
  /** Samples a region needs before anything is published for it. */
  minSamples: number;
  /** Relative band around the published loss the mean must leave to be republished. */
  band: number;
  /** Smallest change of loss that is republished (absolute, 0..1). */
  minStep: number;
}

export const DEFAULT_REGION_QUALITY: RegionQualityConfig = {
  alpha: 0.05,
  minSamples: 20,
  band: 0.3,
  minStep: 0.002,
};

export interface RegionQualityView {
  /** Mean loss 0..1. */
  loss: number;
  jitterMs: number;
  samples: number;
}

interface Track {
  loss: number;
  lossSamples: number;
  jitterMs: number;
  jitterSamples: number;
  published: { loss: number; jitterMs: number } | undefined;
}

export class RegionQuality {
  readonly #config: RegionQualityConfig;
  readonly #regions = new Map<string, Track>();

  constructor(config: Partial<RegionQualityConfig> = {}) {
    this.#config = { ...DEFAULT_REGION_QUALITY, ...config };
    const { alpha, minSamples, band, minStep } = this.#config;
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
    if (!Number.isInteger(minSamples) || minSamples < 1)
      throw new RangeError(`minSamples must be an integer >= 1, got ${minSamples}`);
    if (!(band >= 0) || !(minStep >= 0)) throw new RangeError("band and minStep must be >= 0");
  }

  /** A node of `region` reported `loss` (0..1) over its last interval. */
  onLoss(region: string, loss: number): void {
    if (!Number.isFinite(loss)) return;
    const t = this.#track(region);
    const x = Math.min(1, Math.max(0, loss));
    t.loss = t.lossSamples === 0 ? x : t.loss + this.#config.alpha * (x - t.loss);
    t.lossSamples++;
  }

  /** A heartbeat of a node of `region` arrived `gapMs` after its previous one (sent every `intervalMs`). */
  onArrival(region: string, gapMs: number, intervalMs: number): void {
    if (!Number.isFinite(gapMs) || gapMs < 0 || gapMs > 3 * intervalMs) return; // a missed beat, not jitter
    const t = this.#track(region);
    const d = Math.abs(gapMs - intervalMs);
    t.jitterMs = t.jitterSamples === 0 ? d : t.jitterMs + this.#config.alpha * (d - t.jitterMs);
    t.jitterSamples++;
  }

  /** The current means (admin API). */
  view(region: string): RegionQualityView | undefined {
    const t = this.#regions.get(region);
    if (t === undefined) return undefined;
    return { loss: t.loss, jitterMs: t.jitterMs, samples: t.lossSamples };
  }

  regions(): string[] {
    return [...this.#regions.keys()].sort();
  }

  /**
   * Once per interval: what the topology should use, per region with enough samples — the mean
   * once it left the band around the value published before, else that value.
   */
  publish(): Record<string, { loss: number; jitterMs: number }> {
    const { minSamples, band, minStep } = this.#config;
    for (const t of this.#regions.values()) {
      if (t.lossSamples < minSamples) continue;
      const p = t.published;
      const moved = p === undefined || Math.abs(t.loss - p.loss) > Math.max(minStep, band * p.loss);
      if (moved) t.published = { loss: t.loss, jitterMs: t.jitterMs };
      else p.jitterMs = t.jitterMs;
    }
    return this.published();
  }

  /** What was published last (read only: the admin API). */
  published(): Record<string, { loss: number; jitterMs: number }> {
    const out: Record<string, { loss: number; jitterMs: number }> = {};
    for (const [region, t] of this.#regions) if (t.published !== undefined) out[region] = { ...t.published };
    return out;
  }

  #track(region: string): Track {
    let t = this.#regions.get(region);
    if (t === undefined) {
      t = { loss: 0, lossSamples: 0, jitterMs: 0, jitterSamples: 0, published: undefined };
      this.#regions.set(region, t);
    }
    return t;
  }
}
