"""What the user sees while `pppup` works: progress lines, a countdown, and (-v) the transcript.

Everything goes to stderr, so stdout carries only the result (the link's
addresses).  On a terminal the call-back countdown rewrites one line; when
stderr is not a terminal the countdown is one line, and nothing is
rewritten.  With -v the conversation on the line is shown as it happens,
`>` what we sent and `<` what we received, from events that arrive already
masked (the chat engine and modem.py mask secrets before emitting).
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

PREFIX = "pppup: "


class Progress:
    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False,
                 interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.quiet = quiet
        try:
            terminal = self.stream.isatty()
        except (AttributeError, ValueError):
            terminal = False
        self.interactive = terminal if interactive is None else interactive
        self.started = time.monotonic()
        self._partial = bytearray()          # received text not yet ended by a newline
        self._counting = False               # a countdown line is on screen (terminal)

    # -- progress lines ------------------------------------------------------
    def step(self, text: str) -> None:
        if self.quiet:
            return
        self._flush_received()
        self._end_countdown()
        self._write(PREFIX + text + "\n")

    def warn(self, text: str) -> None:
        self._flush_received()
        self._end_countdown()
        self._write(PREFIX + "warning: " + text + "\n")

    def countdown(self, label: str) -> Callable[[float], None]:
        """A tick function for Modem.wait_for: `label: N s left`, rewritten on a terminal."""
        if not self.interactive:
            shown = False

            def tick_once(left: float) -> None:
                nonlocal shown
                if not shown:
                    self.step(f"{label} (up to {left:.0f} s)")
                    shown = True
            return tick_once

        def tick(left: float) -> None:
            if self.quiet:
                return
            self._flush_received()
            self._write(f"\r\x1b[K{PREFIX}{label}: {left:.0f} s left")
            self._counting = True
        return tick

    # -- the transcript (-v) ---------------------------------------------------
    def event(self, event: object) -> None:
        kind = type(event).__name__
        if kind == "Say":
            self.step(_text(getattr(event, "text", b"")).strip())
            return
        if not self.verbose:
            return
        if kind in ("Sent", "Sending"):
            self._flush_received()
            self._line(">", _text(getattr(event, "text", b"")))
        elif kind == "Received":
            self._partial += getattr(event, "text", b"") or getattr(event, "data", b"")
            self._emit_complete_lines()
        elif kind == "AbortSeen":
            self._flush_received()
            self._line("!", f"abort string {_text(event.string)!r} received")     # type: ignore[attr-defined]
        elif kind == "TimedOut":
            self._flush_received()
            reason = getattr(event, "reason", "timeout")
            self._line("!", f"no {_text(event.pattern)!r} ({reason})")          # type: ignore[attr-defined]
        elif kind == "Pausing":
            self._line("-", f"pause {getattr(event, 'seconds', 0):g} s")

    def _emit_complete_lines(self) -> None:
        while True:
            cut = min((i for i in (self._partial.find(b"\n"), self._partial.find(b"\r")) if i >= 0),
                      default=-1)
            if cut < 0:
                return
            line, self._partial = bytes(self._partial[:cut]), self._partial[cut + 1:]
            if line.strip():
                self._line("<", _text(line))

    def _flush_received(self) -> None:
        if self._partial.strip():
            self._line("<", _text(bytes(self._partial)))
        self._partial.clear()

    def _line(self, mark: str, text: str) -> None:
        self._end_countdown()
        self._write(f"  [{time.monotonic() - self.started:6.1f}s] {mark} {text}\n")

    # -- output ------------------------------------------------------------------
    def _end_countdown(self) -> None:
        if self._counting:
            self._write("\n")
            self._counting = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass      # a closed stderr must not stop the cleanup that follows

    def close(self) -> None:
        self._flush_received()
        self._end_countdown()


def _text(data: bytes | str) -> str:
    """Bytes as a person can read them: printable ASCII, others as \\xNN, no CR/LF."""
    if isinstance(data, str):
        return data
    out = []
    for byte in data:
        if 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif byte in (0x0D, 0x0A):
            continue
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def seconds(value: float) -> str:
    """`3.2 s`, `4 min 5 s`, `1 h 02 min`."""
    if value < 60:
        return f"{value:.1f} s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def amount(count: int | None) -> str:
    if count is None:
        return "?"
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"
