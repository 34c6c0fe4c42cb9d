"""One run at a time, per machine, of the suites that rewrite machine-wide state.

The attack suite (tests/attacks) and the flow tests (tests/flows) both
reinstall pppup, replace /etc/pppup/policy.toml and create pppt-* users; two
runs at once fail each other's cases.  `hold()` waits for any other run to
end and keeps the lock until this process exits.  One lock per process,
shared by both suites, so a single pytest run that has both never waits
for itself.
"""
from __future__ import annotations

import fcntl
import os

LOCK_PATH = "/run/lock/pppup-attack-suite.lock"     # the name predates the flow tests; kept so runs agree

_fd: int | None = None


def hold() -> None:
    global _fd
    if os.environ.get("PPPUP_MACHINE_LOCK_HELD") == "1" and _fd is None:
        return          # a parent run holds it for us (bench-helper runs the VM suite)
    if _fd is None:
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fd = fd
        # Children (helper/install.sh, a VM suite run by a benchmark) see
        # that this run holds the lock and do not wait for it themselves.
        os.environ["PPPUP_MACHINE_LOCK_HELD"] = "1"
