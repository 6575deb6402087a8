# SPDX-License-Identifier: GPL-2.0-only
"""One boot: a suite's cases on one kernel.

   host companion "start"  ->  QEMU  ->  results  ->  "stop"

QEMU's ttyS0 (the console) and ttyS1 (the control channel) are unix
sockets the harness listens on before QEMU starts.  The guest reports
START / RESULT / READY / DONE lines on both (the control channel is
authoritative, the console is what a human reads) and sends HOSTCALL
requests on the control channel, which the harness answers with REPLY.
"""

import base64
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import initramfs
from .common import CACHE, LOGS, REPO, HarnessError, display_path

MARK = "@@KVMBUS@@"
QEMU = "qemu-system-x86_64"
HOSTCALL_LIMIT = 120
COMPANION_START_LIMIT = 120
COMPANION_STOP_LIMIT = 60
KERNEL_CMDLINE_MAX = 2000
PANIC_RE = re.compile(r"Kernel panic - not syncing.*")

# Printing from several threads (results, --console) goes through this.
print_lock = threading.Lock()


def emit(line):
    with print_lock:
        print(line, flush=True)


class Result:
    def __init__(self, kernel, suite, case, result, reason="", seconds=0.0):
        self.kernel, self.suite, self.case = kernel, suite, case
        self.result, self.reason, self.seconds = result, reason, seconds
        self.log = None

    def as_dict(self):
        return {"kernel": self.kernel, "suite": self.suite, "case": self.case,
                "result": self.result, "reason": self.reason,
                "seconds": round(self.seconds, 2)}


class Log:
    """build/logs/<KVER>/<SUITE>.console: the console plus '## host:' notes."""

    def __init__(self, path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w", errors="replace")
        self.lock = threading.Lock()

    def line(self, text):
        with self.lock:
            if not self.f.closed:
                self.f.write(text + "\n")
                self.f.flush()

    def host(self, text):
        for part in str(text).splitlines() or [""]:
            self.line(f"## host: {part}")

    def close(self):
        with self.lock:
            self.f.close()


def b64(data):
    return base64.b64encode(data).decode() if data else "-"


def unb64(word):
    """A hostcall word: "-" (empty), "=WORD" (as it is) or base64."""
    if word == "-":
        return b""
    if word.startswith("="):
        return word[1:].encode()
    return base64.b64decode(word, validate=True)


def kill_group(proc, grace=5.0):
    """Terminate proc and its process group; wait for it."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def describe_status(status):
    if status is not None and status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with status {status}"


class Boot:
    def __init__(self, kernel, builder, suite, cases, modules, *, accel="tcg",
                 console=False, keep=False, verbose=False, report=None,
                 retry_early=False, earlier=None):
        self.kernel = kernel
        self.builder = builder
        if kernel.timeout_scale > 1:
            suite = suite.scaled(kernel.timeout_scale)
        self.suite = suite
        self.cases = cases
        self.modules = modules
        self.accel = accel
        self.console = console
        self.keep = keep
        self.verbose = verbose
        self.report = report or (lambda r: None)
        self.log_path = LOGS / kernel.kver / f"{suite.name}.console"
        self.events = queue.Queue()
        self.hostcalls = queue.Queue()
        self.results = {}
        self.started = {}
        self.current = None
        self.panic = None
        self.qemu = None
        self.qemu_output = []
        self.ctl = None
        self.ctl_lock = threading.Lock()
        self.timing = {}
        self.control_seen = False
        self.active = set()           # companion processes running now
        # A guest that dies before its init reports READY has run nothing
        # of kvmbus (the cases load the modules), so the cause is the
        # kernel or the emulator: under TCG the kernel patching its own
        # text now and then oopses in early boot (docs/testing.md).  With
        # retry_early such a boot reports nothing and sets early_death;
        # the caller boots once more, passing it as earlier.
        self.retry_early = retry_early
        self.early_death = None
        self.earlier = earlier

    # ------------------------------------------------------------------
    def run(self):
        """Run the boot; returns [Result] for every case (and host_stop)."""
        self.dir = Path(tempfile.mkdtemp(prefix="kvmbus-test-"))
        self.ram = Path("/dev/shm") / f"{self.dir.name}.ram"
        self.sock = self.dir / "kvmbus.sock"
        self.qmp = self.dir / "qmp.sock"
        self.log = Log(self.log_path)
        self.listeners = []
        self.threads = []
        self.companion_started = False
        self.netns = None
        extra_results = []
        try:
            self._prepare()
            if self.suite.netns:
                self._netns_add()
            failure = self._companion_start()
            if failure:
                self._fail_all(failure)
            else:
                self._boot()
        except KeyboardInterrupt:
            self.log.host("interrupted; stopping qemu and cleaning up")
            raise
        finally:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                kill_group(self.qemu)
                for proc in list(self.active):     # a hostcall still running
                    kill_group(proc, grace=1)
                stop = self._companion_stop()
                if stop:
                    extra_results.append(stop)
                self._cleanup()
            finally:
                signal.signal(signal.SIGINT, old)
        out = [self.results[c] for c in self.cases if c in self.results]
        for r in out + extra_results:
            if r.result == "FAIL":
                r.log = self.log_path
        for r in extra_results:
            self.report(r)
        return out + extra_results

    # ------------------------------------------------------------------
    def _env(self):
        env = dict(os.environ)
        env.update({
            "KVMBUS_ROOT": str(REPO), "KVMBUS_TEST_DIR": str(self.dir),
            "KVMBUS_RAM": str(self.ram), "KVMBUS_RAM_SIZE": str(self.suite.memory),
            "KVMBUS_SOCK": str(self.sock), "KVMBUS_QMP": str(self.qmp),
            "KVMBUS_KVER": self.kernel.kver, "KVMBUS_CACHE": str(CACHE),
            "KVMBUS_SUITE": self.suite.name, "KVMBUS_ACCEL": self.accel,
        })
        if self.netns:
            env["KVMBUS_NETNS"] = self.netns
        return env

    def _subst(self, arg):
        for key, val in (("{dir}", self.dir), ("{ram}", self.ram),
                         ("{sock}", self.sock), ("{qmp}", self.qmp),
                         ("{netns}", self.netns or "")):
            arg = arg.replace(key, str(val))
        return arg

    def _prepare(self):
        self.log.host(f"suite {self.suite.name}, kernel {self.kernel.kver}, "
                      f"cases: {' '.join(self.cases)}")
        t0 = time.monotonic()
        initrd = self.dir / "initrd.img"
        fd = self.builder.lock()
        try:
            built = self.builder.ensure()
            initramfs.make_initrd(self.builder, initrd, self.suite.dir,
                                  self.modules)
        finally:
            os.close(fd)
        self.timing["initrd"] = time.monotonic() - t0
        if built:
            self.timing["initramfs_build"] = self.builder.build_seconds
        self.initrd = initrd
        # Guest RAM: created (sparse) before the companion starts, so that a
        # backend can map it at once; QEMU uses it as it is.
        with open(self.ram, "xb") as f:
            f.truncate(self.suite.memory)
        os.chmod(self.ram, 0o600)

    def _netns_add(self):
        """'# netns: yes': a network namespace for QEMU, named after the run.

        Created before the companion starts (so it can put TAPs, addresses
        and servers in it) and deleted after the companion stopped.  QEMU
        runs inside it, so the TAPs it opens or creates live there too.
        """
        name = self.dir.name
        try:
            r = subprocess.run(["ip", "netns", "add", name], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            why = r.stdout.strip() if r.returncode else None
        except OSError as e:
            why = str(e)
        if why is not None:
            raise HarnessError(f"suite {self.suite.name} wants '# netns: yes' but "
                               f"'ip netns add {name}' failed: {why} "
                               "(needs root and iproute2)")
        self.netns = name
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log.host(f"network namespace {name}")

    def _netns_delete(self):
        if not self.netns:
            return
        r = subprocess.run(["ip", "netns", "delete", self.netns],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode:
            self.log.host(f"could not delete network namespace {self.netns}: "
                          + r.stdout.strip())

    def _companion(self, verb, *args, limit):
        """Run '<suite>.host verb args'; (status or None on timeout, out, err)."""
        out_path = self.dir / f"host-{verb}.out"
        err_path = self.dir / f"host-{verb}.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # Files, not pipes: daemons started by "start" keep no pipe of
            # ours open, and we never wait for them.
            proc = subprocess.Popen([str(self.suite.host), verb, *args],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, cwd=REPO, env=self._env(),
                                    start_new_session=True)
            self.active.add(proc)
            try:
                status = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                kill_group(proc, grace=2)
                status = None
            except BaseException:
                kill_group(proc, grace=2)
                raise
            finally:
                self.active.discard(proc)
        return status, out_path.read_bytes(), err_path.read_bytes()

    def _companion_verb(self, verb, limit):
        """Run start/stop; None if it succeeded, else (reason, stdout)."""
        try:
            status, out, err = self._companion(verb, limit=limit)
        except OSError as e:
            return f"could not run {self.suite.host.name} {verb}: {e}", b""
        text = err.decode(errors="replace").strip()
        if text:
            self.log.host(f"[{self.suite.host.name} {verb}] " + text)
        if status == 0:
            self._companion_out = out
            return None
        why = (f"timed out after {limit} s" if status is None
               else describe_status(status))
        last = text.splitlines()[-1] if text else ""
        return why + (f": {last}" if last else ""), out

    def _companion_start(self):
        if not self.suite.host:
            return None
        self.companion_started = True
        failed = self._companion_verb("start", COMPANION_START_LIMIT)
        if failed:
            return f"host companion start {failed[0]}"
        self.companion_args = [self._subst(l) for l in
                               self._companion_out.decode(errors="replace").splitlines()
                               if l.strip()]
        self.log.host("companion QEMU arguments: " + " ".join(
            shlex.quote(a) for a in self.companion_args))
        return None

    def _companion_stop(self):
        if not self.companion_started:
            return None
        failed = self._companion_verb("stop", COMPANION_STOP_LIMIT)
        if not failed:
            return None
        return Result(self.kernel.kver, self.suite.name, "host_stop", "FAIL",
                      f"{self.suite.host.name} stop {failed[0]}")

    # ------------------------------------------------------------------
    def cmdline(self):
        words = ["console=ttyS0,115200", "panic=-1", "log_buf_len=8M",
                 "printk.devkmsg=on", "sysctl.kernel.hung_task_timeout_secs=20",
                 f"kvmtest.suite={self.suite.name}",
                 f"kvmtest.cases={','.join(self.cases)}",
                 f"kvmtest.timeout={self.suite.timeout}",
                 f"kvmtest.kver={self.kernel.kver}",
                 f"kvmtest.scale={self.kernel.timeout_scale}"] + self.suite.append
        # kmemleak (the debug kernel): one scan at the end of the boot, or
        # after every case (docs/testing.md, "The dmesg rule").
        if os.environ.get("KVMBUS_LEAK_SCAN") == "case":
            words.append("kvmtest.leakscan=case")
        line = " ".join(words)
        if len(line) > KERNEL_CMDLINE_MAX:
            raise HarnessError(f"kernel command line for suite {self.suite.name} "
                               f"is {len(line)} bytes (limit {KERNEL_CMDLINE_MAX}): "
                               "too many cases selected; split the suite")
        return line

    def qemu_command(self):
        mem = self.suite.memory
        cmd = [QEMU]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, QEMU]
        if self.accel == "kvm":
            cmd += ["-accel", "kvm", "-cpu", "host"]
        else:
            cmd += ["-accel", "tcg"]
        cmd += ["-M", "q35,memory-backend=ram", "-m", f"{mem >> 20}M",
                "-smp", str(self.suite.smp),
                "-object", f"memory-backend-file,id=ram,size={mem},"
                           f"mem-path={self.ram},share=on",
                "-kernel", str(self.kernel.vmlinuz), "-initrd", str(self.initrd),
                "-append", self.cmdline(),
                "-display", "none", "-nodefaults", "-nic", "none", "-no-reboot",
                "-chardev", f"socket,id=console,path={self.dir}/console.sock",
                "-serial", "chardev:console",
                "-chardev", f"socket,id=kvmtest,path={self.dir}/control.sock",
                "-serial", "chardev:kvmtest",
                "-qmp", f"unix:{self.qmp},server=on,wait=off"]
        for args in self.suite.qemu:
            cmd += [self._subst(a) for a in args]
        cmd += getattr(self, "companion_args", [])
        return cmd

    def _listen(self, name):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(self.dir / name))
        s.listen(1)
        s.settimeout(0.5)
        self.listeners.append(s)
        return s

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
                conn.settimeout(None)
                return conn
            except socket.timeout:
                if self.qemu.poll() is not None:
                    return None
            except OSError:
                return None

    def _thread(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True,
                             name=target.__name__.strip("_"))
        t.start()
        self.threads.append(t)

    def _boot(self):
        console_l = self._listen("console.sock")
        control_l = self._listen("control.sock")
        cmd = self.qemu_command()
        self.log.host("qemu: " + " ".join(shlex.quote(c) for c in cmd))
        self.log.host("kernel command line: " + self.cmdline())
        self.t0 = time.monotonic()
        try:
            # Own session: a Ctrl-C reaches the harness only, which then
            # stops QEMU and the companion in order.  cwd: a core dump
            # lands in the run directory, not in the checkout.
            self.qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT,
                                         cwd=self.dir, start_new_session=True)
        except FileNotFoundError:
            raise HarnessError(f"{QEMU} not found: install qemu-system-x86 "
                               "(scripts/deps.sh)")
        self._thread(self._read_qemu_output)
        self._thread(self._read_console, console_l)
        self._thread(self._read_control, control_l)
        self._thread(self._serve_hostcalls)
        self._wait()

    # -- reader threads ---------------------------------------------------
    def _read_qemu_output(self):
        for raw in self.qemu.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.qemu_output.append(line)
            self.log.host("qemu: " + line)
        self.qemu.wait()
        self.events.put(("exit", self.qemu.returncode, time.monotonic()))

    def _lines(self, conn):
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                if buf:
                    yield buf
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            yield from lines

    def _read_console(self, listener):
        conn = self._accept(listener)
        if not conn:
            return
        for raw in self._lines(conn):
            line = raw.decode(errors="replace").replace("\r", "")
            self.log.line(line)
            if self.console:
                emit(line)
            if MARK in line:
                self._marker(line[line.rindex(MARK):], "console")
            m = PANIC_RE.search(line)
            if m and not self.panic:
                self.panic = m.group(0).strip()
        conn.close()

    def _read_control(self, listener):
        conn = self._accept(listener)
        if not conn:
            return
        self.ctl = conn
        for raw in self._lines(conn):
            line = raw.decode(errors="replace").replace("\r", "")
            if MARK in line:
                self._marker(line[line.rindex(MARK):], "control")

    def _marker(self, line, channel):
        # MARK KIND [ID [STATUS [REASON...]]]
        words = line.rstrip().split(" ", 4)
        kind = words[1] if len(words) > 1 else ""
        now = time.monotonic()
        if channel == "control":
            self.control_seen = True
        elif self.control_seen:
            # The control channel is the source of truth; the console copy
            # counts only if the guest never managed to use the channel (and
            # a test printing a fake marker on the console changes nothing).
            return
        if kind == "HOSTCALL" and channel == "control":
            self.hostcalls.put(line.split()[2:])
        elif kind in ("START", "RESULT", "READY", "DONE"):
            self.events.put((kind, words[2:], now))

    def _serve_hostcalls(self):
        while True:
            req = self.hostcalls.get()
            if req is None:
                return
            if not req:
                continue
            rid, words = req[0], req[1:]
            try:
                args = [unb64(w).decode("utf-8", errors="surrogateescape")
                        for w in words]
            except ValueError:              # includes binascii.Error
                self._reply(rid, 2, b"", b"hostcall: malformed request\n")
                continue
            t = time.monotonic()
            if not self.suite.host:
                status, out = 127, b""
                err = (f"hostcall: suite {self.suite.name} has no host companion "
                       f"({display_path(self.suite.dir / (self.suite.name + '.host'))})\n").encode()
            else:
                try:
                    status, out, err = self._companion("call", *args,
                                                       limit=HOSTCALL_LIMIT)
                except OSError as e:
                    status, out, err = 126, b"", f"hostcall: {e}\n".encode()
                if status is None:
                    status = 124
                    err += f"hostcall: host companion timed out after {HOSTCALL_LIMIT} s\n".encode()
            shown = " ".join(shlex.quote(a).replace("\n", "\\n") for a in args)
            self.log.host(f"hostcall {shown} -> "
                          f"status {status} ({time.monotonic() - t:.1f} s)")
            if err.strip():
                self.log.host("hostcall stderr: " + err.decode(errors="replace").rstrip())
            self._reply(rid, status, out, err)

    def _reply(self, rid, status, out, err):
        line = f"{MARK} REPLY {rid} {status & 0xff if status >= 0 else 128 - status} {b64(out)} {b64(err)}\n"
        with self.ctl_lock:
            try:
                if self.ctl:
                    self.ctl.sendall(line.encode())
            except OSError:
                pass

    # -- the main loop ----------------------------------------------------
    def _deadline(self, last_event):
        s = self.suite
        overall = self.t0 + s.boot_limit(len(self.cases))
        if self.current and self.current not in self.results:
            phase = self.started[self.current] + s.timeout + s.grace
        elif not self.started:
            phase = self.t0 + s.boot_timeout
        else:
            phase = last_event + s.grace
        return min(overall, phase)

    def _wait(self):
        last_event = self.t0
        exit_status = None
        done = False
        while True:
            deadline = self._deadline(last_event)
            try:
                kind, data, when = self.events.get(
                    timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                if done or len(self.results) == len(self.cases):
                    self.log.host("guest did not power off; killed")
                    return
                self._timed_out(deadline)
                return
            last_event = when
            if kind == "exit":
                exit_status = data
                break
            if kind == "READY" and "ready" not in self.timing:
                self.timing["ready"] = when - self.t0
                if self.verbose:
                    emit(f"      {self.kernel.kver}  {self.suite.name}: guest up "
                         f"after {when - self.t0:.1f} s ({' '.join(data)})")
            elif kind == "DONE":
                done = True
            else:
                self._case_event(kind, data, when)
        # QEMU exited.
        for t in self.threads:
            if t.name != "serve_hostcalls":
                t.join(timeout=2)
        self._drain_events()
        if len(self.results) < len(self.cases):
            why = self.panic or (f"qemu {describe_status(exit_status)}"
                                 if exit_status else "guest powered off")
            if exit_status and self.qemu_output and not self.started:
                why = f"qemu {describe_status(exit_status)}: {self.qemu_output[-1]}"
            self._fail_rest("guest died", why)

    def _case_event(self, kind, data, when):
        """A START or RESULT line of the guest; anything else is ignored."""
        if kind == "START" and data:
            case = data[0].split(".", 1)[-1]
            if case in self.cases and case not in self.started:
                self.started[case] = when
                self.current = case
        elif kind == "RESULT" and len(data) >= 2:
            case = data[0].split(".", 1)[-1]
            if case in self.cases and case not in self.results:
                status = data[1] if data[1] in ("PASS", "FAIL", "SKIP") else "FAIL"
                reason = data[2] if len(data) > 2 else ""
                start = self.started.get(case, when)
                self.timing.setdefault("first_result", when - self.t0)
                self._result(case, status, reason.strip(), when - start)

    def _drain_events(self):
        """Take RESULT lines that arrived together with QEMU's exit."""
        while True:
            try:
                kind, data, when = self.events.get_nowait()
            except queue.Empty:
                return
            self._case_event(kind, data, when)

    def _timed_out(self, deadline):
        limit = deadline - (self.started.get(self.current) or self.t0)
        self.log.host(f"time limit reached ({limit:.0f} s); killing qemu")
        kill_group(self.qemu)
        for t in self.threads:
            t.join(timeout=2)
        self._drain_events()
        self._fail_rest("timed out", f"no result {limit:.0f} s after "
                        + ("the case started" if self.current else "qemu started")
                        + " (guest hung?)")

    def _fail_rest(self, what, why):
        """Fail every case without a result: the guest died or hung."""
        now = time.monotonic()
        if self.retry_early and not self.started and "ready" not in self.timing:
            self.early_death = f"{what} during boot: {why}"
            self.log.host(f"{self.early_death}; the guest's init never started, "
                          "so no module of kvmbus had run: booting once more")
            return
        again = (f" (booted twice; the first boot: {self.earlier})"
                 if self.earlier else "")
        dying = self.current if self.current not in self.results else None
        if dying:
            place = f"{self.suite.name}.{dying}"
        elif not self.started:
            place = "boot"
        else:
            place = f"the runner, after {self.suite.name}.{self.current}"
        for case in self.cases:
            if case in self.results:
                continue
            if case == dying:
                self._result(case, "FAIL", f"{what} during {place}: {why}",
                             now - self.started[case])
            elif place == "boot" and case == self.cases[0]:
                self._result(case, "FAIL", f"{what} during boot: {why}{again}", 0.0)
            else:
                self._result(case, "FAIL", f"not run: {what} during {place}", 0.0)

    def _fail_all(self, reason):
        for case in self.cases:
            self._result(case, "FAIL", reason, 0.0)

    def _result(self, case, status, reason, seconds):
        r = Result(self.kernel.kver, self.suite.name, case, status, reason, seconds)
        if status == "FAIL":
            r.log = self.log_path
        self.results[case] = r
        self.log.host(f"RESULT {self.suite.name}.{case} {status} {reason}")
        self.report(r)

    # ------------------------------------------------------------------
    def _cleanup(self):
        self.hostcalls.put(None)
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass
        if self.ctl:
            try:
                self.ctl.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=3)
        self._netns_delete()
        if self.keep:
            self.log.host(f"kept: {self.dir} and {self.ram}")
            emit(f"      kept {self.dir} and {self.ram}")
        else:
            self.ram.unlink(missing_ok=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.log.close()
