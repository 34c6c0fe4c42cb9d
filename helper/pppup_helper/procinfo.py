"""Facts about a process, read from /proc, and pidfds that pin it.

Used to tell whether a recorded supervisor or pppd is still the very process
that was recorded (pid + start time), and to verify a pppd before signalling
it (attack classes K1-K5).  A pid alone proves nothing: pids are recycled.

/proc/PID/stat is parsed after the LAST ')': the command name before it is
chosen by whoever runs the process and may contain spaces and parentheses
(sudo CVE-2017-1000367).
"""
from __future__ import annotations

import os
import select
from collections import namedtuple

# Linux's PID_MAX_LIMIT (2^22): no pid can be larger on any configuration.
PID_MAX_LIMIT = 4194304


class ProcFacts(namedtuple("ProcFacts", [
        "pid", "ppid",
        "start_time",       # int: /proc/PID/stat field 22, clock ticks after boot
        "real_uid",
        "exe",              # str | None: readlink /proc/PID/exe (None if unreadable: see pppd.verify)
        "argv0",            # str | None
        ], defaults=(None,))):
    __slots__ = ()


def _valid_pid(pid: object) -> bool:
    return type(pid) is int and 1 < pid <= PID_MAX_LIMIT


def stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state onwards), or None if there is no such process."""
    if not _valid_pid(pid):
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    close = raw.rfind(b")")
    if close < 0:
        return None
    return raw[close + 1:].decode("ascii", "replace").split()


def start_time(pid: int) -> int | None:
    fields = stat_fields(pid)
    # field 22 (starttime) is index 19 counted from field 3 (state)
    if fields is None or len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])


def facts(pid: int) -> ProcFacts | None:
    """What /proc says about `pid` now, or None if it does not exist."""
    fields = stat_fields(pid)
    if fields is None or len(fields) < 20 or not fields[1].isdigit() or not fields[19].isdigit():
        return None
    real_uid = None
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f.read(8192).split(b"\n"):
                if line.startswith(b"Uid:"):
                    parts = line.split()
                    if len(parts) > 1 and parts[1].isdigit():
                        real_uid = int(parts[1])
                    break
    except OSError:
        return None
    if real_uid is None:
        return None
    try:
        exe: str | None = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = None
    return ProcFacts(pid=pid, ppid=int(fields[1]), start_time=int(fields[19]),
                     real_uid=real_uid, exe=exe, argv0=_argv0(pid))


def _argv0(pid: int) -> str | None:
    """argv[0] from /proc/PID/cmdline, which (unlike /proc/PID/exe of a
    non-dumpable process) needs no ptrace right to read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    first = raw.split(b"\0", 1)[0]
    return first.decode("ascii", "replace") if first else None


def is_same_process(pid: int | None, recorded_start: int | None) -> bool:
    """True if `pid` is alive (not a zombie) and is the process that started at
    `recorded_start`.  A zombie has exited: its pid only waits for a reaper."""
    if pid is None or recorded_start is None or not _valid_pid(pid):
        return False
    fields = stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X") or not fields[19].isdigit():
        return False
    return int(fields[19]) == recorded_start


def open_pidfd(pid: int) -> int | None:
    """A pidfd on `pid`, or None if no such process."""
    if not _valid_pid(pid):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def pidfd_exited(pidfd: int) -> bool:
    """A pidfd polls readable once its process has exited."""
    return bool(select.select([pidfd], [], [], 0)[0])


def wait_pidfd(pidfd: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process to exit; True if it has."""
    return bool(select.select([pidfd], [], [], max(0.0, timeout))[0])
