"""Ignore a signal the way a hostile caller can and Python cannot.

glibc's sigaction() (and so Python's signal module) refuses glibc's two
reserved real-time signals, 32 and 33, but the rt_sigaction(2) system call
does not, and an ignored disposition survives exec.  CI runners have been
seen starting the suite with signal 32 ignored; these tests do it on purpose.
"""
import ctypes
import os
import platform

# rt_sigaction's number per architecture (asm/unistd.h).
_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}
RESERVED = (32, 33)


def _set(sig: int, handler: int) -> None:
    number = _SYS_RT_SIGACTION.get(platform.machine())
    if number is None:
        raise OSError(f"rt_sigaction: no syscall number known for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    action = (ctypes.c_ulong * 4)(handler, 0, 0, 0)   # handler, no flags, empty mask
    if libc.syscall(number, sig, ctypes.byref(action), None, ctypes.c_size_t(8)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"rt_sigaction({sig}): {os.strerror(err)}")


def ignore(sig: int) -> None:
    """Set `sig` to SIG_IGN with the raw system call; OSError on failure."""
    _set(sig, 1)


def default(sig: int) -> None:
    """Set `sig` back to SIG_DFL with the raw system call."""
    _set(sig, 0)
