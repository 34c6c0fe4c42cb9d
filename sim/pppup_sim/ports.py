"""DTE ports: where a simulated modem meets the program that drives it.

PtyPort (host): a pseudo-terminal pair.  The simulator holds the master; the
client opens the slave (`path`), which is raw and root-owned.  A pty has no
modem-control lines, so there is no DTR and no DCD: DTR-driven behaviour
cannot be exercised here (see `dte_close_drops_dtr` in the README for the
one approximation offered).

UartPort (VM): the client's line is a 16550 UART (`/dev/ttyS1`) whose QEMU
chardev is looped to a virtio-serial port; the simulator reads and writes
that port (`/dev/vportNpM`, found by its name) and learns DTR by polling
`/proc/tty/driver/serial`, which reports what the UART driver asserts
without opening the port.

Both are non-blocking and event driven on the simulator's asyncio loop: no
sleeps in the data path.  Both record I/O turnarounds (time the last write
to the DTE completed, time the next byte from the DTE was read) for latency
benchmarks.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import struct
import termios
import time
import tty
from collections import deque
from pathlib import Path
from typing import Callable

from pppup_protocol.errors import Code, PppupError

MAX_PENDING = 64 * 1024 * 1024     # output buffered for a DTE that does not read
READ_SIZE = 65536
DTR_POLL_INTERVAL = 0.05
PROC_SERIAL = "/proc/tty/driver/serial"
VIRTIO_PORTS = "/sys/class/virtio-ports"
DEV_DIR = "/dev"

DataCallback = Callable[[bytes], None]


class PortError(PppupError):
    code = Code.LINE


class FdWriter:
    """Writes to a non-blocking fd, buffering what the kernel does not take yet."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int,
                 on_drained: Callable[[], None] | None = None) -> None:
        self.loop = loop
        self.fd = fd
        self.on_drained = on_drained
        self.pending = bytearray()
        self.dropped = 0
        self._watching = False

    def write(self, data: bytes) -> None:
        if not self.pending:
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                written = 0
            except OSError:
                self.dropped += len(data)      # nobody at the other end: the bytes are lost
                return
            if written == len(data):
                if self.on_drained:
                    self.on_drained()
                return
            data = data[written:]
        room = MAX_PENDING - len(self.pending)
        self.pending += data[:room]
        self.dropped += max(0, len(data) - room)
        if not self._watching:
            self.loop.add_writer(self.fd, self._writable)
            self._watching = True

    def _writable(self) -> None:
        try:
            written = os.write(self.fd, self.pending)
        except BlockingIOError:
            return
        except OSError:
            self.dropped += len(self.pending)
            written = len(self.pending)
        del self.pending[:written]
        if not self.pending:
            self.stop()
            if self.on_drained:
                self.on_drained()

    def discard(self) -> None:
        self.dropped += len(self.pending)
        self.pending.clear()
        self.stop()

    def stop(self) -> None:
        if self._watching:
            self.loop.remove_writer(self.fd)
            self._watching = False


class Turnarounds:
    """(t_write_done, t_next_read) pairs: how long the DTE took to react to our output."""

    def __init__(self) -> None:
        self.pairs: deque[tuple[float, float]] = deque(maxlen=4096)
        self._write_done: float | None = None

    def wrote(self) -> None:
        self._write_done = time.monotonic()

    def read(self, t: float) -> None:
        if self._write_done is not None:
            self.pairs.append((self._write_done, t))
            self._write_done = None


def make_raw(fd: int) -> None:
    """cfmakeraw: no echo, no CR/NL mapping, 8 bits: bytes pass unchanged both ways."""
    tty.setraw(fd, termios.TCSANOW)


class _OpenWatch:
    """inotify IN_OPEN on one path: tells us when somebody opens the pty slave.

    devpts nodes report opens like any file.  Where inotify is unavailable
    the port falls back to "present from the DTE's first byte".
    """

    IN_OPEN = 0x20
    IN_NONBLOCK = os.O_NONBLOCK
    IN_CLOEXEC = os.O_CLOEXEC

    def __init__(self, path: str) -> None:
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
            if fd < 0:
                return
            if libc.inotify_add_watch(fd, os.fsencode(path), self.IN_OPEN) < 0:
                os.close(fd)
                return
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = -1

    def opens(self) -> int:
        """How many opens were reported since the last call."""
        count = 0
        while True:
            try:
                buf = os.read(self.fd, 4096)
            except BlockingIOError:
                return count
            offset = 0
            while offset + 16 <= len(buf):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", buf, offset)
                offset += 16 + length
                if mask & self.IN_OPEN:
                    count += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PtyPort:
    """A pseudo-terminal as the modem's DTE port.

    Like a serial port nobody has open, output while no DTE has the slave
    open is lost, and so is output the last DTE did not read before closing.
    We keep a slave fd of our own open while no DTE has it (with no slave
    open, the master reads EIO), close it when a DTE opens the slave, and so
    see the DTE's last close as EIO on the master, without losing what it
    wrote just before.
    """

    kind = "pty"
    has_dtr = False

    def __init__(self, loop: asyncio.AbstractEventLoop, on_data: DataCallback,
                 on_presence: Callable[[bool], None]) -> None:
        self.loop = loop
        self.on_data = on_data
        self.on_presence = on_presence
        self.turnarounds = Turnarounds()
        self.lost = 0                          # bytes written while no DTE had the port open
        master, slave = os.openpty()
        make_raw(slave)
        os.set_blocking(master, False)
        self.master = master
        self.path = os.ttyname(slave)
        self._hold: int | None = slave
        self._own_opens = 0                    # our re-opens of the hold, still to be reported
        self.dte_present = False
        self._writer = FdWriter(loop, master, self.turnarounds.wrote)
        self._watch = _OpenWatch(self.path)
        if self._watch.fd >= 0:
            loop.add_reader(self._watch.fd, self._opened)
        loop.add_reader(master, self._readable)

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self.dte_present and self._watch.fd >= 0:
            self._opened()      # an open the loop has not dispatched yet still counts
        if not self.dte_present:
            self.lost += len(data)
            return
        self._writer.write(data)

    def _opened(self) -> None:
        opens = self._watch.opens()
        foreign = max(0, opens - self._own_opens)
        self._own_opens = max(0, self._own_opens - opens)
        if foreign:
            self._dte_arrived()

    def _dte_arrived(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        if not self.dte_present:
            self.dte_present = True
            self.on_presence(True)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            self._dte_closed()
            return
        if not data:
            self._dte_closed()
            return
        self.turnarounds.read(time.monotonic())
        self._dte_arrived()
        self.on_data(data)

    def _dte_closed(self) -> None:
        # Every slave fd is closed: what it had not read is lost.  Hold the
        # slave again (with no slave open the master keeps reporting EIO).
        self._writer.discard()
        self._own_opens += 1
        self._hold = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        termios.tcflush(self._hold, termios.TCIOFLUSH)
        if self.dte_present:
            self.dte_present = False
            self.on_presence(False)

    def close(self) -> None:
        self.loop.remove_reader(self.master)
        if self._watch.fd >= 0:
            self.loop.remove_reader(self._watch.fd)
        self._watch.close()
        self._writer.stop()
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        os.close(self.master)      # the DTE's slave fds see a hang-up


# ---------------------------------------------------------------- UART (VM)

def parse_proc_serial(text: str, index: int) -> set[str] | None:
    """The modem-control signals line `index` of /proc/tty/driver/serial shows.

    Lines look like `1: uart:16550A port:000002F8 irq:3 tx:16 rx:17 RTS|CTS|DTR|DSR|CD`
    (counters such as `fe:1` may come between; the signal list is the only
    field without a colon and is absent when no signal is up).  Returns None
    when the line is missing or the UART is unknown.
    """
    prefix = f"{index}:"
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] != prefix:
            continue
        if "uart:unknown" in fields:
            return None
        signals: set[str] = set()
        for item in fields[1:]:
            if ":" not in item:
                signals.update(s for s in item.split("|") if s)
        return signals
    return None


def uart_index(uart: str) -> int:
    name = uart.removeprefix("/dev/")
    if not name.startswith("ttyS") or not name[4:].isdigit():
        raise PortError(f"UART name {uart!r} is not ttyS<n>; name the guest's 16550 port, "
                        f"e.g. ttyS1", Code.CONFIG)
    return int(name[4:])


def find_vport(name: str, sysdir: str | None = None, devdir: str | None = None) -> str:
    """The /dev path of the virtio-serial port whose name is `name`."""
    sysdir = sysdir or VIRTIO_PORTS
    base = Path(sysdir)
    try:
        entries = sorted(base.iterdir())
    except OSError as error:
        raise PortError(f"cannot list {sysdir}: {error.strerror}; is virtio_console loaded "
                        f"and the port wired by the VM runner?") from error
    for entry in entries:
        try:
            if (entry / "name").read_text().strip() == name:
                return os.path.join(devdir or DEV_DIR, entry.name)
        except OSError:
            continue
    raise PortError(f"no virtio port named {name!r} under {sysdir}; check the VM runner's "
                    f"-device virtserialport,name={name}")


class UartPort:
    kind = "uart"
    has_dtr = True

    def __init__(self, loop: asyncio.AbstractEventLoop, uart: str, vport: str,
                 on_data: DataCallback, on_dtr: Callable[[bool], None],
                 poll_interval: float = DTR_POLL_INTERVAL) -> None:
        self.loop = loop
        self.on_data = on_data
        self.on_dtr = on_dtr
        self.turnarounds = Turnarounds()
        self.index = uart_index(uart)
        self.path = f"/dev/ttyS{self.index}"
        self.proc_path = PROC_SERIAL
        self.poll_interval = poll_interval
        self.vport_path = find_vport(vport)
        try:
            self.fd = os.open(self.vport_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as error:
            raise PortError(f"cannot open {self.vport_path} (virtio port {vport}): "
                            f"{error.strerror}") from error
        self.dtr = self._read_dtr()
        self._writer = FdWriter(loop, self.fd, self.turnarounds.wrote)
        self._closed = False
        loop.add_reader(self.fd, self._readable)
        self._poll_handle = loop.call_later(poll_interval, self._poll_dtr)

    def write(self, data: bytes) -> None:
        if data:
            self._writer.write(data)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # the host side of the virtio port is not connected: poll, do not spin
            self.loop.remove_reader(self.fd)
            self.loop.call_later(0.1, self._resume_reading)
            return
        self.turnarounds.read(time.monotonic())
        self.on_data(data)

    def _resume_reading(self) -> None:
        if not self._closed:
            self.loop.add_reader(self.fd, self._readable)

    def _read_dtr(self) -> bool:
        try:
            text = Path(self.proc_path).read_text()
        except OSError as error:
            raise PortError(f"cannot read {self.proc_path}: {error.strerror} "
                            f"(the simulator must run as root in the guest)") from error
        signals = parse_proc_serial(text, self.index)
        if signals is None:
            raise PortError(f"{self.proc_path} has no 16550 UART at line {self.index}")
        return "DTR" in signals

    def _poll_dtr(self) -> None:
        if self._closed:
            return
        try:
            dtr = self._read_dtr()
        except PortError:
            dtr = self.dtr        # a transient read failure: keep the last known state
        if dtr != self.dtr:
            self.dtr = dtr
            self.on_dtr(dtr)
        self._poll_handle = self.loop.call_later(self.poll_interval, self._poll_dtr)

    def close(self) -> None:
        self._closed = True
        self._poll_handle.cancel()
        self.loop.remove_reader(self.fd)
        self._writer.stop()
        os.close(self.fd)
