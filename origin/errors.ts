/**
 * Typed errors of the origin with stable codes (listed in docs/configuration-origin.md). Ingest
 * errors are thrown by the sources' loaders and fetchers; a live follower catches them, counts
 * them and tries again on the next poll, so only start-up errors reach the operator.
 */

export type IngestErrorCode =
  /** The playlist or a segment could not be read (missing file, I/O error, network error). */
  | "E_SOURCE_UNREADABLE"
  /** The playlist does not parse (the message names the line). */
  | "E_SOURCE_BAD_PLAYLIST"
  /** A playlist with no segments, or whose durations add up to zero. */
  | "E_SOURCE_EMPTY"
  /** A segment or a whole looped source is larger than allowed. */
  | "E_SOURCE_TOO_LARGE"
  /** A URL that is not http://, or a segment path that leaves the playlist's folder. */
  | "E_SOURCE_BAD_URI"
  /** An HTTP fetch did not finish in time. */
  | "E_SOURCE_TIMEOUT"
  /** An HTTP fetch got a status other than 200. */
  | "E_SOURCE_HTTP_STATUS"
  /** A live playlist caught mid-rewrite (no final newline): read again on the next poll. */
  | "E_SOURCE_PARTIAL";

export class IngestError extends Error {
  override readonly name = "IngestError";
  constructor(
    readonly code: IngestErrorCode,
    message: string,
  ) {
    super(message);
  }
}
