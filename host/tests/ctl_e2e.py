#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The control plane end to end: a real QEMU, kvmbusd, kvmbusctl, and this
script as the guest (no guest kernel).

  ctl_e2e.py QEMU RAM SIZE KVMBUS_SOCK CTL_SOCK KVMBUSCTL

QEMU runs under the qtest accelerator; through qtest this script writes
the two control rings into guest RAM in the wire format of
docs/protocol.md section 4 (24-byte descriptor, payload, padding, 8-byte
trailer holding the packet's start offset, indices in the header page),
publishes them in the BAR2 mailbox, rings doorbell vector 0 and reads
kvmbusd's answers from the host->guest ring; vector 0's MSI-X message is
aimed at guest RAM so every signal kvmbusd sends can be seen.
"""
import json
import struct
import subprocess
import sys
import time

import qemu_probe as qp
from qemu_probe import fail

PAGE = 4096
V1 = 0x00010000
RING_GPA, RING_PAGES = 0x100000, 4
MSI0_GPA, MSI0_DATA = 0x300000, 0x4b42ff00
ECHO = bytes.fromhex("fe7f9a81846347a7af62b5deede655b6")
EFAULT = 14

(VERSION_REQ, VERSION_RESP, REQUEST_OFFERS, OFFER, ALL_OFFERS_DONE, RESCIND,
 RELID_RELEASED, GPADL_CREATE) = range(1, 9)
REQUEST_SUBCHANNELS, UNLOAD, UNLOAD_RESP = 17, 18, 19
SUBCHANNELS_RESULT = 20
NAMES = {VERSION_RESP: "VERSION_RESP", OFFER: "OFFER",
         ALL_OFFERS_DONE: "ALL_OFFERS_DONE", RESCIND: "RESCIND",
         UNLOAD_RESP: "UNLOAD_RESP"}

DESC = struct.Struct("<HHHHIIQ")        # struct kvmbus_pkt_desc, 24 bytes
TRAILER = struct.Struct("<II")          # struct kvmbus_pkt_trailer
OFFER_MSG = struct.Struct("<IIIHH16s16sHHI64s")  # struct kvmbus_ctl_offer


def align8(n):
    return (n + 7) & ~7


class QtestRing:
    """What the guest's rings here share: reading a packet kvmbusd
    published.  A subclass sets qt, hdr (the header page's GPA), size and
    rd (the private read position) and defines _read(off, n)."""

    def next_packet(self, types):
        """The next packet, checked as the guest's ring code checks it and
        consumed privately (read_index is the caller's to publish):
        (type, trans_id, payload), or None if the ring is empty."""
        wr = self.qt.readl(self.hdr + 0)
        if wr % 8 or wr >= self.size:
            fail(f"kvmbusd published write index {wr:#x}")
        if wr == self.rd:
            return None
        ptype, flags, off, _, total, dlen, tid = DESC.unpack(
            self._read(self.rd, 24))
        if ptype not in types or flags or off != 24 or total % 8 or \
                dlen > total - off or total - off - dlen >= 8:
            fail(f"malformed packet from kvmbusd at {self.rd:#x}: "
                 f"type {ptype} flags {flags} off {off} total {total} len {dlen}")
        body = self._read(self.rd, total + 8)
        start, _ = TRAILER.unpack(body[total:])
        if start != self.rd:
            fail(f"trailer says {start:#x}, packet is at {self.rd:#x}")
        self.rd = (self.rd + total + 8) % self.size
        return ptype, tid, body[off:off + dlen]


class GuestRing(QtestRing):
    """One control ring in guest RAM, driven through qtest.  Header page:
    write_index at 0, pending_send_sz at 4, read_index at 64,
    interrupt_mask at 68, features at 128; then the data area."""

    def __init__(self, qt, gpa, pages):
        self.qt, self.hdr, self.data = qt, gpa, gpa + PAGE
        self.size = (pages - 1) * PAGE
        self.wr = 0     # producer: private write position
        self.rd = 0     # consumer: private read position

    def create(self):
        self.qt.cmd(f"memset {self.hdr:#x} {PAGE} 0")
        self.qt.writel(self.hdr + 128, 1)       # KVMBUS_RING_F_PENDING_SEND
        self.wr = self.rd = 0

    def _write(self, off, b):
        first = min(len(b), self.size - off)
        self.qt.write(self.data + off, b[:first])
        self.qt.write(self.data, b[first:])

    def _read(self, off, n):
        first = min(n, self.size - off)
        out = self.qt.read(self.data + off, first)
        return out + (self.qt.read(self.data, n - first) if n > first else b"")

    def put(self, payload, tid, ptype=1):
        total = 24 + align8(len(payload))
        rd = self.qt.readl(self.hdr + 64)
        used = (self.wr - rd) % self.size
        if total + 8 > self.size - used - 8:
            fail("guest->host control ring full")
        pkt = (DESC.pack(ptype, 0, 24, 0, total, len(payload), tid) +
               payload + bytes(total - 24 - len(payload)) +
               TRAILER.pack(self.wr, 0))
        self._write(self.wr, pkt)
        self.wr = (self.wr + len(pkt)) % self.size

    def commit(self):
        self.qt.writel(self.hdr + 0, self.wr)   # write_index

    def get(self):
        """The next packet (in-band only): (trans_id, payload), or None if
        empty."""
        p = self.next_packet((1,))
        if p is None:
            return None
        self.qt.writel(self.hdr + 64, self.rd)  # read_index
        return p[1:]


class Guest:
    def __init__(self, qt, ctl, kvmbusctl):
        self.qt, self.ctl, self.ctl_bin = qt, ctl, kvmbusctl
        self.out = GuestRing(qt, RING_GPA, RING_PAGES)
        self.inn = GuestRing(qt, RING_GPA + RING_PAGES * PAGE, RING_PAGES)
        self.gen = 0
        self.tid = 0

    def connect(self, gpa=RING_GPA):
        self.out.create()
        self.inn.create()
        self.gen += 1
        qp.mbox_publish(self.qt, qp.CONNECT, RING_PAGES, gpa, self.gen)
        qp.doorbell(self.qt, 0)
        return qp.mbox_answer(self.qt, self.gen)

    def send(self, *msgs, ptype=1):
        for m in msgs:
            self.tid += 1
            self.out.put(m, self.tid, ptype)
        self.out.commit()
        qp.doorbell(self.qt, 0)

    def recv(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pkt = self.inn.get()
            if pkt:
                tid, msg = pkt
                mtype, = struct.unpack_from("<I", msg)
                return mtype, tid, msg
            time.sleep(0.02)
        fail("no control message from kvmbusd")

    def expect(self, mtype):
        got, tid, msg = self.recv()
        if got != mtype:
            fail(f"expected {NAMES.get(mtype, mtype)}, got {NAMES.get(got, got)}")
        return tid, msg

    def expect_nothing(self, wait=0.3):
        time.sleep(wait)
        pkt = self.inn.get()
        if pkt:
            fail(f"unexpected message from kvmbusd: {pkt}")

    def signalled(self, timeout=10):
        """Did vector 0's MSI-X message land since the last call?"""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.qt.readl(MSI0_GPA) == MSI0_DATA:
                self.qt.writel(MSI0_GPA, 0)
                return
            time.sleep(0.02)
        fail("kvmbusd did not signal vector 0")

    def status(self):
        return qp.control(self.ctl, {"cmd": "status"})

    def kvmbusctl(self, *args, rc=0):
        p = subprocess.run([self.ctl_bin, "-s", self.ctl, *args],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != rc:
            fail(f"kvmbusctl {' '.join(args)}: exit {p.returncode}, "
                 f"wanted {rc}: {p.stdout}{p.stderr}")
        return p.stdout

    def devices(self):
        return json.loads(self.kvmbusctl("--json", "devices"))["devices"]


def hdr(mtype):
    return struct.pack("<II", mtype, 0)


def relid_msg(mtype, relid):
    return hdr(mtype) + struct.pack("<II", relid, 0)


def parse_offer(msg):
    (mtype, _, relid, vector, flags, class_id, instance, sub_index, max_sub,
     dlen, data) = OFFER_MSG.unpack(msg)
    # The echo class's offer data: magic "echo", max_subchannels (0).
    if class_id != ECHO or flags or sub_index or max_sub or dlen != 8 or \
            data[:8] != struct.pack("<II", 0x6f686365, 0):
        fail(f"bad offer: relid {relid}, class {class_id.hex()}, flags {flags}, data {data[:dlen].hex()}")
    return relid, vector, instance


def uuid(b):
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def play(qt, ram, ctl, kvmbusctl):
    g = Guest(qt, ctl, kvmbusctl)
    qp.pci_setup(qt)
    qt.writel(MSI0_GPA, 0)
    qp.msix_setup(qt, 0, MSI0_GPA, MSI0_DATA)

    # 1. Bootstrap: rings in guest RAM, CONNECT, doorbell 0.
    if g.connect() != (qp.ONLINE, 0):
        fail("control rings not accepted")
    g.signalled()
    print(f"ctl-e2e: mailbox: ONLINE, acked_generation {g.gen}, vector 0 signalled")

    # 2. Version negotiation (and nothing but VERSION_REQ before it).
    g.send(hdr(REQUEST_OFFERS))
    g.expect_nothing()
    g.send(hdr(VERSION_REQ) + struct.pack("<IIQ", V1, 0x00020003, 0xff))
    tid, msg = g.expect(VERSION_RESP)
    _, _, version, max_channels, features = struct.unpack("<IIIIQ", msg)
    if (version, max_channels, features, tid) != (V1, 256, 0, g.tid):
        fail(f"VERSION_RESP {version:#x} {max_channels} {features:#x} tid {tid}")
    g.signalled()
    print(f"ctl-e2e: VERSION_RESP: version {version:#x}, max_channels {max_channels}")

    # 3. Offers of the two --device echo devices, then ALL_OFFERS_DONE.
    g.send(hdr(REQUEST_OFFERS))
    offers = [parse_offer(g.expect(OFFER)[1]) for _ in range(2)]
    g.expect(ALL_OFFERS_DONE)
    g.signalled()
    devs = {d["relid"]: d for d in g.devices()}
    if sorted(o[0] for o in offers) != [1, 2] or \
            sorted(o[1] for o in offers) != [1, 2]:
        fail(f"offers: {offers}")
    for relid, vector, inst in offers:
        d = devs[relid]
        if (d["vector"], d["instance"], d["state"], d["offer_sent"]) != \
                (vector, uuid(inst), "offered", True):
            fail(f"offer relid {relid} does not match kvmbusctl: {d}")
    print(f"ctl-e2e: 2 OFFERs (relids 1, 2; vectors 1, 2; class echo) and ALL_OFFERS_DONE")

    # 4. Hot add through kvmbusctl: an OFFER at once.
    out = g.kvmbusctl("add", "echo")
    if not out.startswith("device 3 added: echo, relid 3, vector 3"):
        fail(f"kvmbusctl add: {out}")
    relid, vector, inst = parse_offer(g.expect(OFFER)[1])
    if (relid, vector) != (3, 3) or uuid(inst) not in out:
        fail(f"hot-add offer relid {relid} vector {vector}, kvmbusctl said {out}")
    g.signalled()
    print(f"ctl-e2e: kvmbusctl add echo -> OFFER relid 3: {out.strip()}")

    # 5. Hot remove: RESCIND, releasing until RELID_RELEASED.
    out = g.kvmbusctl("remove", "1")
    if "rescinded" not in out:
        fail(f"kvmbusctl remove: {out}")
    _, msg = g.expect(RESCIND)
    if struct.unpack_from("<I", msg, 8)[0] != 1:
        fail("RESCIND for the wrong relid")
    if [d["state"] for d in g.devices() if d["id"] == 1] != ["releasing"]:
        fail("removed device not listed as releasing")
    g.kvmbusctl("remove", "1", rc=1)            # already being removed
    g.send(relid_msg(RELID_RELEASED, 1))
    for _ in range(100):
        if not [d for d in g.devices() if d["id"] == 1]:
            break
        time.sleep(0.05)
    else:
        fail("device 1 still listed after RELID_RELEASED")
    print(f"ctl-e2e: kvmbusctl remove 1 -> RESCIND relid 1, gone after RELID_RELEASED")

    # 6. Sub-channels of a device that allows none: the answer says 0.
    # Junk is dropped and counted.  (GPADLs and channels: chan_e2e.py.)
    g.send(hdr(REQUEST_SUBCHANNELS) + struct.pack("<II", 2, 4), hdr(7)[:6],
           hdr(OFFER) + bytes(112))
    _, msg = g.expect(SUBCHANNELS_RESULT)
    if struct.unpack_from("<III", msg, 8) != (2, 0, 0):
        fail(f"SUBCHANNELS_RESULT {msg.hex()}")
    g.expect_nothing()
    ctr = g.status()["ctl"]["counters"]
    if (ctr["unsupported"], ctr["malformed"], ctr["unexpected"]) != (0, 2, 1):
        fail(f"counters: {ctr}")

    # 7. UNLOAD, then RESET: IDLE for the same generation.
    g.send(hdr(UNLOAD))
    g.expect(UNLOAD_RESP)
    qp.mbox_publish(qt, qp.RESET, RING_PAGES, RING_GPA, g.gen)
    qp.doorbell(qt, 0)
    if qp.mbox_answer(qt, g.gen, states=(qp.IDLE,)) != (qp.IDLE, 0):
        fail("RESET not answered with IDLE")
    st = g.status()
    c = st["ctl"]
    print(f"ctl-e2e: UNLOAD_RESP, RESET -> IDLE; counters: {c['counters']['packets_in']} packets in, "
          f"{c['counters']['packets_out']} out, {c['counters']['signals']} signals")
    if c["state"] != "idle" or c["counters"]["packets_out"] != 8:
        fail(f"status after reset: {c}")

    # 8. A reconnect with rings outside guest RAM: ERROR, EFAULT.
    g.gen += 1
    qp.mbox_publish(qt, qp.CONNECT, RING_PAGES, 1 << 40, g.gen)
    qp.doorbell(qt, 0)
    if qp.mbox_answer(qt, g.gen) != (qp.ERROR, EFAULT):
        fail("out-of-RAM rings not refused with EFAULT")
    print("ctl-e2e: rings outside guest RAM -> ERROR, host_error EFAULT")

    # 9. The guest reboots: a new generation; then it scribbles a write
    # index: the connection breaks, kvmbusd keeps serving.
    if g.connect() != (qp.ONLINE, 0):
        fail("reconnect refused")
    g.send(hdr(VERSION_REQ) + struct.pack("<IIQ", V1, V1, 0))
    g.expect(VERSION_RESP)
    qt.writel(RING_GPA, 0x1234)                 # not a multiple of 8
    qp.doorbell(qt, 0)
    for _ in range(100):
        st = g.status()
        if st["ctl"]["state"] == "broken":
            break
        time.sleep(0.05)
    else:
        fail("garbage write index did not break the connection")
    if qt.readl(qp.BAR2 + qp.MBOX_HOST_STATE) != qp.ONLINE:
        fail("host_state changed on a broken ring")
    out = g.kvmbusctl("status")
    if "guest:    broken" not in out:
        fail(f"kvmbusctl status: {out}")
    g.kvmbusctl("add", "echo")
    g.expect_nothing()
    print("ctl-e2e: garbage write index -> broken, host_state stays ONLINE, kvmbusd serves on")
    print(out, end="")


def main():
    if len(sys.argv) != 7:
        print(__doc__)
        sys.exit(2)
    qemu, ram, size, ksock, ctl, kvmbusctl = sys.argv[1:]
    qp.qtest(qemu, ram, size, ksock, ctl,
             play=lambda qt, r, c: play(qt, r, c, kvmbusctl))
    print("ctl-e2e: guest side done")


if __name__ == "__main__":
    main()
