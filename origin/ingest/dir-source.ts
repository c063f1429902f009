/**
 * A folder that ffmpeg's hls muxer writes live (`-f hls -hls_time 1 ... dir/index.m3u8`): the
 * playlist is rewritten as segments complete, and a segment is listed only once it is complete.
 * A playlist caught mid-rewrite (no final newline, or a line cut short) is read again on the
 * next poll.
 */
import { open } from "node:fs/promises";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { IngestError } from "../errors.js";
import { MAX_PLAYLIST_CHARS, type PlaylistSegment } from "../m3u8.js";
import { LiveFollower, type LiveFetcher } from "./live-follower.js";
import { resolveLocalUri } from "./local-path.js";
import { MAX_SEGMENT_BYTES } from "./segment.js";

export interface DirSourceConfig {
  /** The live playlist ffmpeg rewrites. */
  playlistPath: string;
  /** Poll period, ms (default 250). */
  pollMs?: number;
  /** Segments published from the backlog when the origin starts (default 3). */
  liveEdge?: number;
}

export const DEFAULT_DIR_POLL_MS = 250;

export function dirSource(deps: { clock: Clock; logger: Logger }, config: DirSourceConfig): LiveFollower {
  return new LiveFollower(
    { ...deps, fetcher: new DirFetcher(config.playlistPath) },
    {
      pollMs: config.pollMs ?? DEFAULT_DIR_POLL_MS,
      ...(config.liveEdge ? { liveEdge: config.liveEdge } : {}),
    },
  );
}

export class DirFetcher implements LiveFetcher {
  readonly description: string;

  constructor(readonly playlistPath: string) {
    this.description = `dir:${playlistPath}`;
  }

  async playlist(): Promise<string> {
    const bytes = await readBounded(this.playlistPath, MAX_PLAYLIST_CHARS);
    const text = bytes.toString("utf8");
    // ffmpeg ends every line with "\n": without one we read the file while it was being written.
    if (!text.endsWith("\n"))
      throw new IngestError("E_SOURCE_PARTIAL", `${this.playlistPath}: partial playlist`);
    return text;
  }

  async segment(segment: PlaylistSegment): Promise<Uint8Array> {
    const path = resolveLocalUri(this.playlistPath, segment.uri);
    const bytes = await readBounded(path, MAX_SEGMENT_BYTES);
    if (bytes.length === 0) throw new IngestError("E_SOURCE_UNREADABLE", `${path}: empty segment`);
    return bytes;
  }
}

/** Reads a whole file of at most `max` bytes (checked before reading, so a huge file costs nothing). */
async function readBounded(path: string, max: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    throw new IngestError("E_SOURCE_UNREADABLE", `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > max) throw new IngestError("E_SOURCE_TOO_LARGE", `${path}: ${size} bytes, more than ${max}`);
    return await handle.readFile();
  } catch (e) {
    if (e instanceof IngestError) throw e;
    throw new IngestError("E_SOURCE_UNREADABLE", `cannot read ${path}: ${(e as Error).message}`);
  } finally {
    await handle.close();
  }
}
