# SPDX-License-Identifier: GPL-2.0-only
"""Suite files: header directives, cases, selection from the command line.

A suite is DIR/NAME.sh (busybox ash) defining test_<case>() functions; the
cases run in file order.  Directives live in the leading comment block:

  # timeout: N        seconds per case (default 60)
  # memory: 1G        guest RAM (default 1G)
  # smp: N            vCPUs (default 2)
  # qemu: ARGS...     extra QEMU arguments, repeatable; {dir} {ram} {sock} {qmp}
  # kernels: 6.1 ...  run only on these kernels
  # append: ARGS...   extra kernel command line, repeatable
  # boot-timeout: N   seconds from QEMU start to the first case (default 90)
  # netns: yes        QEMU runs in a network namespace of its own (KVMBUS_NETNS)
  # expect: CASE PASS|FAIL|SKIP [REGEX]   (self-test suites only)
"""

import copy
import difflib
import os
import re
import shlex
import subprocess
from pathlib import Path

from .common import HarnessError, display_path, parse_size

DEFAULT_TIMEOUT = 60
DEFAULT_MEMORY = "1G"
DEFAULT_SMP = 2
DEFAULT_BOOT_TIMEOUT = 90

NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
CASE_DEF_RE = re.compile(r"^[ \t]*test_([A-Za-z0-9_]+)[ \t]*\([ \t]*\)")
DIRECTIVE_RE = re.compile(r"#\s*([a-z][a-z-]*)\s*:\s*(.*?)\s*$")
KNOWN = {"timeout", "memory", "smp", "qemu", "kernels", "append",
         "boot-timeout", "netns", "expect"}
RESERVED_SUITES = {"lib"}          # tests/guest/lib.sh is the runtime


class Suite:
    def __init__(self, path):
        self.path = Path(path)
        self.dir = self.path.parent
        self.name = self.path.name[:-3]
        host = self.dir / f"{self.name}.host"
        self.host = host if host.exists() else None
        self.cases = []
        self.timeout = DEFAULT_TIMEOUT
        self.memory_text = DEFAULT_MEMORY
        self.memory = parse_size(DEFAULT_MEMORY)
        self.smp = DEFAULT_SMP
        self.qemu = []            # list of argument lists
        self.append = []          # kernel command line words
        self.kernels = None       # None = all, else list of specs
        self.boot_timeout = DEFAULT_BOOT_TIMEOUT
        self.grace = CASE_GRACE   # per case, for the dmesg check and reporting
        self.netns = False        # run QEMU in a network namespace of its own
        self.expect = {}          # case -> (RESULT, regex or None)
        self._parse()

    def scaled(self, factor):
        """A copy with every time limit multiplied by factor (slow kernels)."""
        other = copy.copy(self)
        other.timeout = self.timeout * factor
        other.boot_timeout = self.boot_timeout * factor
        other.grace = self.grace * factor
        return other

    def _error(self, lineno, msg):
        raise HarnessError(f"{display_path(self.path)}:{lineno}: {msg}")

    def _parse(self):
        try:
            text = self.path.read_text(errors="replace")
        except OSError as e:
            raise HarnessError(f"cannot read suite {self.path}: {e.strerror}")
        in_header = True
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if in_header and stripped and not stripped.startswith("#"):
                in_header = False
            if in_header:
                m = DIRECTIVE_RE.fullmatch(stripped)
                if m and m.group(1) in KNOWN:
                    self._directive(lineno, m.group(1), m.group(2))
                elif m:
                    near = difflib.get_close_matches(m.group(1), KNOWN, 1, 0.8)
                    if near:
                        self._error(lineno, f"unknown directive '# {m.group(1)}:' "
                                            f"(did you mean '# {near[0]}:'?)")
                continue
            m = CASE_DEF_RE.match(line)
            if m:
                case = m.group(1)
                if case in self.cases:
                    self._error(lineno, f"test_{case}() is defined twice")
                self.cases.append(case)
        if not self.cases:
            raise HarnessError(f"{display_path(self.path)}: defines no "
                               "test_<case>() function")
        for case in self.expect:
            if case not in self.cases and case != "host_stop":
                raise HarnessError(f"{display_path(self.path)}: '# expect:' "
                                   f"names unknown case '{case}'")
        if self.host and not os.access(self.host, os.X_OK):
            raise HarnessError(f"host companion {display_path(self.host)} "
                               "is not executable (chmod +x)")

    def _directive(self, lineno, key, value):
        def positive_int():
            if not re.fullmatch(r"[1-9][0-9]*", value):
                self._error(lineno, f"'# {key}:' wants a positive integer, "
                                    f"not '{value}'")
            return int(value)

        def words():
            try:
                return shlex.split(value)
            except ValueError as e:
                self._error(lineno, f"'# {key}:' {e}")

        if key == "timeout":
            self.timeout = positive_int()
        elif key == "boot-timeout":
            self.boot_timeout = positive_int()
        elif key == "smp":
            self.smp = positive_int()
        elif key == "memory":
            try:
                self.memory = parse_size(value)
            except ValueError as e:
                self._error(lineno, str(e))
            self.memory_text = value
        elif key == "qemu":
            self.qemu.append(words())
        elif key == "append":
            self.append.extend(words())
        elif key == "kernels":
            self.kernels = value.replace(",", " ").split()
        elif key == "netns":
            if value not in ("yes", "no"):
                self._error(lineno, f"'# netns:' wants yes or no, not '{value}'")
            self.netns = value == "yes"
        elif key == "expect":
            parts = value.split(None, 2)
            if len(parts) < 2 or parts[1] not in ("PASS", "FAIL", "SKIP"):
                self._error(lineno, "'# expect:' wants CASE PASS|FAIL|SKIP [REGEX]")
            regex = None
            if len(parts) == 3:
                try:
                    regex = re.compile(parts[2])
                except re.error as e:
                    self._error(lineno, f"'# expect:' bad regex: {e}")
            self.expect[parts[0]] = (parts[1], regex)

    def check_syntax(self, busybox):
        """Parse the suite with the guest's shell (busybox sh -n) on the host."""
        r = subprocess.run([busybox, "sh", "-n", str(self.path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode:
            raise HarnessError(f"{display_path(self.path)} does not parse: "
                               + " ".join(r.stdout.split()))

    def boot_limit(self, ncases):
        """Host-side limit for one boot running ncases cases, in seconds."""
        return self.boot_timeout + ncases * (self.timeout + self.grace)

    def describe(self):
        bits = [f"timeout {self.timeout}s", f"memory {self.memory_text}",
                f"smp {self.smp}"]
        if self.kernels:
            bits.append("kernels " + ",".join(self.kernels))
        if self.netns:
            bits.append("netns")
        if self.host:
            bits.append("host companion")
        return ", ".join(bits)


# Seconds a case may take beyond its own timeout (dmesg check, reporting).
CASE_GRACE = 30


def suite_names(directory):
    directory = Path(directory)
    names = []
    for p in sorted(directory.glob("*.sh")):
        name = p.name[:-3]
        if name not in RESERVED_SUITES and NAME_RE.fullmatch(name):
            names.append(name)
    return names


def load(directory, name):
    directory = Path(directory)
    path = directory / f"{name}.sh"
    if name in RESERVED_SUITES or not NAME_RE.fullmatch(name) or not path.is_file():
        avail = ", ".join(suite_names(directory)) or "none"
        raise HarnessError(f"unknown suite '{name}' in {display_path(directory)} "
                           f"(suites: {avail})")
    return Suite(path)


def select(directory, specs):
    """['smoke', 'hostcall_selftest.roundtrip'] -> [(Suite, [cases])].

    No spec = every suite in the directory.  Suites keep the order of first
    mention; cases always run in file order.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise HarnessError(f"suite directory {display_path(directory)} "
                           "does not exist")
    if not specs:
        specs = suite_names(directory)
        if not specs:
            raise HarnessError(f"no suites (*.sh) in {display_path(directory)}")
    order, wanted, suites = [], {}, {}
    for spec in specs:
        name, _, case = spec.partition(".")
        if name not in suites:
            suites[name] = load(directory, name)
            order.append(name)
            wanted[name] = set()
        suite = suites[name]
        if not case:
            wanted[name] = None            # whole suite
            continue
        if case not in suite.cases:
            raise HarnessError(f"unknown case '{case}' in suite {name} "
                               f"(cases: {', '.join(suite.cases)})")
        if wanted[name] is not None:
            wanted[name].add(case)
    return [(suites[n], [c for c in suites[n].cases
                         if wanted[n] is None or c in wanted[n]])
            for n in order]
