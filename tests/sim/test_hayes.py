"""The modem state machine on its own: bytes and events in, bytes and requests out.

Time is passed in, so guard times and S7 are tested exactly, without sleeping.
DTR is fed as an event here (ptys have no DTR line; the VM tests use real DTR).
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppup_sim.hayes import AnswerCall, EndCall, HayesModem, Mode, PlaceCall, SendToLine
from pppup_sim.profile import factory_profile


def run(m: HayesModem, text: bytes | str, now: float = 0.0) -> bytes:
    m.receive(text.encode("latin-1") if isinstance(text, str) else text, now)
    return m.take_output()


def quiet_echo(m: HayesModem) -> HayesModem:
    run(m, "ATE0\r")
    return m


def results(m: HayesModem) -> list[str]:
    return [d["text"] for kind, d in m.take_events() if kind == "result"]


def connected(now: float = 0.0) -> HayesModem:
    """A modem in data mode on an outgoing call."""
    m = quiet_echo(HayesModem())
    run(m, "ATD123\r", now)
    m.take_requests()
    m.call_connected(33600, now)
    m.take_output()
    m.take_events()
    return m


# ---------------------------------------------------------------- framing, echo, V, Q

def test_at_is_echoed_and_answered_ok_with_crlf_framing():
    assert run(HayesModem(), "AT\r") == b"AT\r\r\nOK\r\n"


def test_bytes_split_arbitrarily_make_the_same_line():
    m = HayesModem()
    out = b"".join(run(m, bytes([b])) for b in b"ATS0=2\r")
    assert out == b"ATS0=2\r\r\nOK\r\n"
    assert m.active.s[0] == 2


def test_echo_off():
    m = HayesModem()
    assert run(m, "ATE0\r") == b"ATE0\r\r\nOK\r\n"       # the line itself is still echoed
    assert run(m, "AT\r") == b"\r\nOK\r\n"
    assert run(m, "ATE1\r") == b"\r\nOK\r\n"
    assert run(m, "AT\r") == b"AT\r\r\nOK\r\n"


def test_numeric_results_v0():
    m = quiet_echo(HayesModem())
    assert run(m, "ATV0\r") == b"0\r"
    assert run(m, "ATX9\r") == b"4\r"                   # ERROR = 4
    assert run(m, "ATS0?\r") == b"000\r\n0\r"            # information text: text CR LF
    assert run(m, "ATV1\r") == b"\r\nOK\r\n"


def test_numeric_codes_of_call_results():
    m = quiet_echo(HayesModem())
    run(m, "ATV0\r")
    for result, code in (("BUSY", b"7\r"), ("NO ANSWER", b"8\r"), ("NO CARRIER", b"3\r"),
                         ("NO DIALTONE", b"6\r")):
        run(m, "ATD1\r")
        m.call_failed(result, 1.0)
        assert m.take_output() == code
    run(m, "ATD1\r")
    m.call_connected(28800, 1.0)
    assert m.take_output() == b"1\r"
    m.carrier_lost(2.0)
    assert m.take_output() == b"3\r"
    m.incoming_ring(3.0)
    assert m.take_output() == b"2\r"


def test_quiet_suppresses_results_not_information():
    m = quiet_echo(HayesModem())
    assert run(m, "ATQ1\r") == b""
    assert run(m, "ATS7?\r") == b"\r\n050\r\n"
    assert run(m, "ATX9\r") == b""
    assert run(m, "ATQ0\r") == b"\r\nOK\r\n"


def test_s3_s4_change_the_framing():
    m = quiet_echo(HayesModem())
    run(m, "ATS4=33\r")                                 # LF becomes '!'
    assert run(m, "AT\r") == b"\r!OK\r!"


def test_backspace_edits_the_line():
    m = quiet_echo(HayesModem())
    assert run(m, "ATX\x08E0\r") == b"\r\nOK\r\n"


# ---------------------------------------------------------------- line recognition

def test_line_without_at_prefix_is_ignored():
    m = HayesModem()
    assert run(m, "hello\r") == b"hello\r"            # echoed, no result
    assert results(m) == []


def test_bytes_before_the_prefix_are_discarded():
    m = quiet_echo(HayesModem())
    assert run(m, "\n+++ATS0=3\r") == b"\r\nOK\r\n"
    assert m.active.s[0] == 3


def test_lowercase_prefix_and_commands():
    m = quiet_echo(HayesModem())
    assert run(m, "ats0=4\r") == b"\r\nOK\r\n"
    assert m.active.s[0] == 4


def test_a_slash_repeats_the_last_line_without_cr():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=5\r")
    m.active.s[0] = 0
    assert run(m, "A/") == b"\r\nOK\r\n"
    assert m.active.s[0] == 5


def test_over_long_line_is_an_error():
    m = quiet_echo(HayesModem())
    assert run(m, "AT" + "E1" * 600 + "\r") == b"\r\nERROR\r\n"


# ---------------------------------------------------------------- commands

@pytest.mark.parametrize("command", [
    "ATJ", "ATE2", "ATV3", "ATQ2", "AT&C2", "AT&D4", "ATS100=1", "ATS0=256", "ATX5", "ATH2",
    "ATZ1", "AT&W1", "AT&F1", "ATO", "AT+FOO", "AT+FCLASS=1", "ATI10", "AT&O", "ATM4", "AT!",
    "ATD", "ATDT,,W",
])
def test_unknown_or_out_of_range_is_error(command):
    m = quiet_echo(HayesModem())
    assert run(m, command + "\r") == b"\r\nERROR\r\n"


def test_error_stops_the_line_but_earlier_commands_took_effect():
    m = quiet_echo(HayesModem())
    assert run(m, "ATS0=2J S0=3\r") == b"\r\nERROR\r\n"
    assert m.active.s[0] == 2


def test_seed_init_string_with_vendor_commands_is_accepted():
    m = quiet_echo(HayesModem())
    assert run(m, "AT&F\\Q3\\V1&D3M1#CC1\r") == b"\r\nOK\r\n"
    assert m.active.dtr_mode == 3
    assert m.active.extras == {"\\Q": 3, "\\V": 1, "M": 1, "#CC": 1}


@pytest.mark.parametrize("command", ["ATL2", "ATM0", "ATB0", "ATN1", "ATW2", "ATY0", "AT&K3",
                                     "AT&Q5", "AT&S0", "AT%C0", "AT\\N3", "AT#CID1", "ATX3",
                                     "ATP", "ATT", "AT+MS=V34"])
def test_harmless_commands_answer_ok(command):
    assert run(quiet_echo(HayesModem()), command + "\r") == b"\r\nOK\r\n"


def test_s_registers_set_query_and_select():
    m = quiet_echo(HayesModem())
    assert run(m, "ATS7=30S7?\r") == b"\r\n030\r\n\r\nOK\r\n"
    assert run(m, "ATS12?\r") == b"\r\n050\r\n\r\nOK\r\n"
    assert run(m, "ATS9\r") == b"\r\nOK\r\n"              # select
    assert run(m, "AT=7?\r") == b"\r\n007\r\n\r\nOK\r\n"
    assert m.active.s[9] == 7


def test_c_and_d_settings():
    m = quiet_echo(HayesModem())
    run(m, "AT&C0&D3\r")
    assert (m.active.dcd_mode, m.active.dtr_mode) == (0, 3)
    run(m, "AT&C&D\r")                                   # missing value = 0
    assert (m.active.dcd_mode, m.active.dtr_mode) == (0, 0)


def test_stored_profile_w_and_z():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=1&C0&D3&W\r")
    run(m, "ATS0=0&C1&D0\r")
    assert run(m, "ATZ\r") == b"\r\nOK\r\n"
    assert (m.active.s[0], m.active.dcd_mode, m.active.dtr_mode) == (1, 0, 3)
    assert ("reset", {"profile": "stored", "how": "atz"}) in m.take_events()


def test_z_answers_with_the_restored_settings():
    m = quiet_echo(HayesModem())
    run(m, "ATV0&W\r")
    run(m, "ATV1\r")
    assert run(m, "ATZ\r") == b"0\r"


def test_f_restores_factory_not_stored():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=1&W\r")
    run(m, "AT&F\r")
    assert m.active.s[0] == 0 and m.active.echo
    assert m.stored.s[0] == 1


def test_v_shows_active_and_stored_profiles():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=1&C0&D3&W\r")
    run(m, "ATS0=0\r")
    text = run(m, "AT&V\r").decode()
    active, stored = text.split("STORED PROFILE:")
    assert "&C0 &D3" in active and "S00:000" in active
    assert "&C0 &D3" in stored and "S00:001" in stored
    assert text.endswith("\r\nOK\r\n")


def test_i_and_plus_g_identify_the_modem():
    m = quiet_echo(HayesModem())
    assert run(m, "ATI\r") == b"\r\npppup_sim\r\n\r\nOK\r\n"
    assert run(m, "ATI3\r") == b"\r\npppup_sim I3\r\n\r\nOK\r\n"
    assert run(m, "AT+GMM\r") == b"\r\npppup_sim\r\n\r\nOK\r\n"
    assert run(m, "AT+FCLASS=0;+FCLASS?\r") == b"\r\n0\r\n\r\nOK\r\n"


def test_h1_goes_off_hook_and_h0_back():
    m = quiet_echo(HayesModem())
    run(m, "ATH1\r")
    assert m.off_hook and not m.free_for_incoming()
    run(m, "ATH0\r")
    assert not m.off_hook and m.free_for_incoming()


# ---------------------------------------------------------------- dialling

def test_dial_places_a_call_with_modifiers_tolerated():
    m = quiet_echo(HayesModem())
    assert run(m, "AT&C0S0=1DT555,W12-34\r") == b""
    assert m.take_requests() == [PlaceCall("5551234", 2.0)]     # one `,` = S8 = 2 s
    assert m.mode is Mode.DIALLING and m.off_hook
    assert m.active.s[0] == 1 and m.active.dcd_mode == 0


def test_pulse_dial_and_stay_in_command_mode():
    m = quiet_echo(HayesModem())
    assert run(m, "ATDP123;\r") == b"\r\nOK\r\n"
    assert m.take_requests() == []          # voice dialling is not simulated
    assert m.mode is Mode.COMMAND and m.off_hook


def test_connect_then_data_flows_both_ways():
    m = quiet_echo(HayesModem())
    run(m, "ATD123\r")
    m.call_connected(33600, 1.0)
    assert m.take_output() == b"\r\nCONNECT 33600\r\n"
    assert m.mode is Mode.DATA
    m.take_requests()
    run(m, "ATH\r", 1.5)                        # in data mode: just data
    assert m.take_requests() == [SendToLine(b"ATH\r")]
    m.line_data(b"from far")
    assert m.take_output() == b"from far"


@pytest.mark.parametrize("result", ["BUSY", "NO ANSWER", "NO CARRIER", "NO DIALTONE"])
def test_call_failures_are_reported_and_the_modem_is_back_on_hook(result):
    m = quiet_echo(HayesModem())
    run(m, "ATD123\r")
    m.call_failed(result, 1.0)
    assert m.take_output() == f"\r\n{result}\r\n".encode()
    assert m.mode is Mode.COMMAND and not m.off_hook


def test_no_dialtone_line():
    m = quiet_echo(HayesModem(dialtone=False))
    assert run(m, "ATDT123\r") == b"\r\nNO DIALTONE\r\n"
    assert m.take_requests() == [] and not m.off_hook


def test_s7_carrier_wait_times_out():
    m = quiet_echo(HayesModem())
    run(m, "ATS7=3D123\r", 10.0)
    m.take_requests()
    assert m.next_deadline == 13.0
    m.tick(12.9)
    assert m.take_output() == b""
    m.tick(13.0)
    assert m.take_output() == b"\r\nNO CARRIER\r\n"
    assert m.take_requests() == [EndCall("s7-timeout")]
    assert m.mode is Mode.COMMAND


def test_a_key_aborts_dialling_but_a_trailing_lf_does_not():
    m = quiet_echo(HayesModem())
    run(m, "ATD123\r\n")
    assert m.mode is Mode.DIALLING
    assert run(m, "x") == b"\r\nNO CARRIER\r\n"
    assert EndCall("abort-key") in m.take_requests()


def test_dl_redials_the_last_number():
    m = quiet_echo(HayesModem())
    run(m, "ATDT5551234\r")
    m.call_failed("BUSY", 1.0)
    m.take_requests()
    run(m, "ATDL\r")
    assert m.take_requests() == [PlaceCall("5551234", 0.0)]


# ---------------------------------------------------------------- +++ escape, ATO, ATH

def test_escape_needs_guard_before_and_after():
    m = connected(now=0.0)
    run(m, "data", 5.0)
    run(m, "+++", 6.0)                     # 1 s of silence before (S12=50 -> 1 s)
    m.tick(6.5)
    assert m.mode is Mode.DATA               # guard after not over yet
    m.tick(7.0)
    assert m.mode is Mode.ONLINE_COMMAND
    assert m.take_output() == b"\r\nOK\r\n"
    assert ("escape", {"how": "+++"}) in m.take_events()


def test_escape_characters_one_by_one_within_the_guard():
    m = connected(now=0.0)
    for t in (2.0, 2.01, 2.02):
        run(m, "+", t)
    m.tick(3.02)
    assert m.mode is Mode.ONLINE_COMMAND


def test_too_short_guard_before_gives_no_escape():
    m = connected(now=0.0)
    run(m, "x", 5.0)
    run(m, "+++", 5.5)                     # only 0.5 s of silence
    m.tick(10.0)
    assert m.mode is Mode.DATA
    assert m.take_output() == b""


def test_data_after_the_pluses_cancels_the_escape():
    m = connected(now=0.0)
    run(m, "+++", 5.0)
    run(m, "x", 5.5)
    m.tick(10.0)
    assert m.mode is Mode.DATA


def test_pluses_inside_data_pass_through():
    m = connected(now=0.0)
    m.take_requests()
    run(m, "a+++b", 5.0)
    m.tick(10.0)
    assert m.mode is Mode.DATA
    assert m.take_requests() == [SendToLine(b"a+++b")]


def test_four_pluses_are_not_an_escape():
    m = connected(now=0.0)
    run(m, "++++", 5.0)
    m.tick(10.0)
    assert m.mode is Mode.DATA


def test_s12_shorter_guard_and_s2_disabling():
    m = connected(now=0.0)
    m.active.s[12] = 10                      # 0.2 s
    run(m, "+++", 0.3)
    m.tick(0.5)
    assert m.mode is Mode.ONLINE_COMMAND
    m = connected(now=0.0)
    m.active.s[2] = 200                      # > 127: escape disabled
    run(m, "+++", 5.0)
    m.tick(10.0)
    assert m.mode is Mode.DATA


def test_ato_returns_online_and_ath_hangs_up():
    m = connected(now=0.0)
    run(m, "+++", 2.0)
    m.tick(3.0)
    m.take_output()
    assert run(m, "ATO\r", 4.0) == b"\r\nCONNECT 33600\r\n"
    assert m.mode is Mode.DATA
    run(m, "+++", 6.0)
    m.tick(7.0)
    m.take_requests()
    assert run(m, "ATH\r", 8.0).endswith(b"\r\nOK\r\n")
    assert m.take_requests() == [EndCall("ath")]
    assert m.mode is Mode.COMMAND and not m.off_hook


def test_data_from_the_line_is_not_shown_in_online_command_mode():
    m = connected(now=0.0)
    run(m, "+++", 2.0)
    m.tick(3.0)
    m.take_output()
    m.line_data(b"lost")
    assert m.take_output() == b""
    assert m.discarded_line_bytes == 4


def test_carrier_loss_gives_no_carrier():
    m = connected()
    m.carrier_lost(1.0)
    assert m.take_output() == b"\r\nNO CARRIER\r\n"
    assert m.mode is Mode.COMMAND


# ---------------------------------------------------------------- incoming calls

def test_ring_and_auto_answer_after_s0_rings():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=2\r")
    m.incoming_ring(1.0)
    assert m.take_output() == b"\r\nRING\r\n"
    assert m.take_requests() == [] and m.active.s[1] == 1
    m.incoming_ring(2.0)
    assert m.take_output() == b"\r\nRING\r\n"
    assert m.take_requests() == [AnswerCall()]
    assert m.mode is Mode.ANSWERING
    m.call_connected(33600, 3.0)
    assert m.take_output() == b"\r\nCONNECT 33600\r\n"
    assert m.active.s[1] == 0


def test_no_auto_answer_with_s0_zero_but_ata_answers():
    m = quiet_echo(HayesModem())
    for t in range(5):
        m.incoming_ring(float(t))
    assert m.take_requests() == [] and m.active.s[1] == 5
    run(m, "ATA\r", 6.0)
    assert m.take_requests() == [AnswerCall()]


def test_ata_without_a_call_times_out_with_no_carrier():
    m = quiet_echo(HayesModem())
    run(m, "ATS7=2A\r", 0.0)
    assert m.take_requests() == []
    m.tick(2.0)
    assert m.take_output() == b"\r\nNO CARRIER\r\n"


def test_caller_giving_up_stops_ringing():
    m = quiet_echo(HayesModem())
    m.incoming_ring(0.0)
    m.incoming_ended(1.0)
    assert not m.ringing and m.active.s[1] == 0


def test_busy_modem_is_not_free_for_incoming():
    m = connected()
    assert not m.free_for_incoming()


# ---------------------------------------------------------------- DTR (&D0-&D3), as events

def test_dtr_drop_d0_is_ignored():
    m = connected()
    m.active.dtr_mode = 0
    m.set_dtr(False, 1.0)
    assert m.mode is Mode.DATA and m.take_requests() == []


def test_dtr_drop_d1_goes_to_online_command_mode():
    m = connected()
    m.active.dtr_mode = 1
    m.set_dtr(False, 1.0)
    assert m.mode is Mode.ONLINE_COMMAND
    assert m.take_output() == b"\r\nOK\r\n"
    assert m.take_requests() == []


def test_dtr_drop_d2_hangs_up():
    m = connected()
    m.set_dtr(False, 1.0)                    # factory &D2
    assert m.mode is Mode.COMMAND and not m.off_hook
    assert m.take_requests() == [EndCall("dtr")]
    assert m.take_output() == b"\r\nOK\r\n"


def test_dtr_drop_d3_hangs_up_and_resets_to_the_stored_profile():
    m = quiet_echo(HayesModem())
    run(m, "ATS0=0&D3&W\r")                  # stored: no auto-answer, &D3
    run(m, "AT&C0S0=1\r")                    # the callback init
    run(m, "ATD123\r")
    m.call_connected(33600, 1.0)
    m.take_requests()
    m.set_dtr(False, 2.0)
    assert m.take_requests() == [EndCall("dtr")]
    assert m.mode is Mode.COMMAND
    assert m.active.s[0] == 0 and m.active.dcd_mode == 1 and not m.active.echo
    events = m.take_events()
    assert ("reset", {"profile": "stored", "how": "dtr"}) in events


def test_dtr_drop_d3_resets_even_without_a_call():
    m = quiet_echo(HayesModem())
    run(m, "AT&D3&W\r")
    run(m, "ATS0=1\r")
    m.set_dtr(False, 1.0)
    assert m.active.s[0] == 0
    assert m.take_output() == b""            # nothing aborted, nothing to say


def test_dtr_off_blocks_ring_and_auto_answer_with_d2():
    m = quiet_echo(HayesModem(has_dtr=True))
    run(m, "ATS0=1\r")
    m.set_dtr(False, 0.0)
    m.incoming_ring(1.0)
    assert m.take_output() == b"" and m.take_requests() == []
    m.set_dtr(True, 2.0)
    m.incoming_ring(3.0)
    assert m.take_requests() == [AnswerCall()]


def test_dtr_drop_aborts_dialling():
    m = quiet_echo(HayesModem())
    run(m, "ATD123\r")
    m.take_requests()
    m.set_dtr(False, 1.0)
    assert m.take_requests() == [EndCall("dtr")]
    assert m.mode is Mode.COMMAND


def test_snapshot_reports_state():
    m = connected()
    snap = m.snapshot()
    assert snap["mode"] == "data" and snap["hook"] == "off" and snap["speed"] == 33600
    assert snap["s"][7] == 50 and snap["stored"]["dtr_mode"] == 2 and snap["dtr"] is None


def test_profile_copy_is_independent():
    p = factory_profile()
    q = p.copy()
    q.s[0] = 9
    q.extras["M"] = 1
    assert p.s[0] == 0 and p.extras == {}


# ---------------------------------------------------------------- any split, same modem

_LINES = st.lists(st.sampled_from([
    b"AT\r", b"ATE0\r", b"ATE1\r", b"ATV0\r", b"ATV1\r", b"ATQ0\r", b"ATS0=1\r", b"ATS7?\r",
    b"AT&V\r", b"ATI3\r", b"noise\r", b"\n", b"A/", b"ATJ\r", b"AT&F\\Q3\\V1&D3M1#CC1\r",
    b"at&w\r", b"ATZ\r", b"ATX\x08\r"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_LINES, st.data())
def test_any_split_of_the_input_gives_the_same_output(lines, data):
    stream = b"".join(lines)
    whole = HayesModem()
    expected = run(whole, stream)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=len(stream) + 1)))
    split = HayesModem()
    out = b""
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        out += run(split, stream[start:end])
    assert out == expected
    assert split.snapshot() == whole.snapshot()
