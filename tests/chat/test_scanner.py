"""The quiet expect loop (scanner.py): compiled and Python, never a byte past the match."""
from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pppup.chat import scanner
from pppup.chat.channel import Channel, LineClosed
from pppup.chat.engine import ChatOptions, run_chat
from pppup.chat.matcher import MAX_READ, NO_MATCH, SYMBOLS, Matcher, naive_first_completion
from pppup.chat.script import parse_argv
from pppup_sim.direct import DirectLine, Send

ABORTS = [b"BUSY", b"NO CARRIER", b"NO DIALTONE", b"NO ANSWER", b"ERROR", b"VOICE", b"DELAYED",
          b"RINGING\r\n\r\nRINGING", b"Login incorrect", b"NO DIALOUT", b"LINE IN USE"]


@pytest.fixture(params=["compiled", "python"])
def scan_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with the compiled loop and once with the Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(scanner, "_compiled", False)
    else:
        assert scanner.compiled_scanner() is not None
    return request.param


def test_the_compiled_scanner_is_built() -> None:
    """A build that lost pppup.chat._scan would silently run the slower fallback."""
    from pppup.chat import _scan
    assert hasattr(_scan.lib, "pppup_chat_scan")


alphabet = st.sampled_from(b"ABab\x00\xc1")
# Now and then empty (it completes on the first byte), mostly not.
pattern = st.lists(st.sampled_from(b"ABab\xc1"), max_size=4).map(bytes)
stream = st.lists(alphabet, max_size=80).map(bytes)


@settings(max_examples=200)
@given(st.lists(pattern, min_size=1, max_size=6))
def test_tables_agree_with_the_lazy_automaton(patterns: list[bytes]) -> None:
    matcher = Matcher(patterns)
    next_states, distance, winner = matcher.tables()
    states = len(distance)
    assert len(next_states) == states * SYMBOLS and len(winner) == states
    for state in range(states):
        for byte in range(256):
            assert next_states[state * SYMBOLS + (byte & 0x7F)] == matcher._step(state, byte)


def scan_pipe(patterns: list[bytes], data: bytes, history: bytes = b"") -> tuple[int | str, bytes]:
    """Scan `data` from a pipe whose writer has closed; returns (outcome, what stayed in the pipe)."""
    matcher = Matcher(patterns)
    matcher.feed(history)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        os.close(write_end)
        write_end = -1
        channel = Channel(read_end)

        def otherwise(size: int) -> bytes | str:
            try:
                return channel.read(size, time.monotonic() + 5) or "timeout"
            except LineClosed:
                return "eof"

        outcome = scanner.wait_quietly(channel, matcher, time.monotonic() + 5, otherwise)
        os.set_blocking(read_end, False)
        left = bytearray()
        while chunk := os.read(read_end, 65536):
            left += chunk
        return outcome, bytes(left)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


# The fixture only chooses the loop; it holds no state between examples.
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(pattern, min_size=1, max_size=6), stream, stream)
def test_stops_exactly_where_chat_stops(scan_path: str, patterns: list[bytes], history: bytes,
                                         data: bytes) -> None:
    """Same winner as chat's per-byte rule, and every byte after the match is still queued."""
    if Matcher(patterns).feed(history)[1] != NO_MATCH:
        return
    consumed, winner = naive_first_completion(patterns, data, history)
    outcome, left = scan_pipe(patterns, data, history)
    if winner == NO_MATCH:
        assert (outcome, left) == ("eof", b"")
    else:
        assert (outcome, left) == (winner, data[consumed:])


def near_misses(size: int, seed: int) -> bytes:
    """Noise made of cut-short or misspelt abort strings, with no complete one."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        word = rng.choice(ABORTS)
        at = rng.randrange(len(word))
        out += word[:at] + b"#" + rng.choice([b"\r\n", b" ", b""])
    return bytes(out)


@pytest.mark.parametrize("size", [MAX_READ - 3, 5 * MAX_READ + 17, 50_000])
def test_long_noise_in_many_bursts(scan_path: str, size: int) -> None:
    noise = near_misses(size, size)
    patterns = [b"CONNECT"] + ABORTS
    assert naive_first_completion(patterns, noise)[1] == NO_MATCH
    assert scan_pipe(patterns, noise + b"CONNECT 33600\r\nPPP") == (0, b" 33600\r\nPPP")
    assert scan_pipe(patterns, noise + b"NO CARRIER\r\nCONNECT") == (2, b"\r\nCONNECT")


@pytest.mark.parametrize("final", [b"CONNECT", b"NO CARRIER"])
def test_on_a_real_tty_the_rest_stays_queued(scan_path: str, final: bytes) -> None:
    """The engine's quiet path on a pty, with noise arriving in many kernel bursts."""
    words = [word for abort in ABORTS for word in ("ABORT", abort.decode())] + ["CONNECT", ""]
    noise = near_misses(40_000, 7)
    with DirectLine() as line:
        line.start([Send(noise + final + b"\r\n~\x7d\x23\xc0\x21")])
        fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY)
        try:
            result = run_chat(parse_argv(words).steps, Channel(fd), ChatOptions(pacing=False))
            time.sleep(0.2)               # let the remote's last bytes reach the queue
            leftover = line.leftover()
        finally:
            os.close(fd)
        line.stop()
    assert result.code == (0 if final == b"CONNECT" else 4 + ABORTS.index(final))
    assert leftover == b"\r\n~\x7d\x23\xc0\x21"
