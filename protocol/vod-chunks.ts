/**
 * How a VoD file is cut (pure, shared by the origin that cuts it and the agents that put it
 * together again): chunk i holds bytes [i x chunkBytes, min(fileBytes, (i + 1) x chunkBytes)),
 * so every chunk but the last is chunkBytes long. A chunk travels as one segment whose id is
 * its index (docs/protocol.md, "VoD channels").
 */
import type { VodInfo } from "./messages.js";

/** Number of chunks of the file (at least 1: fileBytes >= 1 on the wire). */
export function chunkCount(v: Pick<VodInfo, "fileBytes" | "chunkBytes">): number {
  return Math.ceil(v.fileBytes / v.chunkBytes);
}

/** Byte offset and length of chunk `index` (0 length for an index beyond the file). */
export function chunkSpan(
  v: Pick<VodInfo, "fileBytes" | "chunkBytes">,
  index: number,
): { offset: number; length: number } {
  const offset = index * v.chunkBytes;
  return { offset, length: Math.max(0, Math.min(v.chunkBytes, v.fileBytes - offset)) };
}

/** The chunks holding bytes [first, last] (inclusive, inside the file), in order. */
export function chunksOfRange(
  v: Pick<VodInfo, "fileBytes" | "chunkBytes">,
  first: number,
  last: number,
): { first: number; last: number } {
  return { first: Math.floor(first / v.chunkBytes), last: Math.floor(last / v.chunkBytes) };
}
