"""cffi build script for pppup_helper._syscalls (out-of-line API mode).

Only what the standard library lacks is declared here:

- openat2(2) with RESOLVE_NO_SYMLINKS / RESOLVE_NO_MAGICLINKS, so the tty is
  opened without following any link (glibc 2.36 has no wrapper: raw syscall);
- renameat2(2) with RENAME_NOREPLACE, so a stale lock is moved aside to a
  unique name without ever replacing a file an attacker planted there;
- a liveness probe that can only ever send signal 0: the helper never calls
  kill(2) with a pid read from a file (attack classes L4, K4), and this C
  function refuses pids <= 1 before the syscall;
- the TIOCVHANGUP ioctl number, which Python's termios module does not export;
- every signal disposition back to default through rt_sigaction(2): glibc
  (and so Python's signal module) refuses its reserved signals 32 and 33,
  which an ancestor can leave ignored and exec passes on.

The module is compiled when the package is built (setup.py `cffi_modules`),
never at run time as root (attack class Y7).
"""
from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    struct open_how {
        uint64_t flags;
        uint64_t mode;
        uint64_t resolve;
    };
    static const int RESOLVE_NO_XDEV;
    static const int RESOLVE_NO_MAGICLINKS;
    static const int RESOLVE_NO_SYMLINKS;
    static const int RESOLVE_BENEATH;
    static const int RENAME_NOREPLACE;
    static const int AT_FDCWD;
    static const unsigned long TIOCVHANGUP;

    int pppup_openat2(int dirfd, const char *path, struct open_how *how);
    int renameat2(int olddirfd, const char *oldpath,
                  int newdirfd, const char *newpath, unsigned int flags);
    int pppup_probe_pid(int pid);
    int pppup_default_all_signals(void);
    """
)

ffibuilder.set_source(
    "pppup_helper._syscalls",
    r"""
    #define _GNU_SOURCE
    #include <errno.h>
    #include <fcntl.h>
    #include <signal.h>
    #include <stdint.h>
    #include <stdio.h>
    #include <sys/ioctl.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    #include <linux/openat2.h>

    static int pppup_openat2(int dirfd, const char *path, struct open_how *how)
    {
        return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
    }

    /* Signal 0 only: tells whether a process exists, touches nothing. */
    static int pppup_probe_pid(int pid)
    {
        if (pid <= 1) {
            errno = EINVAL;
            return -1;
        }
        return kill((pid_t)pid, 0);
    }

    /* An all-zero kernel sigaction is SIG_DFL, no flags, an empty mask;
     * the kernel's sigset_t is 8 bytes (64 signals). */
    static int pppup_default_all_signals(void)
    {
        unsigned long dfl[4] = { 0 };
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP)
                continue;
            if (syscall(SYS_rt_sigaction, sig, dfl, NULL, (size_t)8) != 0)
                return -1;
        }
        return 0;
    }
    """,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
