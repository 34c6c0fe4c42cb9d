"""Ctrl-C, SIGTERM and SIGHUP: stop what we are doing, but never half-way through a cleanup.

While dialling or logging in, a signal raises `Interrupted` at once (any
blocking wait ends), and the session's cleanup runs.  Inside a `deferred()`
section the signal is only remembered and reported: the cleanup itself, and
the helper's start_pppd (which we cannot abort half-way: the helper would
bring the link up anyway, so we wait for its answer and then take the link
down).  `check()` raises the remembered signal once the section is over.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal asked us to stop (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class Interrupts:
    def __init__(self, notice: Callable[[str], None] | None = None) -> None:
        self.notice = notice or (lambda text: None)
        self.pending: int | None = None
        self._deferring = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "Interrupts":
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)    # type: ignore[arg-type]

    def _handler(self, signum: int, frame: object) -> None:
        if self._deferring:
            if self.pending is None:
                self.pending = signum
                self.notice(f"{signal.Signals(signum).name}: finishing this step first, then stopping")
            return
        self.pending = signum
        raise Interrupted(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def check(self) -> None:
        if self.pending is not None and not self._deferring:
            raise Interrupted(self.pending)
