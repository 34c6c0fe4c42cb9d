"""The chat engine as a library, on real ptys whose far end is the simulator's direct line."""
from __future__ import annotations

import os
import threading
import time

import pytest
from hypothesis import given, strategies as st

from pppup.chat import events as ev
from pppup.chat.channel import Channel, LineClosed
from pppup.chat.engine import ChatOptions, run_chat
from pppup.chat.masking import MASK, StreamMasker, mask
from pppup.chat.script import parse_argv
from pppup_sim.direct import DirectLine, Hangup, Send, Sleep, Wait


def run(words: list[str], steps: list, prefill: bytes = b"", **options) -> tuple:
    collected: list[object] = []
    with DirectLine(prefill=prefill) as line:
        line.start(steps)
        fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY)
        try:
            options.setdefault("pacing", False)
            result = run_chat(parse_argv(words).steps, Channel(fd), ChatOptions(**options),
                              collected.append)
            leftover = line.leftover()
        finally:
            os.close(fd)
        line.stop()
        sent = line.sent_by_dte()
    return result, collected, sent, leftover


def test_result_and_progress_events() -> None:
    steps = [Wait(b"AT\r"), Send(b"\r\nOK\r\n"), Wait(b"ATDT1\r"), Send(b"\r\nCONNECT 33600/ARQ\r\nPPP")]
    result, events, sent, leftover = run(
        ["ABORT", "BUSY", "REPORT", "CONNECT", "", "AT", "OK", "ATDT1", "CONNECT", ""], steps)
    assert result.code == 0 and result.ok
    assert result.connect_speed == 33600
    assert result.reports[0].endswith(b"CONNECT 33600/ARQ")
    assert sent == b"AT\rATDT1\r\r"
    kinds = [type(event).__name__ for event in events]
    assert kinds.count("Sending") == 3 and kinds.count("Matched") == 2
    assert ev.ConnectSpeed(33600) in events
    assert leftover == b"\nPPP"      # the report line ended at the CR: nothing else was read


def test_abort_result_names_the_string() -> None:
    result, events, _, leftover = run(["ABORT", "BUSY", "ABORT", "NO CARRIER", "", "ATD", "CONNECT", ""],
                                      [Wait(b"ATD\r"), Send(b"\r\nNO CARRIER\r\nrest")])
    assert (result.code, result.abort_index, result.abort_string) == (5, 1, b"NO CARRIER")
    assert ev.AbortSeen(1, b"NO CARRIER") in events
    assert leftover == b"\r\nrest"


def test_timeout_and_hangup_results() -> None:
    start = time.monotonic()
    result, events, _, _ = run(["TIMEOUT", "1", "OK", "x"], [])
    assert result.code == 3 and 0.9 < time.monotonic() - start < 3
    assert ev.TimedOut(b"OK", "timeout") in events
    result, events, _, _ = run(["OK", "x"], [Sleep(0.2), Hangup()])
    assert result.code == 3
    assert any(isinstance(e, ev.TimedOut) and e.reason in ("eof", "error") for e in events)


def test_pacing_is_chats_10_ms_per_byte_and_can_be_turned_off() -> None:
    steps = [Wait(b"0123456789\r")]
    for pacing, low, high in ((True, 0.09, 1.0), (False, 0.0, 0.05)):
        with DirectLine() as line:
            line.start(steps)
            fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY)
            try:
                run_chat(parse_argv(["", "0123456789"]).steps, Channel(fd), ChatOptions(pacing=pacing))
            finally:
                os.close(fd)
            line.stop()
            times = [t for t, _ in line.timeline()]
        assert low <= times[-1] - times[0] <= high, (pacing, times[-1] - times[0])


def test_secrets_never_reach_an_output_even_when_echoed_back() -> None:
    secret = b"s3cr3t-pw"
    steps = [Send(b"login: "), Wait(b"alice\r"), Send(b"alice\r\nPassword: "), Wait(secret + b"\r"),
             Send(b"s3cr"), Send(b"3t-pw\r\nwelcome\r\n$ ", 0.05)]
    result, events, sent, _ = run(
        ["-", "", "ogin:", "alice", "word:", secret.decode(), "$", "ppp"], steps,
        secrets={secret}, echo=True, verbose=True, trace=True, received_events=True)
    assert result.code == 0
    assert secret + b"\r" in sent                      # it was really sent
    outputs = [getattr(event, name) for event in events for name in ("text", "data", "pattern")
               if isinstance(getattr(event, name, None), bytes)]
    assert outputs and not any(secret in text for text in outputs)
    assert any(MASK in text for text in outputs)
    assert b"".join(e.data for e in events if isinstance(e, ev.Received)).count(MASK) == 1


def test_quiet_send_is_masked_in_events() -> None:
    result, events, sent, _ = run(["", r"\qhidden"], [])
    assert sent == b"hidden\r"
    assert ev.Sending(MASK) in events


def test_channel_deadline_and_hangup() -> None:
    with DirectLine() as line:
        fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY)
        try:
            channel = Channel(fd)
            start = time.monotonic()
            assert channel.read(10, time.monotonic() + 0.3) == b""
            assert 0.28 < time.monotonic() - start < 1.0
            line.start([Send(b"abc"), Sleep(0.1), Hangup()])
            assert channel.read(2, time.monotonic() + 2) == b"ab"
            assert channel.read(10, time.monotonic() + 2) == b"c"
            with pytest.raises((LineClosed, OSError)):
                channel.read(10, time.monotonic() + 2)
        finally:
            os.close(fd)


def test_channel_on_a_pair_of_pipes() -> None:
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    try:
        os.write(write_in, b"hello OK\r\n")
        result = run_chat(parse_argv(["OK", "ATH"]).steps, Channel(read_in, write_out),
                          ChatOptions(pacing=False))
        assert result.code == 0
        assert os.read(read_out, 100) == b"ATH\r"
        assert os.read(read_in, 100) == b"\r\n"       # left for the next reader
    finally:
        for fd in (read_in, write_in, read_out, write_out):
            os.close(fd)


def test_a_timeout_with_input_still_queued_leaves_the_line_non_blocking() -> None:
    """chat's alarm came while it was still reading a flood (not blocked in read()),
    so the O_NONBLOCK its handler set stays: after the sub-send, the next wait
    fails as soon as the queue runs dry instead of waiting for its timeout."""
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    flood_ends = time.monotonic() + 2.3

    def remote() -> None:
        try:
            while time.monotonic() < flood_ends:
                os.write(write_in, b"noise " * 10000)     # keeps the pipe full
            time.sleep(0.4)
            os.write(write_in, b"OK\r\n")
        except OSError:
            pass

    thread = threading.Thread(target=remote, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        result = run_chat(parse_argv(["TIMEOUT", "2", "OK-AT-OK", "x"]).steps,
                          Channel(read_in, write_out), ChatOptions(pacing=False))
        elapsed = time.monotonic() - start
        assert result.code == 3 and elapsed < 2.65       # the OK (at 2.7 s) was never waited for
        assert os.read(read_out, 100) == b"AT\r"
    finally:
        for fd in (read_in, write_out, read_out):
            os.close(fd)
        thread.join(5)
        os.close(write_in)


secret_strategy = st.binary(min_size=2, max_size=8).filter(lambda b: b"?" not in b)


@given(secret_strategy, st.lists(st.binary(max_size=12), max_size=10))
def test_stream_masker_hides_every_occurrence(secret: bytes, pieces: list[bytes]) -> None:
    stream = b"".join(pieces)
    masker = StreamMasker({secret})
    shown = b"".join(masker.feed(piece) for piece in pieces) + masker.flush()
    assert shown == mask(stream, {secret})
    assert secret not in shown
