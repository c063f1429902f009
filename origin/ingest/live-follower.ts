/**
 * Follows a live HLS media playlist: polls it on the Clock, and publishes each new, complete
 * segment in order. Where the playlist and segments come from (a folder ffmpeg writes, an HTTP
 * server) is a `LiveFetcher`; the choice of segments is live-plan.ts.
 *
 * Failures never stop it: a playlist that cannot be read or parsed (missing yet, caught
 * mid-rewrite) is read again on the next poll; a segment that cannot be fetched is retried on
 * the next polls and given up on (the next one becomes a discontinuity) after `maxAttempts`.
 */
import type { Clock, Timer } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { IngestError } from "../errors.js";
import { parseMediaPlaylist, type PlaylistSegment } from "../m3u8.js";
import { INITIAL_FOLLOW_STATE, emitted, planLive, skipped, type FollowState } from "./live-plan.js";
import type { SegmentHandler, SegmentSource } from "./segment.js";

export interface LiveFetcher {
  readonly description: string;
  /** The playlist text; throws (IngestError) when it cannot be read whole. */
  playlist(): Promise<string>;
  /** A segment's bytes; throws (IngestError) on failure. */
  segment(segment: PlaylistSegment): Promise<Uint8Array>;
}

export interface LiveFollowerConfig {
  /** Poll period, ms. */
  pollMs: number;
  /** Segments published from the backlog on the first read (default 3). */
  liveEdge?: number;
  /** Tries per segment before giving up on it (default 8). */
  maxAttempts?: number;
}

export interface LiveFollowerStats {
  polls: number;
  playlistErrors: number;
  segmentErrors: number;
  segmentsEmitted: number;
  segmentsSkipped: number;
  restarts: number;
}

export class LiveFollower implements SegmentSource {
  readonly stats: LiveFollowerStats = {
    polls: 0,
    playlistErrors: 0,
    segmentErrors: 0,
    segmentsEmitted: 0,
    segmentsSkipped: 0,
    restarts: 0,
  };
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #fetcher: LiveFetcher;
  readonly #config: Required<LiveFollowerConfig>;
  #state: FollowState = INITIAL_FOLLOW_STATE;
  #attempts = new Map<number, number>();
  #timer: Timer | undefined;
  #inflight: Promise<void> | undefined;
  #onSegment: SegmentHandler | undefined;
  /** Last playlist error code logged, so a streak of the same error logs once. */
  #lastError: string | undefined;
  #ended = false;

  constructor(deps: { clock: Clock; logger: Logger; fetcher: LiveFetcher }, config: LiveFollowerConfig) {
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#fetcher = deps.fetcher;
    this.#config = { liveEdge: 3, maxAttempts: 8, ...config };
  }

  get description(): string {
    return this.#fetcher.description;
  }

  start(onSegment: SegmentHandler): void {
    if (this.#onSegment !== undefined) return;
    this.#onSegment = onSegment;
    this.#timer = this.#clock.setInterval(() => void this.poll(), this.#config.pollMs);
    void this.poll();
  }

  stop(): void {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#onSegment = undefined;
  }

  /**
   * One poll (the interval calls it too). If one is already running, returns that one instead of
   * starting another. Resolves when its fetches are done; never rejects.
   */
  poll(): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    if (this.#onSegment === undefined) return Promise.resolve();
    this.#inflight = this.#pollOnce()
      .catch((e: unknown) => {
        // A handler bug must not kill the poll loop: log it and go on at the next poll.
        this.#logger.error("source_poll_failed", { error: (e as Error).message });
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }

  async #pollOnce(): Promise<void> {
    this.stats.polls++;
    let text: string;
    try {
      text = await this.#fetcher.playlist();
    } catch (e) {
      this.#playlistError(e);
      return;
    }
    const parsed = parseMediaPlaylist(text);
    if (!parsed.ok) {
      this.#playlistError(new IngestError("E_SOURCE_BAD_PLAYLIST", parsed.error.message));
      return;
    }
    if (this.#lastError !== undefined) this.#logger.info("source_playlist_ok", { source: this.description });
    this.#lastError = undefined;
    const playlist = parsed.value;
    const plan = planLive(this.#state, playlist, this.#config.liveEdge);
    this.#state = plan.state;
    if (plan.restarted) {
      this.stats.restarts++;
      this.#attempts.clear();
      this.#logger.warn("source_restarted", { source: this.description });
    }
    if (plan.passedOver > 0) {
      this.#logger.info("source_live_edge", { source: this.description, passedOver: plan.passedOver });
    }
    for (const c of plan.candidates) {
      if (this.#onSegment === undefined) return;
      const seq = c.segment.mediaSequence;
      let bytes: Uint8Array;
      try {
        bytes = await this.#fetcher.segment(c.segment);
      } catch (e) {
        this.stats.segmentErrors++;
        const attempts = (this.#attempts.get(seq) ?? 0) + 1;
        this.#attempts.set(seq, attempts);
        const fields = { source: this.description, mediaSequence: seq, attempts, ...errorFields(e) };
        if (attempts < this.#config.maxAttempts) {
          this.#logger.debug("source_segment_retry", fields);
          return; // try again on the next poll, in order
        }
        this.#logger.warn("source_segment_skipped", fields);
        this.stats.segmentsSkipped++;
        this.#attempts.delete(seq);
        this.#state = skipped(this.#state, seq);
        continue;
      }
      this.#attempts.delete(seq);
      const discontinuity = c.discontinuity || this.#state.breakPending;
      this.#state = emitted(this.#state, seq);
      this.stats.segmentsEmitted++;
      this.#onSegment?.({ mediaSequence: seq, durationMs: c.segment.durationMs, discontinuity, bytes });
    }
    if (playlist.endList && !this.#ended) this.#logger.info("source_ended", { source: this.description });
    this.#ended = playlist.endList;
  }

  #playlistError(e: unknown): void {
    this.stats.playlistErrors++;
    const fields = { source: this.description, ...errorFields(e) };
    // The first error of a streak is worth a line (the rest go to debug); a folder ffmpeg has
    // not written yet, or a playlist caught mid-rewrite, is routine: info, not a warning.
    const code = fields.code;
    const routine =
      code === "E_SOURCE_PARTIAL" || (code === "E_SOURCE_UNREADABLE" && this.#state.last === undefined);
    if (this.#lastError === code) this.#logger.debug("source_playlist_error", fields);
    else if (routine) this.#logger.info("source_waiting", fields);
    else this.#logger.warn("source_playlist_error", fields);
    this.#lastError = code;
  }
}

function errorFields(e: unknown): { code: string; error: string } {
  if (e instanceof IngestError) return { code: e.code, error: e.message };
  return { code: "E_SOURCE_UNREADABLE", error: e instanceof Error ? e.message : String(e) };
}
