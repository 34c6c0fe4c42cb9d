"""The importers' shared pieces: pppd's words, chat command lines, dial strings and names, the report."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppup.chat.script import parse_argv, parse_bytes
from pppup.importers.chat_call import NotChat, parse_connect, words_as_file
from pppup.importers.modem_strings import (DialString, line_name_for, name_from, split_dial_string, valid_name,
                                           without_callback_setup)
from pppup.importers.pppd_words import find_secret, quote_word, read_secrets, read_words, split_options
from pppup.importers.report import Report


def texts(source: str) -> list[str]:
    return [word.text for word in read_words(source)]


@pytest.mark.parametrize("source, words", [
    ("user \"a b\"  # comment\nnoauth\n", ["user", "a b", "noauth"]),
    ("connect 'chat -f x'\r\n/dev/ttyS0\r\n", ["connect", "chat -f x", "/dev/ttyS0"]),
    ("name ab#cd\n", ["name", "ab"]),                              # '#' ends a word and comments
    ("name 'ab#cd'\n", ["name", "ab#cd"]),
    ('x a"b c"d\n', ["x", "ab cd"]),                               # quotes open and close inside a word
    ("x \\101\\x42\\sC\\t\n", ["x", "AB C\t"]),                     # octal, hex, \s, \t
    ('x "q\\"q"\n', ["x", 'q"q']),
    ("idle \\\n 30\n", ["idle", "30"]),                             # backslash-newline joins lines
    ("# only a comment", []),
])
def test_words_as_pppd_reads_them(source, words):
    assert texts(source) == words


def test_word_lines_and_first_words():
    words = read_words("a b\n\n  c 'd\ne' f\ng\n")
    assert [(w.text, w.line, w.first) for w in words] == [
        ("a", 1, True), ("b", 1, False), ("c", 3, True), ("d\ne", 3, False), ("f", 4, False), ("g", 5, True)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40))
def test_quote_word_gives_back_exactly_the_word(text):
    assert texts(quote_word(text)) == [text]


def test_options_with_and_without_arguments():
    uses = split_options(read_words("/dev/ttyS1 38400 10.0.0.1: idle 30 noauth frobnicate crtscts ttyUSB0 user\n"))
    assert [(u.kind, u.name, u.argument) for u in uses] == [
        ("device", "/dev/ttyS1", None), ("speed", "38400", None), ("addresses", "10.0.0.1:", None),
        ("option", "idle", "30"), ("option", "noauth", None), ("unknown", "frobnicate", None),
        ("option", "crtscts", None), ("device", "ttyUSB0", None), ("unknown", "user", None)]


def test_secrets_are_found_for_the_remote_name_first():
    entries = read_secrets('# client server secret\nbob * "star pw"\nbob isp "isp pw" 10.0.0.1\n'
                           "carol * c\ndave\n\"e f\" * g\n")
    assert [(e.client, e.server, e.secret) for e in entries] == [
        ("bob", "*", "star pw"), ("bob", "isp", "isp pw"), ("carol", "*", "c"), ("e f", "*", "g")]
    assert find_secret(entries, "bob", "isp").secret == "isp pw"
    assert find_secret(entries, "bob", None).secret == "star pw"
    assert find_secret(entries, "bob", "other").secret == "star pw"
    assert find_secret(entries, "zed", None) is None


@pytest.mark.parametrize("command, file, words, phone, phone2, timeout, flags", [
    ("/usr/sbin/chat -v -f /etc/chatscripts/pap -T 5551234", "/etc/chatscripts/pap", (), "5551234", None, None, "v"),
    ("chat -vf/etc/chatscripts/x", "/etc/chatscripts/x", (), None, None, None, "v"),
    ("exec chat -t30 -T '555 1234' -U pw '' ATZ OK ATDT\\\\T", None, ("", "ATZ", "OK", "ATDT\\T"),
     "555 1234", "pw", 30, ""),
    ("pppup-chat -s -S -- -dash-word send", None, ("-dash-word", "send"), None, None, None, "sS"),
    ("chat -f chatscripts/rel", "/chatscripts/rel", (), None, None, None, ""),
])
def test_chat_command_lines(command, file, words, phone, phone2, timeout, flags):
    call = parse_connect(command)
    assert (call.script_file, call.words, call.phone, call.phone2, call.timeout, call.flags) == \
        (file, words, phone, phone2, timeout, flags)


@pytest.mark.parametrize("command, why", [
    ("chat -f x | logger", "shell command line"), ("/etc/ppp/redialer", "not chat"),
    ("chat -T $(cat /etc/number) -f x", "shell command line"), ("chat -f $SCRIPT", "shell variable"),
    ("chat -q", "no option -q"), ("chat -f x '' ATZ", "both -f and a script"), ("chat -t soon", "not a number"),
    ("chat 'unclosed", "cannot split"), ("", "empty"),
])
def test_commands_that_are_not_one_plain_chat(command, why):
    with pytest.raises(NotChat, match=why):
        parse_connect(command)


def steps(script) -> list[tuple[str, bytes]]:
    return [(type(s).__name__, s.argument.text if type(s).__name__ == "Keyword" else s.token.text)
            for s in script.steps]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
                min_size=1, max_size=10))
def test_command_line_words_become_a_file_with_the_same_steps(words):
    text = words_as_file(tuple(words))
    impossible = any(("'" in word and '"' in word) or word.endswith("\\") for word in words)
    if text is None:
        assert impossible, words
        return
    assert steps(parse_bytes(text.encode())) == steps(parse_argv(words))


@pytest.mark.parametrize("dial, result", [
    ("ATDT", DialString("ATDT", None)), ("atdp", DialString("ATDP", None)), ("ATD", DialString("ATD", None)),
    ("AT&C0S0=1DT", DialString("ATDT", "AT&C0S0=1")), ("ATX3 DT ", DialString("ATDT", "ATX3")),
    ("AT&D2DT", DialString("ATDT", "AT&D2")), ("ATZ", None), ("DT", None),
])
def test_dial_strings(dial, result):
    assert split_dial_string(dial) == result


def test_callback_set_up_is_taken_out_of_extra_commands():
    assert without_callback_setup("AT&C0S0=1") is None
    assert without_callback_setup("AT&C0S0=1M0") == "ATM0"
    assert without_callback_setup("AT&C1S0=0") == "AT&C1S0=0"


@pytest.mark.parametrize("text, name", [("My ISP (home)", "my-isp-home"), ("Uni Login", "uni-login"),
                                        ("..x..", "x"), ("Ärger", "rger"), ("", "fallback"), ("---", "fallback"),
                                        ("a" * 40, "a" * 32)])
def test_names_from_free_text(text, name):
    assert name_from(text, "fallback") == name and valid_name(name)


def test_line_names_from_devices():
    assert [line_name_for(d) for d in ("/dev/ttyS0", "/dev/modem", "/dev/usb/ttyUSB0", "/dev/serial/by-id/usb-U.S._"
                                       "Robotics_USB_Modem_0000001-if00")] == \
        ["ttys0", "modem", "ttyusb0", "usb-u.s._robotics_usb_modem_0000"]


def test_the_report_orders_by_file_and_line_and_kind():
    report = Report()
    report.note("b:2", "n2")
    report.dropped("a:10", "d10")
    report.note("", "whole")
    report.note("a:9", "n9")
    report.fix("z:1", "f1")
    assert report.render().splitlines() == [
        "Must be fixed before the account works (1):", "  - z:1: f1",
        "Not carried over (1):", "  - a:10: d10",
        "Carried over with changes (3):", "  - a:9: n9", "  - b:2: n2", "  - whole"]
