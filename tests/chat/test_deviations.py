"""pppup-chat's deliberate deviations from chat 2.4.9 (docs/chat.md lists each with its reason).

Each test shows what pppup-chat does; where running Debian's chat is safe,
it also shows that chat really behaves differently (the deviation is real).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from . import differential as diff

LONG = "W" * 600


def case(args: list[bytes], remote: list | None = None, **extra) -> diff.Case:
    return diff.Case(name="deviation", description="deviation", args=args, remote=remote or [],
                     **extra)


def run(program: list[str], the_case: diff.Case) -> diff.Outcome:
    with tempfile.TemporaryDirectory(prefix="chat-deviation-") as workdir:
        return diff.run_program(the_case, program, Path(workdir))


def test_report_lines_are_bounded_to_chats_buffer() -> None:
    """chat 2.4.9 copies a report line into a 256-byte buffer without a bound."""
    remote = [["wait", "AT\r"], ["send", "CONNECT " + LONG + "\r\nOK\r\n"]]
    ours = run(diff.pppup_chat_command(),
               case([b"REPORT", b"CONNECT", b"", b"AT", b"OK", b"ATH"], remote))
    assert ours.code == 0
    line = ours.stderr.split(b"chat:  ", 1)[1].split(b"\n", 1)[0]
    assert len(line) == 255 and line.endswith(b"CONNECT " + b"W" * (255 - 16 - 8))


@pytest.mark.skipif(not os.access(diff.CHAT, os.X_OK), reason="needs Debian's chat")
def test_clr_report_after_a_report_fired_does_not_crash() -> None:
    """chat 2.4.9 calls strcmp() on the fired (NULL) slot and dies of SIGSEGV."""
    the_case = case([b"REPORT", b"X", b"X", b"a", b"CLR_REPORT", b"Y", b"", b"b"],
                    [["send", "X\r\n", 0.1]])
    assert run([diff.CHAT], the_case).code == -11
    ours = run(diff.pppup_chat_command(), the_case)
    assert ours.code == 0 and ours.sent == b"a\rb\r"


def test_a_trailing_backslash_from_T_before_c_stops_the_send() -> None:
    """chat reads past its buffer there (undefined behaviour); we send the NUL and stop."""
    ours = run(diff.pppup_chat_command(),
               case([b"-T", b"12\\", b"", rb"\T\c", b"", b"next"], [["wait", "next\r"]]))
    assert ours.code == 0 and ours.sent == b"12\x00next\r"


def test_no_pacing_switch_is_an_environment_variable_not_an_option() -> None:
    ours = run(diff.pppup_chat_command(),
               case([b"", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"], [["wait", "Z\r"]],
                    env={"PPPUP_CHAT_NO_PACING": "1"}))
    times = [t for t, _ in ours.timeline]
    assert ours.code == 0 and times[-1] - times[0] < 0.1          # chat needs 0.27 s
