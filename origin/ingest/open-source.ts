/**
 * `--source` to a SegmentSource:
 *
 *   sample              the bundled clip, looped as live (assets/sample/index.m3u8)
 *   http://host/x.m3u8  an upstream live HLS media playlist (https is not supported)
 *   <dir>               a folder ffmpeg's hls muxer writes live; its playlist is <dir>/index.m3u8
 *   <file>.m3u8         a VOD playlist (it has #EXT-X-ENDLIST) is looped as live; otherwise followed live
 *   loop:<file.m3u8>    force looping;   live:<file.m3u8 or dir>   force following
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { IngestError } from "../errors.js";
import { dirSource } from "./dir-source.js";
import { LoopSource, clipSegmentMs, clipStreamKbps, loadLoopClip } from "./loop-source.js";
import type { SegmentSource } from "./segment.js";
import { urlSource } from "./url-source.js";

export type SourceSpec =
  | { kind: "loop"; playlistPath: string }
  | { kind: "dir"; playlistPath: string }
  | { kind: "url"; url: string };

/** The playlist name looked for in a source folder (ffmpeg is told to write it). */
export const LIVE_PLAYLIST_NAME = "index.m3u8";

export async function resolveSourceSpec(source: string, samplePlaylist: string): Promise<SourceSpec> {
  if (source === "sample") return { kind: "loop", playlistPath: samplePlaylist };
  if (source.startsWith("http://")) return { kind: "url", url: source };
  if (source.startsWith("loop:")) return { kind: "loop", playlistPath: source.slice(5) };
  if (source.startsWith("live:"))
    return { kind: "dir", playlistPath: await livePlaylistPath(source.slice(5)) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new IngestError("E_SOURCE_BAD_URI", `source "${source}": only http:// URLs are supported`);
  }
  const info = await stat(source).catch(() => undefined);
  if (info?.isDirectory()) return { kind: "dir", playlistPath: join(source, LIVE_PLAYLIST_NAME) };
  if (!source.endsWith(".m3u8")) {
    throw new IngestError(
      "E_SOURCE_BAD_URI",
      `source "${source}": expected "sample", an http:// URL, a folder or a .m3u8 file`,
    );
  }
  const text = info?.isFile() ? await readFile(source, "utf8").catch(() => "") : "";
  return /^#EXT-X-ENDLIST\s*$/m.test(text)
    ? { kind: "loop", playlistPath: source }
    : { kind: "dir", playlistPath: source };
}

async function livePlaylistPath(p: string): Promise<string> {
  const info = await stat(p).catch(() => undefined);
  return info?.isDirectory() ? join(p, LIVE_PLAYLIST_NAME) : p;
}

export interface OpenedSource {
  source: SegmentSource;
  /** Measured from the clip (loop sources only). */
  streamKbps: number | undefined;
  segmentMs: number | undefined;
}

export async function openSource(
  deps: { clock: Clock; logger: Logger },
  spec: SourceSpec,
): Promise<OpenedSource> {
  switch (spec.kind) {
    case "loop": {
      const clip = await loadLoopClip({ playlistPath: spec.playlistPath });
      return {
        source: new LoopSource(deps, clip, `loop:${spec.playlistPath}`),
        streamKbps: clipStreamKbps(clip),
        segmentMs: clipSegmentMs(clip),
      };
    }
    case "dir":
      return {
        source: dirSource(deps, { playlistPath: spec.playlistPath }),
        streamKbps: undefined,
        segmentMs: undefined,
      };
    case "url":
      return { source: urlSource(deps, { url: spec.url }), streamKbps: undefined, segmentMs: undefined };
  }
}
