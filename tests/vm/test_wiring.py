"""The guest's serial lines themselves, without the simulator.

If the smoke test fails, these say whether the VM's wiring (UART <-> virtio
port, DTR visibility, PPP over a UART) or the simulator is to blame.
"""
from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading

import pytest

from tests.vm import wiring
from tests.vm.link import PPPD_COMMON, Netns, Pppd, ping

pytestmark = pytest.mark.vm


def test_every_line_carries_bytes_both_ways() -> None:
    for n in range(1, wiring.line_count() + 1):
        uart_fd = wiring.open_uart(n)
        port_fd = os.open(wiring.port(n), os.O_RDWR | os.O_NONBLOCK)
        try:
            to_port = f"uart{n} to port\r\n".encode()
            os.write(uart_fd, to_port)
            assert to_port in wiring.read_until(port_fd, to_port, timeout=5), f"line {n}: UART -> port"
            to_uart = f"port{n} to uart\r\n".encode()
            os.write(port_fd, to_uart)
            assert to_uart in wiring.read_until(uart_fd, to_uart, timeout=5), f"line {n}: port -> UART"
        finally:
            os.close(uart_fd)
            os.close(port_fd)


def test_dtr_follows_the_driver() -> None:
    assert "DTR" not in wiring.uart_signals(1), "DTR must be low while nobody has ttyS1 open"
    fd = wiring.open_uart(1)
    try:
        assert "DTR" in wiring.uart_signals(1), "opening the UART raises DTR"
        fcntl.ioctl(fd, termios.TIOCMBIC, struct.pack("i", termios.TIOCM_DTR))
        assert "DTR" not in wiring.uart_signals(1)
        fcntl.ioctl(fd, termios.TIOCMBIS, struct.pack("i", termios.TIOCM_DTR))
        assert "DTR" in wiring.uart_signals(1)
        # QEMU's UART without a tty backend reports carrier always present.
        assert {"CD", "CTS", "DSR"} <= wiring.uart_signals(1)
    finally:
        os.close(fd)
    assert "DTR" not in wiring.uart_signals(1), "closing the UART (HUPCL) drops DTR"


class NullModem:
    """Joins two lines' virtio ports: what one UART sends, the other receives."""

    def __init__(self, a: int, b: int) -> None:
        self.fds = (os.open(wiring.port(a), os.O_RDWR | os.O_NONBLOCK),
                    os.open(wiring.port(b), os.O_RDWR | os.O_NONBLOCK))
        self.stop_r, self.stop_w = os.pipe()
        self.carried = [0, 0]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([*self.fds, self.stop_r], [], [])
            if self.stop_r in ready:
                return
            for index, fd in enumerate(self.fds):
                if fd in ready:
                    data = os.read(fd, 4096)
                    os.write(self.fds[1 - index], data)
                    self.carried[index] += len(data)

    def close(self) -> None:
        os.write(self.stop_w, b"x")
        self.thread.join(timeout=5)
        for fd in (*self.fds, self.stop_r, self.stop_w):
            os.close(fd)


def test_two_pppd_over_two_uarts() -> None:
    relay = NullModem(1, 2)
    with Netns("wire-a") as ns_a, Netns("wire-b") as ns_b:
        b = Pppd("B", ns_b, [wiring.uart(2), *PPPD_COMMON, "local", "10.9.0.2:10.9.0.1", "passive"]).start()
        a = Pppd("A", ns_a, [wiring.uart(1), *PPPD_COMMON, "local", "10.9.0.1:10.9.0.2"]).start()
        try:
            assert ns_a.wait_addresses() == ("10.9.0.1", "10.9.0.2")
            assert ns_b.wait_addresses() == ("10.9.0.2", "10.9.0.1")
            assert len(ping(ns_a, "10.9.0.2", count=2)) == 2
            a.terminate()
            assert a.wait(timeout=30) == 5, "\n".join(a.log)          # EXIT_USER_REQUEST
            assert b.wait(timeout=30) == 16, "\n".join(b.log)         # EXIT_HANGUP: peer terminated LCP
            assert any("LCP terminated by peer" in line for line in b.log), "\n".join(b.log)
        finally:
            a.stop()
            b.stop()
            relay.close()
    assert min(relay.carried) > 0
