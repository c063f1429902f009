/**
 * The player's clock, modelled (pure: time comes in as an argument).
 *
 * Anchor: the first playable segment s0, held at local time t0. A player that starts then
 * needs segment s (s >= s0) by
 *
 *   deadline(s) = t0 + playoutDelayMs + sum of durations of s0..s-1
 *
 * (a known duration where we have one, else the channel's segmentMs). Continuity is the
 * share of segments, among those whose deadline has passed, that were held by it.
 * A deadline is settled once it passes: later news about durations does not rewrite history.
 */

export interface ContinuityConfig {
  /** The channel's target segment duration, ms (used where a duration is not known). */
  segmentMs: number;
  /** Startup delay of the modelled player, ms (default 2 x segmentMs: it starts ~3 segments behind the edge). */
  playoutDelayMs?: number;
}

export interface ContinuityReport {
  /** Segments whose deadline has passed. */
  expected: number;
  /** Of those, held by their deadline. */
  onTime: number;
  /** onTime / expected; null before any deadline passed. */
  ratio: number | null;
}

/** Entries kept for segments not settled yet; far-future ids beyond it are not tracked. */
const MAX_TRACKED = 10_000;

export class Continuity {
  #segmentMs: number;
  #delayMs: number | undefined;
  #anchor: { id: number; at: number } | undefined;
  /** The first segment whose deadline has not been settled, and that deadline. */
  #cursor = 0;
  #cursorDeadline = 0;
  #expected = 0;
  #onTime = 0;
  readonly #heldAt = new Map<number, number>();
  readonly #durations = new Map<number, number>();

  constructor(config: ContinuityConfig) {
    this.#segmentMs = config.segmentMs;
    this.#delayMs = config.playoutDelayMs;
  }

  /** The first playable segment and when it was held, or undefined before. */
  get anchor(): { id: number; at: number } | undefined {
    return this.#anchor;
  }

  get playoutDelayMs(): number {
    return this.#delayMs ?? 2 * this.#segmentMs;
  }

  /** The channel's segmentMs became known (JOIN_ACK); applies to deadlines not yet fixed. */
  setSegmentMs(ms: number): void {
    if (ms > 0) this.#segmentMs = ms;
  }

  /** A segment's duration is known (META or commit). */
  noteDuration(id: number, durationMs: number): void {
    if (durationMs <= 0 || !this.#trackable(id)) return;
    this.#durations.set(id, durationMs);
  }

  /** Segment `id` is held (committed) at `now`. The first one anchors the model. */
  onHeld(id: number, durationMs: number, now: number): void {
    if (this.#anchor === undefined) {
      this.#anchor = { id, at: now };
      this.#cursor = id;
      this.#cursorDeadline = now + this.playoutDelayMs;
    }
    if (!this.#trackable(id)) return;
    this.noteDuration(id, durationMs);
    if (!this.#heldAt.has(id)) this.#heldAt.set(id, now);
  }

  /** When segment `id` is due; undefined before the anchor or for ids below it. */
  deadline(id: number, now: number): number | undefined {
    this.#settle(now);
    if (this.#anchor === undefined || id < this.#anchor.id) return undefined;
    if (id < this.#cursor) return Number.NEGATIVE_INFINITY; // settled: in the past
    let at = this.#cursorDeadline;
    for (let s = this.#cursor; s < id; s++) at += this.#durationOf(s);
    return at;
  }

  /** True when `id`'s deadline has passed (ids below the anchor count as passed). */
  isPast(id: number, now: number): boolean {
    if (this.#anchor === undefined) return false;
    const d = this.deadline(id, now);
    return d === undefined || now > d;
  }

  /** The segment the modelled player is playing at `now` (undefined before it starts). */
  playing(now: number): number | undefined {
    this.#settle(now);
    if (this.#anchor === undefined || this.#cursor === this.#anchor.id) return undefined;
    return this.#cursor - 1;
  }

  report(now: number): ContinuityReport {
    this.#settle(now);
    return {
      expected: this.#expected,
      onTime: this.#onTime,
      ratio: this.#expected === 0 ? null : this.#onTime / this.#expected,
    };
  }

  /** Settles every deadline that has passed by `now`. */
  #settle(now: number): void {
    if (this.#anchor === undefined) return;
    while (now > this.#cursorDeadline) {
      const s = this.#cursor;
      const held = this.#heldAt.get(s);
      this.#expected++;
      if (held !== undefined && held <= this.#cursorDeadline) this.#onTime++;
      this.#cursorDeadline += this.#durationOf(s);
      this.#heldAt.delete(s);
      this.#durations.delete(s);
      this.#cursor = s + 1;
    }
  }

  #durationOf(id: number): number {
    return this.#durations.get(id) ?? this.#segmentMs;
  }

  #trackable(id: number): boolean {
    return this.#anchor === undefined
      ? this.#durations.size < MAX_TRACKED
      : id >= this.#cursor && id - this.#cursor < MAX_TRACKED;
  }
}
