/** Where a segment URI of a local playlist lives on disk: inside the playlist's folder, nowhere else. */
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { IngestError } from "../errors.js";

/** Resolves `uri` against the playlist's folder; throws E_SOURCE_BAD_URI if it would leave it. */
export function resolveLocalUri(playlistPath: string, uri: string): string {
  const dir = resolve(dirname(playlistPath));
  const bare = uri.split(/[?#]/)[0] ?? "";
  if (bare === "" || isAbsolute(bare) || /^[a-z][a-z0-9+.-]*:/i.test(bare)) {
    throw new IngestError("E_SOURCE_BAD_URI", `segment URI "${uri}" must be a path relative to the playlist`);
  }
  const path = resolve(dir, bare);
  if (!path.startsWith(dir + sep)) {
    throw new IngestError("E_SOURCE_BAD_URI", `segment URI "${uri}" leaves the playlist's folder`);
  }
  return path;
}
