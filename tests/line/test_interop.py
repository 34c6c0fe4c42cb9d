"""Our UUCP locks as Debian's mgetty sees them (host, real mgetty on a pty).

mgetty names a line's lock by the device's basename (LCK..2 for pts/2); it
must find our lock, name our pid and back off ("dialout in progress") -- the
reason the helper keeps the lock across a callback gap.  The control run
shows mgetty locking the same line itself when we hold nothing.  Debian's
pppd is checked the same way in the VM (tests/line/test_vm_line.py), since
on the host it stops at /dev/ppp before locking.
"""
import os
import shutil
import subprocess

import pytest

from pppup_helper.uucplock import LockDir, UucpLock, lock_names

MGETTY = "/sbin/mgetty"
LOG_DIR = "/var/log/mgetty"


@pytest.fixture
def pty_line():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    yield name
    os.close(master)


def run_mgetty(name: str) -> str:
    """Run mgetty on the line for a few seconds; what it logged meanwhile."""
    dev = name[len("/dev/"):]
    log = os.path.join(LOG_DIR, "mg_" + dev.replace("/", "-") + ".log")
    start = os.path.getsize(log) if os.path.exists(log) else 0
    subprocess.run(["timeout", "4", MGETTY, "-x", "9", "-D", dev], capture_output=True, timeout=30)
    with open(log, errors="replace") as f:
        f.seek(start)
        return f.read()


@pytest.mark.skipif(shutil.which(MGETTY) is None, reason="mgetty is not installed (make bootstrap)")
def test_mgetty_sees_our_lock_and_backs_off(pty_line, tmp_path):
    lockdir = LockDir("/var/lock", serial_path=str(tmp_path / "serial.lock"))
    lock = UucpLock.acquire(lockdir, pty_line, lock_names(pty_line, os.lstat(pty_line)))
    try:
        log = run_mgetty(pty_line)
        assert f"lockfile found, pid={os.getpid()}" in log, log[-2000:]
        assert "dialout in progress" in log
        assert "locking the line" not in log
        # mgetty touched none of our lock files
        for name in lock.names:
            assert open(os.path.join("/var/lock", name)).read() == "%10d\n" % os.getpid()
    finally:
        lock.release()
        lockdir.close()


@pytest.mark.skipif(shutil.which(MGETTY) is None, reason="mgetty is not installed (make bootstrap)")
def test_control_without_our_lock_mgetty_takes_the_line(pty_line):
    log = run_mgetty(pty_line)
    assert "lockfile found" not in log and "locking the line" in log, log[-2000:]
    # mgetty removes its own lock when it is terminated; make sure nothing stays
    leftover = os.path.join("/var/lock", "LCK.." + pty_line.rsplit("/", 1)[1])
    if os.path.exists(leftover):
        os.unlink(leftover)
