/**
 * Which segments of a live playlist to publish next (pure). The follower calls `planLive` with
 * what it has published so far and a freshly read playlist, fetches the candidates in order, and
 * records each outcome with `emitted` or `skipped`.
 *
 * Rules:
 * - First read: start at the live edge (the last `liveEdge` segments), not the whole backlog.
 * - Afterwards: every segment with a sequence number above the last one handled, in order.
 * - The source went back (its newest sequence is below ours: ffmpeg restarted): start again at
 *   the live edge, with a discontinuity.
 * - A gap (segments that left the playlist before we got them, or were skipped) and
 *   #EXT-X-DISCONTINUITY both make the next published segment a discontinuity.
 */
import type { MediaPlaylist, PlaylistSegment } from "../m3u8.js";

export interface FollowState {
  /** Sequence number of the last segment published or given up on; undefined before any. */
  last: number | undefined;
  /** The next published segment gets discontinuity = true. */
  breakPending: boolean;
}

export interface LiveCandidate {
  segment: PlaylistSegment;
  /** As it should be published (the playlist's tag, or a gap/restart before it). */
  discontinuity: boolean;
}

export interface LivePlan {
  /** The state to continue from (differs from the input after a restart). */
  state: FollowState;
  candidates: LiveCandidate[];
  restarted: boolean;
  /** Segments the plan passes over (backlog at first read or after a restart). */
  passedOver: number;
}

export const INITIAL_FOLLOW_STATE: FollowState = { last: undefined, breakPending: false };

export function planLive(state: FollowState, playlist: MediaPlaylist, liveEdge: number): LivePlan {
  const segments = playlist.segments;
  const newest = segments[segments.length - 1];
  const edge = Math.max(1, liveEdge);
  let next = state;
  let restarted = false;
  let fresh: PlaylistSegment[];
  if (state.last === undefined || (newest !== undefined && newest.mediaSequence < state.last)) {
    restarted = state.last !== undefined;
    fresh = segments.slice(-edge);
    next = { last: undefined, breakPending: state.breakPending || restarted };
  } else {
    const last = state.last;
    fresh = segments.filter((s) => s.mediaSequence > last);
  }
  const candidates: LiveCandidate[] = [];
  let prev = next.last;
  let breakPending = next.breakPending;
  for (const s of fresh) {
    const gap = prev !== undefined && s.mediaSequence !== prev + 1;
    candidates.push({ segment: s, discontinuity: s.discontinuity || breakPending || gap });
    prev = s.mediaSequence;
    breakPending = false;
  }
  const passedOver = next.last === undefined ? segments.length - fresh.length : 0;
  return { state: next, candidates, restarted, passedOver };
}

/** After publishing a segment. */
export function emitted(_state: FollowState, mediaSequence: number): FollowState {
  return { last: mediaSequence, breakPending: false };
}

/** After giving up on a segment: the next one published is a discontinuity. */
export function skipped(_state: FollowState, mediaSequence: number): FollowState {
  return { last: mediaSequence, breakPending: true };
}
