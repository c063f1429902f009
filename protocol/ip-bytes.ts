/**
 * IP literals <-> the 4 or 16 network-order bytes a Peer carries on the wire.
 *
 * Decoding yields the canonical text form that node:dgram reports as a datagram's source
 * address (inet_ntop: lowercase, longest zero run as "::", IPv4-mapped as ::ffff:a.b.c.d),
 * so an agent can compare a Peer's address with rinfo.address as strings.
 * Zone ids ("fe80::1%eth0") have no wire form and are refused.
 */
import { SocketAddress, isIPv4, isIPv6 } from "node:net";
import { FieldError, badField } from "./fields.js";

/**
 * Literals already converted: an ASSIGN names the same few thousand addresses again and again
 * (every encoding of every child and parent). The bytes are a function of the string alone, so
 * a hit is what parsing would give; bounded (emptied when full). Only valid literals are kept.
 */
const cache = new Map<string, Uint8Array>();
const CACHE_MAX = 16_384;

/**
 * Bytes of an IPv4 or IPv6 literal; throws FieldError (E_BAD_FIELD) for anything else. The bytes
 * may be shared with other calls for the same literal: read them, never write them.
 */
export function ipToBytes(address: string, field: string): Uint8Array {
  const hit = cache.get(address);
  if (hit !== undefined) return hit;
  const out = parseIp(address, field);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(address, out);
  return out;
}

function parseIp(address: string, field: string): Uint8Array {
  if (isIPv4(address)) {
    const out = new Uint8Array(4);
    const parts = address.split(".");
    for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
    return out;
  }
  if (isIPv6(address) && !address.includes("%")) return ipv6ToBytes(address);
  throw badField(field, `not an IPv4 or IPv6 literal: ${JSON.stringify(address.slice(0, 60))}`);
}

/** Canonical literal of 4 or 16 address bytes. */
export function bytesToIp(b: Uint8Array, field: string): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2)
      groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
    // SocketAddress formats with the same inet_ntop as the sockets do.
    return new SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
  }
  throw new FieldError("E_BAD_FIELD", `address must be 4 or 16 bytes, got ${b.length}`, field);
}

function ipv6ToBytes(address: string): Uint8Array {
  let s = address;
  // A dotted IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    const p = tail.split(".").map(Number) as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const gap = s.indexOf("::");
  let words: number[];
  if (gap === -1) {
    words = parse(s);
  } else {
    const left = parse(s.slice(0, gap));
    const right = parse(s.slice(gap + 2));
    words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}
