"""Smoke test in the VM (issue 2, point 5) and DTR on real UARTs.

Two simulated modems on the guest's UARTs ttyS1 (A) and ttyS2 (B); Debian's
chat and pppd, each pppd in its own network namespace.  The scenario itself
lives in tests/vm/smoke.py (also `make demo-smoke`); its transcript is printed, so
pytest shows it when a step fails.
"""
from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios

import pytest

from tests.vm import wiring
from tests.vm.link import Transcript
from tests.vm.smoke import A_ADDRESS, B_ADDRESS, B_NUMBER, WORLD, run_smoke

pytestmark = pytest.mark.vm


def test_a_dials_b_ppp_comes_up_ping_crosses_sigterm_ends_both() -> None:
    result = run_smoke(Transcript(sys.stdout))
    assert result.a_addresses == (A_ADDRESS, B_ADDRESS)
    assert result.b_addresses == (B_ADDRESS, A_ADDRESS)
    assert len(result.replies) == 3
    # Debian's chat did the talking (its -V log reaches pppd's log).
    a_log = "\n".join(result.a_log)
    assert f"ATDT{B_NUMBER}" in a_log and "CONNECT" in a_log, a_log
    assert "ATS0=1" in "\n".join(result.b_log)
    assert result.a_status == 5, a_log                               # EXIT_USER_REQUEST (SIGTERM)
    assert result.b_status == 16, "\n".join(result.b_log)            # EXIT_HANGUP: the peer ended the link
    assert set(result.hangups) == {"A", "B"}, result.hangups


def set_dtr(fd: int, high: bool) -> None:
    fcntl.ioctl(fd, termios.TIOCMBIS if high else termios.TIOCMBIC, struct.pack("i", termios.TIOCM_DTR))


def at(fd: int, command: str, expect: bytes = b"OK\r\n", timeout: float = 10.0) -> bytes:
    """Send an AT command and wait for its echo, then its result (not a stale one)."""
    os.write(fd, command.encode() + b"\r")
    return wiring.read_until(fd, command.encode() + b"\r", expect, timeout=timeout)


def test_dtr_drop_on_the_uart_hangs_up_with_d2_and_resets_with_d3() -> None:
    from pppup_sim import World

    config = {**WORLD, "modems": {**WORLD["modems"], "B": {**WORLD["modems"]["B"], "profile": "S0=1"}}}
    with World(config) as world:
        fd = wiring.open_uart(1)
        b_fd = wiring.open_uart(2)      # B's DTE is there (DTR up), or B would not answer
        try:
            at(fd, "ATZ")
            at(fd, "AT&D2")
            at(fd, f"ATDT{B_NUMBER}", expect=b"CONNECT", timeout=30)
            mark = world.mark()
            set_dtr(fd, False)
            world.wait_event("dtr", source="A", after=mark, timeout=5, high=False)
            world.wait_event("hangup", source="A", after=mark, timeout=5, cause="dtr")
            world.wait_event("hangup", source="B", after=mark, timeout=10)
            set_dtr(fd, True)
            world.wait_event("dtr", source="A", after=mark, timeout=5, high=True)
            assert world.state("A")["hook"] == "on"

            # &D3: a DTR drop resets the modem to its stored profile (here the
            # factory one: nothing was written with &W), undoing ATS0=3.
            at(fd, "ATS0=3")
            at(fd, "AT&D3")
            assert world.state("A")["s"][0] == 3
            mark = world.mark()
            set_dtr(fd, False)
            world.wait_event("reset", source="A", after=mark, timeout=5, profile="stored", how="dtr")
            set_dtr(fd, True)
            world.wait_event("dtr", source="A", after=mark, timeout=5, high=True)
            state = world.state("A")
            assert state["s"][0] == state["stored"]["s"][0] == 0
            at(fd, "AT")                                   # and it still answers
        finally:
            os.close(fd)
            os.close(b_fd)
