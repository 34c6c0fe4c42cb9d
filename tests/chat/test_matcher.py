"""The matcher: chat's rules, and never reading past a possible completion."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pppup.chat.matcher import NO_MATCH, Matcher, naive_first_completion


def test_expect_wins_a_tie_then_the_lowest_abort_index() -> None:
    assert Matcher([b"ERROR", b"ERROR"]).feed(b"xERROR") == (6, 0)
    assert Matcher([b"CONNECT", b"CARRIER", b"NO CARRIER"]).feed(b"NO CARRIER") == (10, 1)
    assert Matcher([b"CONNECT", b"NO CARRIER", b"CARRIER"]).feed(b"NO CARRIER") == (10, 1)


def test_the_first_completion_wins_whatever_the_index() -> None:
    assert Matcher([b"CONNECT 9600", b"CONNECT"]).feed(b"CONNECT 9600") == (7, 1)


def test_empty_pattern_completes_on_the_first_byte() -> None:
    assert Matcher([b"OK", b""]).feed(b"xOK") == (1, 1)
    assert Matcher([b"K", b""]).feed(b"K") == (1, 0)


def test_bit_seven_is_stripped_and_high_patterns_never_match() -> None:
    assert Matcher([b"OK"]).feed(b"\xcf\xcb") == (2, 0)
    assert Matcher([b"A\xc1", b"B"]).feed(b"A\xc1A\x41B") == (5, 1)


def test_nul_breaks_a_match() -> None:
    assert Matcher([b"OK"]).feed(b"O\0K") == (3, NO_MATCH)


def test_safe_size_is_the_distance_to_the_nearest_possible_completion() -> None:
    matcher = Matcher([b"CONNECT", b"BUSY"])
    assert matcher.safe_size() == 4
    matcher.feed(b"CONNEC")
    assert matcher.safe_size() == 1
    matcher.feed(b"x")
    assert matcher.safe_size() == 4
    matcher.feed(b"BU")
    assert matcher.safe_size() == 2
    assert Matcher([]).safe_size() > 1000          # nothing can match: read freely


alphabet = st.sampled_from(b"ABab\x00\xc1")
# Now and then empty (it completes on the first byte), mostly not.
pattern = st.lists(st.sampled_from(b"ABab\xc1"), max_size=4).map(bytes)
stream = st.lists(alphabet, max_size=60).map(bytes)


@settings(max_examples=400)
@given(st.lists(pattern, min_size=1, max_size=6), stream, stream)
def test_agrees_with_chats_naive_rule(patterns: list[bytes], history: bytes, data: bytes) -> None:
    matcher = Matcher(patterns)
    consumed, winner = matcher.feed(history)
    if winner != NO_MATCH:
        return
    assert matcher.feed(data) == naive_first_completion(patterns, data, history)


@settings(max_examples=400)
@given(st.lists(pattern, min_size=1, max_size=6), stream)
def test_block_reads_stop_exactly_at_the_match(patterns: list[bytes], data: bytes) -> None:
    """Reading safe_size() bytes at a time never takes a byte past the completing one."""
    expected = naive_first_completion(patterns, data)
    matcher = Matcher(patterns)
    position = 0
    outcome = (len(data), NO_MATCH)
    while position < len(data):
        block = data[position:position + matcher.safe_size()]
        winner = matcher.feed_safe(block)
        position += len(block)
        if winner != NO_MATCH:
            outcome = (position, winner)
            break
    assert outcome == expected
