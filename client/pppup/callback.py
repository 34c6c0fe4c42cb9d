"""The call-back state machine of the first seed (KPPP's callback chapter), made robust.

    dialled, CONNECT          (the modem was set up with AT&C0&D3S0=1 by the dialer)
      -> first login          the login script up to `Expect <menu_prompt>`
      -> choose               send the chosen alias (the Send/Prompt that follows)
      -> expected hang-up     the server hangs up: NO CARRIER is expected here,
                              not an error; &C0 kept the tty's carrier up and
                              the helper keeps the line and its lock, so no
                              getty on the line answers the call-back itself
      -> wait for RING        bounded (callback.wait), with a countdown
      -> CONNECT              the modem auto-answers (S0=1)
      -> second login         the rest of the script; the ID and password
                              given before are reused, never asked again
      -> (start_ppp sent by the script; pppd follows in session.py)

Every exit from here, success or not, ends with the session's cleanup or
with pppd owning the line; in both cases the modem is reset by a DTR drop
(&D3), so it is never left auto-answering.
"""
from __future__ import annotations

import time

from pppup_protocol.errors import Code, PppupError

from .accounts import Account, Callback
from .credentials import TERMINAL, Credentials, ask
from .login import make_runner, run_part
from .modem import Modem, ModemTimeout, connect_speed
from .progress import Progress

ANSWER_SECONDS = 60.0          # RING -> CONNECT (rings until S0, then training)
LINE_ENDINGS = {"CR": b"\r", "LF": b"\n", "CR/LF": b"\r\n"}


def choose_alias(account: Account, requested: str | None, terminal: str = TERMINAL) -> str:
    """The call-back alias: --callback, else the terminal (when the account asks), else the default."""
    callback = account.callback
    if callback is None:
        raise PppupError(f"account {account.name} is not a call-back account; drop --callback",
                         Code.USAGE)
    offered = f" (one of: {', '.join(callback.aliases)})" if callback.aliases else ""
    if requested is not None:
        if callback.aliases and requested not in callback.aliases:
            raise PppupError(f"{requested!r} is not a call-back alias of account {account.name}"
                             f"{offered}", Code.USAGE)
        return requested
    if callback.ask:
        default = f" [{callback.default}]" if callback.default else ""
        try:
            answer = ask(f"Call-back number for {account.name}{offered}{default}: ", secret=False,
                         terminal=terminal, why="", fix="")
        except PppupError:
            answer = None             # no terminal (or nothing typed): fall back to the default
        if answer:
            return choose_alias(account, answer.strip(), terminal)
    if callback.default:
        return callback.default
    raise PppupError(f"account {account.name} needs a call-back number and none was chosen: run "
                     f"`pppup {account.name} --callback ALIAS`{offered}", Code.USAGE)


class CallbackLogin:
    def __init__(self, account: Account, modem: Modem, credentials: Credentials, progress: Progress,
                 alias: str, deadline: float, terminal: str = TERMINAL) -> None:
        if account.callback is None:
            raise PppupError(f"account {account.name} has no [callback]", Code.FAILURE)
        self.account = account
        self.callback: Callback = account.callback
        self.modem = modem
        self.progress = progress
        self.alias = alias
        self.deadline = deadline
        self.runner = make_runner(account, modem, credentials, progress, terminal)
        self.state = "dialled"

    def run(self) -> None:
        callback, modem, progress = self.callback, self.modem, self.progress
        self.state = "first login"
        run_part(self.runner, 0, callback.choose_index, "the first login (before the call-back)")
        self.state = "choosing"
        progress.step(f"logged in; asking for a call-back at {self.alias}")
        modem.send(self.alias.encode() + LINE_ENDINGS[self.account.line_ending])
        self.state = "expected hang-up"
        try:
            _, said = modem.wait_for([b"NO CARRIER"], callback.hangup_timeout,
                                     "waiting for the server to hang up")
        except ModemTimeout as timeout:
            raise PppupError(f"the server did not hang up within {callback.hangup_timeout} s after we chose "
                             f"{self.alias!r} ({timeout.message}); is the alias right?", Code.CALLBACK) from None
        notice = _said(said)
        self.state = "waiting for the call-back"
        left = self.deadline - time.monotonic() - 10.0
        wait = min(float(callback.wait), left)
        if wait <= 0:
            raise PppupError("the server hung up, but the dial time limit leaves no time to wait for "
                             "the call-back; ask your administrator for a longer dial_seconds", Code.CALLBACK)
        progress.step("the server hung up as expected" + (f" (it said: {notice!r})" if notice else "")
                      + "; the line stays ours for the call-back")
        try:
            modem.wait_for([b"RING"], wait, "waiting for the call-back",
                           tick=progress.countdown("waiting for the call-back"))
        except ModemTimeout:
            raise PppupError(f"no call-back within {wait:.0f} s" + (f"; the server had said {notice!r}"
                             if notice else "") + "; check the alias and the server", Code.CALLBACK) from None
        progress.step("RING: the server is calling back")
        self.state = "answering"
        try:
            modem.wait_for([b"CONNECT"], ANSWER_SECONDS, "answering the call-back")
        except ModemTimeout as timeout:
            raise PppupError(f"the modem did not connect the call-back ({timeout.message}); does it "
                             "auto-answer (S0=1)?", Code.CALLBACK) from None
        speed = connect_speed(modem.rest_of_line(3.0))
        progress.step(f"call-back answered: CONNECT {speed}" if speed else "call-back answered: CONNECT")
        self.state = "second login"
        run_part(self.runner, callback.choose_index + 1, None, "the second login (after the call-back)")
        self.state = "logged in"
        progress.step("logged in again after the call-back")


def _said(data: bytes) -> str:
    """The server's last words before hanging up, without the modem's NO CARRIER."""
    text = data.decode("latin-1")
    text = text[: text.rfind("NO CARRIER")] if "NO CARRIER" in text else text
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line and all(" " <= ch <= "~" for ch in line)]
    return " ".join(lines)[-200:]
