"""Run the sanitizer build of the setuid shim the way a (hostile) caller would.

The test build (csrc/pppup-shim-asan, -DPPPUP_SHIM_TEST) is not setuid: the
harness forks, arranges fd 3 and the rest of the inherited state, sets real
uid CALLER_UID with effective uid 0 (exactly what a setuid exec gives the
shim) and execs it.  Instead of becoming root and exec'ing Python, the test
build reports its would-be argv and envp on fd 3 and waits for one byte, so
the test can read /proc/PID while it waits.
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

CALLER_UID = 4242
CALLER_GID = 4343
CALLER_GROUPS = (4343, 4444, 100)
TEST_ENTRY_DIR = "/run/pppup-shim-test"
TEST_ENTRY = TEST_ENTRY_DIR + "/pppup-helper.py"


@dataclass
class ShimRun:
    pid: int
    status: int = -1
    argv: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    proc: dict[str, object] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return os.waitstatus_to_exitcode(self.status)


def caller_socketpair(uid: int = CALLER_UID) -> tuple[socket.socket, socket.socket]:
    """A SEQPACKET pair whose SO_PEERCRED names `uid` (created with that euid)."""
    os.setegid(CALLER_GID)
    os.seteuid(uid)
    try:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    finally:
        os.seteuid(0)
        os.setegid(0)


def _raw_execve(path: str, argv: list[str] | None, env: list[str]) -> None:
    """execve(2) through libc, so argv may be empty (Python's os.execve refuses)."""
    libc = ctypes.CDLL(None, use_errno=True)
    arg_list = argv or []
    c_argv = (ctypes.c_char_p * (len(arg_list) + 1))(*[a.encode() for a in arg_list], None)
    c_env = (ctypes.c_char_p * (len(env) + 1))(*[e.encode() for e in env], None)
    libc.execve(path.encode(), c_argv, c_env)


def run(shim: str, *, fd3: object = "good", argv: list[str] | None = None, env: list[str] | None = None,
        close_stdio: tuple[int, ...] = (), setup: Callable[[], None] | None = None,
        ruid: int = CALLER_UID, inspect: bool = True, timeout: float = 20.0,
        linger: float = 0.0) -> ShimRun:
    """Exec the shim with fd 3 = `fd3` ("good", "closed", or an fd number to dup);
    `linger`: seconds the shim is kept waiting after its report before it may exit."""
    ours = None
    if fd3 == "good":
        ours, theirs = caller_socketpair()
        fd3_source: int | None = theirs.fileno()
    elif fd3 == "closed":
        fd3_source, theirs = None, None
    else:
        fd3_source, theirs = int(fd3), None  # type: ignore[arg-type]
    argv = [shim] if argv is None else argv
    env = ["HOME=/tmp"] if env is None else env
    pid = os.fork()
    if pid == 0:  # child: become the hostile caller, then exec
        try:
            if fd3_source is None:
                os.close(3) if _is_open(3) else None
            elif fd3_source != 3:
                os.dup2(fd3_source, 3)
            os.set_inheritable(3, True) if _is_open(3) else None
            for fd in close_stdio:
                os.close(fd)
            if setup:
                setup()
            os.setgroups(list(CALLER_GROUPS))
            os.setresgid(CALLER_GID, 0, 0)
            os.setresuid(ruid, 0, 0)
            _raw_execve(shim, argv, env)
        finally:
            os._exit(127)
    if theirs is not None:
        theirs.close()
    result = ShimRun(pid)
    try:
        if ours is not None and inspect:
            ready, _, _ = select.select([ours], [], [], timeout)
            if ready:
                data = ours.recv(65536)
                if data:
                    result.argv, result.env = _parse_report(data)
                    result.proc = read_proc(pid)
                    time.sleep(linger)
                    ours.send(b"x")
        _wait(result, timeout)
    finally:
        if ours is not None:
            ours.close()
    return result


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _wait(result: ShimRun, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(result.pid, os.WNOHANG)
        if pid:
            result.status = status
            return
        time.sleep(0.01)
    os.kill(result.pid, signal.SIGKILL)
    os.waitpid(result.pid, 0)
    raise TimeoutError(f"shim pid {result.pid} did not exit within {timeout} s")


def _parse_report(data: bytes) -> tuple[list[str], list[str]]:
    strings = data.split(b"\0")
    split = strings.index(b"")
    argv = [s.decode() for s in strings[:split]]
    env = [s.decode() for s in strings[split + 1:] if s]
    return argv, env


def read_proc(pid: int) -> dict[str, object]:
    """What the kernel says about the waiting shim."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    fds = {int(n): os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
    with open(f"/proc/{pid}/limits") as f:
        limits = f.read()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/timerslack_ns") as f:
        slack = int(f.read())
    with open(f"/proc/{pid}/oom_score_adj") as f:
        oom = int(f.read())
    import ctypes
    ioprio = ctypes.CDLL(None).syscall(252, 1, pid)      # ioprio_get(IOPRIO_WHO_PROCESS), x86_64
    return {"status": status, "fds": fds, "limits": limits, "cwd": os.readlink(f"/proc/{pid}/cwd"),
            "sid": int(stat[3]), "nice": int(stat[16]), "timerslack_ns": slack, "oom_score_adj": oom,
            "ioprio_class": ioprio >> 13}
