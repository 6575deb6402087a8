#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Channels end to end: a real QEMU, kvmbusd, kvmbusctl, and this script
as the guest (no guest kernel).

  chan_e2e.py QEMU RAM SIZE KVMBUS_SOCK CTL_SOCK KVMBUSCTL

QEMU runs under the qtest accelerator with max-ram-below-4g=128M, so
guest RAM is split: 128 MiB at GPA 0 and 128 MiB at GPA 4 GiB (file
offset 128 MiB).  Through qtest this script connects the control plane
(as ctl_e2e.py does), then plays an echo driver: it builds both channel
rings in scattered guest pages on both sides of the RAM hole, describes
them in a GPADL (GPADL_CREATE + GPADL_BODY), OPENs the channel, and checks
in-band echoes, GPA SUM and FILL, refused GPA ranges, host-initiated
packets from `kvmbusctl echo-send` through a full ring (pending_send_sz,
the guest's signal on release), a second channel that the guest breaks
while the first goes on, CLOSE and GPADL_TEARDOWN.  Vector 1's MSI-X
message is aimed at guest RAM, so kvmbusd's channel signals can be seen.
"""
import json
import struct
import sys
import time

import qemu_probe as qp
from qemu_probe import fail
from ctl_e2e import (DESC, TRAILER, Guest, QtestRing, hdr, relid_msg,
                     parse_offer, align8)

PAGE = 4096
HIGH = 1 << 32
LOW_SIZE = 128 << 20
MSI0_GPA, MSI0_DATA = 0x300000, 0x4b42ff00
MSI1_GPA, MSI1_DATA = 0x301000, 0x4b42ff01
EINVAL, EFAULT, EBUSY, E2BIG = 22, 14, 16, 7

(GPADL_CREATE, GPADL_BODY, GPADL_CREATED, GPADL_TEARDOWN, GPADL_TORNDOWN,
 OPEN, OPEN_RESULT, CLOSE, CLOSE_RESULT) = range(8, 17)
REQUEST_OFFERS, VERSION_REQ, VERSION_RESP, OFFER, ALL_OFFERS_DONE = 3, 1, 2, 4, 5
UNLOAD, UNLOAD_RESP = 18, 19
INBAND, GPA, COMP = 1, 2, 3
COMP_REQUESTED = 1
SUM, FILL = 1, 2



class PagedRing(QtestRing):
    """One channel ring in scattered guest pages, through qtest: a header
    page (write_index 0, pending_send_sz 4, read_index 64,
    interrupt_mask 68, features 128) and data pages anywhere, one after
    the other in the ring's data area, as the guest's vmap() shows them."""

    def __init__(self, qt, hdr_gpa, data_gpas):
        self.qt, self.hdr, self.pages = qt, hdr_gpa, data_gpas
        self.size = len(data_gpas) * PAGE
        self.wr = self.wr_pub = 0     # producer
        self.rd = self.rd_pub = 0     # consumer

    def create(self):
        self.qt.cmd(f"memset {self.hdr:#x} {PAGE} 0")
        self.qt.writel(self.hdr + 128, 1)       # KVMBUS_RING_F_PENDING_SEND
        self.wr = self.wr_pub = self.rd = self.rd_pub = 0

    def _pieces(self, off, n):
        while n:
            page, at = divmod(off, PAGE)
            k = min(n, PAGE - at)
            yield self.pages[page] + at, k
            off = (off + k) % self.size
            n -= k

    def _write(self, off, b):
        pos = 0
        for gpa, k in self._pieces(off, len(b)):
            self.qt.write(gpa, b[pos:pos + k])
            pos += k

    def _read(self, off, n):
        return b"".join(self.qt.read(gpa, k) for gpa, k in self._pieces(off, n))

    def free(self, wr, rd):
        return self.size - (wr - rd) % self.size - 8

    # producer
    def put(self, ptype, flags, tid, payload, thdr=b""):
        off = align8(24 + len(thdr))
        total = align8(off + len(payload))
        pkt = (DESC.pack(ptype, flags, off, 0, total, len(payload), tid) +
               thdr + bytes(off - 24 - len(thdr)) + payload +
               bytes(total - off - len(payload)) + TRAILER.pack(self.wr, 0))
        if len(pkt) > self.free(self.wr, self.qt.readl(self.hdr + 64)):
            fail("guest->host channel ring full")
        self._write(self.wr, pkt)
        self.wr = (self.wr + len(pkt)) % self.size

    def commit(self):
        """Publish; True if the host must be signalled."""
        old, self.wr_pub = self.wr_pub, self.wr
        self.qt.writel(self.hdr + 0, self.wr)
        mask = self.qt.readl(self.hdr + 68)
        rd = self.qt.readl(self.hdr + 64)
        return not mask and old == rd

    # consumer
    def get(self):
        """The next packet: (type, trans_id, payload), or None if empty."""
        return self.next_packet((INBAND, COMP))

    def release(self):
        """Hand the space back; True if the host waits for it."""
        old, self.rd_pub = self.rd_pub, self.rd
        if old == self.rd:
            return False
        self.qt.writel(self.hdr + 64, self.rd)
        pending = self.qt.readl(self.hdr + 4)
        wr = self.qt.readl(self.hdr + 0)
        return bool(pending) and self.free(wr, old) < pending <= self.free(wr, self.rd)


class Chan:
    """The guest's end of one echo channel."""

    def __init__(self, g, relid, vector, gpadl, g2h, h2g):
        self.g, self.qt = g, g.qt
        self.relid, self.vector, self.gpadl = relid, vector, gpadl
        self.out = PagedRing(self.qt, g2h[0], g2h[1:])
        self.inn = PagedRing(self.qt, h2g[0], h2g[1:])
        self.pages = g2h + h2g
        self.tid = 0

    def send(self, ptype, flags, payload, thdr=b""):
        self.tid += 1
        self.out.put(ptype, flags, self.tid, payload, thdr)
        return self.tid

    def kick(self):
        if self.out.commit():
            qp.doorbell(self.qt, self.vector)

    def recv(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pkt = self.inn.get()
            if pkt:
                if self.inn.release():
                    qp.doorbell(self.qt, self.vector)
                return pkt
            time.sleep(0.01)
        fail(f"no packet from kvmbusd on relid {self.relid}")

    def nothing(self, wait=0.3):
        time.sleep(wait)
        if self.inn.get():
            fail(f"unexpected packet on relid {self.relid}")


def status_of(g, relid):
    for d in g.devices():
        if d["relid"] == relid:
            return d
    fail(f"relid {relid} not listed")


def gpadl_msgs(g, gpadl, pfns):
    """CREATE with the first 3 runs, BODYs of 3 after that."""
    def body(runs):
        return b"".join(struct.pack("<QII", pfn, 1, 0) for pfn in runs)
    first, rest = pfns[:3], pfns[3:]
    g.send(hdr(GPADL_CREATE) + struct.pack("<IIII", gpadl, len(pfns), len(first), 0) +
           body(first))
    while rest:
        g.expect_nothing(0.1)
        part, rest = rest[:3], rest[3:]
        g.send(hdr(GPADL_BODY) + struct.pack("<IIII", gpadl, 0, len(part), 0) +
               body(part))


def expect_status(g, mtype, ident):
    _, msg = g.expect(mtype)
    got_id, status = struct.unpack_from("<II", msg, 8)
    if got_id != ident:
        fail(f"message {mtype} for {got_id}, wanted {ident}")
    return status


def open_msg(relid, gpadl, g2h):
    return hdr(OPEN) + struct.pack("<IIII32s", relid, gpadl, g2h, 0, b"")


def make_chan(g, relid, vector, gpadl, g2h, h2g):
    ch = Chan(g, relid, vector, gpadl, g2h, h2g)
    for p in ch.pages:
        g.qt.cmd(f"memset {p:#x} {PAGE} 0xcc")      # old contents
    ch.out.create()
    ch.inn.create()
    gpadl_msgs(g, gpadl, [p // PAGE for p in ch.pages])
    if expect_status(g, GPADL_CREATED, gpadl):
        fail(f"GPADL {gpadl} refused")
    g.send(open_msg(relid, gpadl, len(g2h)))
    if expect_status(g, OPEN_RESULT, relid):
        fail(f"OPEN relid {relid} refused")
    return ch


def echo(ch, sizes):
    want = {}
    for n in sizes:
        data = bytes((n * 7 + i) & 0xff for i in range(n))
        want[ch.send(INBAND, COMP_REQUESTED, data)] = data
    ch.kick()
    for _ in sizes:
        ptype, tid, payload = ch.recv()
        if ptype != COMP or want.pop(tid, None) != payload:
            fail(f"bad echo: type {ptype}, trans_id {tid}, {len(payload)} bytes")


def gpa_req(ch, op, seed, ranges):
    thdr = struct.pack("<II", len(ranges), 0) + b"".join(
        struct.pack("<QII", gpa, n, 0) for gpa, n in ranges)
    tid = ch.send(GPA, 0, struct.pack("<II", op, seed), thdr)
    ch.kick()
    ptype, got, payload = ch.recv()
    if ptype != COMP or got != tid or len(payload) != 24:
        fail(f"bad GPA answer: type {ptype}, trans_id {got}/{tid}, {len(payload)} bytes")
    return struct.unpack("<IIQQ", payload)      # status, _, bytes, sum


def play(qt, ram, ctl, kvmbusctl):
    g = Guest(qt, ctl, kvmbusctl)
    qp.pci_setup(qt)
    qt.writel(MSI0_GPA, 0)
    qt.writel(MSI1_GPA, 0)
    qp.msix_setup(qt, 0, MSI0_GPA, MSI0_DATA)
    qp.msix_setup(qt, 1, MSI1_GPA, MSI1_DATA)

    # The split is what kvmbusd thinks it is: GPA 4 GiB is file 128 MiB.
    qt.write(HIGH + 0x40, b"kvmbus-high")
    with open(ram, "rb", buffering=0) as f:
        f.seek(LOW_SIZE + 0x40)
        if f.read(11) != b"kvmbus-high":
            fail("GPA 4 GiB is not at file offset 128 MiB")

    if g.connect() != (qp.ONLINE, 0):
        fail("control rings not accepted")
    g.send(hdr(VERSION_REQ) + struct.pack("<IIQ", 0x10000, 0x10000, 0))
    g.expect(VERSION_RESP)
    g.send(hdr(REQUEST_OFFERS))
    offers = sorted(parse_offer(g.expect(OFFER)[1])[:2] for _ in range(2))
    g.expect(ALL_OFFERS_DONE)
    if offers != [(1, 1), (2, 2)]:
        fail(f"offers {offers}")
    print("chan-e2e: connected, 2 echo devices offered (relids 1, 2 on vectors 1, 2)")

    # 1. GPADLs that are refused: a run across the RAM hole, a run
    # outside RAM, id 0.
    hole = LOW_SIZE // PAGE - 1
    for pfn, n, gid, want in ((hole, 2, 50, EFAULT), (0x300000, 1, 51, EFAULT),
                              (0x300, 1, 0, EINVAL)):
        g.send(hdr(GPADL_CREATE) + struct.pack("<IIII", gid, n, 1, 0) +
               struct.pack("<QII", pfn, n, 0))
        if expect_status(g, GPADL_CREATED, gid) != want:
            fail(f"GPADL {gid} of pfn {pfn:#x}+{n} not refused with {want}")
    print("chan-e2e: GPADLs across the RAM hole / outside RAM -> EFAULT, id 0 -> EINVAL")

    # 2. Channel 1: rings in scattered pages, below and above the hole,
    # described by CREATE + BODY; OPEN.
    g2h = [0x200000, 0x205000, 0x203000]                   # header, data, data
    h2g = [HIGH + 0x3000, HIGH + 0x7000, 0x209000]
    c1 = make_chan(g, 1, 1, 1, g2h, h2g)
    d = status_of(g, 1)["channel"]
    if (d["state"], d["gpadl"], d["g2h_pages"], d["h2g_pages"]) != ("open", 1, 3, 3):
        fail(f"channel 1 after OPEN: {d}")
    g.send(hdr(GPADL_TEARDOWN) + struct.pack("<II", 1, 0))
    if expect_status(g, GPADL_TORNDOWN, 1) != EBUSY:
        fail("a GPADL in use was torn down")
    print("chan-e2e: GPADL 1 of 6 scattered pages (CREATE + BODY), OPEN relid 1 -> 0; "
          "TEARDOWN while open -> EBUSY")

    # 3. In-band echoes, some wrapping the 8 KiB data areas; one-way
    # packets are only counted.
    echo(c1, [0, 1, 100, 3000, 517])
    echo(c1, [4000, 2500, 64])
    for n in (10, 20, 30):
        c1.send(INBAND, 0, bytes(n))
    c1.kick()
    c1.nothing()
    if qt.readl(MSI1_GPA) != MSI1_DATA:
        fail("kvmbusd never signalled vector 1")
    e = status_of(g, 1)["channel"]
    if (e["echo"]["echoed"], e["echo"]["oneway"], e["counters"]["completions"]) != (8, 3, 8):
        fail(f"echo counters: {e}")
    print(f"chan-e2e: 8 echoes (0..4000 bytes, wrapping) and 3 one-way packets; "
          f"{e['counters']['signals']} signals on vector 1, "
          f"{e['counters']['doorbells']} doorbells")

    # 4. GPA SUM and FILL, below and above the hole, across pages.
    ranges = [(0x400000 + 5, 300), (HIGH + 0x10000 - 100, 5000), (0x500000, 1)]
    blobs = [bytes((i * 31 + k) & 0xff for i in range(n)) for k, (_, n) in enumerate(ranges)]
    for (gpa, _), b in zip(ranges, blobs):
        qt.write(gpa, b)
    st, _, nbytes, total = gpa_req(c1, SUM, 0, ranges)
    if (st, nbytes, total) != (0, 5301, sum(sum(b) for b in blobs)):
        fail(f"SUM: status {st}, {nbytes} bytes, sum {total}")
    st, _, nbytes, _ = gpa_req(c1, FILL, 77, ranges)
    got = b"".join(qt.read(gpa, n) for gpa, n in ranges)
    if (st, nbytes) != (0, 5301) or got != bytes((77 + i) & 0xff for i in range(5301)):
        fail(f"FILL: status {st}, {nbytes} bytes, pattern wrong")
    # A range in the hole: EFAULT, and the good range before it untouched.
    qt.write(0x600000, b"\x11" * 16)
    st, _, nbytes, _ = gpa_req(c1, FILL, 0, [(0x600000, 16), (LOW_SIZE - 8, 16)])
    if (st, nbytes) != (EFAULT, 0) or qt.read(0x600000, 16) != b"\x11" * 16:
        fail(f"GPA range into the hole: status {st}, memory touched?")
    st, _, _, _ = gpa_req(c1, SUM, 0, [(0, 4 << 20), (HIGH, 1)])
    if st != E2BIG:
        fail(f"4 MiB + 1 byte: status {st}")
    print("chan-e2e: GPA SUM (5301 bytes over 3 ranges, both sides of the hole) and FILL right; "
          "a range into the hole -> EFAULT, nothing touched; > 4 MiB -> E2BIG")

    # 5. Host-initiated packets: more than the 8 KiB ring holds; the guest
    # reads, its release signals kvmbusd, which sends the rest.
    out = g.kvmbusctl("echo-send", "1", "200", "100")
    if not out.startswith("device 1 (relid 1): sending 200 packets of 100 bytes:"):
        fail(f"kvmbusctl echo-send: {out}")
    for seq in range(1, 201):
        ptype, tid, payload = c1.recv()
        if ptype != INBAND or tid != seq or \
                payload != bytes((seq + i) & 0xff for i in range(100)):
            fail(f"host packet {seq}: type {ptype} trans_id {tid}, {len(payload)} bytes")
    c1.nothing()
    e = status_of(g, 1)["channel"]
    if e["echo"]["sent"] != 200 or e["echo"]["send_pending"] or not e["counters"]["ring_full"]:
        fail(f"echo-send counters: {e}")
    print(f"chan-e2e: kvmbusctl echo-send 1 200 100: {out.strip()}; all 200 arrived in order, "
          f"{e['counters']['ring_full']} ring-full waits")

    # 6. Channel 2 on contiguous pages; the guest breaks its write index:
    # only channel 2 breaks.
    c2 = make_chan(g, 2, 2, 2, [0x700000, 0x701000], [0x702000, 0x703000])
    echo(c2, [50])
    qt.writel(c2.out.hdr, 0x1234)                # not a multiple of 8
    qp.doorbell(qt, 2)
    for _ in range(100):
        if status_of(g, 2)["channel"]["state"] == "broken":
            break
        time.sleep(0.05)
    else:
        fail("garbage write index did not break channel 2")
    echo(c1, [123])
    st = g.status()
    if st["ctl"]["state"] != "online" or st["ctl"]["channels_broken"] != 1 or \
            st["ctl"]["channels_open"] != 1:
        fail(f"status after channel 2 broke: {st['ctl']}")
    out = g.kvmbusctl("devices")
    if not any(l.split()[:6] == ["2", "echo", "2", "2", "offered", "broken"]
               for l in out.splitlines()):
        fail(f"kvmbusctl devices: {out}")
    g.kvmbusctl("echo-send", "2", "1", "1", rc=1)
    out = g.kvmbusctl("status")
    if "  relid 1: open, GPADL 1;" not in out or "  relid 2: broken, GPADL 2;" not in out:
        fail(f"kvmbusctl status: {out}")
    print("chan-e2e: channel 2 broken by a garbage index; channel 1 and the control plane go on")

    # 7. CLOSE both, tear both GPADLs down.
    for relid in (1, 2):
        g.send(relid_msg(CLOSE, relid))
        if expect_status(g, CLOSE_RESULT, relid):
            fail(f"CLOSE {relid}")
        g.send(hdr(GPADL_TEARDOWN) + struct.pack("<II", relid, 0))
        if expect_status(g, GPADL_TORNDOWN, relid):
            fail(f"TEARDOWN {relid}")
    st = g.status()["ctl"]
    if (st["channels_open"], st["channels_broken"], st["gpadls"]) != (0, 0, 0):
        fail(f"after close: {st}")
    # Closed: the host no longer looks at the rings.
    c1.send(INBAND, COMP_REQUESTED, b"x")
    c1.out.commit()
    qp.doorbell(qt, 1)
    c1.nothing()
    print(g.kvmbusctl("status"), end="")

    # 8. A channel left open is closed by UNLOAD.
    c1 = make_chan(g, 1, 1, 1, g2h, h2g)
    echo(c1, [9])
    g.send(hdr(UNLOAD))
    g.expect(UNLOAD_RESP)
    st = g.status()["ctl"]
    if (st["channels_open"], st["gpadls"]) != (0, 0):
        fail(f"after UNLOAD: {st}")
    qp.mbox_publish(qt, qp.RESET, 4, 0x100000, g.gen)
    qp.doorbell(qt, 0)
    if qp.mbox_answer(qt, g.gen, states=(qp.IDLE,)) != (qp.IDLE, 0):
        fail("RESET not answered with IDLE")
    print("chan-e2e: CLOSE, TEARDOWN; an open channel closed by UNLOAD; RESET -> IDLE")


def main():
    if len(sys.argv) != 7:
        print(__doc__)
        sys.exit(2)
    qemu, ram, size, ksock, ctl, kvmbusctl = sys.argv[1:]
    qp.qtest(qemu, ram, size, ksock, ctl,
             play=lambda qt, r, c: play(qt, r, c, kvmbusctl),
             machine="q35,memory-backend=ram,max-ram-below-4g=128M")
    print("chan-e2e: guest side done")


if __name__ == "__main__":
    main()
