#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Helpers for qemu-connect.sh: talk QMP to QEMU and JSON to kvmbusd.

  qemu_probe.py qmp-check SOCK BAR_SIZE VECTORS   wait for the ivshmem device,
                                                  check it, then quit QEMU
  qemu_probe.py status CTL_SOCK                   print kvmbusd's status JSON
  qemu_probe.py qtest QEMU RAM SIZE KSOCK CTL     start QEMU (TCG, CPUs stopped)
                                                  and play the guest through the
                                                  qtest protocol: doorbells in,
                                                  MSI-X out
"""
import os
import subprocess
import json
import re
import socket
import sys
import time

IVSHMEM = (0x1af4, 0x1110)


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rw")
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        msg = self.read()
        if "error" in msg:
            raise RuntimeError(f"{name}: {msg['error']}")
        return msg["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})


def find_ivshmem(qmp):
    for bus in qmp.cmd("query-pci"):
        for dev in bus["devices"]:
            if (dev["id"]["vendor"], dev["id"]["device"]) == IVSHMEM:
                return dev
    return None


def fail(msg):
    print(f"qemu_probe: FAIL: {msg}")
    sys.exit(1)


def qmp_check(path, bar_size, vectors):
    qmp = Qmp(path)
    dev = None
    deadline = time.time() + 60
    # Wait until the firmware has placed BAR2, so it is really mapped.
    while time.time() < deadline:
        dev = find_ivshmem(qmp)
        bar2 = dev and [r for r in dev["regions"] if r["bar"] == 2]
        if bar2 and bar2[0]["address"] not in (0, 2**64 - 1):
            break
        time.sleep(0.2)
    else:
        fail(f"ivshmem-doorbell BAR2 never assigned: {dev}")
    bar2 = bar2[0]
    print(f"qemu_probe: ivshmem-doorbell at {dev['bus']:02x}:{dev['slot']:02x}."
          f"{dev['function']}, BAR2 {bar2['size']:#x} bytes at {bar2['address']:#x}")
    if bar2["size"] != bar_size:
        fail(f"BAR2 is {bar2['size']:#x} bytes, expected {bar_size:#x}")
    if not bar2.get("prefetch"):
        fail("BAR2 is not prefetchable memory")

    # MSI-X: the table holds 16 bytes per vector.
    mtree = qmp.hmp("info mtree")
    m = re.search(r"([0-9a-f]+)-([0-9a-f]+) \(prio \d+, i/o\): msix-table", mtree)
    if not m:
        fail("no msix-table in info mtree")
    table = int(m.group(2), 16) - int(m.group(1), 16) + 1
    print(f"qemu_probe: MSI-X table {table} bytes = {table // 16} vectors")
    if table != 16 * vectors:
        fail(f"MSI-X table has {table // 16} vectors, expected {vectors}")
    qtree = qmp.hmp("info qtree")
    if not re.search(rf"vectors = {vectors} ", qtree):
        fail(f"info qtree does not show vectors = {vectors}")

    # QEMU's view of BAR2 must be kvmbusd's memfd: the mailbox magic.
    words = qmp.hmp(f"xp /4xw {bar2['address']:#x}")
    vals = [int(x, 16) for x in re.findall(r"0x([0-9a-f]{8})", words)[-4:]]
    raw = b"".join(v.to_bytes(4, "little") for v in vals)
    print(f"qemu_probe: BAR2 starts with {raw[:8]!r}, layout {raw[8]}")
    if raw[:8] != b"KVMBUS\x00\x01" or raw[8] != 1:
        fail("BAR2 does not hold the kvmbus mailbox header")
    try:
        qmp.cmd("quit")
    except (EOFError, OSError):
        pass
    print("qemu_probe: device OK, QEMU told to quit")


def control(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)


class Qtest:
    """The guest's side of the PCI bus, through QEMU's qtest protocol."""

    def __init__(self, conn):
        self.f = conn.makefile("rw")

    def _call(self, line, what):
        """Send one command; the words of its OK reply (IRQ lines skipped)."""
        self.f.write(line + "\n")
        self.f.flush()
        while True:
            reply = self.f.readline()
            if not reply:
                raise EOFError("qtest closed")
            if not reply.startswith("IRQ"):
                break
        parts = reply.split()
        if parts[0] != "OK":
            raise RuntimeError(f"qtest {what}: {reply.strip()}")
        return parts

    def cmd(self, line):
        parts = self._call(line, line)
        return int(parts[1], 16) if len(parts) > 1 else None

    def read(self, addr, size):
        """Guest memory as the guest sees it: bytes."""
        return bytes.fromhex(self._call(f"read {addr:#x} {size}", "read")[1][2:])

    def write(self, addr, data):
        if data:
            self.cmd(f"write {addr:#x} {len(data)} 0x{data.hex()}")

    def readl(self, addr):
        return self.cmd(f"readl {addr:#x}")

    def writel(self, addr, val):
        self.cmd(f"writel {addr:#x} {val:#x}")

    def cfg_addr(self, dev, reg):
        self.cmd(f"outl 0xcf8 {0x80000000 | dev << 11 | reg:#x}")

    def cfg_read(self, dev, reg):
        self.cfg_addr(dev, reg & ~3)
        return self.cmd("inl 0xcfc")

    def cfg_write(self, dev, reg, val):
        self.cfg_addr(dev, reg & ~3)
        self.cmd(f"outl 0xcfc {val:#x}")


BAR0, BAR1, BAR2 = 0xfe000000, 0xfe001000, 0xfd000000
MSI_GPA, MSI_DATA = 0x200000, 0x4b564d42


def qtest(qemu, ram, size, ksock, ctl, play=None,
          machine="q35,memory-backend=ram"):
    """Run QEMU under qtest and call play(qt, ram, ctl) as its guest."""
    play = play or qtest_play
    tmp = os.path.dirname(ksock)
    qsock = os.path.join(tmp, "qtest.sock")
    lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsn.bind(qsock)
    lsn.listen(1)
    lsn.settimeout(30)
    log = open(os.path.join(tmp, "qemu-qtest.log"), "w")
    proc = subprocess.Popen([
        qemu, "-accel", "tcg", "-S", "-qtest", f"unix:{qsock}",
        "-M", machine, "-m", size,
        "-object", f"memory-backend-file,id=ram,size={size},mem-path={ram},share=on",
        "-chardev", f"socket,id=kvmbus,path={ksock}",
        "-device", "ivshmem-doorbell,chardev=kvmbus,vectors=64,addr=4",
        "-display", "none", "-nodefaults", "-monitor", "none"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        conn, _ = lsn.accept()
        conn.settimeout(30)
        qt = Qtest(conn)
        play(qt, ram, ctl)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        lsn.close()
        os.unlink(qsock)


def wait_for(ctl, pred, what):
    for _ in range(100):
        st = control(ctl, {"cmd": "status"})
        if pred(st):
            return st
        time.sleep(0.05)
    fail(f"{what}: {st}")


DEV = 4                                     # ivshmem-doorbell at 00:04.0
MBOX_HOST_STATE, MBOX_HOST_ERROR, MBOX_ACKED = 0x1c, 0x20, 0x28
MBOX_GUEST_STATE, MBOX_PAGES, MBOX_GPA, MBOX_GEN = 0x40, 0x44, 0x48, 0x50
IDLE, CONNECT, ONLINE, ERROR, RESET = 0, 1, 2, 3, 4


def pci_setup(qt):
    """What firmware would do: place the BARs, enable memory and bus master."""
    if qt.cfg_read(DEV, 0) != 0x11101af4:
        fail("no ivshmem-doorbell at 00:04.0")
    qt.cfg_write(DEV, 0x10, BAR0)
    qt.cfg_write(DEV, 0x14, BAR1)
    qt.cfg_write(DEV, 0x18, BAR2 | 0xc)     # 64-bit prefetchable
    qt.cfg_write(DEV, 0x1c, 0)
    qt.cfg_write(DEV, 0x04, qt.cfg_read(DEV, 0x04) | 0x6)
    magic = qt.cmd(f"readl {BAR2:#x}").to_bytes(4, "little")
    if magic != b"KVMB":
        fail(f"BAR2 reads {magic!r}")


def msix_setup(qt, vector, addr, data, vectors=64):
    """Aim MSI-X @vector at guest RAM @addr and enable MSI-X."""
    cap = qt.cfg_read(DEV, 0x34) & 0xff
    while cap and (qt.cfg_read(DEV, cap) & 0xff) != 0x11:
        cap = (qt.cfg_read(DEV, cap) >> 8) & 0xff
    if not cap:
        fail("no MSI-X capability")
    if (qt.cfg_read(DEV, cap) >> 16 & 0x7ff) + 1 != vectors:
        fail(f"MSI-X capability does not announce {vectors} vectors")
    entry = BAR1 + vector * 16
    qt.writel(entry, addr)
    qt.writel(entry + 4, 0)
    qt.writel(entry + 8, data)
    qt.writel(entry + 12, 0)                        # unmasked
    qt.cfg_write(DEV, cap, qt.cfg_read(DEV, cap) | 1 << 31)     # enable


def doorbell(qt, vector):
    qt.writel(BAR0 + 12, vector)                    # peer 0 << 16 | vector


def mbox_publish(qt, state, pages, gpa, gen):
    """The guest half of the mailbox: fields first, the state last."""
    qt.writel(BAR2 + MBOX_PAGES, pages)
    qt.writel(BAR2 + MBOX_GPA, gpa & 0xffffffff)
    qt.writel(BAR2 + MBOX_GPA + 4, gpa >> 32)
    qt.writel(BAR2 + MBOX_GEN, gen)
    qt.writel(BAR2 + MBOX_GUEST_STATE, state)


def mbox_answer(qt, gen, timeout=10, states=(IDLE, ONLINE, ERROR)):
    """Wait until the host answers generation @gen with one of @states;
    (state, error).  A RESET waits for IDLE alone: the ONLINE answer to
    the same generation's CONNECT is still there until kvmbusd acts."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if qt.readl(BAR2 + MBOX_ACKED) == gen:
            state = qt.readl(BAR2 + MBOX_HOST_STATE)
            if state in states:
                return state, qt.readl(BAR2 + MBOX_HOST_ERROR)
        time.sleep(0.02)
    fail(f"kvmbusd never answered generation {gen}")


def qtest_play(qt, ram, ctl):
    pci_setup(qt)

    # The guest publishes its control rings (fresh, zeroed RAM), then
    # rings vector 0: kvmbusd attaches and answers ONLINE.
    mbox_publish(qt, CONNECT, 2, 0x100000, 7)
    doorbell(qt, 0)
    st = wait_for(ctl, lambda s: s["qemu"]["doorbells"].get("0") == 1,
                  "doorbell on vector 0 never reached kvmbusd")
    mb = st["mailbox"]
    if (mb["state"], mb["ring_pages"], mb["ctl_gpa"], mb["generation"]) != \
            ("connect", 2, 0x100000, 7):
        fail(f"mailbox read wrong: {mb}")
    if mbox_answer(qt, 7) != (ONLINE, 0):
        fail("control rings not accepted")
    print(f"qemu_probe: doorbell 0 delivered, mailbox {mb}, host ONLINE")

    # A hostile mailbox (a new generation, rings beyond guest RAM) is
    # refused with EFAULT and counted.
    qt.writel(BAR2 + MBOX_GPA, 0xfffff000)
    qt.writel(BAR2 + MBOX_GEN, 8)
    doorbell(qt, 0)
    st = wait_for(ctl, lambda s: s["mailbox"]["rejected"] == 1,
                  "out-of-RAM control ring not rejected")
    if st["ram"]["rejected"] != 1 or st["mailbox"]["ctl_gpa"] != 0x100000:
        fail(f"rejection not accounted: {st}")
    if mbox_answer(qt, 8) != (ERROR, 14):
        fail("out-of-RAM control rings not answered with ERROR/EFAULT")
    # Another vector, and a vector beyond the device's (TCG keeps 8 bits).
    doorbell(qt, 0x5)
    doorbell(qt, 0x105)
    st = wait_for(ctl, lambda s: s["qemu"]["doorbells"].get("5") == 2,
                  "doorbells on vector 5 not counted")
    print(f"qemu_probe: doorbells counted per vector: {st['qemu']['doorbells']}")

    # kvmbusd -> guest: enable MSI-X, aim vector 9 at guest RAM, notify.
    msix_setup(qt, 9, MSI_GPA, MSI_DATA)
    reply = control(ctl, {"cmd": "notify", "vector": 9})
    if not reply.get("ok"):
        fail(f"notify: {reply}")
    # Unbuffered: a buffered reader would answer every later seek to the
    # same spot from its first, stale read.
    with open(ram, "rb", buffering=0) as f:
        for _ in range(100):
            f.seek(MSI_GPA)
            if int.from_bytes(f.read(4), "little") == MSI_DATA:
                break
            time.sleep(0.05)
        else:
            fail("MSI-X message of vector 9 never reached guest RAM")
    print("qemu_probe: notify on vector 9 arrived as an MSI-X write in guest RAM")


def status(path):
    reply = control(path, {"cmd": "status"})
    if not reply.get("ok"):
        fail(f"status: {reply}")
    print(json.dumps(reply))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "qmp-check":
        qmp_check(sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4]))
    elif len(sys.argv) == 7 and sys.argv[1] == "qtest":
        qtest(*sys.argv[2:7])
    elif len(sys.argv) == 3 and sys.argv[1] == "status":
        status(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
