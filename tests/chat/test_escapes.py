"""chat's two-stage escape processing (chat.md section 5), table-driven."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from pppup.chat.escapes import (BREAK, PAUSE, SLEEP, EscapeContext, atoi, character, clean,
                                send_operations, visible)

PLAIN = EscapeContext()


@pytest.mark.parametrize("raw,expected", [
    (rb"a\bb", b"a\bb\r"),
    (rb"\n\r\s\t", b"\n\r \t\r"),
    (rb"AT\c", b"AT"),                      # \c at the very end: no CR
    (rb"\c", b""),
    (rb"\c\c", b"c"),
    (rb"ab\cde", b"abcde\r"),
    (b"", b"\r"),
    (rb"\d\p\K\\", b"\\d\\p\\K\\\\\r"),      # marked for stage 2
    (rb"x\y\"\-", b"x\\y\\\"\\-\r"),          # unknown escapes keep their backslash
    (rb"\1011", b"A1\r"),                   # octal: 1 to 3 digits
    (rb"\777", b"\xff\r"),                  # kept to 8 bits
    (rb"\0", b"\\\x00\r"),                  # NUL marked for stage 2
    (rb"\134", b"\\\\\r"),                  # an octal backslash is marked too
    (rb"\N", b"\\\x00\r"),
    (b"^A^?^^^\\", b"\x01\x1f\x1e\x1c\r"),
    (b"a^@b^ c", b"abc\r"),                 # a control value of 0 is dropped
    (b"x^", b"x^\r"),                       # a caret at the very end is literal
    (b"AT\\", b"AT\\\\\r"),                 # a backslash at the end is sent
    (rb"\T\U", b"\\T\\U\r"),               # without -T/-U: the letters, marked
    (rb"a\qb", b"ab\r"),
])
def test_send_strings(raw: bytes, expected: bytes) -> None:
    assert clean(raw, True, PLAIN).buffer == expected


@pytest.mark.parametrize("raw,expected", [
    (rb"O\qK\r\n", b"OK\r\n"),
    (rb"\d\p\K\N\c", b"dpKNc"),
    (rb"\101\0B", b"AB"),                   # an octal 0 is dropped from expects
    (rb"\T", b"\\T"),                       # two bytes, never substituted
    (b"OK\\", b"OK"),                       # a trailing backslash is dropped
    (b"^M", b"\r"),
    (rb"\\", b"\\"),
    (rb"\$X", b"$X"),
])
def test_expect_strings(raw: bytes, expected: bytes) -> None:
    assert clean(raw, False, PLAIN).buffer == expected


def test_quiet_flag_and_text_view() -> None:
    cleaned = clean(rb"\qab\Ncd", True, PLAIN)
    assert cleaned.quiet
    assert cleaned.text == b"ab\\"            # what the log and SAY see
    assert cleaned.buffer == b"ab\\\x00cd\r"  # what stage 2 walks


def test_phone_numbers_and_environment() -> None:
    context = EscapeContext(phone=b"5551234", phone2=b"9", use_env=True,
                            environ={b"A": b"x\\dy", b"B_2": b"z"})
    assert clean(rb"ATDT\T,\U$A$B_2$NONE$", True, context).buffer == b"ATDT5551234,9x\\dyz\r"
    assert clean(rb"\T", False, context).buffer == b"\\T"
    without_env = EscapeContext(environ={b"A": b"x"})
    assert clean(b"$A", True, without_env).buffer == b"$A\r"


def test_send_operations_walk_the_markers() -> None:
    operations = send_operations(clean(rb"A\dB\pC\KD\\E\NF\c", True, PLAIN))
    assert operations == [b"A", SLEEP, b"B", PAUSE, b"C", BREAK, b"D\\E\x00F"]
    # text inserted by -T is raw: a backslash in it still acts when written
    context = EscapeContext(phone=b"1\\d2")
    assert send_operations(clean(rb"\T\c", True, context)) == [b"1", SLEEP, b"2"]


def test_visible_and_character() -> None:
    assert visible(b"a\r\t\x7f\xff\x81") == b"a^M\t^?M-^?M-^A"
    assert [character(byte) for byte in (0, 13, 65, 127, 0x81)] == [b"^@", b"^M", b"A", b"^?", b"M-^A"]


@pytest.mark.parametrize("text,value", [
    (b"45", 45), (b"  -3x", -3), (b"x5", 0), (b"", 0), (b"+7", 7),
    (b"4294967297", 1), (b"99999999999999999999", -1),
])
def test_atoi_like_c(text: bytes, value: int) -> None:
    assert atoi(text) == value


safe_text = st.binary(max_size=40).filter(lambda b: not any(c in b for c in b"\\^$"))


@given(safe_text)
def test_text_without_escapes_is_unchanged(raw: bytes) -> None:
    assert clean(raw, False, PLAIN).buffer == raw
    assert clean(raw, True, PLAIN).buffer == raw + b"\r"


@given(st.binary(max_size=60))
def test_expect_patterns_never_contain_nul(raw: bytes) -> None:
    raw = raw.replace(b"\0", b"")       # script tokens are C strings
    assert b"\0" not in clean(raw, False, PLAIN).buffer
