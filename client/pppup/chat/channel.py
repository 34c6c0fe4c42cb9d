"""Thin modem I/O: bounded reads against a monotonic deadline, paced writes, break.

The channel never reads more than it is asked for, so the engine decides
how far it may read (see matcher.Matcher.safe_size): bytes it did not ask
for stay in the kernel's queue for the next expect, or for pppd.

Waiting costs nothing: when the input queue is empty the channel blocks in
poll() until data or the deadline.  When data is queued it is read without
a poll first: the channel asks the kernel how much is queued (FIONREAD)
and reads straight away until that much has been taken.
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import sys
import termios
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_FIONREAD = termios.FIONREAD
_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
# A hang-up or an error counts as writable: the write then fails and says why.
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL
_LONGEST_POLL_MS = 86_400_000      # poll() takes an int; a longer wait just loops


class LineClosed(Exception):
    """read() returned end of file: the line hung up (pty master closed, carrier lost)."""


class Channel:
    """A modem line as one fd (read and write) or a pair (read_fd, write_fd)."""

    __slots__ = ("read_fd", "write_fd", "_queued", "_poller", "_count", "_write_poller")

    def __init__(self, read_fd: int, write_fd: int | None = None) -> None:
        self.read_fd = read_fd
        self.write_fd = read_fd if write_fd is None else write_fd
        self._queued = 0                       # bytes known to be in the input queue
        self._poller = select.poll()
        self._poller.register(read_fd, select.POLLIN | select.POLLPRI)
        # FIONREAD's int, as bytes: `array` would import collections (~1.5 ms of start-up).
        self._count = bytearray(4)
        self._write_poller: select.poll | None = None

    def _queue_length(self) -> int:
        """Bytes queued for reading; -1 if the line is hung up (the ioctl fails with EIO)."""
        try:
            fcntl.ioctl(self.read_fd, _FIONREAD, self._count, True)
        except OSError as error:
            if error.errno == errno.EIO:
                return -1
            return 0                           # not a tty/pipe/socket: poll decides
        return int.from_bytes(self._count, sys.byteorder, signed=True)

    def queued(self) -> int:
        """Bytes that can be read right now without blocking; -1 if the line hung up."""
        self._queued = self._queue_length()
        return self._queued

    def note_read(self, count: int) -> None:
        """`count` bytes were read from read_fd directly (the compiled scanner)."""
        self._queued -= count

    def wait_readable(self, deadline: float | None) -> bool:
        """Block until input (or hang-up) is pending; False when the deadline passed."""
        while True:
            if deadline is None:
                timeout_ms = -1
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Round up so poll never wakes just before the deadline.
                timeout_ms = min(int(remaining * 1000) + 1, _LONGEST_POLL_MS)
            for _fd, events in self._poller.poll(timeout_ms):
                if events & _READABLE:
                    return True

    def wait_writable(self, deadline: float | None) -> bool:
        """Block until a write would not block; False when the deadline passed first.

        A write blocks when the line's output is stopped (an XOFF with IXON
        on, as chat leaves it) or its buffer is full; chat's alarm cuts such
        a write short, so the engine must not block in write(2) past it.
        """
        poller = self._write_poller
        if poller is None:
            poller = self._write_poller = select.poll()
            poller.register(self.write_fd, select.POLLOUT)
        while True:
            if deadline is None:
                timeout_ms = -1
            else:
                remaining = deadline - time.monotonic()
                timeout_ms = 0 if remaining <= 0 else min(int(remaining * 1000) + 1, _LONGEST_POLL_MS)
            ready = poller.poll(timeout_ms)
            if any(events & _WRITABLE for _fd, events in ready):
                return True
            if timeout_ms == 0:
                return False

    def readable_now(self) -> bool:
        """Is input (or a hang-up) pending right now?  Never blocks."""
        return any(events & _READABLE for _fd, events in self._poller.poll(0))

    def burst_reader(self, deadline: float | None,
                     otherwise: Callable[[int], bytes | str]) -> Callable[[int], bytes | str]:
        """A read(size) for the matcher's hot loop.

        While bytes are known to be queued (and the deadline has not passed)
        it is one read(2) with no other syscall; otherwise it calls
        `otherwise(size)`, which waits and handles the deadline and hang-ups.
        """
        fd = self.read_fd
        os_read = os.read
        monotonic = time.monotonic
        channel = self

        def read(size: int) -> bytes | str:
            if channel._queued > 0 and (deadline is None or monotonic() < deadline):
                data = os_read(fd, size)
                channel._queued -= len(data)
                if data:
                    return data
            return otherwise(size)

        return read

    def read(self, limit: int, deadline: float | None) -> bytes:
        """Up to `limit` bytes, waiting for the first one until `deadline`.

        Returns b"" when the deadline has passed (checked before every read,
        as chat's alarm stops its read loop even while data flows).  Raises
        LineClosed at end of file and OSError on a read error.
        """
        if deadline is not None and time.monotonic() >= deadline:
            return b""
        if self._queued <= 0:
            self._queued = self._queue_length()
            if self._queued == 0:
                if not self.wait_readable(deadline):
                    return b""
                if self._queue_length() < 0:
                    # The line hung up while we waited.  A read blocked in the
                    # kernel at that moment fails with EIO (a fresh read on a
                    # hung-up tty returns 0); report what chat's blocked read sees.
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
        data = os.read(self.read_fd, limit)
        if not data:
            self._queued = 0
            raise LineClosed()
        self._queued -= len(data)
        return data

    def write(self, data: bytes) -> None:
        """Write all of `data` (one write per call for single bytes, as chat does)."""
        view = memoryview(data)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def send_break(self) -> None:
        """A break on the line (tcsendbreak(fd, 0)); like chat, failures are ignored."""
        try:
            termios.tcsendbreak(self.read_fd, 0)
        except (OSError, termios.error):
            pass


def sleep_until(deadline: float | None, seconds: float) -> None:
    """Sleep `seconds`, cut short at `deadline` (chat's alarm interrupts its sleeps)."""
    if deadline is not None:
        seconds = min(seconds, deadline - time.monotonic())
    while seconds > 0:
        step = min(seconds, 86_400.0)
        time.sleep(step)
        seconds -= step
