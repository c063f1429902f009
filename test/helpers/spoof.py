#!/usr/bin/env python3
"""Sends UDP datagrams with a forged IPv4 source address through a raw socket (IP_HDRINCL).

The attack suite's spoofer (test/helpers/spoofer.ts starts it; needs root). Reads JSON lines
from stdin: {"src": "127.0.0.1", "sport": 7700, "dst": "127.0.1.10", "dport": 5000, "hex": "..."}
and answers each with one line "ok" or "error <why>" on stdout. Only loopback destinations are
accepted: the suite never sends anywhere else.
"""
import json
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def packet(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
    csum = checksum(pseudo + udp + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, udp_len, csum)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + udp + payload


def main() -> None:
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for line in sys.stdin:
        try:
            m = json.loads(line)
            if not m["dst"].startswith("127."):
                raise ValueError("only loopback destinations")
            raw.sendto(packet(m["src"], int(m["sport"]), m["dst"], int(m["dport"]), bytes.fromhex(m["hex"])), (m["dst"], 0))
            print("ok", flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the caller, line by line
            print("error " + str(e).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
