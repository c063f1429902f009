/**
 * Reading a fetch() answer's body with a byte limit, for bodies from the network (the origin's
 * HTTP fallback, an upstream HLS server): a Content-Length above the limit is refused before
 * reading, and a body that grows past it is cut off, so a bad server cannot make us hold more.
 */

export type BoundedBody =
  | { ok: true; body: Buffer }
  /** Over the limit; `declared` is the Content-Length when that already said so, else undefined (the stream passed it). */
  | { ok: false; declared: number | undefined };

/**
 * Reads `res`'s body whole, at most `limit` bytes; the stream is cancelled when it is refused.
 * `onChunk` is told the size of every chunk read (the one that passes the limit included).
 * An error of the stream itself (network, abort, timeout) is thrown as it is.
 */
export async function readBodyBounded(
  res: Response,
  limit: number,
  onChunk?: (bytes: number) => void,
): Promise<BoundedBody> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, declared };
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body !== null) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      onChunk?.(value.length);
      if (total > limit) {
        await reader.cancel().catch(() => {});
        return { ok: false, declared: undefined };
      }
      chunks.push(value);
    }
  }
  return { ok: true, body: Buffer.concat(chunks, total) };
}
