/**
 * The origin's own live HLS playlist (pure): a sliding window of the newest published segments.
 * EXT-X-MEDIA-SEQUENCE is the first listed segment's id (ids are consecutive media sequence
 * numbers), EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that slid out of the window,
 * and #EXT-X-DISCONTINUITY stands before every segment marked as one (RFC 8216 6.2.2).
 */
import type { PublishedSegment } from "./segment-window.js";

/** Segments listed in the live playlist (three target durations is the RFC minimum; we keep six). */
export const LIVE_PLAYLIST_SEGMENTS = 6;

export function renderLivePlaylist(segments: readonly PublishedSegment[]): string {
  const first = segments[0];
  const maxMs = segments.reduce((m, s) => Math.max(m, s.durationMs), 1000);
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${Math.ceil(maxMs / 1000)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first?.id ?? 0}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${first?.discontinuitiesBefore ?? 0}`,
  ];
  for (const s of segments) {
    if (s.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`, `${s.id}.ts`);
  }
  return lines.join("\n") + "\n";
}
