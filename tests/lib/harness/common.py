# SPDX-License-Identifier: GPL-2.0-only
"""Paths, guest kernels, project modules and small helpers."""

import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("KVMBUS_CACHE") or "/var/cache/kvmbus")
KERNELS_ENV = CACHE / "kernels.env"
# The debug kernel (scripts/debug-kernel.sh): not run by default, reached
# with --kernel debug or its full KVER.
DEBUG_KERNEL_ENV = CACHE / "debug-kernel.env"
BUILD = REPO / "build"
LOGS = BUILD / "logs"
INITRAMFS_CACHE = BUILD / "initramfs"
GUEST_DIR = REPO / "tests" / "guest"
SELFTEST_DIR = REPO / "tests" / "selftest"

# Suffixes of kernel modules the harness accepts (DKMS may compress).
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


class HarnessError(Exception):
    """Bad input or a broken environment: reported in one line, exit status 2."""


def note(msg):
    """A remark for the user on stderr (never mixed into result lines)."""
    print(f"tests/run: {msg}", file=sys.stderr, flush=True)


def display_path(path):
    """Path relative to the current directory when below it, else absolute."""
    path = Path(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def parse_size(text):
    """QEMU-style size ("1G", "512M", "2048" = MiB) -> bytes, whole MiB."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"bad size '{text}' (use e.g. 512M or 1G)")
    mult = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
            "T": 1 << 40}[m.group(2).upper()]
    size = int(m.group(1)) * mult
    if size % (1 << 20) or size < (64 << 20):
        raise ValueError(f"bad size '{text}': must be whole MiB, at least 64M")
    return size


def short_name(kver):
    """6.1.0-56-amd64 -> 6.1"""
    m = re.match(r"(\d+\.\d+)", kver)
    return m.group(1) if m else kver


class Kernel:
    """One unpacked Debian guest kernel in the cache."""

    def __init__(self, kver):
        self.kver = kver
        self.root = CACHE / "kernels" / kver
        self.vmlinuz = self.root / "boot" / f"vmlinuz-{kver}"
        self.moddir = self.root / "lib" / "modules" / kver
        self.short = short_name(kver)
        # A slow kernel (the debug kernel: KASAN, lockdep, kmemleak) says
        # by how much in <root>/timeout-scale; every time limit of a boot
        # on it is multiplied by that.
        try:
            self.timeout_scale = max(1, int((self.root / "timeout-scale").read_text()))
        except (OSError, ValueError):
            self.timeout_scale = 1

    def check(self):
        if not self.vmlinuz.is_file() or not self.moddir.is_dir():
            raise HarnessError(
                f"guest kernel {self.kver} is not unpacked in {self.root} "
                f"(no {self.vmlinuz.name} or lib/modules): run scripts/deps.sh")
        return self

    def __repr__(self):
        return f"Kernel({self.kver})"


def load_kernels():
    """The guest kernels scripts/deps.sh chose, in file order: [kver, ...]."""
    if not KERNELS_ENV.is_file():
        raise HarnessError(f"{KERNELS_ENV} not found: run scripts/deps.sh "
                           "(it picks and unpacks the guest kernels)")
    kvers = []
    for line in KERNELS_ENV.read_text().splitlines():
        m = re.fullmatch(r"\s*(?:export\s+)?(KVER_\w+)=(['\"]?)(.*)\2\s*", line)
        if m and m.group(3) and m.group(3) not in kvers:
            kvers.append(m.group(3))
    if not kvers:
        raise HarnessError(f"{KERNELS_ENV} names no kernel (KVER_...=): "
                           "run scripts/deps.sh")
    return kvers


def debug_kernel():
    """The debug kernel's KVER from debug-kernel.env, or None."""
    try:
        text = DEBUG_KERNEL_ENV.read_text()
    except OSError:
        return None
    m = re.search(r"^KVER_DEBUG=(\S+)$", text, re.MULTILINE)
    return m.group(1) if m else None


def resolve_kernel(spec, known):
    """A --kernel / '# kernels:' value -> full KVER.

    Accepts a full KVER (from kernels.env, or any kernel unpacked in the
    cache), a short name: 6.1 matches 6.1.0-56-amd64 but not 6.12.x, or
    "debug" for the debug kernel (scripts/debug-kernel.sh).
    """
    if spec in known:
        return spec
    if spec == "debug":
        kver = debug_kernel()
        if kver and Kernel(kver).vmlinuz.is_file():
            return kver
        raise HarnessError("no debug kernel: run scripts/debug-kernel.sh "
                           f"(it writes {DEBUG_KERNEL_ENV})")
    matches = [k for k in known
               if k.startswith(spec) and k[len(spec):len(spec) + 1] in (".", "-", "+")]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise HarnessError(f"kernel '{spec}' is ambiguous: {', '.join(matches)}")
    if re.fullmatch(r"[\w.+-]+", spec) and Kernel(spec).vmlinuz.is_file():
        return spec
    listing = ", ".join(f"{short_name(k)} ({k})" for k in known)
    raise HarnessError(f"unknown kernel '{spec}': known kernels are {listing} "
                       f"(from {KERNELS_ENV})")


def module_name(path):
    name = Path(path).name
    for suffix in MODULE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_modules(directory):
    """Every kernel module below directory, sorted, as Paths."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.endswith(MODULE_SUFFIXES) and not f.startswith("."):
                found.append(Path(dirpath) / f)
    return found


def project_modules(kver, override=None):
    """The project's modules for kver: build/<kver>/**.ko or the override dir."""
    directory = Path(override) if override else BUILD / kver
    mods = find_modules(directory)
    if not mods:
        why = "does not exist" if not directory.is_dir() else "holds no .ko file"
        hint = ("check the --modules directory" if override else
                "run 'make guest-modules' first (or pass --modules KVER=DIR, "
                "or --no-modules to boot without them)")
        raise HarnessError(f"no kvmbus modules for {kver}: "
                           f"{display_path(directory)} {why}; {hint}")
    seen = {}
    for m in mods:
        name = module_name(m).replace("-", "_")
        if name in seen:
            raise HarnessError(f"module {name} found twice: {seen[name]} and {m}")
        seen[name] = m
    return mods
