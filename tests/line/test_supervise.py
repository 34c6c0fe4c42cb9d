"""The C link supervisor (csrc/pppup-supervise.c) on its own, in its ASan/UBSan
test build: what it refuses, how it waits for and stops its child, the log
tail it keeps, the line it renews, and exactly what it hands to the finish
step.  The finish step here is the test entry's reporting stand-in
(tests/line/finish_entry.py --report-to); the real finish step is covered
by test_session.py (host, ptys) and the VM tests (UARTs, real DTR).

The supervisor must be its "pppd"'s parent, so each case runs a small
harness process that forks a stand-in pppd (a Python child doing what the
case needs), then execs the supervisor with fd 3 = the line (a pty slave),
4 = the child's log pipe, 5 = a pidfd of the child.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from conftest import finish_entry_unsafe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPERVISOR = os.path.join(ROOT, "csrc", "pppup-supervise-asan")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

pytestmark = pytest.mark.skipif(not os.path.exists(SUPERVISOR), reason="make build first (csrc/pppup-supervise-asan)")

HARNESS = textwrap.dedent("""
    import fcntl, os, signal, sys, termios, time
    supervisor, report, mode, slave = sys.argv[1:5]
    line = os.open(slave, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    log_r, log_w = os.pipe()
    os.set_blocking(log_r, False)
    pid = os.fork()
    if pid == 0:                        # the stand-in pppd
        os.close(log_r)
        if mode == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(0.3)
        if mode == "flood":
            for n in range(20000):
                os.write(log_w, b"log line %06d of the stand-in pppd\\n" % n)
        else:
            os.write(log_w, b"Connect time 0.5 minutes.\\nSent 1234 bytes, received 5678 bytes.\\n")
        if mode in ("stop", "stubborn"):
            time.sleep(60)
        if mode == "hangup":
            # pppd's exit hangs up a UART it made its controlling tty; a
            # pty is not hung up on that, so do what the kernel does there.
            from pppup_helper import syscalls
            fcntl.ioctl(line, syscalls.TIOCVHANGUP)
        if mode == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)
    os.close(log_w)
    pidfd = os.pidfd_open(pid)
    extra = os.open("/dev/null", os.O_RDONLY)          # an inherited fd the supervisor must close
    os.set_inheritable(extra, True)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (line, log_r, pidfd)]
    for target, fd in zip((3, 4, 5), high):
        os.dup2(fd, target, inheritable=True)
    print(pid, flush=True)
    os.execv(supervisor, [supervisor, "--report-to", report, "--line", "modem1"])
""")


@pytest.fixture
def pty_line():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    yield name
    os.close(master)


def supervise(pty_line: str, mode: str, on_start=None, timeout: float = 30) -> tuple[dict, int, str]:
    """Run one case: (what the finish step was handed, the stand-in pppd's pid, stderr)."""
    problem = finish_entry_unsafe()
    if problem:
        pytest.fail(problem)
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        proc = subprocess.Popen([sys.executable, "-c", HARNESS, SUPERVISOR, report, mode, pty_line],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            child = int(proc.stdout.readline())
            if on_start is not None:
                on_start(proc.pid)
            _, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert not any(mark in err for mark in SANITIZER_MARKS), err
        assert proc.returncode == 0, err
        with open(report) as f:
            return json.load(f), child, err


def results(argv: list[str]) -> dict[str, str]:
    """The supervisor's own options, appended after the helper's."""
    i = argv.index("--pppd-status")
    return dict(zip(argv[i::2], argv[i + 1::2]))


def test_waits_for_pppd_and_hands_over_its_exit_status_the_log_tail_and_the_line(pty_line):
    got, _, _ = supervise(pty_line, "exit3")
    assert got["argv"][:2] == ["--line", "modem1"], "the helper's arguments come first, unchanged"
    r = results(got["argv"])
    assert os.WIFEXITED(int(r["--pppd-status"])) and os.WEXITSTATUS(int(r["--pppd-status"])) == 3
    assert r["--stop-signal"] == "0"
    assert r["--dtr"] == "none" and r["--dtr-ns"] == "0", "a pty has no modem-control lines"
    assert int(r["--ended-ns"]) <= time.monotonic_ns()
    assert got["log"] == "Connect time 0.5 minutes.\nSent 1234 bytes, received 5678 bytes.\n"
    st = os.stat(pty_line)
    assert got["line_rdev"] == [os.major(st.st_rdev), os.minor(st.st_rdev)] and got["line_alive"]
    assert got["line_inheritable"]


def test_hands_over_nothing_else_and_a_fixed_environment(pty_line):
    got, _, _ = supervise(pty_line, "exit3")
    fds = {int(fd) for fd, target in got["fds"].items() if not target.startswith("/proc/")}
    assert fds == {0, 1, 2, 3, 4}, got["fds"]          # the pipe, pidfd, signalfd and the extra fd are gone
    assert got["fds"]["4"].startswith("/memfd:pppd-log-tail"), got["fds"]
    assert got["environ"] == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    # A late stop signal must not cut the finish step short; nothing stays blocked.
    assert got["ignored"] == ["SIGHUP", "SIGINT", "SIGTERM"] and got["blocked"] == []


def test_a_killed_pppd_is_reported_by_its_signal(pty_line):
    got, _, _ = supervise(pty_line, "killed")
    status = int(results(got["argv"])["--pppd-status"])
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_sigterm_to_the_supervisor_stops_pppd_with_sigterm(pty_line):
    got, child, _ = supervise(pty_line, "stop", on_start=lambda pid: (time.sleep(1.0), os.kill(pid, signal.SIGTERM)))
    r = results(got["argv"])
    status = int(r["--pppd-status"])
    assert r["--stop-signal"] == str(int(signal.SIGTERM))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    assert not os.path.exists(f"/proc/{child}"), "pppd is reaped"


@pytest.mark.slow
def test_pppd_ignoring_sigterm_is_killed_after_the_grace(pty_line):
    t0 = time.monotonic()
    got, _, _ = supervise(pty_line, "stubborn", on_start=lambda pid: (time.sleep(1.0), os.kill(pid, signal.SIGHUP)))
    r = results(got["argv"])
    status = int(r["--pppd-status"])
    assert r["--stop-signal"] == str(int(signal.SIGHUP))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert 5.0 <= time.monotonic() - t0 < 15


def test_the_log_tail_is_bounded_and_starts_at_a_line(pty_line):
    got, _, _ = supervise(pty_line, "flood")
    log = got["log"]
    assert 0 < len(log) <= 8192
    lines = log.split("\n")
    assert lines[-1] == "" and lines[-2] == "log line 019999 of the stand-in pppd"
    assert all(line.startswith("log line ") and len(line) == 36 for line in lines[:-1]), lines[:2]


def test_a_line_hung_up_by_pppds_exit_is_renewed_for_the_finish_step(pty_line):
    got, _, _ = supervise(pty_line, "hangup")
    st = os.stat(pty_line)
    assert got["line_alive"], "fd 3 is a fresh, usable description"
    assert got["line_rdev"] == [os.major(st.st_rdev), os.minor(st.st_rdev)] and got["line_ino"] == st.st_ino
    assert got["line_inheritable"]


# -- refusals (no fds to speak of: it must not get as far as waiting) --------
def run_bare(argv: list[str], pass_fds=()) -> subprocess.CompletedProcess:
    return subprocess.run([SUPERVISOR, *argv], capture_output=True, text=True, timeout=30, pass_fds=pass_fds)


@pytest.mark.parametrize("argv", [[], ["x"] * 33, ["x" * 4097]])
def test_refuses_a_wrong_argv(argv):
    r = run_bare(argv)
    assert r.returncode == 120, r.stderr


def test_refuses_fds_that_are_not_a_tty_a_pipe_and_a_pidfd_of_its_child(pty_line):
    cases = {
        "fd 3 not a tty": ("/dev/null", "pipe", "pidfd"),
        "fd 4 not a pipe": (pty_line, "/dev/null", "pidfd"),
        "fd 5 not a pidfd": (pty_line, "pipe", "/dev/null"),
        "fd 5 a pidfd of a process that is not its child": (pty_line, "pipe", "pidfd-of-init"),
    }
    for what, (line, log, pidfd) in cases.items():
        def arrange(line=line, log=log, pidfd=pidfd):
            r, _w = os.pipe()
            sources = [os.open(line, os.O_RDWR | os.O_NOCTTY), r if log == "pipe" else os.open(log, os.O_RDONLY),
                       os.pidfd_open(1) if pidfd == "pidfd-of-init" else
                       os.pidfd_open(os.getpid()) if pidfd == "pidfd" else os.open(pidfd, os.O_RDONLY)]
            for target, fd in zip((3, 4, 5), [os.dup(fd) for fd in sources]):
                os.dup2(fd, target)
        r = subprocess.run([SUPERVISOR, "--line", "x"], capture_output=True, text=True, timeout=30,
                           preexec_fn=arrange, pass_fds=(3, 4, 5))
        assert r.returncode == 121, (what, r.returncode, r.stderr)
