"""KPPP-style login scripts: parse, then run on a modem channel.

The language is KPPP's (anchors.md "KPPP": Expect, Send, Pause, Hangup,
Answer, Timeout, Password, ID, Prompt, PWPrompt, LoopStart, LoopEnd, Scan,
Save, SendNoEcho), written one command per line (docs/chat.md, "KPPP login
scripts"), with KPPP's known bugs fixed:

* `%USERNAME%` and `%PASSWORD%` in Send are really substituted (KPPP built
  the substituted string and then sent the original);
* ID and Password use the account's answer every time: a second `login:`
  after a callback does not ask again (KPPP asked on every later pass);
* Prompt and PWPrompt ask through an answer provider: the terminal at run
  time, or answers given in advance on the command line or in the account.

Matching reuses the chat engine's matcher and channel: reads never go past
the matched text, so what follows stays queued for the next command.  Each
waiting command gets the whole script timeout (KPPP restarts its timer per
command).  Hang-up and answer are also callable on their own
(`hang_up`, `answer_call`, `expect_hangup`), for the client's callback
state machine.
"""
from __future__ import annotations

import os
import termios
import time

from pppup_protocol.errors import Code, PppupError

from . import events as ev
from ._record import Record
from .channel import Channel, LineClosed
from .masking import StreamMasker, mask
from .matcher import NO_MATCH, Matcher
from .kppp_script import (COMMANDS, LoginCommand, LoginScript,  # noqa: F401 (re-exported)
                          parse_login_script)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

LINE_ENDINGS = {"CR": b"\r", "LF": b"\n", "CR/LF": b"\r\n", "CRLF": b"\r\n"}


# ---------------------------------------------------------------- answers

class PromptRequest(Record):
    """A question the script needs answered: kind is id, password, prompt or pwprompt."""

    __slots__ = ("kind", "text", "secret", "line")
    kind: str
    text: str
    secret: bool
    line: int


class FixedAnswers:
    """Answers given in advance (command line, account file): by prompt text, then by kind."""

    def __init__(self, by_text: Mapping[str, str] | None = None,
                 by_kind: Mapping[str, str] | None = None) -> None:
        self.by_text = dict(by_text or {})
        self.by_kind = dict(by_kind or {})

    def __call__(self, request: PromptRequest) -> str:
        if request.text in self.by_text:
            return self.by_text[request.text]
        if request.kind in self.by_kind:
            return self.by_kind[request.kind]
        raise PppupError(
            f"login script line {request.line}: {request.kind} {request.text!r} needs an answer "
            "and none was given; add it to the account's answers or run interactively",
            Code.LOGIN)


class TerminalAnswers:
    """Ask on the user's terminal (the controlling tty, or `path`); secrets without echo."""

    def __init__(self, path: str = "/dev/tty") -> None:
        self.path = path

    def __call__(self, request: PromptRequest) -> str:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY)
        except OSError as error:
            raise PppupError(f"login script line {request.line}: cannot ask {request.text!r} on "
                             f"{self.path}: {error.strerror}; give the answer in advance",
                             Code.LOGIN) from None
        saved = None
        try:
            if request.secret:
                saved = termios.tcgetattr(fd)
                quiet = termios.tcgetattr(fd)
                quiet[3] &= ~termios.ECHO
                termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
            text = request.text or {"id": "Login name:", "password": "Password:"}.get(request.kind, "?")
            os.write(fd, text.encode() + (b"" if text.endswith(" ") else b" "))
            answer = bytearray()
            while not answer.endswith(b"\n"):
                chunk = os.read(fd, 256)
                if not chunk:
                    break
                answer += chunk
            return answer.decode(errors="replace").rstrip("\r\n")
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
                os.write(fd, b"\n")
            os.close(fd)


# ---------------------------------------------------------------- running

class LoginOptions:
    """Account settings a login script runs with (defaults: KPPP's)."""

    def __init__(self, *, username: str | None = None, password: str | None = None,
                 line_ending: str = "CR", timeout: float = 60.0,
                 answers: Callable[[PromptRequest], str] | None = None,
                 hangup_string: str = "+++ATH", hangup_response: str = "OK",
                 escape_guard: float = 1.1, ring_string: str = "RING",
                 answer_string: str = "ATA", answer_response: str = "CONNECT",
                 ring_timeout: float = 120.0, aborts: Iterable[str] = (),
                 secrets: Iterable[bytes] = (), received_events: bool = False) -> None:
        if line_ending not in LINE_ENDINGS:
            raise PppupError(f"line ending {line_ending!r} is not one of CR, LF, CR/LF", Code.CONFIG)
        self.username = username
        self.password = password
        self.line_ending = LINE_ENDINGS[line_ending]
        self.timeout = timeout
        self.answers = answers or FixedAnswers()
        self.hangup_string = hangup_string
        self.hangup_response = hangup_response
        self.escape_guard = escape_guard
        self.ring_string = ring_string
        self.answer_string = answer_string
        self.answer_response = answer_response
        self.ring_timeout = ring_timeout
        self.aborts = tuple(aborts)
        self.secrets = frozenset(secrets)
        self.received_events = received_events


class Prompting(Record):
    __slots__ = ("request",)
    request: PromptRequest


class Scanned(Record):
    __slots__ = ("value",)
    value: bytes


class Looping(Record):
    __slots__ = ("string",)
    string: bytes


class Pausing(Record):
    __slots__ = ("seconds",)
    seconds: float


class LoginResult(Record):
    """`next_index`: where a later run() continues (len(commands) when done)."""

    __slots__ = ("ok", "next_index", "failure", "scan_value")
    ok: bool
    next_index: int
    failure: str | None
    scan_value: str | None


class LoginFailed(PppupError):
    """A login-script step (or hang-up/answer) failed: the message says which and why."""

    code = Code.LOGIN


class LineIO:
    """Expect and send on a channel, with masking; shared by scripts and callback code."""

    def __init__(self, channel: Channel, options: LoginOptions,
                 on_event: Callable[[object], None] | None = None) -> None:
        self.channel = channel
        self.options = options
        self.emit = on_event or (lambda event: None)
        self.secrets = set(options.secrets)
        if options.password:
            self.secrets.add(options.password.encode())
        self._masker = StreamMasker(self.secrets)

    def add_secret(self, secret: str) -> None:
        if secret:
            self.secrets.add(secret.encode())
            self._masker.add(secret.encode())

    def shown(self, text: bytes) -> bytes:
        return mask(text, self.secrets)

    def expect(self, strings: list[bytes], timeout: float, what: str) -> int:
        """Wait for the first of `strings` (earliest wins, ties to the lower index).

        The account's abort strings are watched too; raises LoginFailed on them,
        on timeout and on hang-up.  Returns the index of the string found.
        """
        aborts = [text.encode() for text in self.options.aborts]
        matcher = Matcher(strings + aborts)
        deadline = time.monotonic() + timeout
        self.emit(ev.Expecting(strings[0]))
        while True:
            try:
                data = self.channel.read(matcher.safe_size(), deadline)
            except (LineClosed, OSError):
                self.emit(ev.TimedOut(strings[0], "eof"))
                raise LoginFailed(f"{what}: the line hung up while waiting for it") from None
            if not data:
                self.emit(ev.TimedOut(strings[0], "timeout"))
                raise LoginFailed(f"{what}: not received within {timeout:g} s; check the text "
                              "the server sends, or raise the Timeout")
            if self.options.received_events:
                shown = self._masker.feed(bytes(byte & 0x7F for byte in data))
                if shown:
                    self.emit(ev.Received(shown))
            winner = matcher.feed_safe(data)
            if winner == NO_MATCH:
                continue
            if winner >= len(strings):
                abort = aborts[winner - len(strings)]
                self.emit(ev.AbortSeen(winner - len(strings), abort))
                raise LoginFailed(f"{what}: the line said {abort.decode(errors='replace')!r}")
            self.emit(ev.Matched(strings[winner]))
            return winner

    def read_line_rest(self, timeout: float, what: str) -> bytes:
        """The rest of the current line (up to CR or LF), for Scan."""
        deadline = time.monotonic() + timeout
        line = bytearray()
        while True:
            try:
                data = self.channel.read(1, deadline)
            except (LineClosed, OSError):
                raise LoginFailed(f"{what}: the line hung up before the end of the line") from None
            if not data:
                raise LoginFailed(f"{what}: the line did not end within {timeout:g} s")
            byte = data[0] & 0x7F
            if byte in (0x0D, 0x0A):
                return bytes(line)
            line.append(byte)

    def send_line(self, text: bytes, shown: bytes | None = None) -> None:
        self.emit(ev.Sending(self.shown(text if shown is None else shown)))
        try:
            self.channel.write(text + self.options.line_ending)
        except OSError as error:
            raise LoginFailed(f"sending failed: {error.strerror}; the line is gone") from None


def hang_up(io: LineIO) -> None:
    """KPPP's Hangup: the hang-up string (a leading +++ gets the escape guard time), then OK."""
    text = io.options.hangup_string
    if text.startswith("+++"):
        time.sleep(io.options.escape_guard)
        io.emit(ev.Sending(b"+++"))
        try:
            io.channel.write(b"+++")
        except OSError as error:
            raise LoginFailed(f"Hangup: sending +++ failed: {error.strerror}") from None
        time.sleep(io.options.escape_guard)
        text = text[3:]
        if text:
            # A modem answers the escape itself with OK: take that one now, or
            # it would be mistaken for the answer to the hang-up command.
            try:
                io.expect([io.options.hangup_response.encode()], io.options.escape_guard,
                          "Hangup (escape)")
            except LoginFailed:
                pass
    if text:
        io.send_line(text.encode())
    io.expect([io.options.hangup_response.encode()], io.options.timeout, "Hangup")


def answer_call(io: LineIO) -> None:
    """KPPP's Answer: wait for RING, send ATA, wait for CONNECT."""
    io.expect([io.options.ring_string.encode()], io.options.ring_timeout, "Answer (waiting for a ring)")
    io.send_line(io.options.answer_string.encode())
    io.expect([io.options.answer_response.encode()], io.options.timeout, "Answer")


def expect_hangup(io: LineIO, no_carrier: bytes = b"NO CARRIER", timeout: float = 60.0) -> None:
    """Wait for the server to hang up (the modem says NO CARRIER), e.g. before a callback."""
    io.expect([no_carrier], timeout, "waiting for the server to hang up")


class LoginRunner:
    """Runs a LoginScript; keeps what it learned (user name, answers, Scan) between runs."""

    def __init__(self, script: LoginScript, channel: Channel, options: LoginOptions | None = None,
                 on_event: Callable[[object], None] | None = None) -> None:
        self.script = script
        self.options = options or LoginOptions()
        self.io = LineIO(channel, self.options, on_event)
        self.username = self.options.username
        self.password = self.options.password
        self.timeout = self.options.timeout
        self.scan_value: str | None = None
        self._loop_stack: list[tuple[int, bytes]] = []

    def run(self, start: int = 0, stop: int | None = None) -> LoginResult:
        """Run commands [start, stop); a failure says which line and why."""
        commands = self.script.commands
        end = len(commands) if stop is None else min(stop, len(commands))
        index = start
        while index < end:
            command = commands[index]
            try:
                index = self._execute(index, command)
            except LoginFailed as failure:
                message = f"{self.script.source}:{command.line}: {command.name} failed: {failure}"
                return LoginResult(False, index, message, self.scan_value)
            except PppupError as error:       # e.g. no answer for a Prompt
                return LoginResult(False, index, error.message, self.scan_value)
        return LoginResult(True, index, None, self.scan_value)

    def _execute(self, index: int, command: LoginCommand) -> int:
        name, argument = command.name, command.argument
        what = f"{name} {argument!r}"
        if name == "Expect":
            self.io.expect([argument.encode()], self.timeout, what)
        elif name in ("Send", "SendNoEcho"):
            text = self._substitute(argument)
            shown = argument.encode() if name == "Send" else b"*" * len(argument)
            self.io.send_line(text.encode(), shown)
        elif name == "Pause":
            self.io.emit(Pausing(float(argument)))
            time.sleep(float(argument))
        elif name == "Timeout":
            self.timeout = float(argument)
        elif name == "Hangup":
            hang_up(self.io)
        elif name == "Answer":
            answer_call(self.io)
        elif name == "ID":
            if not self.username:
                self.username = self._ask("id", argument, False, command)
            self.io.send_line(self.username.encode())
        elif name == "Password":
            if not self.password:
                self.password = self._ask("password", argument, True, command)
            self.io.send_line(self.password.encode())
        elif name in ("Prompt", "PWPrompt"):
            text = argument.replace("##", self.scan_value or "", 1) if name == "Prompt" else argument
            answer = self._ask(name.lower(), text, name == "PWPrompt", command)
            self.io.send_line(answer.encode())
        elif name == "LoopStart":
            self.io.expect([argument.encode()], self.timeout, what)
            self._loop_stack.append((index + 1, argument.encode()))
        elif name == "LoopEnd":
            start, again = self._loop_stack[-1]
            found = self.io.expect([argument.encode(), again], self.timeout, what)
            if found == 1:
                self.io.emit(Looping(again))
                return start
            self._loop_stack.pop()
        elif name == "Scan":
            self.io.expect([argument.encode()], self.timeout, what)
            value = self.io.read_line_rest(self.timeout, what).decode(errors="replace").strip()
            self.scan_value = value
            self.io.emit(Scanned(self.io.shown(value.encode())))
        elif name == "Save":
            if self.scan_value is None:
                raise LoginFailed("there is no Scan value to save yet; put a Scan before it")
            self.password = self.scan_value
            self.io.add_secret(self.password)
        return index + 1

    def _substitute(self, text: str) -> str:
        # KPPP's bug fixed: the substituted text is what gets sent.
        if "%USERNAME%" in text:
            text = text.replace("%USERNAME%", self.username or "")
        if "%PASSWORD%" in text:
            text = text.replace("%PASSWORD%", self.password or "")
        return text

    def _ask(self, kind: str, text: str, secret: bool, command: LoginCommand) -> str:
        request = PromptRequest(kind, text, secret, command.line)
        self.io.emit(Prompting(request))
        answer = self.options.answers(request)
        if secret:
            self.io.add_secret(answer)
        return answer


def run_login_script(script: LoginScript, channel: Channel, options: LoginOptions | None = None,
                     on_event: Callable[[object], None] | None = None) -> LoginResult:
    """Run a whole login script (see LoginRunner to run it in parts)."""
    return LoginRunner(script, channel, options, on_event).run()

