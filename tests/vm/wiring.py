"""Guest side: the serial lines QEMU gives the guest (see tests/vm/run.py).

Line N is the 16550A UART /dev/ttySN (what pppd, chat and the helper open),
looped by QEMU to the virtio port /dev/virtio-ports/lineN (what the modem
simulator reads and writes).  The UART's modem-control outputs as the driver
set them are readable, without opening the port, from
/proc/tty/driver/serial; DCD, CTS and DSR are always on (QEMU's UART has no
tty backend to take them from).
"""
from __future__ import annotations

import os
import select
import termios
import time
import tty
from pathlib import Path

from pppup_protocol.errors import Code, PppupError

SERIAL_DRIVER_INFO = Path("/proc/tty/driver/serial")


def line_count() -> int:
    """How many lines this guest was booted with (PPPUP_VM_LINES)."""
    value = os.environ.get("PPPUP_VM_LINES", "")
    if not value.isdigit():
        raise PppupError("PPPUP_VM_LINES is not set: this runs only inside the test VM "
                         "(python -m tests.vm.run, make test-vm)", Code.FAILURE)
    return int(value)


def uart(n: int) -> str:
    return f"/dev/ttyS{n}"


def port(n: int) -> str:
    return f"/dev/virtio-ports/line{n}"


def uart_signals(n: int) -> frozenset[str]:
    """The modem-control signals the 8250 driver shows for ttySN, e.g. {"DTR", "CD"}."""
    for row in SERIAL_DRIVER_INFO.read_text().splitlines():
        index, _, rest = row.partition(":")
        if index.strip() == str(n):
            fields = rest.split()
            if not fields or fields[0] == "uart:unknown":
                break
            # "uart:16550A port:000002F8 irq:3 tx:0 rx:0 [fe:N ...] RTS|CTS|DTR|DSR|CD"
            flags = fields[-1] if ":" not in fields[-1] else ""
            return frozenset(flag for flag in flags.split("|") if flag)
    raise PppupError(f"{SERIAL_DRIVER_INFO} has no UART {n}: the VM was booted with fewer lines", Code.LINE)


def open_uart(n: int) -> int:
    """Open ttySN as a modem program would: raw, ignoring carrier, non-blocking."""
    fd = os.open(uart(n), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[2] |= termios.CLOCAL
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def read_until(fd: int, *wanted: bytes, timeout: float) -> bytes:
    """Bytes from fd until each of `wanted` has come, in that order.

    Stale bytes before the first one are allowed (a line may still carry
    what an earlier user left in flight); raises TimeoutError with what came.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        position = 0
        for marker in wanted:
            found = data.find(marker, position)
            if found < 0:
                break
            position = found + len(marker)
        else:
            return data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {b' then '.join(wanted)!r} within {timeout:.0f} s; got {data!r}")
        if select.select([fd], [], [], remaining)[0]:
            data += os.read(fd, 4096)
