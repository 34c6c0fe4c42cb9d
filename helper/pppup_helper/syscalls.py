"""Typed wrappers over the few system calls the standard library lacks.

The C side is the prebuilt cffi module pppup_helper._syscalls (see
_syscalls_build.py).  Every wrapper raises OSError(errno) like the os module.
"""
import errno
import os

from pppup_helper import procinfo
from pppup_helper._syscalls import ffi, lib

RESOLVE_NO_XDEV: int = lib.RESOLVE_NO_XDEV
RESOLVE_NO_MAGICLINKS: int = lib.RESOLVE_NO_MAGICLINKS
RESOLVE_NO_SYMLINKS: int = lib.RESOLVE_NO_SYMLINKS
RESOLVE_BENEATH: int = lib.RESOLVE_BENEATH
RENAME_NOREPLACE: int = lib.RENAME_NOREPLACE
AT_FDCWD: int = lib.AT_FDCWD
TIOCVHANGUP: int = lib.TIOCVHANGUP

# Linux's PID_MAX_LIMIT (2^22), defined with the other /proc facts.
PID_MAX_LIMIT = procinfo.PID_MAX_LIMIT


def _raise_errno(what: str, path: str | None = None) -> None:
    err = ffi.errno
    if path is None:
        raise OSError(err, f"{what}: {os.strerror(err)}")
    raise OSError(err, os.strerror(err), path)


def openat2(path: str, flags: int, *, resolve: int, mode: int = 0,
            dir_fd: int | None = None) -> int:
    """openat2(2): open `path` with the given RESOLVE_* restrictions; returns the fd."""
    how = ffi.new("struct open_how *")
    how.flags = flags
    how.mode = mode
    how.resolve = resolve
    fd = lib.pppup_openat2(lib.AT_FDCWD if dir_fd is None else dir_fd,
                           os.fsencode(path), how)
    if fd < 0:
        _raise_errno("openat2", path)
    return fd


def rename_noreplace(src: str, dst: str, *, src_dir_fd: int, dst_dir_fd: int) -> None:
    """renameat2(2) with RENAME_NOREPLACE: fails with EEXIST instead of replacing dst."""
    rc = lib.renameat2(src_dir_fd, os.fsencode(src), dst_dir_fd, os.fsencode(dst),
                       lib.RENAME_NOREPLACE)
    if rc != 0:
        _raise_errno("renameat2", src)


def pid_exists(pid: int) -> bool:
    """Whether a process with this pid exists, by kill(pid, 0) (signal 0 only).

    EPERM means it exists but belongs to someone we may not signal: alive.
    Pids <= 1 and above the kernel's limit are refused with ValueError before
    any system call, so a garbage number can never reach kill(2).
    """
    if type(pid) is not int or not 1 < pid <= PID_MAX_LIMIT:
        raise ValueError(f"refusing to probe pid {pid!r}: not in 2..{PID_MAX_LIMIT}")
    if lib.pppup_probe_pid(pid) == 0:
        return True
    err = ffi.errno
    if err == errno.ESRCH:
        return False
    if err == errno.EPERM:  # it exists, we may just not signal it
        return True
    raise OSError(err, f"kill({pid}, 0): {os.strerror(err)}")


def default_all_signals() -> None:
    """Every signal's disposition to SIG_DFL, glibc's reserved 32 and 33 included."""
    if lib.pppup_default_all_signals() != 0:
        _raise_errno("rt_sigaction")
