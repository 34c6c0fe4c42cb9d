"""The modem conversation pppup has itself: AT commands, result codes, waits with a tick.

The tty fd comes from the root helper (our own open file description).  We
put it in raw mode at the account's speed with CLOCAL (a carrier change must
not hang up our fd while we dial, or through a call-back's gap) and without
HUPCL (the helper alone decides when DTR drops), and clear O_NONBLOCK on our
description.  pppd sets the line up its own way when it takes over.

Reads go through the chat engine's Channel and Matcher, so a wait never
reads past what it matched: the login script or pppd gets the rest.  A wait
can tick (once a second) for a countdown without losing a partial match.
Everything sent and received is reported, secrets masked, for `-v`.
"""
from __future__ import annotations

import fcntl
import os
import termios
import time
from typing import Callable, Iterable, NamedTuple

from pppup_protocol.errors import Code, PppupError

from .chat.channel import Channel, LineClosed
from .chat.masking import StreamMasker, mask
from .chat.matcher import NO_MATCH, Matcher

RESULTS = (b"OK", b"ERROR")
ESCAPE_GUARD_S = 1.1          # a little over S12's default 1 s of silence


class Sent(NamedTuple):
    text: bytes                # as sent, secrets masked


class Received(NamedTuple):
    text: bytes                # as received (bit 7 stripped), secrets masked


class ModemTimeout(PppupError):
    code = Code.MODEM


class LineHungUp(PppupError):
    code = Code.MODEM


class Modem:
    def __init__(self, fd: int, speed: int, rtscts: bool = False,
                 on_event: Callable[[object], None] | None = None, secrets: Iterable[bytes] = ()):
        self.fd = fd
        self.emit = on_event or (lambda event: None)
        self.secrets = {secret for secret in secrets if secret}
        self._masker = StreamMasker(self.secrets)
        configure_tty(fd, speed, rtscts)
        self.channel = Channel(fd)

    # -- facts -------------------------------------------------------------
    def has_modem_lines(self) -> bool:
        """A UART has DTR/DCD; a pseudo-terminal (softmodem, simulator) has none."""
        try:
            fcntl.ioctl(self.fd, termios.TIOCMGET, b"\0\0\0\0")
            return True
        except OSError:
            return False

    # -- output ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.emit(Sent(mask(data, self.secrets)))
        try:
            self.channel.write(data)
        except OSError as error:
            raise LineHungUp(f"writing to the modem failed: {error.strerror}", Code.MODEM) from None

    def flush_input(self) -> None:
        try:
            termios.tcflush(self.fd, termios.TCIFLUSH)
        except termios.error:
            pass

    # -- input -------------------------------------------------------------
    def wait_for(self, patterns: list[bytes], timeout: float, what: str,
                 tick: Callable[[float], None] | None = None) -> tuple[int, bytes]:
        """Wait until one of `patterns` arrives; (its index, everything received meanwhile).

        `tick(seconds_left)` is called about once a second while waiting.
        Raises ModemTimeout (with what was received) or LineHungUp.
        """
        matcher = Matcher(patterns)
        deadline = time.monotonic() + timeout
        seen = bytearray()
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            if tick is not None and now >= next_tick:
                tick(max(0.0, deadline - now))
                next_tick = now + 1.0
            if now >= deadline:
                self._show_pending()
                heard = _printable(bytes(seen[-200:]))
                raise ModemTimeout(f"{what}: nothing of {', '.join(p.decode(errors='replace') for p in patterns)} "
                                   f"within {timeout:g} s" + (f" (the line said: {heard!r})" if heard else ""),
                                   Code.MODEM)
            until = min(deadline, next_tick) if tick is not None else deadline
            try:
                data = self.channel.read(matcher.safe_size(), until)
            except (LineClosed, OSError):
                self._show_pending()
                raise LineHungUp(f"{what}: the line hung up", Code.MODEM) from None
            if not data:
                continue
            stripped = bytes(byte & 0x7F for byte in data)
            seen += stripped
            shown = self._masker.feed(stripped)
            if shown:
                self.emit(Received(shown))
            found = matcher.feed_safe(data)
            if found != NO_MATCH:
                self._show_pending()
                return found, bytes(seen)

    def rest_of_line(self, timeout: float) -> bytes:
        """What follows on the current line (e.g. CONNECT's speed), up to CR or LF."""
        _, seen = self.wait_for([b"\r", b"\n"], timeout, "reading the rest of the line")
        return seen[:-1]

    def command(self, text: str, timeout: float = 5.0) -> None:
        """Send an AT command and wait for OK; ERROR or silence raises (Code.MODEM)."""
        self.send(text.encode("ascii") + b"\r")
        try:
            found, _ = self.wait_for(list(RESULTS), timeout, f"the modem's answer to {text}")
        except ModemTimeout:
            raise PppupError(f"the modem did not answer {text!r} with OK within {timeout:g} s; is it "
                             "switched on and connected to the line?", Code.MODEM) from None
        if found == 1:
            raise PppupError(f"the modem answered ERROR to {text!r}; check the account's init "
                             "commands against the modem's manual", Code.MODEM)

    def escape(self) -> None:
        """+++ with guard times: from data mode back to command mode (the call stays up)."""
        time.sleep(ESCAPE_GUARD_S)
        self.send(b"+++")
        time.sleep(ESCAPE_GUARD_S)

    def _show_pending(self) -> None:
        rest = self._masker.flush()
        if rest:
            self.emit(Received(rest))

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


def configure_tty(fd: int, speed: int, rtscts: bool) -> None:
    """Raw, 8N1, the account's speed, CLOCAL on, HUPCL off; blocking on our description."""
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error as error:
        raise PppupError(f"the line is not a terminal device ({error.args[-1]}); check the policy's "
                         "device for this line", Code.LINE) from None
    baud = getattr(termios, f"B{speed}", None)
    if baud is None:
        raise PppupError(f"this system has no serial speed {speed}; choose another speed", Code.CONFIG)
    iflag, oflag, cflag, lflag = 0, 1, 2, 3
    attrs[iflag] = termios.IGNBRK
    attrs[oflag] = 0
    attrs[lflag] = 0
    attrs[cflag] = (attrs[cflag] & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.HUPCL
                                     | termios.CRTSCTS | termios.CBAUD)) \
        | termios.CS8 | termios.CREAD | termios.CLOCAL | (termios.CRTSCTS if rtscts else 0) | baud
    attrs[4] = attrs[5] = baud
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error as error:
        raise PppupError(f"cannot set up the line ({error.args[-1]})", Code.LINE) from None
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def connect_speed(rest: bytes) -> int | None:
    """The number after CONNECT (`CONNECT 33600/ARQ` -> 33600)."""
    digits = b""
    for byte in rest.strip():
        if 0x30 <= byte <= 0x39:
            digits += bytes([byte])
        else:
            break
    return int(digits) if digits else None


def _printable(data: bytes) -> str:
    text = data.decode("latin-1")
    return "".join(ch if " " <= ch <= "~" else " " for ch in text).strip()

