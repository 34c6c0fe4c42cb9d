"""What chat does with each received byte while it waits: echo, -V, the verbose log, REPORT.

This is the slow path of the engine's get_string(), taken when any of those
is on (otherwise the engine only matches).  The match itself is still the
matcher's; here the outputs are produced in chat's per-byte order (echo,
log at a newline, the byte joins chat's 1024-byte buffer, log every 80
bytes, -V, REPORT), runs of the same kind merged into one event.
"""
from __future__ import annotations

from . import events as ev
from .escapes import character, visible
from .matcher import NO_MATCH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .engine import ChatEngine
    from .matcher import Matcher

EXPECT_LIMIT = 1024      # chat's STR_LEN: its buffer of received bytes
_NEWLINE = 0x0A
_CR = 0x0D


class ExpectWatcher:
    """The slow path of get_string(): everything chat does per received byte.

    Echo, -V, the verbose log of received lines (split at newlines, every 80
    bytes, and when chat's 1024-byte buffer is compacted), REPORT; the match
    itself is still the matcher's.  Outputs leave in chat's order: runs of
    the same kind are merged, a change of kind flushes.
    """

    def __init__(self, engine: ChatEngine, string: bytes) -> None:
        self.engine = engine
        self.window = bytearray()             # chat's temp[] (this expect's bytes)
        self.logged = 0                       # chat's `logged` offset into it
        self.keep = max(len(string), 50) - 1  # chat's minlen
        self._kind: type | None = None
        self._pending = bytearray()

    def run(self, matcher: Matcher, deadline: float | None) -> int | str:
        engine = self.engine
        masker = engine._masker
        while True:
            data = engine._read(matcher.safe_size(), deadline)
            if type(data) is str:
                return data
            winner = matcher.feed_safe(data)                # type: ignore[arg-type]
            stripped = bytes(byte & 0x7F for byte in data)  # type: ignore[union-attr]
            shown = masker.feed(stripped) if masker.active else stripped
            if engine.options.received_events and shown:
                engine._emit(ev.Received(shown))
            last = len(shown) - 1
            for position, byte in enumerate(shown):
                self._byte(byte)
                # chat compacts its buffer after the match checks, so not
                # after the byte that ends the wait.
                if position != last or winner == NO_MATCH:
                    self._compact()
            if winner != NO_MATCH:
                self._log_outcome(winner)
            self._flush()
            if winner != NO_MATCH:
                return winner

    def _out(self, kind: type, data: bytes) -> None:
        if kind is not self._kind:
            self._flush()
            self._kind = kind
        self._pending += data

    def _flush(self) -> None:
        if self._pending:
            self.engine._emit(self._kind(bytes(self._pending)))  # type: ignore[misc]
            self._pending.clear()
        self._kind = None

    def _log(self, text: bytes) -> None:
        self._flush()
        self.engine.log(text)

    def _byte(self, byte: int) -> None:
        engine = self.engine
        verbose = engine.options.verbose
        if engine.echo:
            if byte == _NEWLINE:
                self._out(ev.Echo, b"\n")
                engine._need_newline = False
            elif byte != _CR:
                self._out(ev.Echo, character(byte))
                engine._need_newline = True
        window = self.window
        if verbose and byte == _NEWLINE:
            if len(window) == self.logged:
                self._log(b"")
            else:
                self._log(visible(bytes(window[self.logged:])))
            self.logged = len(window) + 1
        window.append(byte)
        if verbose and len(window) >= self.logged + 80:
            self._log(visible(bytes(window[self.logged:])))
            self.logged = len(window)
        if engine.options.trace:
            if byte == _NEWLINE:
                self._out(ev.Trace, b"\n")
            elif byte != _CR:
                self._out(ev.Trace, character(byte))
        if engine.reports or engine.report_gathering:
            self._flush()
            engine.report_byte(byte, window)

    def _compact(self) -> None:
        window = self.window
        if len(window) < EXPECT_LIMIT:
            return
        size = len(window)
        if self.logged < size - self.keep:
            if self.engine.options.verbose:
                self._log(visible(bytes(window[self.logged:])))
            self.logged = size
        del window[:size - self.keep]
        self.logged -= size - self.keep

    def _log_outcome(self, winner: int) -> None:
        if not self.engine.options.verbose:
            return
        window = self.window
        if len(window) > self.logged:
            self._log(visible(bytes(window[self.logged:])))
        self._log(b" -- got it\n" if winner == 0 else b" -- failed")
