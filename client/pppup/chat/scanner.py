"""The engine's quiet path: wait for an expect string when nothing is shown.

With no echo, -V, verbose log, REPORT or received-data events, all that
happens to a received block is: read at most `Matcher.safe_size()` bytes
(never past a possible completion: docs/chat.md), step the automaton over
them, stop at a completion.  With many ABORT strings a block is only about
4 bytes, so that loop runs some 270 000 times per MiB of modem noise, and
in Python its bookkeeping costs about as much as the read(2) itself.  So it
runs in C (pppup.chat._scan, built with the package by cffi): one call reads
what the kernel has queued (FIONREAD, at most MAX_READ bytes) in safe
blocks.  Between calls Python checks the deadline; when nothing is queued
the channel waits in poll() and reports a timeout, hang-up or read error.

The deadline is therefore checked once per queued burst (at most 4 KiB, a
few milliseconds of work) instead of before every read; chat's alarm is
whole seconds.
"""
from __future__ import annotations

import time

from .matcher import MAX_READ, NO_MATCH

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

    from .channel import Channel
    from .matcher import Matcher

_compiled: object = None       # None: not looked for yet; (ffi, lib); False: not built


def compiled_scanner() -> tuple[object, object] | None:
    """(ffi, lib) of pppup.chat._scan, or None when it was not built."""
    global _compiled
    if _compiled is None:
        try:
            from ._scan import ffi, lib
        except ImportError:
            _compiled = False
        else:
            _compiled = (ffi, lib)
    return _compiled or None          # type: ignore[return-value]


def wait_quietly(channel: Channel, matcher: Matcher, deadline: float | None,
                 otherwise: Callable[[int], bytes | str]) -> int | str:
    """Read and match until a pattern completes; returns its index.

    `otherwise(size)` is the engine's own bounded read: it waits for input
    until the deadline and returns bytes, or a str saying why input ended
    (timeout/eof/error), which is returned as is.
    """
    compiled = compiled_scanner()
    if compiled is None:
        # Without the compiled module (a source tree nobody built): the same
        # loop in Python, about half as fast.
        return matcher.scan(channel.burst_reader(deadline, otherwise))
    ffi, lib = compiled
    next_states, distance, winner = matcher.tables()
    tables = (ffi.from_buffer("unsigned int[]", next_states),         # type: ignore[attr-defined]
              ffi.from_buffer("unsigned int[]", distance),            # type: ignore[attr-defined]
              ffi.from_buffer("int[]", winner))                       # type: ignore[attr-defined]
    state = ffi.new("unsigned int *", matcher.state)                  # type: ignore[attr-defined]
    taken = ffi.new("int *")                                          # type: ignore[attr-defined]
    scan = lib.pppup_chat_scan                                        # type: ignore[attr-defined]
    fd = channel.read_fd
    monotonic = time.monotonic
    while True:
        queued = channel.queued() if deadline is None or monotonic() < deadline else 0
        if queued > 0:
            found = scan(fd, *tables, state, min(queued, MAX_READ), taken)
            channel.note_read(taken[0])
            matcher.state = state[0]
            if found != NO_MATCH:
                return found
            if taken[0] > 0:
                continue
        # Nothing queued, the deadline passed, or a read found no data: the
        # channel waits (or says why input ended) as it does for every read.
        data = otherwise(matcher.safe_size())
        if type(data) is str:
            return data
        found = matcher.feed_safe(data)                               # type: ignore[arg-type]
        if found != NO_MATCH:
            return found
        state[0] = matcher.state
