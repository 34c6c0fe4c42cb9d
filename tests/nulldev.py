"""Whether /dev/null and /dev/full are the kernel's own devices.

When a program starts with AT_SECURE (a setuid exec, or any exec whose
effective uid differs from the real one), glibc fills a closed fd 0-2 before
main: fd 0 from /dev/full, 1 and 2 from /dev/null.  If what it opened is not
character device 1:7 or 1:3 it halts the process (an `hlt` instruction, seen
as SIGSEGV), since it cannot even report.  Some machine images ship
/dev/null as a regular file (the CI image did); there a setuid program
started with closed stdio dies before its first line, which is a safe
outcome, and the closed-stdio tests check for exactly that instead.
"""
import os
import signal
import stat

_DEVICES = {"/dev/null": (1, 3), "/dev/full": (1, 7)}

# What waitstatus_to_exitcode reports for glibc's halt.
HALTED_BY_GLIBC = -signal.SIGSEGV


def genuine() -> bool:
    for path, (major, minor) in _DEVICES.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(major, minor):
            return False
    return True


def describe() -> str:
    kinds = []
    for path in _DEVICES:
        try:
            st = os.stat(path)
            kinds.append(f"{path}: mode {stat.filemode(st.st_mode)}, rdev "
                         f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
        except OSError as exc:
            kinds.append(f"{path}: {exc.strerror}")
    return "; ".join(kinds)
