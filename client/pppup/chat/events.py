"""What the chat engine reports while it runs, and what it returns.

Two kinds of events come out of one ordered stream:

* output chat(8) itself would produce (`Log`, `Echo`, `Trace`, `Say`,
  `ReportLine`): pppup-chat writes these exactly where chat writes them
  (syslog, stderr, the -r file); the client may show them or drop them;
* progress for a user interface (`Sending`, `Expecting`, `Matched`,
  `AbortSeen`, `TimedOut`, `Received`, `ConnectSpeed`, `HangupPolicy`).

Every text that can carry received or sent data has already been through
secret masking when the event is built.
"""
from __future__ import annotations

from ._record import Record


class Log(Record):
    """One line of chat's log (syslog LOCAL2; stderr with -s). `error`: LOG_ERR, else LOG_INFO."""

    __slots__ = ("text", "error")
    text: bytes
    error: bool


class Echo(Record):
    """Received text as ECHO ON / -e shows it on stderr."""

    __slots__ = ("text",)
    text: bytes


class Trace(Record):
    """Received text as -V shows it on stderr."""

    __slots__ = ("text",)
    text: bytes


class Say(Record):
    """A SAY string, to stderr."""

    __slots__ = ("text",)
    text: bytes


class ReportLine(Record):
    """A REPORT line: `text` is what follows `chat:  ` (timestamp, string, rest of line)."""

    __slots__ = ("text",)
    text: bytes


class Sending(Record):
    """A send string is about to be written (`text` as chat logs it, masked)."""

    __slots__ = ("text",)
    text: bytes


class Expecting(Record):
    __slots__ = ("pattern",)
    pattern: bytes


class Matched(Record):
    __slots__ = ("pattern",)
    pattern: bytes


class AbortSeen(Record):
    """ABORT string `index` (0-based, current numbering) was received: exit code 4 + index."""

    __slots__ = ("index", "string")
    index: int
    string: bytes


class TimedOut(Record):
    """An expect ended without its string: deadline, end of file or read error."""

    __slots__ = ("pattern", "reason")
    pattern: bytes
    reason: str          # "timeout", "eof", "error"


class Received(Record):
    """Bytes read from the line (bit 7 stripped, secrets masked); only when asked for."""

    __slots__ = ("data",)
    data: bytes


class ConnectSpeed(Record):
    """The speed of a CONNECT report line (`REPORT CONNECT` makes chat collect it)."""

    __slots__ = ("speed",)
    speed: int


class HangupPolicy(Record):
    """HANGUP OFF/ON: whether a SIGHUP should be ignored from now on."""

    __slots__ = ("ignore",)
    ignore: bool


class ChatResult(Record):
    """How a run ended, with chat(8)'s exit code.

    code: 0 ok, 1 error, 2 signal/tty, 3 timeout or hang-up, 4+n ABORT n.
    """

    __slots__ = ("code", "abort_index", "abort_string", "connect_speed", "reports", "message")
    code: int
    abort_index: int | None
    abort_string: bytes | None
    connect_speed: int | None
    reports: tuple[bytes, ...]
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0
