# SPDX-License-Identifier: GPL-2.0-only
"""tests/run: command line, reporting, results.json, --self-test."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import suites as suitelib
from .common import (GUEST_DIR, LOGS, REPO, SELFTEST_DIR, HarnessError,
                     Kernel, debug_kernel, display_path, load_kernels, project_modules,
                     resolve_kernel, short_name)
from .initramfs import Builder, pick_busybox
from .vm import QEMU, Boot, Result, emit

USAGE_EPILOG = """\
examples:
  tests/run                          every suite in tests/guest on every kernel
  tests/run --kernel 6.1 smoke.boot  one case on one kernel
  tests/run --list                   suites and cases
  tests/run --self-test              check the harness itself

Kernels come from $KVMBUS_CACHE/kernels.env (scripts/deps.sh); the project's
modules from build/<KVER>/ (make guest-modules).  Logs: build/logs/.
See docs/testing.md.
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tests/run", epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Boot Debian guest kernels under QEMU and run kvmbus "
                    "guest test suites.")
    p.add_argument("tests", nargs="*", metavar="SUITE[.CASE]",
                   help="what to run (default: every suite in the directory)")
    p.add_argument("--kernel", action="append", default=[], metavar="KVER",
                   help="full KVER or short name (6.1, 6.12); repeatable "
                        "(default: every kernel in kernels.env)")
    p.add_argument("--dir", metavar="SUITEDIR",
                   help="suite directory (default: tests/guest)")
    p.add_argument("--modules", action="append", default=[], metavar="KVER=DIR",
                   help="take the project modules for KVER from DIR instead of "
                        "build/<KVER>/; repeatable")
    p.add_argument("--no-modules", action="store_true",
                   help="boot without the project modules")
    p.add_argument("--console", action="store_true",
                   help="stream the guest console to stdout as well")
    p.add_argument("--keep", action="store_true",
                   help="keep the run directory and the guest RAM file")
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="QEMU accelerator (default: tcg)")
    p.add_argument("--list", action="store_true",
                   help="list suites and cases, run nothing")
    p.add_argument("--self-test", action="store_true",
                   help="check that the harness reports failures correctly")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print boot timings")
    return p.parse_args(argv)


def kernel_matches(spec, kver):
    if spec == "debug":
        return kver == debug_kernel()
    return spec == kver or spec == short_name(kver) or (
        kver.startswith(spec) and kver[len(spec):len(spec) + 1] in ".-+")


def result_line(r):
    kernel = r.kernel
    name = f"{r.suite}.{r.case}"
    if r.result == "PASS":
        return f"PASS  {kernel}  {name}  ({r.seconds:.1f} s)"
    line = f"{r.result}  {kernel}  {name}  {r.reason or '(no reason given)'}"
    if r.result == "FAIL" and r.log:
        line += f"  [log: {display_path(r.log)}]"
    return line


def summary(results):
    passed = sum(r.result == "PASS" for r in results)
    failed = sum(r.result == "FAIL" for r in results)
    skipped = sum(r.result == "SKIP" for r in results)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    return line, failed


def write_json(results, name):
    LOGS.mkdir(parents=True, exist_ok=True)
    path = LOGS / name
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps([r.as_dict() for r in results], indent=1) + "\n")
    os.replace(tmp, path)


class Plan:
    """Everything validated before the first boot."""

    def __init__(self, args, default_dir):
        directory = Path(args.dir) if args.dir else default_dir
        self.selection = suitelib.select(directory, args.tests)
        self.directory = directory
        if args.list:
            return
        busybox = pick_busybox()
        for suite, _ in self.selection:
            suite.check_syntax(busybox)
        known = load_kernels()
        kvers = []
        for spec in args.kernel or known:
            kver = resolve_kernel(spec, known)
            if kver not in kvers:
                kvers.append(kver)
        self.kernels = [Kernel(k).check() for k in kvers]
        overrides = {}
        for item in args.modules:
            spec, sep, path = item.partition("=")
            if not sep or not path:
                raise HarnessError(f"--modules wants KVER=DIR, not '{item}'")
            overrides[resolve_kernel(spec, known)] = path
        self.modules = {}
        for k in self.kernels:
            if args.no_modules:
                self.modules[k.kver] = []
            elif args.self_test:
                # The self-test's deliberate bugs live in a test module
                # (tests/kmod/buggy.c): taken when built, else those
                # cases fail saying so.
                try:
                    self.modules[k.kver] = project_modules(k.kver)
                except HarnessError:
                    self.modules[k.kver] = []
            else:
                self.modules[k.kver] = project_modules(k.kver, overrides.get(k.kver))
        if not shutil.which(QEMU):
            raise HarnessError(f"{QEMU} not found: install qemu-system-x86 "
                               "(scripts/deps.sh)")


def list_suites(plan):
    print(f"suites in {display_path(plan.directory)}:")
    for suite, cases in plan.selection:
        print(f"  {suite.name}  ({suite.describe()})")
        for case in cases:
            print(f"    {suite.name}.{case}")


def run_boots(plan, args, report):
    """Run every selected suite on every kernel; yields (Boot or None, results)."""
    for kernel in plan.kernels:
        builder = Builder(kernel)
        for suite, cases in plan.selection:
            if suite.kernels and not any(kernel_matches(s, kernel.kver)
                                         for s in suite.kernels):
                res = [Result(kernel.kver, suite.name, c, "SKIP",
                              "suite runs only on kernels: " + ", ".join(suite.kernels))
                       for c in cases]
                for r in res:
                    report(r)
                yield None, res
                continue
            def new_boot(**retry):
                return Boot(kernel, builder, suite, cases, plan.modules[kernel.kver],
                            accel=args.accel, console=args.console, keep=args.keep,
                            verbose=args.verbose, report=report, **retry)
            boot = new_boot(retry_early=True)
            res = boot.run()
            if boot.early_death:
                # Died before init: boot once more (vm.py, retry_early);
                # the first console log is kept beside the second.
                first = boot.log_path.with_name(boot.log_path.name + ".first-boot")
                boot.log_path.replace(first)
                emit(f"      {kernel.kver}  {suite.name}: {boot.early_death}; "
                     f"before init, so booting once more ({display_path(first)})")
                boot = new_boot(earlier=boot.early_death)
                res = boot.run()
            if args.verbose:
                t = boot.timing
                bits = [f"initrd {t.get('initrd', 0):.1f} s"]
                if "initramfs_build" in t:
                    bits.append(f"(base built in {t['initramfs_build']:.1f} s)")
                if "ready" in t:
                    bits.append(f"guest up {t['ready']:.1f} s")
                if "first_result" in t:
                    bits.append(f"first result {t['first_result']:.1f} s")
                emit(f"      {kernel.kver}  {suite.name}: " + ", ".join(bits))
            yield boot, res


def cmd_run(args):
    plan = Plan(args, GUEST_DIR)
    if args.list:
        list_suites(plan)
        return 0
    results = []

    def report(r):
        results.append(r)
        emit(result_line(r))

    try:
        for _ in run_boots(plan, args, report):
            pass
    finally:
        write_json(results, "results.json")
    line, failed = summary(results)
    emit(line)
    return 0 if failed == 0 else 1


# ----------------------------------------------------------------- self-test

def host_checks():
    """Bad input must give a clear error and exit status 2 (no VM needed)."""
    run = [sys.executable, str(REPO / "tests" / "run")]
    first = load_kernels()[0]
    with tempfile.TemporaryDirectory(prefix="kvmbus-selftest-") as tmp:
        bad = Path(tmp) / "bad.sh"
        bad.write_text("# timeout: soon\ntest_x() { :; }\n")
        (Path(tmp) / "broken.sh").write_text("test_x() {\n\tif true; then\n}\n")
        empty = Path(tmp) / "empty.sh"
        empty.write_text("# nothing here\n")
        checks = [
            ("unknown_suite", ["no_such_suite"], "unknown suite 'no_such_suite'"),
            ("unknown_case", ["smoke.no_such_case"], "unknown case 'no_such_case'"),
            ("unknown_kernel", ["--kernel", "0.0", "smoke"], "unknown kernel '0.0'"),
            ("modules_bad_syntax", ["--modules", tmp, "smoke"], "--modules wants KVER=DIR"),
            ("modules_empty_dir", ["--kernel", first, "--modules", f"{first}={tmp}",
                                   "smoke"], f"no kvmbus modules for {first}"),
            ("bad_directive", ["--dir", tmp, "bad"], "wants a positive integer"),
            ("no_cases", ["--dir", tmp, "empty"], "defines no test_<case>()"),
            ("syntax_error", ["--dir", tmp, "--no-modules", "broken"],
             "does not parse"),
            ("bad_accel", ["--accel", "xen"], "invalid choice"),
        ]
        for name, argv, expect in checks:
            yield refusal_check("selftest_cli", name, run + argv, expect)


def refusal_check(suite, name, argv, expect):
    """Run argv: PASS if it exits 2 and its output says expect."""
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    ok = p.returncode == 2 and expect in p.stdout
    got = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return Result("host", suite, name, "PASS" if ok else "FAIL",
                  "" if ok else f"expected exit 2 and '{expect}', got "
                                f"exit {p.returncode}: {got}",
                  time.monotonic() - t0)


def bench_checks():
    """The comparison bench's own logic, with no VM: bad options give exit 2
    and a clear error, and several rounds are reduced to their median."""
    bench = [sys.executable, str(REPO / "tests" / "bench" / "bench")]
    checks = [
        ("rounds_zero", ["net", "--rounds", "0"], "must be at least 1"),
        ("rounds_past_timeout", ["disk", "--rounds", "9"],
         "more than the 600 s a case may take"),
    ]
    for name, argv, expect in checks:
        yield refusal_check("selftest_bench", name, bench + argv, expect)
    t0 = time.monotonic()
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    try:
        import benchlib
        with tempfile.TemporaryDirectory(prefix="kvmbus-selftest-") as tmp:
            ddir = Path(tmp) / "kvmbus_storvsc"
            ddir.mkdir()
            # mkfs seconds per round: 3, 1, 2 -> median 2; round 3 also
            # failed rand_read_4k_qd1, so the device is incomplete.
            for rnd, secs in ((1, 3.0), (2, 1.0), (3, 2.0)):
                (ddir / f"mkfs.{rnd}.json").write_text(json.dumps(
                    {"test": "mkfs", "status": 0, "seconds": secs, "output": ""}))
            (ddir / "rand_read_4k_qd1.3.json").write_text(json.dumps(
                {"test": "rand_read_4k_qd1", "status": 1, "seconds": 1, "output": ""}))
            (Path(tmp) / "devices.json").write_text(json.dumps(
                {"kvmbus_storvsc": {"status": "ok", "label": "kvmbus storvsc"}}))
            meta = {"rounds": 3, "device_names": ["kvmbus_storvsc"],
                    "tests": ["mkfs", "rand_read_4k_qd1"]}
            info = benchlib.collect("disk", tmp, meta)["devices"]["kvmbus_storvsc"]
        why = []
        if info["metrics"].get("mkfs") != 2.0:
            why.append(f"median mkfs {info['metrics'].get('mkfs')}, expected 2.0")
        if [r.get("mkfs") for r in info.get("rounds", [])] != [3.0, 1.0, 2.0]:
            why.append(f"rounds {info.get('rounds')}")
        if info["status"] != "incomplete" or "rand_read_4k_qd1" not in info.get("reason", ""):
            why.append(f"status {info['status']} ({info.get('reason', '')}), "
                       "expected incomplete for rand_read_4k_qd1")
    except Exception as e:      # noqa: BLE001 -- any error is this check's failure
        why = [f"{type(e).__name__}: {e}"]
    finally:
        sys.path.remove(str(REPO / "tests" / "bench"))
    yield Result("host", "selftest_bench", "median_of_rounds",
                 "FAIL" if why else "PASS", "; ".join(why), time.monotonic() - t0)


def cmd_self_test(args):
    plan = Plan(args, SELFTEST_DIR)
    if args.list:
        list_suites(plan)
        return 0
    verdicts = []

    def add(v):
        verdicts.append(v)
        line = result_line(v)
        if v.result == "PASS" and v.reason:
            line += f"  [{v.reason}]"
        emit(line)

    try:
        for v in host_checks():
            add(v)
        for v in bench_checks():
            add(v)
        for boot, res in run_boots(plan, args, report=lambda r: None):
            for r in res:
                add(judge(boot, r))
            if boot:
                left = [str(p) for p in (boot.ram, boot.dir) if p.exists()]
                if boot.netns and Path("/run/netns", boot.netns).exists():
                    left.append(f"network namespace {boot.netns}")
                if boot.qemu and boot.qemu.poll() is None:
                    left.append(f"qemu pid {boot.qemu.pid}")
                if left and not args.keep:
                    add(Result(boot.kernel.kver, boot.suite.name, "cleanup", "FAIL",
                               "left behind: " + ", ".join(left)))
    finally:
        write_json(verdicts, "selftest-results.json")
    line, failed = summary(verdicts)
    emit(line)
    return 0 if failed == 0 else 1


def judge(boot, r):
    """Turn the harness's result for a self-test case into a verdict."""
    expect_status, regex = PASS_EXPECTED
    if boot is None and r.result == "SKIP":
        return r            # a suite for other kernels (# kernels:)
    if boot:
        expect_status, regex = boot.suite.expect.get(r.case, PASS_EXPECTED)
    got = f"{r.result}" + (f" ({r.reason})" if r.reason else "")
    want = expect_status + (f" /{regex.pattern}/" if regex else "")
    ok = r.result == expect_status and (regex is None or regex.search(r.reason))
    v = Result(r.kernel, r.suite, r.case, "PASS" if ok else "FAIL",
               f"harness reported {got}" if ok
               else f"harness reported {got}, expected {want}", r.seconds)
    if not ok:
        v.log = r.log or (boot.log_path if boot else None)
    return v


PASS_EXPECTED = ("PASS", None)


def main(argv=None):
    def terminate(signum, frame):
        raise KeyboardInterrupt
    # Also when started in the background by a shell that ignores SIGINT:
    # an interrupted run must still stop QEMU and the companion and clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.self_test:
            return cmd_self_test(args)
        return cmd_run(args)
    except HarnessError as e:
        print(f"tests/run: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tests/run: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
