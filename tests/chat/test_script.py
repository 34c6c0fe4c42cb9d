"""chat script parsing (chat.md sections 2 and 3): tokens, pairing, sub-expects, errors."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, strategies as st

from pppup.chat.errors import ChatScriptError
from pppup.chat.script import (Expect, Keyword, Send, file_tokens, iter_file_steps, parse_argv,
                               parse_bytes, split_expect)


def tokens(data: bytes) -> list[bytes]:
    return [token.text for token in file_tokens(io.BytesIO(data), "t")]


@pytest.mark.parametrize("data,expected", [
    (b"'' AT\nOK ATH\n", [b"", b"AT", b"OK", b"ATH"]),
    (b"# comment\n # x\n", [b"#", b"x"]),
    (b'"AT\\"Y" \'a\'\'b\' "AB"CD', [b'AT\\"Y', b"a", b"b", b"AB", b"CD"]),
    (b"ab'c d'", [b"ab'c", b"d'"]),
    (b"'' ATZ\r\n", [b"", b"ATZ\r"]),                      # CRLF: the CR stays
    (b"a\tb  c", [b"a", b"b", b"c"]),
    (b"'' AT\0Z rest\nOK", [b"", b"AT", b"OK"]),           # a NUL ends the piece
    (b"'a b' \"\"", [b"a b", b""]),
])
def test_file_tokens(data: bytes, expected: list[bytes]) -> None:
    assert tokens(data) == expected


def test_long_lines_are_split_into_1023_byte_pieces() -> None:
    line = b"'' " + b"A" * 1100 + b" OK\n"
    assert tokens(line) == [b"", b"A" * 1020, b"A" * 80, b"OK"]
    # a continuation piece starting with '#' is a comment, like a line
    assert tokens(b"x" * 1023 + b"#comment OK\nATH\n") == [b"x" * 1023, b"ATH"]


def test_positions_and_chat_line_numbers() -> None:
    found = list(file_tokens(io.BytesIO(b"'' AT\n  OK  ATH\n"), "t"))
    assert [(t.line, t.column, t.chat_line) for t in found] == [(1, 1, 1), (1, 4, 1), (2, 3, 2), (2, 7, 2)]
    long = list(file_tokens(io.BytesIO(b"a" * 1030 + b" b\n"), "t"))
    assert [(t.line, t.column, t.chat_line) for t in long] == [(1, 1, 1), (1, 1024, 2), (1, 1032, 2)]


def test_unterminated_quote_reports_file_line_column_and_chats_text() -> None:
    with pytest.raises(ChatScriptError) as caught:
        parse_bytes(b"'' AT\nOK  'ATH\n", "isp.chat")
    error = caught.value
    assert str(error).startswith("isp.chat:2:5: unterminated quote")
    assert error.chat_message == "unterminated quote (line 2)"
    assert error.code == 3          # Code.CONFIG


def test_steps_run_while_read_stop_at_the_error() -> None:
    steps = iter_file_steps(io.BytesIO(b"'' AT\nOK 'ATH\n"), "t")
    assert isinstance(next(steps), Expect)
    assert isinstance(next(steps), Send)
    assert isinstance(next(steps), Expect)
    with pytest.raises(ChatScriptError):
        next(steps)


def test_pairing_keywords_and_sends() -> None:
    script = parse_argv(["ABORT", "BUSY", "", "AT", "OK-AT-OK", "ABORT", "SAY"])
    kinds = [type(step).__name__ for step in script.steps]
    assert kinds == ["Keyword", "Expect", "Send", "Expect", "Send"]
    assert script.steps[0] == Keyword("ABORT", script.steps[0].argument)
    assert script.steps[0].argument.text == b"BUSY"
    assert script.steps[3].pieces == (b"OK", b"AT", b"OK")
    assert script.steps[4].token.text == b"ABORT"          # a keyword in send position is text


def test_keyword_is_compared_exactly_after_quote_removal() -> None:
    steps = parse_bytes(b"'ABORT' BUSY abort x 'ABORT\\c' y").steps
    assert isinstance(steps[0], Keyword)
    assert isinstance(steps[1], Expect) and steps[1].pieces == (b"abort",)
    assert isinstance(steps[3], Expect) and steps[3].pieces == (b"ABORT\\c",)


def test_a_keyword_without_argument_at_the_end_is_dropped() -> None:
    assert [type(s) for s in parse_argv(["", "AT", "TIMEOUT"]).steps] == [Expect, Send]


@pytest.mark.parametrize("text,pieces", [
    (b"", ()),
    (b"-", (b"",)),
    (b"OK", (b"OK",)),
    (b"OK-", (b"OK",)),
    (b"OK--", (b"OK", b"")),
    (b"ogin:--ogin:", (b"ogin:", b"", b"ogin:")),
    (b"-AT-OK", (b"", b"AT", b"OK")),
    (rb"NO\-CARRIER-AT", (rb"NO\-CARRIER", b"AT")),
    (b"a\\", (b"a\\",)),
])
def test_split_expect(text: bytes, pieces: tuple[bytes, ...]) -> None:
    assert split_expect(text) == pieces


def test_steps_are_immutable() -> None:
    step = parse_argv(["OK", "AT"]).steps[0]
    with pytest.raises(AttributeError):
        step.pieces = ()                    # type: ignore[misc]


plain_token = st.binary(min_size=1, max_size=20).filter(
    lambda b: not any(c in b for c in b" \t\n\0'\"#") and not b.startswith(b"\\"))
quotable = st.binary(max_size=20).filter(lambda b: not any(c in b for c in b"\n\0'\\"))


@given(st.lists(st.one_of(plain_token.map(lambda t: (t, t)),
                          quotable.map(lambda t: (b"'" + t + b"'", t))), max_size=12),
       st.lists(st.sampled_from([b" ", b"\t", b"\n", b"  "]), min_size=12, max_size=12))
def test_tokens_round_trip(words: list[tuple[bytes, bytes]], separators: list[bytes]) -> None:
    text = b"".join(written + separators[i] for i, (written, _) in enumerate(words))
    if len(text) > 1000:
        return      # keep within one fgets piece per line
    assert tokens(text) == [value for _, value in words]


@given(st.lists(st.binary(max_size=6).filter(lambda b: b"-" not in b and b"\\" not in b),
                min_size=1, max_size=6))
def test_split_expect_round_trip(pieces: list[bytes]) -> None:
    joined = b"-".join(pieces)
    expected = list(pieces)
    if expected and expected[-1] == b"":
        expected.pop()                        # strtok drops an empty remainder
    assert list(split_expect(joined)) == expected
