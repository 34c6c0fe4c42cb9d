"""The command-line splitter: shapes of commands, not their meaning."""
from pppup_sim.cmdline import Basic, Dial, Extended, Register, Unparsable, parse


def test_basic_commands_with_and_without_values():
    assert parse("E0V1Q0H") == [Basic("", "E", 0), Basic("", "V", 1), Basic("", "Q", 0),
                                Basic("", "H", None)]


def test_case_spaces_and_control_characters_are_ignored():
    assert parse(" e 1 v0\t") == [Basic("", "E", 1), Basic("", "V", 0)]


def test_prefixed_families():
    assert parse("&F\\Q3\\V1&D3M1#CC1%C0") == [
        Basic("&", "F", None), Basic("\\", "Q", 3), Basic("\\", "V", 1), Basic("&", "D", 3),
        Basic("", "M", 1), Basic("#", "CC", 1), Basic("%", "C", 0)]


def test_registers_set_query_select():
    assert parse("S0=1S7?S12") == [Register(0, "set", 1), Register(7, "query"),
                                   Register(12, "select")]
    assert parse("S7?=30?") == [Register(7, "query"), Register(None, "set", 30),
                                Register(None, "query")]
    assert parse("S7=") == [Register(7, "set", 0)]


def test_dial_takes_the_rest_of_the_line():
    assert parse("&C0S0=1DT5551234") == [Basic("&", "C", 0), Register(0, "set", 1),
                                         Dial("T5551234", False)]
    assert parse("DT555,W1234E1") == [Dial("T555,W1234E1", False)]


def test_dial_semicolon_returns_to_command_mode_and_continues():
    assert parse("DT555;H0") == [Dial("T555", True), Basic("", "H", 0)]


def test_extended_commands():
    assert parse("+FCLASS=0;+GMI;+FCLASS?;+MS=?") == [
        Extended("FCLASS", "set", "0"), Extended("GMI", "exec"),
        Extended("FCLASS", "query"), Extended("MS", "test")]


def test_unparsable_rest_is_reported_at_the_first_bad_character():
    assert parse("E1!V1") == [Basic("", "E", 1), Unparsable("!V1")]
    assert parse("S=1") == [Unparsable("S=1")]
    assert parse("&1") == [Unparsable("&1")]
    assert parse("+") == [Unparsable("+")]


def test_non_ascii_does_not_shift_positions():
    # latin-1 bytes must not change length when upper-cased (dial text is cut by position)
    assert parse("\xdfE1") == [Unparsable("\xdfE1")]
    assert parse("D\xff12") == [Dial("\xff12", False)]


def test_empty_body():
    assert parse("") == []
