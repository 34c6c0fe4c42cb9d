"""Log in after CONNECT with the account's KPPP-style login script (not a callback).

The chat engine runs the script (pppup.chat.kppp).  What the account adds:
the ID and password gathered before dialling (so they are never asked
twice, and never while the line waits), answers for Prompt commands (the
account's `[login] answers`, then the terminal if there is one), the line
ending, and abort strings: NO CARRIER (a server that hangs up ends the
login at once instead of at the script's timeout) and the account's own
`abort` texts (e.g. "Login incorrect").
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pppup_protocol.errors import Code, PppupError

from .accounts import Account
from .credentials import TERMINAL, Credentials
from .modem import Modem
from .progress import Progress

if TYPE_CHECKING:
    from .chat.kppp import LoginRunner

DEFAULT_TIMEOUT = 60          # KPPP's own default for each waiting command


class Answers:
    """Prompt answers: the account's (by prompt text), then the user's terminal."""

    def __init__(self, account: Account, terminal: str = TERMINAL) -> None:
        from .chat.kppp import FixedAnswers, TerminalAnswers
        self.fixed = FixedAnswers(by_text=account.answers)
        self.terminal = TerminalAnswers(terminal) if _have_terminal(terminal) else None

    def __call__(self, request: object) -> str:
        text = getattr(request, "text", "")
        if text in self.fixed.by_text:
            return self.fixed(request)                         # type: ignore[arg-type]
        if self.terminal is not None:
            return self.terminal(request)                      # type: ignore[arg-type]
        return self.fixed(request)                             # raises: no answer, no terminal


def make_runner(account: Account, modem: Modem, credentials: Credentials, progress: Progress,
                terminal: str = TERMINAL) -> "LoginRunner":
    from .chat.kppp import LoginOptions, LoginRunner
    script = account.script
    if script is None or script.kind != "login":
        raise PppupError(f"account {account.name} has no login script", Code.FAILURE)
    options = LoginOptions(
        username=credentials.login_user, password=credentials.login_password,
        line_ending=account.line_ending, timeout=account.script_timeout or DEFAULT_TIMEOUT,
        answers=Answers(account, terminal), aborts=("NO CARRIER", *account.aborts),
        secrets=credentials.secrets(), received_events=progress.verbose)
    return LoginRunner(script.parsed, modem.channel, options, progress.event)


def run_part(runner: "LoginRunner", start: int, stop: int | None, what: str) -> None:
    """Run commands [start, stop) of the script; a failure raises Code.LOGIN with its reason."""
    result = runner.run(start, stop)
    if not result.ok:
        raise PppupError(f"{what} failed: {result.failure}", Code.LOGIN)


def log_in(account: Account, modem: Modem, credentials: Credentials, progress: Progress,
           terminal: str = TERMINAL) -> None:
    runner = make_runner(account, modem, credentials, progress, terminal)
    run_part(runner, 0, None, "the login")
    progress.step("logged in")


def _have_terminal(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True
