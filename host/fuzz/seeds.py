#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Write the seed corpora of fuzz_ctl, fuzz_ring, fuzz_gpadl, fuzz_echo,
fuzz_balloon and fuzz_net (fuzz/corpus/<target>/).

fuzz_ctl gets one valid message of every control type (docs/protocol.md
section 6, include/kvmbus/protocol.h), each in the state where it means
something, plus a few mixed scenarios; fuzz_ring gets control rings as a
guest would fill them; fuzz_gpadl GPADL / OPEN / CLOSE sequences that
succeed, fail and get interrupted; fuzz_echo an open echo channel's
traffic (see the comment at the top of each target for the record
format).  Run from host/: fuzz/seeds.py
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
    20: ("subchannels-result", struct.pack("<IIII", 1, 0, 2, 0)),
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
    sub = struct.pack("<II", 17, 0)
    write("fuzz_ctl", "subchannels", setup(1, 1) +
          rec(0, sub + struct.pack("<II", 2, 5)) +      # capped at 2
          rec(0, sub + struct.pack("<II", 2, 5)) +      # asked twice
          rec(0, sub + struct.pack("<II", 3, 1)) +      # a sub relid
          rec(0, sub + struct.pack("<II", 1, 0)) + rec(6) +
          rec(5, b"\x02") + rec(6) +                    # rescind, subs go
          rec(0, struct.pack("<IIII", 7, 0, 2, 0)) +    # released
          rec(4, b"\x07") + rec(6) +
          rec(0, sub + struct.pack("<II", 2, 0xffffffff)) + rec(6) +
          rec(0, msg(18)) + rec(0, msg(3)) + rec(6))
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


# fuzz_gpadl records: op % 10 (fuzz_gpadl.c).
G_CREATE, G_BODY, G_TEARDOWN, G_OPEN, G_CLOSE, G_WRITE, G_DOORBELL, G_LIFE = \
    2, 3, 4, 5, 6, 7, 8, 9


def runs(*pfns):
    """Low pages (selector 0): pfn = 6 + off."""
    return b"".join(bytes([0, pfn - 6, 1]) for pfn in pfns)


def gpadl_seeds():
    ring = rec(G_CREATE, bytes([1, 4]) + runs(16, 12, 14, 10))
    opened = ring + rec(G_OPEN, bytes([1, 1, 2]))
    write("fuzz_gpadl", "open-close", bytes([1]) + opened +
          rec(G_DOORBELL, b"\x01") + rec(G_CLOSE, b"\x01") +
          rec(G_TEARDOWN, b"\x01"))
    write("fuzz_gpadl", "create-body", bytes([2]) +
          rec(G_CREATE, bytes([2, 6]) + runs(30, 31)) +
          rec(G_BODY, bytes([2, 0]) + runs(40, 50)) +
          rec(G_BODY, bytes([2, 0]) + runs(41, 20)) +
          rec(G_OPEN, bytes([2, 2, 3])) + rec(G_TEARDOWN, b"\x02") +
          rec(G_CLOSE, b"\x02") + rec(G_TEARDOWN, b"\x02"))
    # An echo request written into the open channel's g->h ring: header
    # page pfn 16, data page pfn 12.
    pkt = packet(0, b"hello echo", tid=7)
    pkt = pkt[:2] + b"\x01\x00" + pkt[4:]             # COMP_REQUESTED
    data_off = (12 - 6) * 4096
    hdr_off = (16 - 6) * 4096
    write("fuzz_gpadl", "echo-in-ring", bytes([1]) + opened +
          rec(G_WRITE, data_off.to_bytes(3, "little") + pkt) +
          rec(G_WRITE, hdr_off.to_bytes(3, "little") +
              struct.pack("<I", len(pkt))) +
          rec(G_DOORBELL, b"\x01") + rec(G_CLOSE, b"\x01"))
    write("fuzz_gpadl", "hole-and-limits", bytes([1]) +
          rec(G_CREATE, bytes([3, 4, 5, 0, 2, 6, 1, 2])) +
          rec(G_CREATE, bytes([4, 2, 7, 9, 1, 0, 1, 1])) +
          rec(G_CREATE, bytes([0, 1]) + runs(20)) +
          rec(G_CREATE, bytes([5, 1]) + runs(20, 21)) +
          rec(G_BODY, bytes([5, 0]) + runs(22)) +
          rec(G_OPEN, bytes([1, 5, 1])) + rec(G_OPEN, bytes([4, 1, 2])))
    write("fuzz_gpadl", "lifecycle", bytes([2]) + opened +
          rec(G_LIFE, bytes([4, 0, 1])) + rec(G_TEARDOWN, b"\x01") +
          ring + rec(G_OPEN, bytes([2, 1, 2])) + rec(G_LIFE, bytes([0])) +
          ring + rec(G_OPEN, bytes([2, 1, 2])) + rec(G_LIFE, bytes([1])) +
          ring + rec(G_OPEN, bytes([2, 1, 2])) + rec(G_LIFE, bytes([3])) +
          ring + rec(G_OPEN, bytes([2, 1, 2])) + rec(G_LIFE, bytes([6])))
    write("fuzz_gpadl", "raw", bytes([0]) +
          rec(0, struct.pack("<IIII", 1, 2, 2, 0) +
              struct.pack("<QIIQII", 10, 1, 0, 11, 1, 0)) +
          rec(1, struct.pack("<IIII", 1, 0, 1, 0) + struct.pack("<QII", 9, 1, 0)))


# fuzz_echo records: op % 8 (fuzz_echo.c).
E_INBAND, E_GPA, E_COMP, E_RAW, E_DOORBELL, E_READ, E_SEND, E_SCRIBBLE = range(8)


def gpa_range(sel, lo, hi, n, shift):
    return bytes([sel, lo, hi, n, shift])


def echo_seeds():
    write("fuzz_echo", "echoes", bytes([1, 1]) +
          rec(E_INBAND, b"\x01hello") + rec(E_INBAND, b"\x00one way") +
          rec(E_INBAND, b"\x01" + bytes(range(200))) + rec(E_DOORBELL) +
          rec(E_READ, b"\x10") + rec(E_COMP, b"not for the host") +
          rec(E_DOORBELL) + rec(E_READ))
    write("fuzz_echo", "gpa", bytes([0, 0]) +
          rec(E_GPA, bytes([1, 0, 2]) + gpa_range(0, 0, 0, 64, 0) +
              gpa_range(3, 0x10, 0, 1, 12)) +
          rec(E_GPA, bytes([2, 0x33, 3]) + gpa_range(0, 0x80, 1, 32, 2) +
              gpa_range(3, 0, 0, 255, 4) + gpa_range(1, 0, 2, 1, 0)) +
          rec(E_GPA, bytes([2, 0, 2]) + gpa_range(0, 0, 0, 8, 0) +
              gpa_range(2, 0x3f, 0, 16, 0)) +
          rec(E_GPA, bytes([1, 0, 1]) + gpa_range(4, 0, 0, 1, 0)) +
          rec(E_GPA, bytes([3, 0, 1]) + gpa_range(0, 0, 0, 1, 0)) +
          rec(E_GPA, bytes([1, 0, 0x81]) + gpa_range(0, 0, 0, 1, 0)) +
          rec(E_DOORBELL) + rec(E_READ))
    full = b"".join(rec(E_INBAND, b"\x01" + bytes([i]) * 500) for i in range(20))
    write("fuzz_echo", "ring-full", bytes([0, 0]) + full + rec(E_DOORBELL) +
          rec(E_READ, b"\x03") + rec(E_READ, b"\x03") + rec(E_READ))
    write("fuzz_echo", "echo-send", bytes([0, 1]) +
          rec(E_SEND, bytes([49, 100, 0])) + rec(E_READ, b"\x05") +
          rec(E_INBAND, b"\x01mixed") + rec(E_DOORBELL) + rec(E_READ) +
          rec(E_SEND, bytes([3, 0, 0])) + rec(E_READ))
    write("fuzz_echo", "hostile", bytes([2, 2]) +
          rec(E_INBAND, b"\x01ok") + rec(E_DOORBELL) + rec(E_READ) +
          rec(E_SCRIBBLE, b"\x02\x01\x00\x00\x00") +
          rec(E_INBAND, b"\x81bad flag") + rec(E_DOORBELL) +
          rec(E_RAW, struct.pack("<I", 13) + bytes(32)) +
          rec(E_SCRIBBLE, b"\x00\xf0\xff\x00\x00"))


def balloon_seeds():
    """fuzz_balloon: 9 layout bytes (q35, 1 GiB), then one guest message."""
    layout = bytes([0]) + struct.pack("<II", 262144, 0)
    high = (1 << 32) >> 12

    def ranges(typ, flags, req, rs, pages=None, status=0):
        n = sum(r[1] for r in rs) if pages is None else pages
        return (struct.pack("<HHIQQIHH", typ, 0, 0, req, n, len(rs), flags,
                            status) +
                b"".join(struct.pack("<QQ", pfn, cnt) for pfn, cnt in rs))

    write("fuzz_balloon", "status", layout +
          struct.pack("<HHI9Q", 1, 0, 0, 262144, 1000, 2000, 3000, 400, 0,
                      0, 16384, 0))
    write("fuzz_balloon", "status-features", layout +
          struct.pack("<HHI10Q", 1, 0, 0, 262144, 1000, 2000, 3000, 400, 0,
                      0, 16384, 0, 1))
    write("fuzz_balloon", "range-req", layout +
          struct.pack("<HHIQQQ", 7, 0, 0, 5, 98304, 32768))
    write("fuzz_balloon", "inflated", layout +
          ranges(3, 0, 1, [(512, 512), (1024, 512), (5000, 1)]))
    write("fuzz_balloon", "inflated-last", layout +
          ranges(3, 1, 1, [(0x3ffff, 1)], status=1))
    write("fuzz_balloon", "deflated", layout +
          ranges(5, 1, 2, [(512, 512), (7, 1)]))
    write("fuzz_balloon", "pressure", layout +
          ranges(5, 2, 0, [], pages=4096))
    write("fuzz_balloon", "report", layout +
          ranges(6, 0, 0, [(4096 + 512 * i, 512) for i in range(32)]))
    write("fuzz_balloon", "outside", layout +
          ranges(6, 0, 0, [(0x40000, 1), (high, 1)]))
    write("fuzz_balloon", "split-6g", bytes([0]) +
          struct.pack("<II", 6 << 18, 0) +
          ranges(6, 0, 0, [((2 << 18) - 1, 1), (high, 512)]))


NET_PKT = 6
NO_SECTION = 0xffffffff


def net_meta(flags=0, gso=0, hdr_len=0, gso_size=0, cstart=0, coff=0,
             tci=0):
    return struct.pack("<BBHHHHHI", flags, gso, hdr_len, gso_size, cstart,
                       coff, tci, 0)


def net_pkt(meta, section, length):
    return struct.pack("<II", NET_PKT, 0) + meta + \
        struct.pack("<IIII", section, 0, length, 0)


def net_desc(ptype, hdr, payload, tid=1):
    off = 24 + len(hdr)
    total = (off + len(payload) + 7) & ~7
    return struct.pack("<HHHHIIQ", ptype, 1, off, 0, total, len(payload),
                       tid) + hdr + payload


def net_gpa(ranges):
    return struct.pack("<II", len(ranges), 0) + b"".join(
        struct.pack("<QII", g, n, 0) for g, n in ranges)


def net_seeds():
    # [granted][kind] then the packet; kind % 3: 0 TX, 1 RX header, 2 hash.
    write("fuzz_net", "tx-section", bytes([0x3f, 0]) +
          net_desc(1, b"", net_pkt(net_meta(), 3, 60)))
    write("fuzz_net", "tx-csum-vlan", bytes([0x3f, 0]) +
          net_desc(1, b"", net_pkt(net_meta(5, 0, 0, 0, 34, 16, 0x64), 0,
                                   1000)))
    write("fuzz_net", "tx-gpa-tso", bytes([0x3f, 0x40 * 3]) +
          net_desc(2, net_gpa([(4096, 12), (8192, 3000), (20000, 40000)]),
                   net_pkt(net_meta(1, 1, 54, 1448, 34, 16), NO_SECTION,
                           43012)))
    write("fuzz_net", "tx-bad", bytes([0x01, 8]) +
          net_desc(2, net_gpa([(0xfffffffffffff000, 4096)]),
                   net_pkt(net_meta(0x80, 7, 1, 0, 0, 0), NO_SECTION, 4096)))
    vh = struct.pack("<BBHHHHH", 1, 1, 54, 1448, 34, 16, 0)
    write("fuzz_net", "rx-gso", bytes([0x3f, 1]) + vh +
          struct.pack("<I", 60000) + bytes(12) + b"\x81\x00\x00\x05" +
          bytes(40))
    frame = bytes(12) + b"\x08\x00\x45" + bytes(8) + b"\x06" + bytes(2) + \
        bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b"\x13\x88\xc0\x01" + bytes(20)
    write("fuzz_net", "hash-tcp4", bytes([0, 2]) + frame)


if __name__ == "__main__":
    balloon_seeds()
    ctl_seeds()
    ring_seeds()
    gpadl_seeds()
    echo_seeds()
    net_seeds()
