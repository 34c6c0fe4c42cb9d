"""How many helpers may run at once (attack X1: a flood of shim invocations).

Each helper takes one slot of its caller's uid and one global slot before it
does anything else; a slot is a lock (flock) on a small file under
/run/pppup/admission, held by an open fd for the life of the process, so a
crashed or killed helper frees its slots with no cleanup.  When every slot
is taken the helper refuses at once (Code.BUSY) instead of queueing.  A
helper that becomes a link's supervisor gives its slots back: links are
bounded by the policy (max_links, one per line), not by this.
"""
from __future__ import annotations

import fcntl
import os
import stat

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

PER_UID = 8
GLOBAL = 64
ADMISSION_DIR = paths.STATE_DIR + "/admission"


class Admission:
    def __init__(self, fds: list[int]):
        self._fds = fds

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


def _secure_dir(path: str) -> int:
    """Open `path` (creating it root 0700), refusing anything not root-owned and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise PppupError(f"{path} is not root-owned and private; remove it (it is recreated)", Code.HELPER)
    return fd


def _take_one(dirfd: int, prefix: str, count: int) -> int | None:
    for index in range(count):
        fd = os.open(f"{prefix}.{index}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dirfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
    return None


def admit(uid: int, per_uid: int = PER_UID, total: int = GLOBAL,
          base: str = ADMISSION_DIR) -> Admission:
    """Take a slot for `uid` and a global one, or raise PppupError(BUSY)."""
    parent = _secure_dir(os.path.dirname(base))
    try:
        os.close(_secure_dir(base))
    finally:
        os.close(parent)
    dirfd = _secure_dir(base)
    try:
        mine = _take_one(dirfd, f"u{uid}", per_uid)
        if mine is None:
            raise PppupError(f"pppup: you already have {per_uid} requests in progress; "
                             "wait for them to finish and try again", Code.BUSY)
        shared = _take_one(dirfd, "all", total)
        if shared is None:
            os.close(mine)
            raise PppupError(f"pppup: the root helper is serving {total} requests already; "
                             "try again in a moment", Code.BUSY)
        return Admission([mine, shared])
    finally:
        os.close(dirfd)
