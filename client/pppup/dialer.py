"""Get a CONNECT: initialise the modem, dial each number in turn, redial with back-off.

Two ways an account dials (docs/accounts.md):

* pppup dials: the account lists `phone` numbers (and maybe `init`
  commands); we send the init commands, then `ATDT<number>` and read the
  result.  A KPPP login script, if any, runs afterwards (login.py).
* the chat script dials: a chat(8) script does the whole conversation, as
  pppd's `connect "chat -f FILE"` would; `\\T` in it is the number being
  tried (chat's -T), `\\U` the account's login password (chat's -U).  The
  chat script also logs in, so after it pppd can start.

Either way an attempt that ends in BUSY, NO ANSWER, NO CARRIER or NO
DIALTONE before CONNECT is tried again, with the next number, after a pause
that doubles after each round through the numbers (`[redial]`), as long as
the attempt budget (the account's, cut to the policy's dial_attempts) and
the helper's dial time limit allow.  A failure after CONNECT is a login
failure and is not redialled: dialling again would just fail again, at a
price.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

from pppup_protocol.errors import Code, PppupError

from .accounts import Account
from .modem import Modem, ModemTimeout, connect_speed
from .progress import Progress

REDIAL_RESULTS = ("BUSY", "NO ANSWER", "NO CARRIER", "NO DIALTONE")
_DIAL_RESULTS = [b"CONNECT", b"BUSY", b"NO ANSWER", b"NO CARRIER", b"NO DIALTONE", b"ERROR"]
CALLBACK_SETUP = "AT&C0&D3S0=1"   # carrier always on, DTR drop resets, answer on the first ring
MIN_ATTEMPT_SECONDS = 5.0          # do not start an attempt with less time than this left


class Budget(NamedTuple):
    attempts: int                  # dial attempts allowed (account, cut to the policy)
    deadline: float                # time.monotonic() when the helper takes the line back


class Connected(NamedTuple):
    number: str | None             # None: the chat script dialled a number of its own
    speed: int | None
    attempt: int


class AttemptFailed(Exception):
    """One attempt failed in a way that is worth dialling again."""

    def __init__(self, result: str) -> None:
        super().__init__(result)
        self.result = result


def budget_for(account: Account, limits: dict, acquired_at: float) -> Budget:
    attempts = account.redial.attempts
    policy_attempts = limits.get("dial_attempts")
    if isinstance(policy_attempts, int) and policy_attempts > 0:
        attempts = min(attempts, policy_attempts)
    seconds = limits.get("dial_seconds")
    deadline = acquired_at + (seconds if isinstance(seconds, (int, float)) and seconds > 0 else 300)
    return Budget(attempts, deadline)


class Dialer:
    def __init__(self, modem: Modem, account: Account, budget: Budget, progress: Progress, *,
                 callback: bool = False, login_password: str | None = None,
                 secrets: set[bytes] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.modem = modem
        self.account = account
        self.budget = budget
        self.progress = progress
        self.callback = callback
        self.login_password = login_password
        self.secrets = secrets or set()
        self.sleep = sleep
        self.initialised = False

    def connect(self) -> Connected:
        numbers: tuple[str | None, ...] = self.account.phone or (None,)
        failures: list[str] = []
        for attempt in range(1, self.budget.attempts + 1):
            number = numbers[(attempt - 1) % len(numbers)]
            if attempt > 1:
                rounds = (attempt - 2) // len(numbers)
                pause = min(self.account.redial.delay * (2 ** rounds), self.account.redial.max_delay)
                if time.monotonic() + pause + MIN_ATTEMPT_SECONDS > self.budget.deadline:
                    failures.append("(the dial time limit left no time for another attempt)")
                    break
                if pause > 0:
                    self.progress.step(f"dialling again in {pause:g} s")
                    self.sleep(pause)
            what = f"dialling {number}" if number else "running the chat script"
            self.progress.step(f"{what} (attempt {attempt} of {self.budget.attempts})")
            try:
                if self.account.pppup_dials:
                    return self._dial(number or "", attempt)
                return self._chat(number, attempt)
            except AttemptFailed as failed:
                failures.append(f"{number}: {failed.result}" if number else failed.result)
                self.progress.step(failed.result)
        tried = "; ".join(failures)
        raise PppupError(f"every dial attempt failed ({tried}); {self.budget.attempts} attempt(s) is what "
                         "the account's [redial] and your policy allow; try again later", Code.DIAL)

    # -- pppup dials ------------------------------------------------------------
    def _dial(self, number: str, attempt: int) -> Connected:
        modem = self.modem
        if not self.initialised:
            for command in self.account.init:
                modem.command(command)
            if self.callback:
                # The first seed's set-up: carrier forced on, so the server's
                # hang-up before the call-back is not the end; auto-answer on
                # the first ring; &D3 so our DTR drop at the end resets the
                # modem (no auto-answer left behind).
                modem.command(CALLBACK_SETUP)
            self.initialised = True
        modem.send(f"{self.account.dial_command}{number}\r".encode("ascii"))
        try:
            found, _ = modem.wait_for(_DIAL_RESULTS, self.account.connect_timeout, f"dialling {number}")
        except ModemTimeout:
            # Any character aborts a dial in progress; the modem then says NO CARRIER.
            modem.send(b"\r")
            try:
                modem.wait_for([b"NO CARRIER", b"OK"], 3.0, "aborting the dial")
            except ModemTimeout:
                pass
            raise AttemptFailed(f"no CONNECT within {self.account.connect_timeout} s") from None
        result = _DIAL_RESULTS[found].decode()
        if result == "CONNECT":
            speed = connect_speed(modem.rest_of_line(3.0))
            self.progress.step(f"CONNECT {speed}" if speed else "CONNECT")
            return Connected(number, speed, attempt)
        if result == "ERROR":
            raise PppupError(f"the modem answered ERROR to {self.account.dial_command}{number}; check the "
                             "number and dial_command", Code.MODEM)
        raise AttemptFailed(result)

    # -- the chat script dials --------------------------------------------------
    def _chat(self, number: str | None, attempt: int) -> Connected:
        from .chat.engine import ChatOptions, run_chat
        from .chat.escapes import EscapeContext
        script = self.account.script
        if script is None:
            raise PppupError("the account has no chat script", Code.FAILURE)
        seen = _ChatWatch(self.progress)
        password = self.login_password.encode() if self.login_password else None
        options = ChatOptions(
            timeout=self.account.script_timeout or 45, pacing=self.account.pacing,
            escapes=EscapeContext(phone=number.encode() if number else None, phone2=password),
            secrets=self.secrets, received_events=self.progress.verbose)
        result = run_chat(script.parsed.steps, self.modem.channel, options, seen)
        if result.code == 0:
            if not seen.connected:
                self.progress.step("the chat script ended without a CONNECT; starting PPP anyway")
            return Connected(number, result.connect_speed or seen.speed, attempt)
        abort = (result.abort_string or b"").decode("latin-1")
        if result.code >= 4 and not seen.connected and abort in REDIAL_RESULTS:
            raise AttemptFailed(abort)
        where = f"{script.source}"
        if result.code >= 4:
            phase = Code.LOGIN if seen.connected else Code.DIAL
            raise PppupError(f"the chat script ({where}) stopped on its ABORT string {abort!r}", phase)
        if result.code == 3:
            waited = seen.expecting.decode("latin-1") if seen.expecting is not None else "?"
            if seen.connected:
                raise PppupError(f"the chat script ({where}) waited in vain for {waited!r} after CONNECT; "
                                 "check the server's prompts (pppup -v shows the conversation)", Code.LOGIN)
            raise PppupError(f"the chat script ({where}) waited in vain for {waited!r}; is the modem on? "
                             "(pppup -v shows the conversation)", Code.MODEM)
        raise PppupError(f"the chat script ({where}) failed: {result.message} (chat exit code "
                         f"{result.code})", Code.LOGIN if seen.connected else Code.MODEM)


class _ChatWatch:
    """Follows the chat engine's events: CONNECT seen?  what was it waiting for?"""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.connected = False
        self.speed: int | None = None
        self.expecting: bytes | None = None

    def __call__(self, event: object) -> None:
        kind = type(event).__name__
        if kind == "Expecting":
            self.expecting = event.pattern                        # type: ignore[attr-defined]
        elif kind == "Matched" and b"CONNECT" in event.pattern:   # type: ignore[attr-defined]
            self.connected = True
            self.progress.step("CONNECT")
        elif kind == "ConnectSpeed":
            self.speed = event.speed                              # type: ignore[attr-defined]
        self.progress.event(event)
