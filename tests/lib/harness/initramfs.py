# SPDX-License-Identifier: GPL-2.0-only
"""Guest initramfs: a cached per-kernel base plus a small per-run overlay.

The base (build/initramfs/<KVER>/base.cpio) holds busybox with its applets
as symlinks, the host tools the tests use with every shared library
they need, and the stock kernel modules of tests/guest/kmods.txt with their
dependencies (decompressed, depmod'ed).  It is rebuilt only when an input
changed: this file, kmods.txt, or any copied host file (size or mtime).

The overlay is written for every boot: /init, /tests/lib.sh, the suite
files, and the project's modules in /lib/modules/<KVER>/extra with a fresh
depmod index.  The kernel unpacks concatenated cpio archives in order, so the
boot's initrd is simply base + overlay.
"""

import fcntl
import gzip
import hashlib
import json
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from .common import (CACHE, GUEST_DIR, INITRAMFS_CACHE, HarnessError,
                     module_name, note)

# Host programs copied into the guest, with their libraries.  Names are
# looked up in PATH (sbin included); a glob is expanded in /usr/bin.
TOOLS = ["iperf3", "sockperf", "fio", "ethtool", "mke2fs", "mkfs.ext4", "e2fsck",
         "stress-ng", "ip", "kmod", "sg_*"]
# kmod provides the module tools (busybox's modinfo cannot show vermagic).
# /sbin/modprobe is also what the kernel runs to autoload modules.
KMOD_LINKS = {"sbin/modprobe", "sbin/insmod", "sbin/rmmod", "sbin/depmod",
              "sbin/modinfo", "bin/lsmod"}
EXTRA_FILES = ["/etc/mke2fs.conf"]
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Debian's busybox-static is built with FEATURE_SH_STANDALONE and
# PREFER_APPLETS: its shell, env, timeout, xargs... run their own "ip",
# "modprobe", "modinfo" even when the real tool is in PATH.  Debian's
# dynamic busybox (package "busybox", unpacked by scripts/deps.sh next to the
# kernels because it conflicts with busybox-static) does not, so prefer it.
BUSYBOX_CANDIDATES = [os.environ.get("KVMBUS_BUSYBOX"),
                      str(CACHE / "busybox" / "bin" / "busybox"),
                      "/bin/busybox"]
KMODS_TXT = GUEST_DIR / "kmods.txt"
INDEX_FILES = ("modules.order", "modules.builtin", "modules.builtin.modinfo")

ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "etc/hostname": "kvmbus-guest\n",
}
DIRS = ["dev", "proc", "sys", "tmp", "run", "mnt", "root", "etc", "var",
        "var/tmp", "tests", "usr/share"]


class Cpio:
    """Minimal writer for the kernel's "newc" cpio format."""

    def __init__(self, fileobj, first_ino=1):
        self.f = fileobj
        self.ino = first_ino
        self.seen = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.strip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(encoded), 0)
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08X" % v for v in fields) + encoded
        self.f.write(hdr + b"\0" * (-len(hdr) % 4))
        self.f.write(data + b"\0" * (-len(data) % 4))

    def dir(self, name, mode=0o755):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | mode)

    def _parent(self, name):
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.dir(parent)

    def file(self, name, data, mode=0o644):
        self._parent(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._parent(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def tree(self, root):
        """Add a staging directory (files, dirs, symlinks) below /."""
        root = Path(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                self.dir(rel)
            for name in sorted(filenames + [d for d in dirnames
                                            if os.path.islink(os.path.join(dirpath, d))]):
                path = os.path.join(dirpath, name)
                relname = os.path.normpath(os.path.join(rel, name))
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    self.symlink(relname, os.readlink(path))
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        self.file(relname, f.read(), stat.S_IMODE(st.st_mode))

    def close(self):
        self._entry("TRAILER!!!", 0)


def decompress_module(src):
    src = str(src)
    if src.endswith(".xz"):
        return lzma.decompress(Path(src).read_bytes())
    if src.endswith(".gz"):
        return gzip.decompress(Path(src).read_bytes())
    if src.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", src], check=True,
                              stdout=subprocess.PIPE).stdout
    return Path(src).read_bytes()


def strip_compression(relpath):
    for suffix in (".xz", ".gz", ".zst"):
        if relpath.endswith(suffix):
            return relpath[: -len(suffix)]
    return relpath


def run_depmod(base, kver):
    r = subprocess.run(["depmod", "-b", str(base), kver],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        raise HarnessError(f"depmod -b {base} {kver} failed: {r.stdout.strip()}")


def stat_key(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


class KernelIndex:
    """modules.dep / aliases / softdeps of the unpacked stock kernel.

    dpkg -x does not run depmod, so ask depmod for the index on stdout.
    """

    def __init__(self, kernel):
        self.kernel = kernel
        r = subprocess.run(["depmod", "-n", "-b", str(kernel.root), kernel.kver],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            raise HarnessError(f"depmod -n for {kernel.kver} failed: {r.stderr.strip()}")
        self.deps, self.by_name, self.aliases, self.softdeps = {}, {}, {}, {}
        for line in r.stdout.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith("alias "):
                parts = line.split()
                if len(parts) == 3:
                    self.aliases.setdefault(parts[1], []).append(parts[2])
            elif line.startswith("softdep "):
                parts = line.split()
                self.softdeps[parts[1]] = [w for w in parts[2:]
                                           if w not in ("pre:", "post:")]
            elif ":" in line and line.split(":", 1)[0].endswith(
                    (".ko", ".ko.xz", ".ko.gz", ".ko.zst")):
                path, deps = line.split(":", 1)
                self.deps[path] = deps.split()
                self.by_name[norm(module_name(path))] = path
        self.builtin = set()
        builtin = kernel.moddir / "modules.builtin"
        if builtin.is_file():
            for line in builtin.read_text().splitlines():
                self.builtin.add(norm(module_name(line.strip())))

    def lookup(self, name):
        n = norm(name)
        if n in self.by_name:
            return [self.by_name[n]]
        return [self.by_name[norm(m)] for m in self.aliases.get(name, [])
                if norm(m) in self.by_name]

    def closure(self, names):
        """(module paths to copy, builtin names, missing names).

        Follows modules.dep and soft dependencies; a soft dependency that
        cannot be found is not an error (modprobe ignores it too).
        """
        paths, builtin, missing = [], [], []
        todo, done = [(n, False) for n in names], set()
        while todo:
            name, soft = todo.pop(0)
            if norm(name) in done:
                continue
            done.add(norm(name))
            found = self.lookup(name)
            if not found:
                if norm(name) in self.builtin:
                    builtin.append(name)
                elif not soft:
                    missing.append(name)
                continue
            for path in found:
                for p in [path] + self.deps[path]:
                    if p not in paths:
                        paths.append(p)
                    for s in self.softdeps.get(norm(module_name(p)), []):
                        todo.append((s, True))
        return paths, builtin, missing


def norm(name):
    return name.replace("-", "_")


def read_kmods():
    if not KMODS_TXT.is_file():
        raise HarnessError(f"{KMODS_TXT} is missing")
    names = []
    for line in KMODS_TXT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def which(name):
    return shutil.which(name, path=TOOL_PATH)


def pick_busybox():
    for candidate in BUSYBOX_CANDIDATES:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError("no busybox: run scripts/deps.sh (busybox-static, and "
                       f"the dynamic busybox in {CACHE}/busybox)")


def prefers_applets(busybox):
    """True if busybox's shell runs its applets instead of PATH programs."""
    with tempfile.TemporaryDirectory(prefix="kvmbus-bb-") as tmp:
        probe = Path(tmp) / "uname"
        probe.write_text("#!/bin/sh\necho from-path\n")
        probe.chmod(0o755)
        r = subprocess.run([busybox, "sh", "-c", "uname"], env={"PATH": tmp},
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        return r.stdout.strip() != "from-path"


def ldd(binary):
    """Shared objects binary needs: [(path in guest, host file)]."""
    r = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        return []            # static, or not ELF
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            raise HarnessError(f"ldd {binary}: {line}")
        if "=>" in line:
            path = line.split("=>", 1)[1].split("(")[0].strip()
        else:
            path = line.split("(")[0].strip()
        if path.startswith("/"):
            libs.append((path, os.path.realpath(path)))
    return libs


class Builder:
    """Builds and caches the base initramfs of one kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.kver = kernel.kver
        self.dir = INITRAMFS_CACHE / kernel.kver
        self.base = self.dir / "base.cpio"
        self.stamp = self.dir / "stamp.json"
        # lib/modules/<kver> of the base, for the per-run depmod.  A tar, so
        # that kbuild's "make M=... clean" (which deletes every *.ko and
        # modules.order below the checkout) cannot eat it.
        self.modtree = self.dir / "modtree.tar"
        self.build_seconds = None

    # -- cache validation ------------------------------------------------
    def identity(self):
        me = Path(__file__).read_bytes()
        kmods = KMODS_TXT.read_bytes() if KMODS_TXT.is_file() else b""
        tools = {t: which(t) for t in TOOLS if "*" not in t}
        tools["busybox"] = pick_busybox()
        return {"builder": hashlib.sha256(me).hexdigest(),
                "kmods": hashlib.sha256(kmods).hexdigest(),
                "kver": self.kver,
                "tools": tools,
                "globs": {t: sorted(str(p) for p in Path("/usr/bin").glob(t))
                          for t in TOOLS if "*" in t}}

    def up_to_date(self):
        try:
            stamp = json.loads(self.stamp.read_text())
        except (OSError, ValueError):
            return False
        if stamp.get("identity") != self.identity():
            return False
        if stat_key(self.base) != stamp.get("base") or \
                stat_key(self.modtree) != stamp.get("modtree"):
            return False
        return all(stat_key(p) == v for p, v in stamp.get("inputs", {}).items())

    def lock(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def ensure(self):
        """Build the base if needed.  Call with the lock held."""
        if self.up_to_date():
            return False
        t0 = time.monotonic()
        note(f"building initramfs for {self.kver} ...")
        self.stamp.unlink(missing_ok=True)
        self._build()
        self.build_seconds = time.monotonic() - t0
        note(f"initramfs for {self.kver} built in {self.build_seconds:.1f} s "
             f"({self.base.stat().st_size >> 20} MiB)")
        return True

    # -- the build -------------------------------------------------------
    def _build(self):
        inputs = {}

        def copy(src, dest_rel, root, mode=None):
            real = os.path.realpath(src)
            inputs[real] = stat_key(real)
            dest = root / dest_rel.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            shutil.copyfile(real, dest)
            os.chmod(dest, mode if mode is not None
                     else stat.S_IMODE(os.stat(real).st_mode))

        with tempfile.TemporaryDirectory(prefix="stage-", dir=self.dir) as tmp:
            root = Path(tmp) / "root"
            root.mkdir()
            for d in DIRS:
                (root / d).mkdir(parents=True, exist_ok=True)
            for name, text in ETC.items():
                (root / name).write_text(text)

            # Host tools and their libraries.
            installed = set()
            binaries = []
            for tool in TOOLS:
                if "*" in tool:
                    found = sorted(str(p) for p in Path("/usr/bin").glob(tool))
                else:
                    found = [p for p in [which(tool)] if p]
                if not found:
                    note(f"initramfs: '{tool}' not found on the host, left out "
                         "(run scripts/deps.sh)")
                for path in found:
                    rel = path.lstrip("/")
                    copy(path, rel, root)
                    installed.add(rel)
                    installed.add(os.path.basename(rel))
                    binaries.append(path)
            if "kmod" in installed:
                kmod_rel = next(r for r in installed if r.endswith("/kmod"))
                for link in KMOD_LINKS:
                    (root / link).parent.mkdir(parents=True, exist_ok=True)
                    os.symlink("/" + kmod_rel, root / link)
                    installed.add(os.path.basename(link))
            libs = {}
            for b in binaries:
                for guest_path, real in ldd(b):
                    libs[guest_path] = real
            for guest_path, real in sorted(libs.items()):
                copy(real, guest_path, root, 0o755)
            for f in EXTRA_FILES:
                if os.path.isfile(f):
                    copy(f, f, root)

            # busybox and its applets (not where a real tool took the name).
            busybox = pick_busybox()
            if prefers_applets(busybox):
                note(f"WARNING: {busybox} runs its own applets instead of the "
                     "programs in PATH, so ip, modprobe, modinfo... in the guest "
                     f"are busybox's; scripts/deps.sh should unpack Debian's "
                     f"dynamic busybox into {CACHE}/busybox")
            copy(busybox, "bin/busybox", root, 0o755)
            for guest_path, real in ldd(busybox):
                copy(real, guest_path, root, 0o755)
            applets = subprocess.run([busybox, "--list-full"], check=True,
                                     stdout=subprocess.PIPE, text=True).stdout.split()
            for rel in applets:
                if os.path.basename(rel) in installed or rel == "bin/busybox":
                    continue
                dest = root / rel
                if dest.exists() or dest.is_symlink():
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink("/bin/busybox", dest)

            # Stock kernel modules.
            kmoddir = root / "lib" / "modules" / self.kver
            kmoddir.mkdir(parents=True)
            index = KernelIndex(self.kernel)
            wanted = read_kmods()
            paths, builtin, missing = index.closure(wanted)
            if builtin:
                note(f"initramfs {self.kver}: built into the kernel: {', '.join(builtin)}")
            if missing:
                note(f"initramfs {self.kver}: not in this kernel, left out: "
                     f"{', '.join(missing)}")
            for rel in paths:
                src = self.kernel.moddir / rel
                inputs[str(src)] = stat_key(src)
                dest = kmoddir / strip_compression(rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(decompress_module(src))
            for name in INDEX_FILES:
                src = self.kernel.moddir / name
                if src.is_file():
                    shutil.copyfile(src, kmoddir / name)
                    inputs[str(src)] = stat_key(src)
            run_depmod(root, self.kver)
            inputs[str(KMODS_TXT)] = stat_key(KMODS_TXT)

            # The cpio: /dev/console must exist before devtmpfs is mounted.
            # Uncompressed: a 120 MiB archive unpacks in well under a second
            # under TCG, where gzip or zstd take 2-3 s in the guest.
            tmp_base = self.dir / "base.tmp"
            with open(tmp_base, "wb") as f:
                cpio = Cpio(f)
                cpio.dir("dev")
                cpio.chardev("dev/console", 5, 1)
                cpio.chardev("dev/null", 1, 3, 0o666)
                cpio.tree(root)
                cpio.close()
                f.write(b"\0" * (-f.tell() % 512))
            os.replace(tmp_base, self.base)

            # Keep the module tree for the per-run depmod of project modules.
            with tarfile.open(self.dir / "modtree.tmp", "w") as tar:
                tar.add(kmoddir, arcname=".")
            os.replace(self.dir / "modtree.tmp", self.modtree)

        for stale in ("base.cpio.gz", "modtree"):     # older layouts
            path = self.dir / stale
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        self.stamp.write_text(json.dumps({"identity": self.identity(),
                                          "base": stat_key(self.base),
                                          "modtree": stat_key(self.modtree),
                                          "inputs": inputs}, indent=1))


# hostcall as a command, for callers that are not the suite's shell.
HOSTCALL_SCRIPT = b'#!/bin/sh\n. /tests/lib.sh\nhostcall "$@"\n'


def make_initrd(builder, out, suite_dir, modules):
    """Write the boot's initrd to out: cached base + per-run overlay.

    modules: project module files for /lib/modules/<KVER>/extra (may be []).
    Call with the builder's lock held.
    """
    kver = builder.kver
    work = Path(out).parent / "overlay"
    with open(out, "wb") as f:
        with open(builder.base, "rb") as base:
            shutil.copyfileobj(base, f, 1 << 20)
        cpio = Cpio(f, first_ino=1 << 24)
        cpio.dir("tests")
        cpio.file("init", (GUEST_DIR / "init").read_bytes(), 0o755)
        cpio.file("tests/lib.sh", (GUEST_DIR / "lib.sh").read_bytes(), 0o644)
        cpio.file("usr/bin/hostcall", HOSTCALL_SCRIPT, 0o755)
        for p in sorted(Path(suite_dir).glob("*.sh")):
            if p.name != "lib.sh":
                cpio.file(f"tests/{p.name}", p.read_bytes(), 0o644)
        if modules:
            moddir = work / "lib" / "modules" / kver
            moddir.mkdir(parents=True)
            with tarfile.open(builder.modtree) as tar:
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(moddir, **safe)
            extra = moddir / "extra"
            extra.mkdir()
            for m in modules:
                try:
                    data = decompress_module(m)
                except (OSError, lzma.LZMAError, subprocess.CalledProcessError) as e:
                    raise HarnessError(f"cannot read module {m}: {e} "
                                       "(is 'make guest-modules' running?)")
                (extra / (module_name(m) + ".ko")).write_bytes(data)
            run_depmod(work, kver)
            prefix = f"lib/modules/{kver}"
            cpio.dir(f"{prefix}/extra")
            for m in sorted(extra.iterdir()):
                cpio.file(f"{prefix}/extra/{m.name}", m.read_bytes())
            for p in sorted(moddir.iterdir()):
                if p.is_file() and p.name.startswith("modules."):
                    cpio.file(f"{prefix}/{p.name}", p.read_bytes())
            shutil.rmtree(work)
        cpio.close()
