"""Debian's real chat(8) against the simulated modem: the reference client.

chat writes one byte every 10 ms and reads one byte at a time, so these
also prove the modem copes with split input and leaves unread bytes queued.
"""
import os
import subprocess
import time

import pytest

from .helpers import Dte

CHAT = "/usr/sbin/chat"
SEED_ABORTS = ["ABORT", "NO CARRIER", "ABORT", "NO DIALTONE", "ABORT", "ERROR",
               "ABORT", "NO ANSWER", "ABORT", "BUSY"]
pytestmark = pytest.mark.skipif(not os.access(CHAT, os.X_OK),
                                reason="Debian's chat is missing: `make bootstrap` installs ppp")


def run_chat(path: str, script: list[str], timeout: float = 30.0, options=("-v", "-s")):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        start = time.monotonic()
        done = subprocess.run([CHAT, *options, *script], stdin=fd, stdout=fd,
                              stderr=subprocess.PIPE, timeout=timeout)
        return done.returncode, done.stderr.decode(errors="replace"), time.monotonic() - start
    finally:
        os.close(fd)


def isp_world(make_world, **modem):
    return make_world({"modems": {"A": modem},
                       "numbers": {"8765432": {"host": "isp"}},
                       "hosts": {"isp": {"kind": "isp", "pppd": ["/bin/cat"]}}})


def test_second_seed_script_verbatim(make_world):
    world = isp_world(make_world)
    code, log, _ = run_chat(world.tty_path("A"), SEED_ABORTS + [
        "", "AT", r"OK-\d\d+++\d\d\c-OK", "ATH0", "OK", r"AT&F\\Q3\\V1&D3M1#CC1",
        "OK", "ATD8765432", "CONNECT", r"\d\c"])
    assert code == 0, log
    lines = [e.data["line"] for e in world.events(kind="command", source="A")]
    assert lines == ["AT", "ATH0", "AT&F\\Q3\\V1&D3M1#CC1", "ATD8765432"]
    state = world.state("A")
    assert state["mode"] == "data" and state["dtr_mode"] == 3
    assert world.wait_event("host", step="pppd-start")


@pytest.mark.parametrize("number,outcome,code", [
    ("111", "busy", 8),            # ABORT BUSY is the 5th ABORT string: 4 + 4
    ("222", "no-answer", 7),
    ("333", "no-carrier", 4),
    ("444", "no-dialtone", 5),
])
def test_abort_strings_see_the_dial_outcomes(make_world, number, outcome, code):
    world = make_world({"modems": {"A": {}}, "numbers": {number: {"outcome": outcome}}})
    result, log, _ = run_chat(world.tty_path("A"), SEED_ABORTS + [
        "", "AT", "OK", f"ATDT{number}", "CONNECT"])
    assert result == code, log


def test_error_aborts(make_world):
    world = make_world({"modems": {"A": {}}})
    result, log, _ = run_chat(world.tty_path("A"), SEED_ABORTS + ["", "ATJ", "OK"])
    assert result == 6, log


def test_s7_timeout_seen_by_chat(make_world):
    world = make_world({"modems": {"A": {}, "B": {"number": "2"}}})
    result, log, elapsed = run_chat(world.tty_path("A"), SEED_ABORTS + [
        "", "ATS7=1", "OK", "ATD2", "CONNECT"])
    assert result == 4, log                      # NO CARRIER
    assert elapsed < 5


@pytest.mark.slow
def test_escape_sub_expect_brings_an_online_modem_back(make_world):
    """The seed's `OK-\\d\\d+++\\d\\d\\c-OK`: only works because of the guard times."""
    world = isp_world(make_world)
    tty = world.tty_path("A")
    code, log, _ = run_chat(tty, ["", "ATD8765432", "CONNECT", r"\c"])
    assert code == 0, log
    # the modem is online now: AT goes to the far end, no OK comes back, chat
    # times out, waits 2 s, sends +++ (10 ms apart), waits 2 s: escape.  (chat's
    # TIMEOUT also bounds the 4 s sub-send, hence 5.)
    code, log, elapsed = run_chat(tty, ["TIMEOUT", "5", "", "AT", r"OK-\d\d+++\d\d\c-OK",
                                        "ATH0", "OK"], timeout=30)
    assert code == 0, log
    assert world.wait_event("escape", source="A").data["how"] == "+++"
    assert world.wait_event("hangup", source="A").data["cause"] == "ath"
    assert world.state("A")["hook"] == "on"


def test_callback_flow_with_chat(make_world):
    """The first seed's callback dialogue, written for chat(8)."""
    world = make_world({
        "modems": {"U": {"number": "5550001"}},
        "numbers": {"5559000": {"host": "cb"}},
        "hosts": {"cb": {"kind": "callback", "pppd": ["/bin/cat"], "callback_delay": 0.1,
                         "relogin_wait": 0.3,
                         "users": {"userxyz": {"callback": {"userxyz-home": "5550001"}}}}}})
    code, log, _ = run_chat(world.tty_path("U"), [
        "ABORT", "BUSY", "", "AT&C0S0=1DT5559000", "CONNECT", "",
        "ogin:", "userxyz", "for userxyz:", "userxyz-home",
        "ogin:", r"\c", "assword:", r"\c", ">", "start_ppp"])
    assert code == 0, log
    world.wait_event("host", step="pppd-start")
    assert world.wait_event("answer", source="U").data["how"] == "auto"


def test_chat_reads_exactly_up_to_the_match(make_world):
    """chat leaves bytes after a match queued: the CR LF after `OK` is still there after it exits.

    The test keeps the line open meanwhile: when the last fd closes, the port
    discards what was not read, as a serial port nobody has open would.
    """
    world = make_world({"modems": {"A": {}}})
    tty = world.tty_path("A")
    terminal = Dte(tty)
    try:
        code, log, _ = run_chat(tty, ["", "ATE0", "OK"])
        assert code == 0, log
        terminal.send("AT\r")
        assert terminal.expect("OK\r\n") == b"\r\n\r\nOK\r\n"
    finally:
        terminal.close()
