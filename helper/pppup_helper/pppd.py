"""pppd: argv from the policy only, a clean spawn, its log, its exit, a verified stop.

argv (attack classes O1-O9).  pppd runs with real uid 0, so it treats every
option as privileged: nothing a client sends may reach its argv.  The argv is

    /usr/sbin/pppd call PEER nodetach [idle N] [maxconnect N] [FLAG...]
                   [plugin PPPUP_PLUGIN pppup-secret-fd 3] logfd 2

PEER is the policy's peer name (a file in /etc/ppp/peers the admin wrote),
N are the policy's limits (after `call`, so they override the peer file's),
FLAGs are argument-free options from the built-in safe list that the rule
allows (policy_flags.SAFE_FLAGS).  check_argv() re-checks every token against
that grammar and the banned list before every spawn.

Spawn.  fork, then in the child: new session, PR_SET_PDEATHSIG=SIGTERM (and
exit if the parent is already gone), fds 0 = a fresh open of the tty, 1 =
/dev/null, 2 = the log pipe, 3 = the secret pipe (only when a secret is
given), every other fd closed, signal dispositions and mask reset, umask 022,
cwd /, then execve with a fixed environment.  Exec failures come back through
a close-on-exec pipe.  The parent keeps a pidfd and pppd's start time.
PDEATHSIG survives the exec of the setuid-root pppd because we are already
root: the kernel clears it only when the exec changes credentials
(tests/line/test_pppd.py checks this with the real binary).

Log (O4).  pppd writes its messages to fd 2 (`logfd 2`).  PppdLog extracts a
fixed set of facts (interface, addresses, connect time, byte counts, known
failures); the text itself is never relayed to the client.

Stop (K1-K5).  Only through a pidfd, only after /proc shows the recorded
process: exe /usr/sbin/pppd, real uid 0, the recorded start time (and, when
the supervisor is alive, it as the parent).  /proc/PID/exe of the
non-dumpable setuid pppd is readable only with CAP_SYS_PTRACE; a helper
without it checks argv[0] (/proc/PID/cmdline) instead: the start time from
root-owned state already pins the process we spawned.  SIGTERM, SIGKILL after a grace.
No signal ever goes to a bare pid; the signal is fixed, never the client's.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import time
from collections import namedtuple
from collections.abc import Sequence

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from pppup_helper import procinfo, syscalls
from pppup_helper.policy_flags import SAFE_FLAGS

PPPD = paths.PPPD
PLUGIN = paths.PPPD_PLUGIN
PLUGIN_OPTION = "pppup-secret-fd"
SECRET_FD = 3
LOG_FD = 2
ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
PEER_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
FLAG_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
NUMBER_RE = re.compile(r"[1-9][0-9]{0,8}")
LIMIT_MAX = 10**8
# Never on our argv, whatever any list says (security.md O3).
BANNED = frozenset({
    "plugin", "file", "call", "pty", "socket", "notty", "record", "logfile", "init", "connect",
    "disconnect", "welcome", "ip-up-script", "ip-down-script", "ipv6-up-script",
    "ipv6-down-script", "set", "unset", "nolock", "noauth", "privgroup", "ipparam", "linkname",
    "ifname", "unit", "user", "password", "remotename", "name", "persist", "demand", "updetach",
    "detach", "dump", "dryrun", "lock", "modem", "local", "logfd", "nodetach", "idle",
    "maxconnect", "child-timeout", "active-filter", "pass-filter", "holdoff", "maxfail",
})
MAX_LOG_LINE = 512
TERM_GRACE_S = 5.0


# What start_pppd answers once IP is up: interface, local and remote address, pppd's pid.
LinkInfo = namedtuple("LinkInfo", "ifname local remote pppd_pid")


# ---------------------------------------------------------------- argv
def build_argv(peer: str, flags: Sequence[str], idle: int | None, maxconnect: int | None,
               with_secret: bool) -> list[str]:
    argv = [PPPD, "call", peer, "nodetach"]
    if idle is not None:
        argv += ["idle", str(idle)]
    if maxconnect is not None:
        argv += ["maxconnect", str(maxconnect)]
    argv += list(flags)
    if with_secret:
        argv += ["plugin", PLUGIN, PLUGIN_OPTION, str(SECRET_FD)]
    argv += ["logfd", str(LOG_FD)]
    check_argv(argv)
    return argv


def check_argv(argv: Sequence[str]) -> None:
    """Refuse any argv not of exactly our grammar (PppupError FAILURE: a bug, not a user error)."""
    def bad(why: str) -> PppupError:
        return PppupError(f"internal error: refusing to start pppd, argv {why}", Code.FAILURE)

    if len(argv) < 6 or argv[0] != PPPD or argv[1] != "call" or argv[3] != "nodetach":
        raise bad("does not start with pppd call PEER nodetach")
    peer = argv[2]
    if not PEER_RE.fullmatch(peer) or ".." in peer or peer in BANNED:
        raise bad(f"has an invalid peer name {peer!r}")
    if argv[-2:] != ["logfd", str(LOG_FD)]:
        raise bad("does not end with logfd 2")
    i, body = 0, list(argv[4:-2])
    seen: set[str] = set()
    while i < len(body):
        token = body[i]
        if token in ("idle", "maxconnect"):
            if token in seen or i + 1 >= len(body) or not NUMBER_RE.fullmatch(body[i + 1]) \
                    or int(body[i + 1]) > LIMIT_MAX:
                raise bad(f"has a bad {token} value")
            seen.add(token)
            i += 2
        elif token == "plugin":
            if body[i:] != ["plugin", PLUGIN, PLUGIN_OPTION, str(SECRET_FD)]:
                raise bad("has a plugin other than ours, or not at the end")
            i = len(body)
        elif FLAG_RE.fullmatch(token) and token in SAFE_FLAGS and token not in BANNED:
            i += 1
        else:
            raise bad(f"has a token outside the grammar: {token!r}")


# ---------------------------------------------------------------- spawn
class PppdProcess:
    """Our child pppd: its pid, a pidfd, its start time, its log pipe and, once reaped, its status."""

    def __init__(self, pid: int, pidfd: int, start_time: int, log_fd: int):
        self.pid = pid
        self.pidfd = pidfd
        self.start_time = start_time
        self.log_fd = log_fd                 # read end of pppd's stderr, non-blocking
        self.log = PppdLog()
        self.status: int | None = None       # raw wait status once reaped

    def close(self) -> None:
        for name in ("pidfd", "log_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


def spawn(argv: Sequence[str], tty_fd: int, secret: bytes | None,
          executable: str = PPPD, check: bool = True) -> PppdProcess:
    """Start pppd on `tty_fd` (the caller's own descriptor: it is dup'ed, not consumed)."""
    if check:
        check_argv(argv)
    log_r, log_w = os.pipe2(os.O_CLOEXEC)
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    secret_r = -1
    try:
        if secret is not None:
            secret_r, secret_w = os.pipe2(os.O_CLOEXEC)
            try:
                # A pipe holds 64 KiB: the small payload never blocks; pppd sees EOF after it.
                if os.write(secret_w, secret) != len(secret):
                    raise OSError(errno.EPIPE, "short write to the secret pipe")
            finally:
                os.close(secret_w)
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(argv, executable, parent, tty_fd, devnull, log_w, secret_r, status_w)
        os.close(devnull)
    finally:
        os.close(log_w)
        os.close(status_w)
        if secret_r >= 0:
            os.close(secret_r)
    try:
        pidfd = os.pidfd_open(pid)
        failure = _read_all(status_r)
    finally:
        os.close(status_r)
    if failure:
        os.waitpid(pid, 0)
        os.close(pidfd)
        os.close(log_r)
        err = int(failure.split(b":")[0] or b"0") if failure[:1].isdigit() else 0
        raise PppupError(f"cannot start {executable}: {os.strerror(err) if err else failure.decode('ascii', 'replace')}",
                         Code.PPP)
    os.set_blocking(log_r, False)
    start = procinfo.start_time(pid)
    if start is None:      # exited already and not reaped: still ours, start time unknown
        start = 0
    return PppdProcess(pid=pid, pidfd=pidfd, start_time=start, log_fd=log_r)


def _child(argv: Sequence[str], executable: str, parent: int, tty_fd: int, devnull: int,
           log_w: int, secret_r: int, status_w: int) -> None:
    """In the forked child: never returns."""
    try:
        import prctl   # python-prctl: PR_SET_PDEATHSIG
        os.setsid()
        prctl.set_pdeathsig(signal.SIGTERM)
        if os.getppid() != parent:          # the parent died before the line above
            os._exit(127)
        # Move every source (and the status pipe) to fds >= 10 first, so no
        # dup2 onto 0..3 can clobber another source.
        status = _dup_above(status_w, 10)
        tty_src = os.open(f"/proc/self/fd/{tty_fd}", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        sources = [tty_src, devnull, log_w] + ([secret_r] if secret_r >= 0 else [])
        high = [_dup_above(fd, 10) for fd in sources]
        for target, fd in enumerate(high):
            os.dup2(fd, target, inheritable=True)
        keep = len(high)
        os.closerange(keep, status)
        os.closerange(status + 1, 1 << 20)
        status_w = status
        # pppd gets a blocking tty, as from a normal open.
        os.set_blocking(0, True)
        syscalls.default_all_signals()
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.umask(0o022)
        os.chdir("/")
        os.execve(executable, list(argv), dict(ENVIRONMENT))
    except BaseException as exc:   # noqa: BLE001 - report and die, never return into the helper
        code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        try:
            os.write(status_w, f"{code}:{type(exc).__name__}".encode())
        finally:
            os._exit(127)


def _dup_above(fd: int, minimum: int) -> int:
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, minimum)


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        chunk = os.read(fd, 256)
        if not chunk:
            return out
        out += chunk


# ---------------------------------------------------------------- the log
_IFNAME = re.compile(r"Using interface ([A-Za-z0-9._-]{1,15})")
_LOCAL = re.compile(r"local  IP address ([0-9.]{7,15})")
_REMOTE = re.compile(r"remote IP address ([0-9.]{7,15})")
_CONNECT_TIME = re.compile(r"Connect time ([0-9]{1,7})\.([0-9]) minutes\.?")
_BYTES = re.compile(r"Sent ([0-9]{1,15}) bytes, received ([0-9]{1,15}) bytes\.?")
_FACTS = (
    (re.compile(r"Modem hangup"), "modem hangup"),
    (re.compile(r"(PAP|CHAP|EAP) authentication failed"), "authentication failed"),
    (re.compile(r"(PAP|CHAP|EAP) authentication succeeded"), "authenticated"),
    (re.compile(r"LCP terminated by peer"), "terminated by the peer"),
    (re.compile(r"No response to [0-9]+ echo-requests"), "peer not responding"),
    (re.compile(r"Serial line is looped back"), "loopback"),
    (re.compile(r"Connection terminated\.?"), "connection terminated"),
    (re.compile(r"Terminating on signal [0-9]+"), "terminating on signal"),
    (re.compile(r"Couldn't open the /dev/ppp device.*|Please load the ppp_generic kernel module\.?"),
     "no kernel PPP support"),
    (re.compile(r"(?:/usr/sbin/pppd: )?pppup-secret: .*"), "secret plugin problem"),
)


class PppdLog:
    """Facts parsed from pppd's log lines; the raw text is not kept."""

    def __init__(self) -> None:
        self.ifname: str | None = None
        self.local: str | None = None
        self.remote: str | None = None
        self.connect_seconds: int | None = None
        self.bytes_sent: int | None = None
        self.bytes_received: int | None = None
        self.events: list[str] = []
        self.lines_seen = 0
        self._partial = b""

    @property
    def ip_up(self) -> bool:
        return self.ifname is not None and self.local is not None and self.remote is not None

    def feed(self, data: bytes) -> None:
        buf = self._partial + data
        *lines, rest = buf.split(b"\n")
        # An over-long line is cut, not accumulated (pppd's lines are short).
        self._partial = rest[:MAX_LOG_LINE]
        for raw in lines:
            self._line(raw[:MAX_LOG_LINE].decode("ascii", "replace").strip())

    def finish(self) -> None:
        if self._partial:
            self._line(self._partial.decode("ascii", "replace").strip())
            self._partial = b""

    def _line(self, line: str) -> None:
        self.lines_seen += 1
        if (m := _IFNAME.fullmatch(line)) is not None:
            self.ifname = m.group(1)
        elif (m := _LOCAL.fullmatch(line)) is not None and _valid_ipv4(m.group(1)):
            self.local = m.group(1)
        elif (m := _REMOTE.fullmatch(line)) is not None and _valid_ipv4(m.group(1)):
            self.remote = m.group(1)
        elif (m := _CONNECT_TIME.fullmatch(line)) is not None:
            self.connect_seconds = int(m.group(1)) * 60 + int(m.group(2)) * 6
        elif (m := _BYTES.fullmatch(line)) is not None:
            self.bytes_sent, self.bytes_received = int(m.group(1)), int(m.group(2))
        else:
            for pattern, fact in _FACTS:
                if pattern.fullmatch(line) and fact not in self.events:
                    self.events.append(fact)
                    break


def _valid_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def drain_log(proc: PppdProcess) -> None:
    """Read whatever pppd has written so far (non-blocking)."""
    while proc.log_fd >= 0:
        try:
            chunk = os.read(proc.log_fd, 4096)
        except BlockingIOError:
            return
        if not chunk:
            proc.log.finish()
            os.close(proc.log_fd)
            proc.log_fd = -1
            return
        proc.log.feed(chunk)


# ---------------------------------------------------------------- exit
EXIT_REASONS: dict[int, str] = {
    0: "the link ended normally",
    1: "pppd hit a fatal error",
    2: "pppd refused its options (check the peer file)",
    3: "pppd is not setuid root",
    4: "the kernel has no PPP support",
    5: "stopped on request",
    6: "the line is locked by another program",
    7: "pppd could not open the line",
    8: "the connect script failed",
    9: "the pty command failed",
    10: "PPP negotiation failed",
    11: "the peer failed to authenticate itself",
    12: "idle timeout",
    13: "connect time limit reached",
    14: "callback negotiated: wait for the call back",
    15: "the peer stopped answering (LCP echo)",
    16: "the modem hung up",
    17: "the line is looped back",
    18: "the init script failed",
    19: "authentication to the peer failed: check the user name and password",
    20: "traffic limit reached",
    21: "the caller number check failed",
}


def exit_reason(status: int | None) -> tuple[str, int | None]:
    """(reason, exit code) for a raw wait status."""
    if status is None:
        return "pppd's exit status is unknown", None
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return EXIT_REASONS.get(code, f"pppd exited with status {code}"), code
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        return f"pppd was killed by {name}", None
    return "pppd stopped in an unexpected way", None


def reap(proc: PppdProcess, timeout: float) -> bool:
    """Wait up to `timeout` for our child pppd to exit and collect its status."""
    if proc.status is not None:
        return True
    if not procinfo.wait_pidfd(proc.pidfd, timeout):
        return False
    _, status = os.waitpid(proc.pid, 0)
    proc.status = status
    drain_log(proc)
    return True


# ---------------------------------------------------------------- stopping
def verify(pid: int, start_time: int, supervisor_pid: int | None) -> int | None:
    """A pidfd on `pid` if it is exactly the recorded pppd, None if it is gone.

    Raises PppupError when something else lives under that pid: we never signal it.
    """
    pidfd = procinfo.open_pidfd(pid)
    if pidfd is None:
        return None
    try:
        facts = procinfo.facts(pid)
        if facts is None or procinfo.pidfd_exited(pidfd):
            os.close(pidfd)
            return None
        problems = []
        # /proc/PID/exe of the (non-dumpable, setuid) pppd needs CAP_SYS_PTRACE
        # to read; without it the helper falls back to argv[0], which it set.
        if facts.exe is not None:
            if facts.exe not in (PPPD, PPPD + " (deleted)"):
                problems.append("not /usr/sbin/pppd")
        elif facts.argv0 != PPPD:
            problems.append("not /usr/sbin/pppd")
        if facts.real_uid != 0:
            problems.append("not running as root")
        if facts.start_time != start_time:
            problems.append("a different start time")
        if supervisor_pid is not None and facts.ppid != supervisor_pid:
            problems.append("a different parent")
        # Re-check after reading /proc: had it exited meanwhile, the pid could be reused.
        if procinfo.pidfd_exited(pidfd):
            os.close(pidfd)
            return None
        if problems:
            raise PppupError(f"refusing to signal pid {pid}: it is not the recorded pppd "
                             f"({', '.join(problems)})", Code.FAILURE)
        return pidfd
    except BaseException:
        if pidfd >= 0:
            try:
                os.close(pidfd)
            except OSError:
                pass
        raise


def terminate(pidfd: int, grace: float = TERM_GRACE_S) -> str:
    """SIGTERM through the pidfd, SIGKILL if still alive after `grace`; waits for the exit."""
    if procinfo.pidfd_exited(pidfd):
        return "already gone"
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
    except ProcessLookupError:
        return "already gone"
    if procinfo.wait_pidfd(pidfd, grace):
        return "terminated"
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        return "terminated"
    procinfo.wait_pidfd(pidfd, 5.0)
    return "killed"


def wait_until(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
