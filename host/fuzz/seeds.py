#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Write the seed corpora of fuzz_ctl and fuzz_ring (fuzz/corpus/<target>/).

fuzz_ctl gets one valid message of every control type (docs/protocol.md
section 6, include/kvmbus/protocol.h), each in the state where it means
something, plus a few mixed scenarios; fuzz_ring gets control rings as a
guest would fill them.  Run from host/: fuzz/seeds.py
"""
import os
import struct

V1 = 0x00010000
HERE = os.path.dirname(os.path.abspath(__file__))

# type: (name, body after the 8-byte header)
MSGS = {
    1: ("version-req", struct.pack("<IIQ", V1, V1, 0)),
    2: ("version-resp", struct.pack("<IIQ", V1, 64, 0)),
    3: ("request-offers", b""),
    4: ("offer", struct.pack("<IHH16s16sHHI64s", 1, 1, 0, b"\x11" * 16,
                             b"\x22" * 16, 0, 0, 0, b"")),
    5: ("all-offers-done", b""),
    6: ("rescind", struct.pack("<II", 1, 0)),
    7: ("relid-released", struct.pack("<II", 1, 0)),
    8: ("gpadl-create", struct.pack("<IIII", 1, 1, 1, 0) +
        struct.pack("<QII", 0x20, 1, 0)),
    9: ("gpadl-body", struct.pack("<IIII", 1, 0, 1, 0) +
        struct.pack("<QII", 0x21, 1, 0)),
    10: ("gpadl-created", struct.pack("<II", 1, 0)),
    11: ("gpadl-teardown", struct.pack("<II", 1, 0)),
    12: ("gpadl-torndown", struct.pack("<II", 1, 0)),
    13: ("open", struct.pack("<IIII32s", 1, 1, 2, 0, b"")),
    14: ("open-result", struct.pack("<II", 1, 0)),
    15: ("close", struct.pack("<II", 1, 0)),
    16: ("close-result", struct.pack("<II", 1, 0)),
    17: ("request-subchannels", struct.pack("<II", 1, 2)),
    18: ("unload", b""),
    19: ("unload-resp", b""),
}


def msg(t):
    return struct.pack("<II", t, 0) + MSGS[t][1]


def rec(op, payload=b""):
    return bytes([op]) + struct.pack("<H", len(payload)) + payload


def setup(negotiate, offers, pages=3, devices=2):
    return bytes([negotiate | offers << 1 | (pages - 2) << 2 | devices << 4])


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ctl_seeds():
    for t, (name, _) in MSGS.items():
        if t == 1:
            pre = setup(0, 0)
        elif t == 3:
            pre = setup(1, 0)
        elif t == 7:      # release what was rescinded
            pre = setup(1, 1) + rec(6) + rec(5, b"\x01")
        else:
            pre = setup(1, 1)
        write("fuzz_ctl", f"{t:02d}-{name}", pre + rec(0, msg(t)))
    write("fuzz_ctl", "ring-path", setup(0, 0) + rec(3, msg(1)) +
          rec(3, msg(3)) + rec(6))
    write("fuzz_ctl", "hotplug", setup(1, 1) + rec(4) + rec(6) +
          rec(5, b"\x01") + rec(6) + rec(0, msg(7)) + rec(4) + rec(6))
    write("fuzz_ctl", "reconnect", setup(1, 1) + rec(5, b"\x02") +
          rec(7, b"\x00") + rec(0, msg(1)) + rec(7, b"\x01") +
          rec(7, b"\x02") + rec(0, msg(18)))


def packet(start, payload, ptype=1, tid=1):
    dlen = len(payload)
    total = 24 + (dlen + 7) // 8 * 8
    return (struct.pack("<HHHHIIQ", ptype, 0, 24, 0, total, dlen, tid) +
            payload + b"\0" * (total - 24 - dlen) + struct.pack("<II", start, 0))


def ring_seed(pkts):
    data = b""
    for i, p in enumerate(pkts):
        data += packet(len(data), p, tid=i + 1)
    return data


def ring_hdr(pages, wr, rd=0, mask=0, pending=0):
    return bytes([pages - 2]) + struct.pack("<IIII", wr, rd, mask, pending)


def ring_seeds():
    good = ring_seed([msg(1), msg(3), msg(7), msg(8), msg(18)])
    write("fuzz_ring", "requests", ring_hdr(2, len(good)) + good)
    write("fuzz_ring", "requests-masked", ring_hdr(3, len(good), mask=1) + good)
    bad = bytearray(good)
    bad[len(packet(0, msg(1))) - 8] ^= 0x08     # first trailer
    write("fuzz_ring", "bad-trailer", ring_hdr(2, len(bad)) + bytes(bad))
    write("fuzz_ring", "bad-index", ring_hdr(2, 12) + good)
    write("fuzz_ring", "bad-read-index", ring_hdr(2, len(good), rd=4093) + good)
    many = ring_seed([msg(3)] * 300)
    write("fuzz_ring", "many", ring_hdr(4, len(many)) + many)


if __name__ == "__main__":
    ctl_seeds()
    ring_seeds()
