"""Ctrl-C, SIGTERM and SIGHUP: stop what we are doing, but never half-way through a cleanup.

While dialling or logging in, a signal raises `Interrupted` at once (any
blocking wait ends), and the session's cleanup runs.  Inside a `deferred()`
section the signal is only remembered and reported: the cleanup itself, and
the helper's start_pppd (which we cannot abort half-way: the helper would
bring the link up anyway, so we wait for its answer and then take the link
down).  `check()` raises the remembered signal once the section is over.

The root helper holding our line is our child (the shim we spawned).  Inside
`watching(pid)` its end (killed, crashed) raises `HelperGone` the same way:
without it we could go on dialling, logging in and answering a call-back on
a line nobody holds for us any more, until some later helper revokes it.
"""
from __future__ import annotations

import os
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


class HelperGone(BaseException):
    """The root helper holding our line has ended (BaseException, as Interrupted)."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class Interrupts:
    def __init__(self, notice: Callable[[str], None] | None = None) -> None:
        self.notice = notice or (lambda text: None)
        self.pending: int | None = None
        self.helper_gone: str | None = None     # how the watched helper ended, once it has
        self._deferring = 0
        self._previous: dict[int, object] = {}
        self._watched: int | None = None

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
        if self._deferring:
            return
        if self.pending is not None:
            raise Interrupted(self.pending)
        if self.helper_gone is not None:
            raise HelperGone(self.helper_gone)

    @contextmanager
    def watching(self, pid: int | None) -> Iterator[None]:
        """Inside, the end of process `pid` (our helper) raises HelperGone."""
        if pid is None:
            yield
            return
        self._watched = pid
        previous = signal.signal(signal.SIGCHLD, self._child_handler)
        try:
            self._check_child()         # it may have ended before the handler was in place
            yield
        finally:
            signal.signal(signal.SIGCHLD, previous)
            self._watched = None

    def _child_handler(self, signum: int, frame: object) -> None:
        self._check_child()

    def _check_child(self) -> None:
        if self._watched is None or self.helper_gone is not None:
            return
        try:
            # WNOWAIT: only look; HelperClient.close() reaps it as usual.
            ended = os.waitid(os.P_PID, self._watched, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:
            return                      # a stop or continue of the child, not its end
        if ended.si_code == os.CLD_EXITED:
            self.helper_gone = f"with status {ended.si_status}"
        else:
            self.helper_gone = f"killed by {_signal_name(ended.si_status)}"
        if not self._deferring:
            raise HelperGone(self.helper_gone)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
