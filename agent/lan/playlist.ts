/**
 * The LAN live playlist (pure): which held segments a player sees, and the HLS text.
 *
 * The window is the newest `size` segments of a run of contiguous ids: it stops before the
 * first missing id (repair may still bring it in time) unless that id's deadline has passed,
 * in which case the run restarts after the gap with #EXT-X-DISCONTINUITY. Ids are the media
 * sequence numbers, so the window never skips an id in the middle.
 *
 * Discontinuity sequence numbers must stay stable as the window slides (RFC 8216 §6.2.2), so
 * `PlaylistWindow` keeps a little state: the first listed segment and its discontinuity
 * sequence number. Every later segment's number is that plus the boundaries between them
 * (an origin discontinuity or a skipped gap). TARGETDURATION never decreases.
 */

export interface PlaylistSegment {
  id: number;
  durationMs: number;
  /** The origin marked a discontinuity before this segment. */
  discontinuity: boolean;
}

export interface PlaylistEntry extends PlaylistSegment {
  /** #EXT-X-DISCONTINUITY precedes this entry. */
  tag: boolean;
}

export interface PlaylistView {
  mediaSequence: number;
  discontinuitySequence: number;
  targetDurationS: number;
  entries: PlaylistEntry[];
}

export interface PlaylistInput {
  /** Segments held (this run), ascending by id, no repeats. */
  segments: readonly PlaylistSegment[];
  /** Where the first window starts (the first playable segment); nothing is listed before it. */
  firstId: number | undefined;
  /** True when the deadline of (missing) segment `id` has passed. */
  isPast: (id: number) => boolean;
}

interface Anchor {
  id: number;
  /** Discontinuity sequence number of segment `id`. */
  dseq: number;
  /** A boundary (tag) precedes segment `id`. */
  boundary: boolean;
}

interface Run {
  seg: PlaylistSegment;
  dseq: number;
  boundary: boolean;
}

export const DEFAULT_WINDOW_SIZE = 6;

export class PlaylistWindow {
  readonly #size: number;
  #anchor: Anchor | undefined;
  #targetS = 1;

  constructor(config: { size: number } = { size: DEFAULT_WINDOW_SIZE }) {
    this.#size = Math.max(1, config.size);
  }

  /** Slides the window over `input` and returns what to list (entries empty: nothing playable yet). */
  update(input: PlaylistInput): PlaylistView {
    const segs = input.segments;
    if (this.#anchor === undefined) {
      if (input.firstId === undefined) return this.#view([]);
      this.#anchor = { id: input.firstId, dseq: 0, boundary: false };
    }
    const a = this.#anchor;
    let i = lowerBound(segs, a.id);
    const seg = segs[i];
    if (seg === undefined) return this.#view([]);
    let run: Run[];
    if (seg.id === a.id) run = [{ seg, dseq: a.dseq, boundary: a.boundary }];
    else {
      // The anchor segment is gone (evicted): what follows starts a new run.
      if (!input.isPast(a.id)) return this.#view([]);
      run = [{ seg, dseq: a.dseq + 1, boundary: true }];
    }
    for (;;) {
      const last = run[run.length - 1]!;
      const next = segs[i + 1];
      if (next === undefined) break;
      if (next.id === last.seg.id + 1) {
        run.push({ seg: next, dseq: last.dseq + (next.discontinuity ? 1 : 0), boundary: next.discontinuity });
      } else {
        if (!input.isPast(last.seg.id + 1)) break;
        run = [{ seg: next, dseq: last.dseq + 1, boundary: true }];
      }
      i++;
      if (run.length > this.#size) run.shift();
    }
    const first = run[0]!;
    this.#anchor = { id: first.seg.id, dseq: first.dseq, boundary: first.boundary };
    return this.#view(run);
  }

  #view(run: Run[]): PlaylistView {
    for (const r of run) this.#targetS = Math.max(this.#targetS, Math.ceil(r.seg.durationMs / 1000));
    const first = run[0];
    return {
      mediaSequence: first?.seg.id ?? 0,
      discontinuitySequence: first === undefined ? 0 : first.dseq - (first.boundary ? 1 : 0),
      targetDurationS: this.#targetS,
      entries: run.map((r) => ({ ...r.seg, tag: r.boundary })),
    };
  }
}

/** The HLS media playlist text (version 3, live: no ENDLIST). */
export function formatPlaylist(v: PlaylistView): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${v.targetDurationS}`,
    `#EXT-X-MEDIA-SEQUENCE:${v.mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${v.discontinuitySequence}`,
  ];
  for (const e of v.entries) {
    if (e.tag) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXTINF:${(e.durationMs / 1000).toFixed(3)},`, `${e.id}.ts`);
  }
  return lines.join("\n") + "\n";
}

function lowerBound(segs: readonly PlaylistSegment[], id: number): number {
  let lo = 0;
  let hi = segs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
