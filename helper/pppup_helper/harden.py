"""Process hardening the helper repeats after the shim's exec (security.md (c) 12, P1-P2).

exec resets "dumpable", so the shim's PR_SET_DUMPABLE does not survive into
Python: the helper turns it off again first thing, before it holds anything
worth stealing.  It also trims capabilities to what it and pppd need:

- the bounding set (what pppd and the scripts pppd runs can ever hold) keeps
  only PPPD_CAPS: network configuration (pppd's /dev/ppp, interfaces, routes),
  CAP_SYS_ADMIN because pppd reopens the tty by name and the line is held
  with TIOCEXCL (only CAP_SYS_ADMIN may open an exclusive tty; without it
  pppd exits 7, checked in the VM), and root's ordinary file and identity
  powers that admin ip-up/ip-down scripts expect.  Module loading, raw I/O,
  ptrace, mknod, time, BPF, chroot and the rest are gone for good.
- the helper's own permitted set adds HELPER_CAPS: CAP_SYS_TTY_CONFIG; it
  uses CAP_SYS_ADMIN for TIOCVHANGUP (revoking the user's fds on the line at
  the end of a session).  CAP_SETPCAP is needed only while trimming.

PR_SET_PDEATHSIG is deliberately not set: the helper outlives its client as
the link's supervisor.
"""
from __future__ import annotations

import resource

# python-prctl's C module.  Its Python wrapper `prctl` builds a property for
# every capability and a function for every option at import: about 0.6 ms
# of every request, for the five calls below.
import _prctl

PPPD_CAPS = frozenset({
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
    "setgid", "setuid", "net_admin", "sys_admin",
})
HELPER_CAPS = PPPD_CAPS | {"sys_tty_config"}
# The capabilities python-prctl's libcap can name (what prctl.ALL_CAPS holds).
KNOWN_CAPS = range(_prctl.CAP_LAST_CAP + 1)


def harden_process() -> None:
    """Non-dumpable, no new privileges, no core, capabilities trimmed; raises OSError on failure."""
    _prctl.prctl(_prctl.PR_SET_DUMPABLE, 0)
    _prctl.prctl(_prctl.PR_SET_NO_NEW_PRIVS, 1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    trim_capabilities()


def _last_cap() -> int:
    # The running kernel may know more capabilities than python-prctl was
    # built with: drop those too, by number.
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read(8).strip())


def _cap(name: str) -> int:
    return getattr(_prctl, "CAP_" + name.upper())


def trim_capabilities() -> None:
    keep_bounding = {_cap(name) for name in PPPD_CAPS}
    for cap in range(_last_cap() + 1):
        if cap not in keep_bounding and _prctl.prctl(_prctl.PR_CAPBSET_READ, cap):
            _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)
    # Own sets last: dropping from the bounding set needs CAP_SETPCAP.
    # _prctl.set_caps(effective, permitted, inheritable to set, then the same
    # three to clear), as prctl.cap_<set>.limit() calls it: inheritable none,
    # effective and permitted only the helper's.
    helper = {_cap(name) for name in HELPER_CAPS}
    others = [cap for cap in KNOWN_CAPS if cap not in helper]
    _prctl.set_caps([], [], [], [], [], list(KNOWN_CAPS))
    _prctl.set_caps([], [], [], others, [], [])
    _prctl.set_caps([], [], [], [], others, [])


def current_state() -> dict[str, object]:
    """For tests and the audit trail: what the kernel says now."""
    import prctl
    return {
        "dumpable": bool(prctl.get_dumpable()),
        "no_new_privs": bool(prctl.get_no_new_privs()),
        "core": resource.getrlimit(resource.RLIMIT_CORE),
        "bounding": sorted(name for name in prctl.ALL_CAP_NAMES if getattr(prctl.capbset, name)),
    }
