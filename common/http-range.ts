/**
 * HTTP Range (RFC 9110 §14) for the LAN server's segments and VoD files and the origin's
 * fallback: one `bytes=` range parsed against a body's size. Written here because node:http
 * leaves Range to the application and the one rule set must be shared by both servers.
 */

/**
 * One `bytes=` range (RFC 9110 §14.1.2) as [first, last] inclusive; undefined when absent or not
 * usable (several ranges, another unit: the whole body is sent instead); "unsatisfiable" when it
 * starts beyond the end.
 */
export function parseRange(
  h: string | undefined,
  size: number,
): [number, number] | "unsatisfiable" | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (m === null) return undefined;
  const [a, b] = [m[1]!, m[2]!];
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (start >= size) return "unsatisfiable";
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return undefined;
  return [start, end];
}
