"""`pppup ACCOUNT`: one session from taking the line to a live link, or to a clean line.

    gather secrets and the call-back choice     (before the line is taken: no modem waits for a person)
    acquire the line from the helper            (busy: say who holds it; --wait: poll, bounded)
    dial                                        (dialer.py: init, numbers in turn, redial)
    log in                                      (login.py, or callback.py for call-back accounts)
    start pppd through the helper               (it waits until IP is up and then supervises the link)

Any failure and any signal (Ctrl-C, SIGTERM, SIGHUP) before pppd runs ends in
`clean_line`: the helper drops DTR (a modem set up with &D2/&D3 hangs up, &D3
also resets it), we send ATZ and ATS0=0 (so a call-back account never leaves
the modem auto-answering, even on a line without DTR), and the helper
releases the line (its own DTR drop, the admin's reset command, revoking
our fd, unlocking).  If we die without cleaning up (SIGKILL) the helper sees
the connection close and does its part alone.  If the helper dies under us
(its end is watched while we dial and log in), we stop at once, leave data
mode with +++/ATH, send ATZ and ATS0=0 ourselves, and exit HELPER; the next
helper (any `pppup status`) drops DTR, revokes the line and removes its locks.

A signal while the helper starts pppd cannot stop the helper half-way: we
wait for its answer (bounded by ppp_timeout) and, if the link came up, take
it down again at once (a `stop`, as pppdown does).
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

from pppup_protocol.errors import Code, PppupError

from .accounts import Account
from .callback import CallbackLogin, choose_alias
from .credentials import TERMINAL, gather
from .dialer import Dialer, budget_for
from .interrupts import HelperGone, Interrupted, Interrupts
from .login import log_in
from .modem import Modem
from .progress import Progress, amount, seconds

BUSY_POLL_S = 3.0               # how often --wait asks the helper again
CLEANUP_COMMAND_S = 2.0         # each best-effort modem command while cleaning up


class UpOptions(NamedTuple):
    line: str | None = None         # instead of the account's line
    callback: str | None = None     # the call-back alias
    wait: bool = False              # wait for a busy line
    wait_timeout: float = 600.0
    foreground: bool = False


class LinkUp(NamedTuple):
    account: str
    line: str
    ifname: str
    local: str
    remote: str
    ppp_seconds: float              # start_pppd -> IP up
    total_seconds: float            # pppup started -> IP up
    link: dict[str, Any]


def _helper_client() -> Any:
    from .helper_client import HelperClient
    return HelperClient()


class Session:
    def __init__(self, account: Account, options: UpOptions, progress: Progress,
                 helper_factory: Callable[[], Any] = _helper_client, terminal: str = TERMINAL) -> None:
        self.account = account
        self.options = options
        self.progress = progress
        self.helper_factory = helper_factory
        self.terminal = terminal
        self.line = options.line or account.line
        self.helper: Any = None
        self.modem: Modem | None = None
        self.holding = False            # the helper holds the line for us (before pppd)
        self.helper_alive = True        # False once the helper ended under us (HelperGone)
        self.online = False             # the modem may be in a call (data mode)
        self.phase = "starting"
        self.dial_deadline: float | None = None    # when the helper takes the line back (no pppd yet)

    # ------------------------------------------------------------------ up
    def run(self) -> LinkUp:
        account, progress = self.account, self.progress
        started = time.monotonic()
        if self.options.callback is not None and account.callback is None:
            raise PppupError(f"account {account.name} is not a call-back account; drop --callback", Code.USAGE)
        credentials = gather(account, self.terminal)
        alias = choose_alias(account, self.options.callback, self.terminal) if account.callback else None
        with Interrupts(progress.warn) as interrupts:
            try:
                self.phase = "waiting for the line"
                fd, limits = self._acquire()
                acquired_at = time.monotonic()
                progress.step(f"line {self.line} is ours ({limits.get('rule', 'policy')}); account {account.name}")
                self.modem = Modem(fd, account.speed, account.rtscts, progress.event, credentials.secrets())
                budget = budget_for(account, limits, acquired_at)
                self.dial_deadline = budget.deadline
                self.phase = "dialling"
                with interrupts.watching(getattr(self.helper, "pid", None)):
                    dialer = Dialer(self.modem, account, budget, progress, callback=account.callback is not None,
                                    login_password=credentials.login_password, secrets=credentials.secrets())
                    self.online = True       # from the first ATD on, the modem may be in a call
                    dialer.connect()
                    if account.callback is not None and alias is not None:
                        self.phase = "call-back"
                        flow = CallbackLogin(account, self.modem, credentials, progress, alias, budget.deadline,
                                             self.terminal)
                        try:
                            flow.run()
                        finally:
                            self.phase = flow.state
                    elif account.script is not None and account.script.kind == "login":
                        self.phase = "login"
                        log_in(account, self.modem, credentials, progress, self.terminal)
                self.phase = "pppd starting"
                progress.step(f"starting PPP (peer {account.peer})")
                with interrupts.deferred():
                    ppp_started = time.monotonic()
                    self.holding = False     # from here the helper cleans up if pppd fails
                    link = self.helper.start_pppd(account.peer, account.pppd_flags, credentials.auth_user,
                                                  credentials.auth_secret, timeout=account.ppp_timeout)
            except BaseException as error:
                with interrupts.deferred():
                    self._after_failure(error)
                if isinstance(error, HelperGone):
                    raise PppupError(f"the root helper holding line {self.line} ended ({error.how}; phase: "
                                     f"{self.phase}); the modem was reset; see the system log "
                                     "(journalctl -t pppup-helper)", Code.HELPER) from None
                raise
            self.phase = "up"
            up = LinkUp(account.name, self.line, link.get("ifname", ""), link.get("local", ""),
                        link.get("remote", ""), time.monotonic() - ppp_started, time.monotonic() - started, link)
            self._close_quietly()
            if interrupts.pending is not None:
                with interrupts.deferred():
                    progress.step("the link came up as we were interrupted; taking it down again")
                    try:
                        stop_line(self.line, self.helper_factory)
                    except PppupError as problem:
                        progress.warn(f"could not take the link down: {problem.message}; run pppdown {self.line}")
                interrupts.check()
            return up

    def _acquire(self) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + self.options.wait_timeout
        tick = None
        while True:
            helper = self.helper_factory()
            try:
                fd, limits = helper.acquire(self.line, self.account.name)
            except Interrupted:
                helper.close()       # the helper sees EOF and lets go of the line if it took it
                raise
            except PppupError as error:
                helper.close()
                if error.code != Code.BUSY or not self.options.wait:
                    raise
                left = deadline - time.monotonic()
                holder = error.message.removesuffix("; try --wait")
                if left <= 0:
                    raise PppupError(f"{holder}; still busy after waiting {self.options.wait_timeout:.0f} s",
                                     Code.TIMEOUT) from None
                if tick is None:
                    self.progress.step(f"{holder}; waiting for it")
                    tick = self.progress.countdown(f"waiting for line {self.line}")
                tick(left)
                time.sleep(min(BUSY_POLL_S, left))
                continue
            self.helper = helper
            self.holding = True
            return fd, limits

    # ------------------------------------------------------------ cleanup
    def _after_failure(self, error: BaseException) -> None:
        if isinstance(error, Interrupted):
            self.progress.step(f"{error.name} while {self.phase}: cleaning up")
        elif isinstance(error, HelperGone):
            # Nobody holds the line for us now: no DTR drop, no release to ask
            # for; reset the modem ourselves while our fd still works (the next
            # helper revokes it and drops DTR).
            self.progress.warn(f"the root helper holding line {self.line} ended ({error.how}); resetting the modem")
            self.helper_alive = False
        elif self.holding and self.dial_deadline is not None and time.monotonic() >= self.dial_deadline:
            self.progress.warn("the policy's dial time limit ran out before pppd could start, so the helper "
                               "took the line back (ask your administrator for a longer dial_seconds)")
        if self.holding:
            self.clean_line()
        self._close_quietly()

    def clean_line(self) -> None:
        """Leave the line as we found it: hung up, modem reset, not auto-answering, unlocked."""
        done: list[str] = []
        helper, modem = self.helper, self.modem
        if self.helper_alive:
            try:
                helper.hangup()
                done.append("DTR dropped")
            except (PppupError, OSError) as problem:
                self.progress.warn(f"the helper could not drop DTR: {_message(problem)}")
        if modem is not None and modem.fd >= 0:
            try:
                if self.online and ("DTR dropped" not in done or not modem.has_modem_lines()):
                    # No DTR drop (a pty, or no helper left to do it): leave
                    # data mode the Hayes way.
                    modem.escape()
                    _best_effort(lambda: modem.command("ATH", CLEANUP_COMMAND_S))
                modem.flush_input()
                if _best_effort(lambda: modem.command("ATZ", CLEANUP_COMMAND_S)):
                    done.append("ATZ")
                if _best_effort(lambda: modem.command("ATS0=0", CLEANUP_COMMAND_S)):
                    done.append("ATS0=0")
            except (PppupError, OSError):
                pass
        if self.helper_alive:
            try:
                helper.release()
                done.append("line released")
                self.holding = False
            except (PppupError, OSError) as problem:
                self.progress.warn(f"the helper could not release the line: {_message(problem)} "
                                   "(it releases it when this program exits)")
        self.progress.step(f"line {self.line} cleaned up: {', '.join(done) or 'nothing could be done'}")

    def _close_quietly(self) -> None:
        if self.modem is not None:
            try:
                self.modem.close()
            except OSError:
                pass
        if self.helper is not None:
            self.helper.close()


def _best_effort(action: Callable[[], None]) -> bool:
    try:
        action()
        return True
    except (PppupError, OSError):
        return False


def _message(problem: BaseException) -> str:
    return problem.message if isinstance(problem, PppupError) else str(problem)


# ------------------------------------------------------------------ stopping

def stop_line(line: str | None, helper_factory: Callable[[], Any] = _helper_client,
              all_: bool = False) -> list[dict[str, Any]]:
    helper = helper_factory()
    try:
        return helper.stop(line, all_)
    finally:
        helper.close()


def describe_stop(entry: dict[str, Any]) -> str:
    """One line for a stopped (or not stopped) link, for pppdown and --foreground."""
    who = f"{entry.get('account') or '?'} on {entry.get('line')}"
    if entry.get("user"):
        who += f" ({entry['user']})"
    if not entry.get("stopped"):
        return f"{who}: not stopped: {entry.get('reason', 'no link')}"
    parts = [f"stopped {who}"]
    if entry.get("duration") is not None:
        parts.append(f"up {seconds(float(entry['duration']))}")
    if entry.get("bytes_sent") is not None or entry.get("bytes_received") is not None:
        parts.append(f"sent {amount(entry.get('bytes_sent'))}, received {amount(entry.get('bytes_received'))}")
    if entry.get("reason"):
        parts.append(str(entry["reason"]))
    return "; ".join(parts)


def stay_in_foreground(up: LinkUp, progress: Progress, helper_factory: Callable[[], Any] = _helper_client,
                       poll: float = 1.0) -> int:
    """Keep watching the link; Ctrl-C (or SIGTERM/SIGHUP) ends it.  The exit status."""
    ifindex = _ifindex(up.ifname)
    progress.step("staying in the foreground; Ctrl-C ends the link")
    with Interrupts() as interrupts:
        try:
            while ifindex is not None and _ifindex(up.ifname) == ifindex:
                time.sleep(poll)
        except Interrupted as signal_:
            with interrupts.deferred():
                progress.step(f"{signal_.name}: ending the link")
                for entry in stop_line(up.line, helper_factory):
                    print(describe_stop(entry), flush=True)
            return 0
    # The interface went away: the link ended without us.
    helper = helper_factory()
    try:
        lines = helper.status()
    finally:
        helper.close()
    last = next((entry.get("last") for entry in lines if entry.get("line") == up.line), None) or {}
    reason = last.get("reason") or "the link ended"
    progress.step(f"the link on {up.line} ended: {reason}")
    return 0 if "on request" in reason else int(Code.PPP)


def _ifindex(ifname: str) -> str | None:
    try:
        with open(f"/sys/class/net/{ifname}/ifindex") as f:
            return f.read().strip()
    except OSError:
        return None

