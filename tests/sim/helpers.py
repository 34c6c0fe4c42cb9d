"""Test-side helpers: a terminal on a modem's pty, fast world delays."""
from __future__ import annotations

import os
import select
import time

FAST = {"dial": 0.02, "ring_interval": 0.05, "connect": 0.02}


class Dte:
    """The client's end of a simulated modem's line, as a terminal program uses it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.received = bytearray()

    def send(self, data: bytes | str, byte_by_byte: bool = False) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")
        chunks = [data[i:i + 1] for i in range(len(data))] if byte_by_byte else [data]
        for chunk in chunks:
            os.write(self.fd, chunk)
            if byte_by_byte:
                time.sleep(0.002)

    def _read_some(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        self.received += data
        return bool(data)

    def expect(self, needle: bytes | str, timeout: float = 5.0) -> bytes:
        """Everything received up to and including `needle`; the rest stays queued."""
        if isinstance(needle, str):
            needle = needle.encode("latin-1")
        deadline = time.monotonic() + timeout
        while needle not in self.received:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not received within {timeout} s on {self.path}; "
                                     f"got {bytes(self.received)!r}")
            self._read_some(left)
        end = self.received.find(needle) + len(needle)
        out = bytes(self.received[:end])
        del self.received[:end]
        return out

    def collect(self, seconds: float) -> bytes:
        """Whatever arrives within `seconds` (plus what was queued)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._read_some(left)
        out = bytes(self.received)
        self.received.clear()
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
