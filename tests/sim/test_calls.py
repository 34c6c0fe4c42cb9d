"""Calls on the simulated phone network, driven through real ptys.

These run on the host: the ports are pseudo-terminals (no modem-control
lines), so DTR is injected with `world.dtr()` where a test needs it.
"""
import threading
import time

import pytest

from pppup_sim import ConfigError, World


def two_modems(make_world, **extra):
    return make_world({"modems": {"A": {"number": "5550001"},
                                  "B": {"number": "5550002", "profile": "S0=1"}}, **extra})


def connect_a_to_b(world, dte):
    a, b = dte(world.tty_path("A")), dte(world.tty_path("B"))
    a.send("ATD5550002\r")
    a.expect("CONNECT 33600\r\n")
    b.expect("RING\r\n")
    b.expect("CONNECT 33600\r\n")
    return a, b


def test_call_between_two_modems_carries_data_both_ways(make_world, dte):
    world = two_modems(make_world)
    a, b = connect_a_to_b(world, dte)
    a.send(b"\x00\x7e\xffhello from A")
    b.expect(b"\x00\x7e\xffhello from A")
    b.send("hello from B")
    a.expect("hello from B")
    assert world.state("A")["mode"] == "data" and world.state("B")["mode"] == "data"
    assert world.wait_event("answer", source="B").data == {"how": "auto"}


def test_hang_up_with_escape_and_ath_gives_no_carrier_on_the_other_side(make_world, dte):
    world = two_modems(make_world)
    a, b = connect_a_to_b(world, dte)
    mark = world.mark()
    time.sleep(1.1)                              # S12 = 50: one second of silence before
    a.send("+++")
    a.expect("OK\r\n", timeout=3)
    b.expect("+++")                              # escape characters still reach the line
    a.send("ATH\r")
    a.expect("OK\r\n")
    b.expect("NO CARRIER\r\n")
    ev = world.wait_event("hangup", source="B", after=mark)
    assert ev.data["cause"] == "remote"
    assert world.state("B")["hook"] == "on"


def test_dtr_drop_with_d2_hangs_up_and_the_other_side_sees_no_carrier(make_world, dte):
    world = two_modems(make_world)
    a, b = connect_a_to_b(world, dte)
    world.dtr("A", False)                        # pty: no real DTR, injected
    a.expect("OK\r\n")
    b.expect("NO CARRIER\r\n")
    assert world.wait_event("hangup", source="A").data["cause"] == "dtr"


def test_dtr_drop_with_d3_resets_the_caller_to_its_stored_profile(make_world, dte):
    world = two_modems(make_world)
    a = dte(world.tty_path("A"))
    a.send("AT&D3&W\r")
    a.expect("OK\r\n")
    a.send("AT&C0S0=1\r")
    a.expect("OK\r\n")
    a.send("ATD5550002\r")
    a.expect("CONNECT")
    world.dtr("A", False)
    world.wait_event("reset", source="A", how="dtr")
    state = world.state("A")
    assert state["s"][0] == 0 and state["dcd_mode"] == 1 and state["dtr_mode"] == 3


def test_carrier_drop_from_the_test(make_world, dte):
    world = two_modems(make_world)
    a, b = connect_a_to_b(world, dte)
    world.drop_carrier("B")
    a.expect("NO CARRIER\r\n")
    b.expect("NO CARRIER\r\n")
    assert world.wait_event("no_carrier", source="A").data["cause"] == "carrier-drop"
    with pytest.raises(Exception, match="no call"):
        world.drop_carrier("B")


@pytest.mark.parametrize("outcome,text", [("busy", "BUSY"), ("no-answer", "NO ANSWER"),
                                          ("no-carrier", "NO CARRIER"),
                                          ("no-dialtone", "NO DIALTONE")])
def test_fixed_outcomes(make_world, dte, outcome, text):
    world = make_world({"modems": {"A": {}}, "numbers": {"555": {"outcome": outcome}}})
    a = dte(world.tty_path("A"))
    a.send("ATDT555\r")
    a.expect(f"\r\n{text}\r\n")
    assert world.state("A")["hook"] == "on"


def test_line_without_dialtone(make_world, dte):
    world = make_world({"modems": {"A": {"dialtone": False}, "B": {"number": "2"}}})
    a = dte(world.tty_path("A"))
    a.send("ATD2\r")
    a.expect("NO DIALTONE\r\n")
    assert world.events(kind="call") == []


def test_unknown_number_gives_no_carrier(make_world, dte):
    world = make_world({"modems": {"A": {}}})
    a = dte(world.tty_path("A"))
    a.send("ATD999\r")
    a.expect("NO CARRIER\r\n")


def test_busy_first_n_calls_then_answer(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"profile": "S0=1"}},
                        "numbers": {"777": {"modem": "B", "busy_first": 2}}})
    a = dte(world.tty_path("A"))
    for _ in range(2):
        a.send("ATD777\r")
        a.expect("BUSY\r\n")
    a.send("ATD777\r")
    a.expect("CONNECT 33600\r\n")


def test_busy_callee_modem(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"number": "2", "profile": "S0=1"},
                                   "C": {}}})
    a, c = dte(world.tty_path("A")), dte(world.tty_path("C"))
    a.send("ATD2\r")
    a.expect("CONNECT")
    c.send("ATD2\r")
    c.expect("BUSY\r\n")


def test_off_hook_callee_is_busy(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"number": "2"}}})
    a, b = dte(world.tty_path("A")), dte(world.tty_path("B"))
    b.send("ATH1\r")
    b.expect("OK")
    a.send("ATD2\r")
    a.expect("BUSY\r\n")


def test_s7_timeout_when_nobody_answers(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"number": "2"}}})   # B: S0=0
    a, b = dte(world.tty_path("A")), dte(world.tty_path("B"))
    a.send("ATS7=1D2\r")
    start = time.monotonic()
    a.expect("NO CARRIER\r\n", timeout=3)
    assert 0.9 <= time.monotonic() - start < 3.0
    b.expect("RING")
    assert world.wait_event("hangup", source="A").data["cause"] == "s7-timeout"
    assert world.state("B")["ringing"] is False


def test_max_rings_gives_no_answer(make_world, dte):
    world = make_world({"delays": {"dial": 0.01, "ring_interval": 0.02, "connect": 0.01,
                                   "max_rings": 3},
                        "modems": {"A": {}, "B": {"number": "2"}}})
    a = dte(world.tty_path("A"))
    a.send("ATD2\r")
    a.expect("NO ANSWER\r\n")
    assert len(world.events(kind="ring", source="B")) == 3


def test_manual_answer_with_ata(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"number": "2"}}})
    a, b = dte(world.tty_path("A")), dte(world.tty_path("B"))
    a.send("ATD2\r")
    b.expect("RING\r\n")
    b.send("ATA\r")
    b.expect("CONNECT 33600\r\n")
    a.expect("CONNECT 33600\r\n")


def test_auto_answer_after_s0_rings(make_world, dte):
    world = make_world({"modems": {"A": {}, "B": {"number": "2", "profile": "S0=3"}}})
    a, b = dte(world.tty_path("A")), dte(world.tty_path("B"))
    a.send("ATD2\r")
    b.expect("CONNECT")
    rings = world.events(kind="ring", source="B")
    assert [r.data["count"] for r in rings] == [1, 2, 3]
    assert world.wait_event("answer", source="B").data["how"] == "auto"


def test_speed_is_the_lower_of_both_ends(make_world, dte):
    world = make_world({"modems": {"A": {"speed": 14400},
                                   "B": {"number": "2", "profile": "S0=1"}}})
    a = dte(world.tty_path("A"))
    a.send("ATD2\r")
    a.expect("CONNECT 14400\r\n")


def test_ring_from_outside_and_set_number_at_run_time(make_world, dte):
    world = make_world({"modems": {"A": {"profile": "S0=2"}, "B": {}},
                        "hosts": {"echo": {"kind": "echo"}}})
    a = dte(world.tty_path("A"))
    world.ring("A", caller="0815", host="echo")
    a.expect("\r\nRING\r\n\r\nRING\r\n")
    a.expect("CONNECT 33600\r\n")
    a.send("ping")
    a.expect("ping")
    world.set_number("42", outcome="busy")
    b = dte(world.tty_path("B"))
    b.send("ATD42\r")
    b.expect("BUSY")
    with pytest.raises(ConfigError, match="exactly one"):
        world.set_number("43")


def test_silent_outside_caller_records_what_it_heard(make_world, dte):
    world = make_world({"modems": {"A": {"profile": "S0=1"}}})
    a = dte(world.tty_path("A"))
    world.ring("A", caller="0815")
    a.expect("CONNECT")
    a.send("anybody there?")
    time.sleep(0.1)
    world.drop_carrier("A")
    ev = world.wait_event("host", step="silent-call-ended")
    assert ev.data["text"] == "anybody there?"


def test_unknown_modem_name_is_a_clear_error(make_world):
    world = make_world({"modems": {"A": {}}})
    with pytest.raises(Exception, match="no modem named 'Z'"):
        world.state("Z")


def test_bad_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="ERROR to ATS0=1J"):
        World({"modems": {"A": {"profile": "S0=1J"}}}).start()


def test_stop_hangs_up_calls_and_terminals_read_no_carrier(make_world, dte):
    world = two_modems(make_world)
    a, b = connect_a_to_b(world, dte)
    heard = {}

    def listen(name, terminal):
        try:
            heard[name] = terminal.expect("NO CARRIER\r\n", timeout=5)
        except AssertionError as error:
            heard[name] = error

    threads = [threading.Thread(target=listen, args=item) for item in (("A", a), ("B", b))]
    for thread in threads:
        thread.start()
    world.stop()
    for thread in threads:
        thread.join(6)
    assert heard["A"].endswith(b"NO CARRIER\r\n") and heard["B"].endswith(b"NO CARRIER\r\n")
    assert {e.data["cause"] for e in world.events(kind="hangup")} == {"shutdown"}
    assert a._read_some(1.0) is False                # the line is gone: EOF or EIO
