"""The host's side of one call: what a scripted remote host reads and writes.

A HostLine is a network endpoint (it rings, answers, receives data) and gives
the host's coroutine a small terminal-like API: `write`, `read_line` (with
or without echo, as a login prompt would), `wait_input`, `hang_up`.  When
the call ends every pending read raises CallEnded.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .network import Call, Network

MAX_LINE = 4096


class CallEnded(Exception):
    """The call this line belonged to is over."""


class HostLine:
    def __init__(self, name: str, speed: int, network: "Network", answer_rings: int,
                 on_connected: Callable[["HostLine"], None] | None = None) -> None:
        self.name = name
        self.speed = speed
        self.network = network
        self.answer_rings = answer_rings
        self.on_connected = on_connected
        self.call: "Call | None" = None
        self.buffer = bytearray()
        self.received = 0
        self.sink: Callable[[bytes], None] | None = None   # set while relaying to a program
        self.outcome: asyncio.Future[str] = network.loop.create_future()  # "up" or a failure result
        self.ended = False
        self.end_cause = ""
        self._changed = asyncio.Event()
        self._skip_lf = False
        self._rings = 0

    # ------------------------------------------------------------ network endpoint

    def free_for_incoming(self) -> bool:
        return not self.ended and self.call is None

    def ring(self, call: "Call") -> None:
        self.call = call
        self._rings += 1
        if self._rings >= self.answer_rings:
            self.network.answer(self, call)

    def incoming_ended(self, call: "Call") -> None:
        self._finish("caller gave up")

    def connected(self, call: "Call", speed: int) -> None:
        self.call = call
        if not self.outcome.done():
            self.outcome.set_result("up")
        if self.on_connected is not None:
            self.on_connected(self)

    def failed(self, call: "Call", result: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(result)
        self._finish(result)

    def carrier_lost(self, call: "Call", cause: str) -> None:
        self._finish(cause)

    def deliver(self, call: "Call", data: bytes) -> None:
        self.received += len(data)
        if self.sink is not None:
            self.sink(data)
            return
        if len(self.buffer) < 1024 * 1024:
            self.buffer += data
        self._changed.set()

    def _finish(self, cause: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.end_cause = cause
        if not self.outcome.done():
            self.outcome.set_result(cause)
        self._changed.set()

    # ------------------------------------------------------------ the host's API

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")
        if data and self.call is not None and not self.ended:
            self.network.send(self, self.call, data)

    def hang_up(self, cause: str = "host") -> None:
        if self.call is not None and not self.ended:
            self.network.hang_up(self, self.call, cause)
        self._finish(cause)

    async def wait_input(self, timeout: float) -> bool:
        """True as soon as anything has been received, False after `timeout` of silence."""
        deadline = time.monotonic() + timeout
        while True:
            self._drop_pending_lf()
            if self.buffer:
                return True
            if self.ended:
                raise CallEnded(self.end_cause)
            if not await self._wait_change(deadline):
                return False

    async def read_line(self, timeout: float, echo: bool = True) -> str:
        """One line ended by CR, LF or CR LF; echoed back as a terminal would when `echo`.

        Raises TimeoutError when no complete line arrives within `timeout`
        (an idle limit, not reset by partial input) and CallEnded when the
        call ends first.
        """
        deadline = time.monotonic() + timeout
        echoed = 0
        while True:
            self._drop_pending_lf()
            end = _line_end(self.buffer)
            if echo:
                upto = len(self.buffer) if end < 0 else end
                if upto > echoed:
                    self.write(bytes(self.buffer[echoed:upto]))
                    echoed = upto
            if end >= 0:
                line = bytes(self.buffer[:end])
                self._skip_lf = self.buffer[end] == 0x0D
                del self.buffer[:end + 1]
                if echo:
                    self.write(b"\r\n")
                return line.decode("latin-1")
            if len(self.buffer) > MAX_LINE:
                self.buffer.clear()
            if self.ended:
                raise CallEnded(self.end_cause)
            if not await self._wait_change(deadline):
                raise TimeoutError(f"{self.name}: no input line within {timeout} s")

    async def wait_for(self, needle: bytes, timeout: float) -> bool:
        """Until the bytes received since the last match contain `needle` (consumed up to it).

        False when it does not come within `timeout`; CallEnded when the call ends first.
        """
        deadline = time.monotonic() + timeout
        while True:
            at = self.buffer.find(needle)
            if at >= 0:
                del self.buffer[:at + len(needle)]
                return True
            if self.ended:
                raise CallEnded(self.end_cause)
            if not await self._wait_change(deadline):
                return False

    async def wait_end(self) -> None:
        while not self.ended:
            self._changed.clear()
            await self._changed.wait()

    def _drop_pending_lf(self) -> None:
        if self._skip_lf and self.buffer:
            if self.buffer[0] == 0x0A:
                del self.buffer[0]
            self._skip_lf = False

    async def _wait_change(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), left)
        except asyncio.TimeoutError:
            return False
        return True


def _line_end(buffer: bytearray) -> int:
    positions = [i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0]
    return min(positions) if positions else -1
