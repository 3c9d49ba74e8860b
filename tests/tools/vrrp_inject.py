#!/usr/bin/env python3
"""Sends malformed and hostile VRRP packets for the lab tests.

Usage: vrrp_inject.py SRC_IP VIP PASSWORD
Run inside a network namespace the test created. Every packet names VRID 51
and priority 250, so any packet that were wrongly accepted would make the
current master step down: the test checks that none does.
"""
import random
import socket
import struct
import sys

GROUP = "224.0.0.18"


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def v2(vrid=51, prio=250, addrs=None, auth_type=1, password=b"", interval=1, version=2, typ=1, count=None):
    addrs = addrs or []
    body = struct.pack("!BBBBBBH", (version << 4) | typ, vrid, prio, len(addrs) if count is None else count,
                       auth_type, interval, 0)
    body += b"".join(socket.inet_aton(a) for a in addrs)
    body += password.ljust(8, b"\0")[:8]
    c = csum(body)
    return body[:6] + struct.pack("!H", c) + body[8:]


def ip_packet(src: str, payload: bytes, ttl=255, proto=112) -> bytes:
    # Total length and checksum are filled in by the kernel (IP_HDRINCL).
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 0, 0, 0, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(GROUP))
    return hdr + payload


def main() -> int:
    src, vip, password = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    # No multicast route in the lab namespace: leave by eth0 explicitly.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    good = dict(addrs=[vip], password=password)
    cases = {
        "ttl_not_255": (v2(**good), 64),
        "bad_checksum": (v2(**good)[:6] + b"\x12\x34" + v2(**good)[8:], 255),
        "bad_version": (v2(version=4, **good), 255),
        "bad_type": (v2(typ=2, **good), 255),
        "too_short": (v2(**good)[:7], 255),
        "bad_length": (v2(count=255, **good), 255),
        "truncated_address": (v2(**good)[:10], 255),
        "auth_failure": (v2(addrs=[vip], password=b"nope"), 255),
        "auth_type_mismatch": (v2(addrs=[vip], auth_type=0), 255),
        "interval_mismatch": (v2(interval=2, **good), 255),
        "address_mismatch": (v2(addrs=["10.77.0.99"], password=password), 255),
        "unknown_vrid": (v2(vrid=99, **good), 255),
    }
    for name, (payload, ttl) in cases.items():
        for _ in range(3):
            s.sendto(ip_packet(src, payload, ttl), (GROUP, 0))
    rnd = random.Random(5798)
    for _ in range(500):
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120)))
        if payload[1:2]:
            payload = payload[:1] + b"\x33" + payload[2:]  # aim at VRID 51
        s.sendto(ip_packet(src, payload, 255), (GROUP, 0))
    print("sent", len(cases) * 3 + 500)
    return 0


if __name__ == "__main__":
    sys.exit(main())
