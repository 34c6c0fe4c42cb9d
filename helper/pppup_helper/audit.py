"""One audit line per decision of the root helper, to syslog (LOG_AUTHPRIV|LOG_INFO).

    pppup-helper[PID]: uid=1000 user=alice op=acquire line=modem1 account=work result="ok"

Every value is escaped: backslash, double quote, control characters and
anything outside printable ASCII become \\\\, \\", \\xHH, so a value can neither
end the line nor paint the terminal of whoever reads the log (attack X4,
CVE-2024-28085).  Values are cut at MAX_VALUE characters, the line at
MAX_LINE.  Arguments whose key names a secret are never logged.  A process
writes at most BURST lines at once and RATE lines per second after that; what
is dropped is counted and reported with the next line that goes out.

The line is sent as an RFC 3164 datagram to /dev/log by this module itself
(not the syslog module), so tests can point it at their own socket.  With no
syslog daemon the line is lost; the helper never writes audit text to the
user's terminal instead.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping

import _socket as socket      # the C module: socket.py costs every request ~2 ms (main.py)

IDENT = "pppup-helper"
LOG_AUTHPRIV = 10 << 3
LOG_INFO = 6
MAX_VALUE = 160
MAX_LINE = 1024
BURST = 40
RATE = 10.0
SEND_TIMEOUT = 0.25
_SECRET_KEY = re.compile(r"secret|pass|pin|pw", re.IGNORECASE)
_SAFE = re.compile(r"[A-Za-z0-9._:/@+,-]*")
DEFAULT_SOCKET = "/dev/log"


TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing costs every request ~3 ms of start-up
    from typing import Protocol

    class CallerLike(Protocol):
        uid: int
        name: str


def escape(value: object) -> str:
    """Printable ASCII only; quoted unless it is a plain token."""
    text = str(value)
    cut = len(text) > MAX_VALUE
    text = text[:MAX_VALUE]
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif 0x20 <= code < 0x7f:
            out.append(ch)
        elif code <= 0xff:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xffff else f"\\U{code:08x}")
    body = "".join(out) + ("..." if cut else "")
    return body if body and _SAFE.fullmatch(body) else f'"{body}"'


def _key(key: object) -> str:
    k = re.sub(r"[^a-z0-9_]", "_", str(key).lower())[:32]
    return k or "_"


def format_line(caller: CallerLike | None, op: str, args: Mapping[str, object], result: str) -> str:
    parts = []
    if caller is None:
        parts.append("uid=- user=-")
    else:
        parts.append(f"uid={escape(caller.uid)} user={escape(caller.name)}")
    parts.append(f"op={escape(op)}")
    for key, value in args.items():
        k = _key(key)
        parts.append(f"{k}=(hidden)" if _SECRET_KEY.search(k) else f"{k}={escape(value)}")
    parts.append(f"result={escape(result)}")
    line = " ".join(parts)
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE - 12] + " (truncated)"
    return line


class _Limiter:
    """Token bucket per process: BURST lines, then RATE per second."""

    def __init__(self, burst: int = BURST, rate: float = RATE):
        self.burst, self.rate = burst, rate
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.dropped = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False


class AuditLog:
    def __init__(self, socket_path: str = DEFAULT_SOCKET, ident: str = IDENT):
        self.socket_path = socket_path
        self.ident = ident
        self.limiter = _Limiter()
        self._sock: socket.socket | None = None

    def write(self, line: str) -> bool:
        """Send one line (rate-limited); True if it was handed to the syslog socket."""
        if not self.limiter.allow():
            return False
        if self.limiter.dropped:
            line = f"{line} (and {self.limiter.dropped} audit lines suppressed before)"[:MAX_LINE + 64]
            self.limiter.dropped = 0
        stamp = time.strftime("%b %e %H:%M:%S")
        packet = f"<{LOG_AUTHPRIV | LOG_INFO}>{stamp} {self.ident}[{os.getpid()}]: {line}"
        data = packet.encode("ascii", "replace")
        for _ in range(2):
            try:
                if self._sock is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    # A slow syslog may make us wait a little, a dead one not long.
                    sock.settimeout(SEND_TIMEOUT)
                    sock.connect(self.socket_path)
                    self._sock = sock
                self._sock.send(data)
                return True
            except TimeoutError:
                return False        # syslog is stuck: do not wait twice
            except OSError:
                if self._sock is not None:
                    self._sock.close()
                self._sock = None
        return False


    def close(self) -> None:
        """Close the syslog socket; the next write opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_log = AuditLog()


def audit(caller: CallerLike | None, op: str, args: Mapping[str, object], result: str) -> None:
    """One escaped, length-limited, rate-limited audit line for one decision."""
    _log.write(format_line(caller, op, args, result))


def set_socket_path(path: str) -> None:
    """For tests: send audit lines to another syslog socket."""
    global _log
    _log = AuditLog(path)


def socket_path() -> str:
    """Where audit lines go (the link supervisor hands it on to its finish step)."""
    return _log.socket_path


def close() -> None:
    """Before an exec: no audit socket on an fd number the exec's caller needs."""
    _log.close()
