"""One line session of one helper process: acquire, hand over, start pppd, supervise, release.

The lifecycle (DEVELOPERS.md "Process model"):

  acquire     converge a stale record of the line first (links.converge_line);
              count the caller's links against the policy's max_links; UUCP
              lock (all names); state "dialling" (under the lock, so no two
              helpers ever write one line's record); open + pin the tty.
  client_fd   a second open file description of the pinned tty for the client.
  hangup      DTR low for the line's hold time, then high again (client asked).
  start_pppd  pppd with argv from the policy grant only; state gets pppd's pid
              and start time at once (crash recovery needs them); wait,
              bounded, until pppd reports IP up; any failure cleans up.
  supervise   after the client went: this process execs the C link
              supervisor (same pid), which waits for pppd's exit, drops DTR at
              once and execs the helper's finish step (finish.py) for the rest
              of release; a link's end is cleaned up within 2 s.
  release     idempotent; every step in its own try: stop pppd if still
              running, DTR drop, the admin's reset command, TIOCVHANGUP (the
              user's fds die), close, unlock, end record, remove the record,
              audit.

pppd (argv, spawn, its log's many patterns) is imported only where pppd is
started or stopped: a status request never pays for it.

The dial-phase deadline (grant.dial_seconds after acquire) is enforced by the
gate's receive deadline (handlers.Gate.wait_deadline -> timed_out ->
release); `dial_deadline` is also kept here and start_pppd refuses after it.
"""
from __future__ import annotations

import fcntl
import os
import select
import time

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from pppup_helper import audit, links, procinfo
from pppup_helper.line import Line
from pppup_helper.state import EndRecord, SessionRecord, StateDir
from pppup_helper.uucplock import LockDir, UucpLock

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing and pppd stay off the status path
    from typing import Any

    from pppup_helper.pppd import LinkInfo, PppdProcess

# Re-exported for the gate (handlers.real_backend) and the seam in DEVELOPERS.md.
line_status = links.line_status
stop_links = links.stop_links

CLEANUP_BUDGET_S = 2.0           # a link's end is cleaned up within this (with the default 1 s DTR hold)
RESET_TIMEOUT_S = 0.7            # what is left of the budget after the hold, for the modem's OK
# The link supervisor's inherited fds (csrc/pppup-supervise.c): line, pppd's log, pppd's pidfd.
SUPERVISOR_FDS = (3, 4, 5)
SUPERVISOR_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
EXIT_NO_SUPERVISOR = 1


class LineSession:
    def __init__(self, *, policy: Any, caller: Any, grant: Any, account: str, statedir: StateDir,
                 lockdir: LockDir, lock: UucpLock, line: Line, record: SessionRecord,
                 supervisor: str = paths.SUPERVISOR):
        self.policy = policy
        self.caller = caller
        self.grant = grant
        self.config = grant.line
        self.account = account
        self.statedir = statedir
        self.lockdir = lockdir
        self.lock = lock
        self.line = line
        self.record = record
        self.dial_deadline = time.monotonic() + grant.dial_seconds
        self.pppd: PppdProcess | None = None
        self.peer: str | None = None
        self.link_up_at: float | None = None     # monotonic, for the duration
        self.released = False
        self.supervisor = supervisor                # the C link supervisor this process becomes
        self.release_report: dict[str, Any] = {}    # what release did (DTR, reset, problems)

    # ----------------------------------------------------------- acquire
    @classmethod
    def acquire(cls, policy: Any, caller: Any, grant: Any, account: str, *,
                lock_dir: str = paths.LOCK_DIR, state_dir: str = paths.STATE_DIR,
                supervisor: str = paths.SUPERVISOR) -> "LineSession":
        config = grant.line
        statedir = StateDir(state_dir)
        lockdir: LockDir | None = None
        lock: UucpLock | None = None
        line: Line | None = None
        wrote_state = False
        try:
            lockdir = LockDir(lock_dir, serial_path=os.path.join(state_dir, "lockdir.lock"))
            links.converge_line(policy, config, statedir, lockdir, caller)
            device = links.resolve(config)
            names = links.names_for(device)
            # Counting the caller's links, locking and recording happen under
            # one flock: two concurrent acquires cannot both pass max_links,
            # and no two helpers ever write one line's record.
            with lockdir.serialised():
                grant.check_link_count(links.count_links(policy, statedir, caller.uid))
                links.refuse_if_held(config, statedir)
                lock = links.lock_line(config, statedir, lockdir, device, names)
                record = SessionRecord(
                    line=config.name, owner_uid=caller.uid, user=caller.name, account=account,
                    phase="dialling", supervisor_pid=os.getpid(),
                    supervisor_start=procinfo.start_time(os.getpid()) or 0, since=int(time.time()),
                    device=device.path, lock_names=lock.names)
                statedir.write_session(record)
                wrote_state = True
            line = Line.open(device)
            return cls(policy=policy, caller=caller, grant=grant, account=account,
                       statedir=statedir, lockdir=lockdir, lock=lock, line=line, record=record,
                       supervisor=supervisor)
        except BaseException:
            if line is not None:
                line.close()
            if wrote_state:
                statedir.remove_session(config.name)
            if lock is not None:
                lock.release()
            if lockdir is not None:
                lockdir.close()
            statedir.close()
            raise

    # ------------------------------------------------------- client calls
    def client_fd(self) -> int:
        """A new open file description of the pinned tty, O_RDWR|O_NOCTTY (and
        O_NONBLOCK, which the client may clear on its own description)."""
        self._need_held()
        return self.line.reopen()

    def hangup(self) -> str:
        self._need_held()
        if self.pppd is not None:
            raise PppupError("pppd runs on the line: hang up with pppdown", Code.USAGE)
        return self.line.drop_dtr(self.config.dtr_hold, raise_again=True)

    def start_pppd(self, grant: Any, user: str | None, secret: str | None, deadline: float) -> LinkInfo:
        """pppd on the line until IP is up.  Any failure releases the line first
        (the gate forgets the session when this raises)."""
        self._need_held()
        if self.pppd is not None:
            raise PppupError("pppd was already started on this line", Code.USAGE)
        try:
            return self._start_pppd(grant, user, secret, deadline)
        except BaseException as exc:
            message = exc.message if isinstance(exc, PppupError) else f"internal error ({type(exc).__name__})"
            self.release(message)
            raise

    def _start_pppd(self, grant: Any, user: str | None, secret: str | None, deadline: float) -> LinkInfo:
        from pppup_helper import pppd
        if time.monotonic() >= self.dial_deadline:
            raise PppupError(f"line {self.config.name}: the dial time limit "
                             f"({self.grant.dial_seconds} s) ran out before pppd; dial again", Code.PPP)
        payload = _secret_payload(user, secret)
        argv = pppd.build_argv(grant.peer.name, grant.flags, grant.idle, grant.maxconnect,
                               payload is not None)
        self.peer = grant.peer.name
        self._update(phase="starting", peer=self.peer)
        self.pppd = pppd.spawn(argv, self.line.fd, payload)
        self._update(pppd_pid=self.pppd.pid, pppd_start=self.pppd.start_time)
        failure = self._wait_ip_up(deadline)
        if failure is not None:
            raise PppupError(f"line {self.config.name}: {failure}", Code.PPP)
        log = self.pppd.log
        self.link_up_at = time.monotonic()
        counters = links.interface_counters(log.ifname)
        self._update(phase="up", link_start=int(time.time()), ifname=log.ifname,
                     local_ip=log.local, remote_ip=log.remote,
                     base_sent=counters.get("bytes_sent"), base_received=counters.get("bytes_received"))
        return pppd.LinkInfo(ifname=log.ifname or "", local=log.local or "", remote=log.remote or "",
                             pppd_pid=self.pppd.pid)

    def _wait_ip_up(self, deadline: float) -> str | None:
        """None once IP is up; otherwise why not (pppd ended, or the deadline passed)."""
        from pppup_helper import pppd
        proc = self.pppd
        if proc is None:
            return "pppd is not running"
        while True:
            pppd.drain_log(proc)
            if proc.log.ip_up:
                return None
            if procinfo.pidfd_exited(proc.pidfd):
                pppd.reap(proc, 1.0)
                reason, _ = pppd.exit_reason(proc.status)
                return f"pppd ended before the link came up: {reason}"
            left = deadline - time.monotonic()
            if left <= 0:
                return "pppd did not bring the link up in time"
            fds = [proc.pidfd] + ([proc.log_fd] if proc.log_fd >= 0 else [])
            select.select(fds, [], [], left)

    # ---------------------------------------------------------- supervise
    def supervise(self) -> None:
        """The client went with pppd running: become the link's supervisor.

        This process execs the C supervisor (csrc/pppup-supervise.c): same
        pid, so the locks, the record and pppd's parent stay true, at a
        fraction of Python's memory.  It waits for pppd's exit (or stops pppd
        on SIGTERM/SIGINT/SIGHUP), drops DTR at once and execs the helper's
        finish step (finish.py), which does the rest of release.  Returns only
        when there is nothing to supervise or no supervisor to run, after
        releasing the line; exits the process if the exec itself fails (pppd
        then dies of PR_SET_PDEATHSIG and the next helper converges the line).
        """
        if self.released:
            return
        if self.pppd is None:
            self.release("the client went away before pppd")
            return
        if not os.access(self.supervisor, os.X_OK):
            self.release(f"the link supervisor {self.supervisor} is missing, so pppd was stopped; "
                         "reinstall pppup (make install)")
            return
        from pppup_helper import pppd
        pppd.drain_log(self.pppd)
        if self.pppd.log_fd < 0:
            # pppd closed its log already: the supervisor still gets a pipe (at end of file).
            self.pppd.log_fd, writer = os.pipe2(os.O_CLOEXEC)
            os.close(writer)
        try:
            _exec_supervisor(self.supervisor, self._finish_args(),
                             (self.line.fd, self.pppd.log_fd, self.pppd.pidfd))
        except OSError as exc:
            audit.audit(self.caller, "supervise", {"line": self.config.name},
                        f"cannot exec {self.supervisor}: {exc.strerror}; pppd stops with this process "
                        "and the next pppup status cleans up the line")
            os._exit(EXIT_NO_SUPERVISOR)

    def _finish_args(self) -> list[str]:
        """What the finish step needs beyond the session record, from this
        session's own (root-owned) configuration; the supervisor passes it on."""
        up = self.link_up_at if self.link_up_at is not None else time.monotonic()
        return ["--line", self.config.name, "--state-dir", self.statedir.path, "--lock-dir", self.lockdir.path,
                "--audit-socket", audit.socket_path(), "--dtr-hold-ms", str(round(self.config.dtr_hold * 1000)),
                "--reset", self.config.reset or "", "--link-up-ns", str(int(up * 1e9))]

    # ------------------------------------------------------------ release
    def release(self, reason: str) -> None:
        """Full cleanup; safe to call more than once; never raises for a step's failure."""
        if self.released:
            return
        self.released = True
        problems: list[str] = []

        def step(name: str, action) -> Any:
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - every step runs, problems are reported
                problems.append(f"{name}: {exc}")
                return None

        exit_status = None
        if self.pppd is not None:
            step("stop pppd", self._stop_own_pppd)
            if self.pppd.status is not None and os.WIFEXITED(self.pppd.status):
                exit_status = os.WEXITSTATUS(self.pppd.status)
        step("state", lambda: self._update(phase="stopping"))
        dtr, reset, line_problems = self.line.end_session(self.config.dtr_hold, self.config.reset,
                                                          RESET_TIMEOUT_S)
        problems += line_problems
        unlock_problems = step("unlock", self.lock.release) or []
        problems += [f"unlock {p}" for p in unlock_problems]
        step("end record", lambda: self.statedir.write_end(self._end_record(reason, exit_status)))
        step("remove record", lambda: self.statedir.remove_session(self.config.name))
        details = {"line": self.config.name, "account": self.account, "reason": reason,
                   "dtr": dtr or "-"}
        if reset:
            details["reset"] = reset
        result = "cleaned up" if not problems else "cleaned up with problems: " + "; ".join(problems)
        self.release_report = {**details, "problems": problems}
        step("audit", lambda: audit.audit(self.caller, "release", details, result))
        self.lockdir.close()
        self.statedir.close()

    def _stop_own_pppd(self) -> None:
        from pppup_helper import pppd
        proc = self.pppd
        if proc.status is None:
            if not procinfo.pidfd_exited(proc.pidfd):
                pppd.terminate(proc.pidfd)
            pppd.reap(proc, 5.0)
        pppd.drain_log(proc)
        proc.close()

    def _end_record(self, reason: str, exit_status: int | None) -> EndRecord:
        log = self.pppd.log if self.pppd is not None else None
        duration = int(time.monotonic() - self.link_up_at) if self.link_up_at is not None else 0
        return EndRecord(line=self.config.name, owner_uid=self.caller.uid, user=self.caller.name,
                         account=self.account, reason=_short(reason), exit_status=exit_status,
                         started=self.record.since, ended=int(time.time()), duration=duration,
                         bytes_sent=log.bytes_sent if log else None,
                         bytes_received=log.bytes_received if log else None, peer=self.peer)

    # ------------------------------------------------------------ helpers
    def _update(self, **changes: Any) -> None:
        self.record = self.record._replace(**changes)
        self.statedir.write_session(self.record)

    def _need_held(self) -> None:
        if self.released:
            raise PppupError(f"line {self.config.name} was already released; start again", Code.LINE)


def _secret_payload(user: str | None, secret: str | None) -> bytes | None:
    if not user and not secret:
        return None
    if not user or not secret:
        raise PppupError("give both the PAP/CHAP user name and the secret, or neither", Code.USAGE)
    if not all(0x21 <= ord(c) <= 0x7e for c in user) or len(user) > 64 \
            or not all(0x20 <= ord(c) <= 0x7e for c in secret) or len(secret) > 128:
        raise PppupError("the PAP/CHAP user name or secret has characters pppd cannot use", Code.USAGE)
    return user.encode("ascii") + b"\0" + secret.encode("ascii") + b"\0"


def _short(text: str) -> str:
    clean = "".join(c if 0x20 <= ord(c) < 0x7f else "?" for c in text)
    return clean[:200]


def _exec_supervisor(path: str, finish_args: list[str], fds: tuple[int, int, int]) -> None:
    """exec the link supervisor with exactly `fds` as its fds 3, 4, 5 (every
    other fd is close-on-exec, and the supervisor closes any it finds).
    Returns only by raising OSError."""
    # Copies above 10 first, so no dup2 onto 3..5 clobbers a source.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]
    audit.close()        # its socket may sit on 3..5; it reconnects if ever needed
    for target, fd in zip(SUPERVISOR_FDS, high):
        os.dup2(fd, target, inheritable=True)
    os.execve(path, [path, *finish_args], SUPERVISOR_ENV)
