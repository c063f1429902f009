/**
 * A VoD file at the origin (the patent's movie): a file on disk cut into fixed-size chunks
 * (protocol/vod-chunks.ts). Chunks are read on demand with positioned reads, so a large file
 * never sits in memory (the OS page cache keeps what is hot); each read comes with its
 * SHA-256, which the packetizer puts in the chunk's META and the HTTP fallback in its
 * x-tiercast-sha256 header. The file must not change while it is offered.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { MAX_VOD_CHUNK_BYTES } from "../protocol/limits.js";
import type { VodInfo } from "../protocol/messages.js";
import { chunkCount, chunkSpan } from "../protocol/vod-chunks.js";

export class VodFileError extends Error {
  override readonly name = "VodFileError";
  readonly code = "E_VOD_FILE";
}

export interface VodChunk {
  index: number;
  bytes: Buffer;
  sha256: Uint8Array;
  sha256Hex: string;
}

export const DEFAULT_VOD_CHUNK_BYTES = 1024 * 1024;

export class VodFile {
  readonly channel: string;
  readonly path: string;
  readonly info: Required<VodInfo>;
  /** Number of chunks (segment ids 0..chunks-1). */
  readonly chunks: number;
  #fd: number | undefined;

  private constructor(channel: string, path: string, fd: number, info: Required<VodInfo>) {
    this.channel = channel;
    this.path = path;
    this.#fd = fd;
    this.info = info;
    this.chunks = chunkCount(info);
  }

  /** Opens `path` for the VoD channel `channel`; throws VodFileError for a missing, empty or odd file. */
  static open(channel: string, path: string, chunkBytes = DEFAULT_VOD_CHUNK_BYTES): VodFile {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_VOD_CHUNK_BYTES) {
      throw new VodFileError(`chunk size must be 1..${MAX_VOD_CHUNK_BYTES} bytes, got ${chunkBytes}`);
    }
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new VodFileError(`cannot open ${path}: ${(e as Error).message}`);
    }
    const st = fstatSync(fd);
    const problem = !st.isFile() ? "not a regular file" : st.size === 0 ? "empty" : undefined;
    if (problem !== undefined) {
      closeSync(fd);
      throw new VodFileError(`${path}: ${problem}`);
    }
    return new VodFile(channel, path, fd, { fileBytes: st.size, chunkBytes, fileName: basename(path) });
  }

  /** Chunk `index` with its hash; RangeError for an index outside 0..chunks-1. */
  chunk(index: number): VodChunk {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunks)
      throw new RangeError(`chunk ${index} is not in 0..${this.chunks - 1}`);
    if (this.#fd === undefined) throw new VodFileError(`${this.path} is closed`);
    const { offset, length } = chunkSpan(this.info, index);
    const bytes = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, bytes, done, length - done, offset + done);
      if (n === 0) throw new VodFileError(`${this.path} shrank while offered (chunk ${index})`);
      done += n;
    }
    const digest = createHash("sha256").update(bytes).digest();
    return { index, bytes, sha256: new Uint8Array(digest), sha256Hex: digest.toString("hex") };
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
