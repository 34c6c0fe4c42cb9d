"""A direct line: a pty whose far end is a scripted remote, with no modem between.

This is the null-modem-cable case: whatever the DTE (the program under test,
on the pty slave) writes reaches the remote unchanged, and the remote's
bytes arrive unchanged, however odd: NULs, bit 7 set, split across any
timing.  The chat(8) differential suite uses it to drive Debian's chat and
pppup-chat with exactly the same bytes at the same moments, and to record
what each of them sent, byte by byte, with arrival times.

The remote plays a list of steps, in order, on its own thread:

    Send(data, after=0.0)    write `data` `after` seconds after the previous step
    Wait(data, timeout=10)   until the bytes received since the last Wait contain `data`
    Sleep(seconds)
    Hangup()                 close the master: the DTE side sees the line hang up
    Call(function)           run a callable (e.g. send the DTE a signal)
    WaitSetup(timeout=10)    until the DTE has changed the line's termios (set it up)

`prefill` is written before the DTE starts, so it is already queued when the
program under test opens the line.  The line keeps a slave fd of its own, so
`leftover()` can tell, after the program exits, which bytes it left queued.
"""
from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass

READ_SIZE = 4096


@dataclass(frozen=True)
class Send:
    data: bytes
    after: float = 0.0


@dataclass(frozen=True)
class Wait:
    data: bytes
    timeout: float = 10.0


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Call:
    function: Callable[[], None]


@dataclass(frozen=True)
class WaitSetup:
    timeout: float = 10.0


Step = Send | Wait | Sleep | Hangup | Call | WaitSetup


class DirectLine:
    """One pty pair; the master side is the scripted remote."""

    def __init__(self, prefill: bytes = b"", raw: bool = True) -> None:
        self.master, self.slave = os.openpty()
        if raw:
            tty.setraw(self.slave, termios.TCSANOW)  # as pppd leaves a line for its connect script
        self.path = os.ttyname(self.slave)
        self.received: list[tuple[float, bytes]] = []
        self.errors: list[str] = []
        self.hung_up = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._unmatched = bytearray()           # received since the last Wait matched
        self._initial_termios = termios.tcgetattr(self.slave)
        if prefill:
            self._write_all(prefill)

    # ------------------------------------------------------------ remote side

    def start(self, steps: Sequence[Step]) -> None:
        """Play `steps` on a background thread while recording what arrives."""
        self._thread = threading.Thread(target=self._play, args=(tuple(steps),),
                                        name="direct-line", daemon=True)
        self._thread.start()

    def _play(self, steps: tuple[Step, ...]) -> None:
        try:
            for step in steps:
                if self._stop.is_set():
                    return
                self._do(step)
            while not self._stop.is_set() and not self.hung_up:
                self._pump(0.05)
        except OSError as error:                 # the master went away under us
            self.errors.append(f"remote I/O: {error}")

    def _do(self, step: Step) -> None:
        if isinstance(step, Send):
            self._pause(step.after)
            self._write_all(step.data)
        elif isinstance(step, Wait):
            self._wait_for(step.data, step.timeout)
        elif isinstance(step, Sleep):
            self._pause(step.seconds)
        elif isinstance(step, Hangup):
            self._hang_up()
        elif isinstance(step, Call):
            step.function()
        elif isinstance(step, WaitSetup):
            self._wait_setup(step.timeout)
        else:
            raise TypeError(f"not a direct-line step: {step!r}")

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._pump(remaining)

    def _wait_for(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            at = self._unmatched.find(data)
            if at >= 0:
                del self._unmatched[:at + len(data)]
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.errors.append(f"remote: {data!r} did not arrive within {timeout} s")
                self._stop.set()
                return
            self._pump(remaining)

    def _wait_setup(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            if termios.tcgetattr(self.slave) != self._initial_termios:
                return
            self._pump(0.001)
        self.errors.append(f"remote: the DTE did not set the line up within {timeout} s")

    def _pump(self, timeout: float) -> None:
        """Record what the DTE wrote, waiting up to `timeout` for it."""
        if self.hung_up:
            time.sleep(min(timeout, 0.05))
            return
        ready, _, _ = select.select([self.master], [], [], max(0.0, min(timeout, 0.5)))
        if not ready:
            return
        try:
            data = os.read(self.master, READ_SIZE)
        except OSError:
            data = b""
        if data:
            with self._lock:
                self.received.append((time.monotonic(), data))
            self._unmatched += data

    def _drain(self) -> None:
        while select.select([self.master], [], [], 0)[0]:
            before = len(self.received)
            self._pump(0.0)
            if len(self.received) == before:
                return

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [self.master], [], 0.5)
            if writable:
                view = view[os.write(self.master, view[:READ_SIZE]):]
            elif not self.hung_up:
                # The DTE is not reading and the pty is full: keep recording
                # what it writes so neither side deadlocks.
                self._pump(0.0)

    def _hang_up(self) -> None:
        if not self.hung_up:
            self._pump(0.0)
            self.hung_up = True
            os.close(self.master)

    # ------------------------------------------------------------ test side

    def sent_by_dte(self) -> bytes:
        with self._lock:
            return b"".join(data for _, data in self.received)

    def timeline(self) -> list[tuple[float, int]]:
        """(arrival time, byte) for every byte the DTE wrote."""
        with self._lock:
            return [(t, byte) for t, data in self.received for byte in data]

    def leftover(self) -> bytes:
        """What is still queued for the DTE (call after the program under test exited)."""
        os.set_blocking(self.slave, False)
        out = bytearray()
        while True:
            try:
                data = os.read(self.slave, READ_SIZE)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            out += data
        return bytes(out)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the remote (after collecting what the DTE still wrote) and close the pty."""
        if self.slave < 0:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.hung_up:
            # The remote thread is gone: collect the DTE's last bytes here.
            self._drain()
            self.hung_up = True
            os.close(self.master)
        os.close(self.slave)
        self.slave = -1

    def __enter__(self) -> "DirectLine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
