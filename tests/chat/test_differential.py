"""pppup-chat against Debian's chat(8), case by case (tests/chat/cases/*.toml).

Both programs run at the same time, each on its own simulated line playing
the same remote script; exit code, the bytes the line received (and when),
stderr, the -r file, what stays queued on the line after exit and syslog
must be the same.  Deliberate deviations (docs/chat.md) have no case here:
they are tested in test_deviations.py.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from . import differential as diff

pytestmark = pytest.mark.skipif(not os.access(diff.CHAT, os.X_OK),
                                reason="Debian's chat is missing: `make bootstrap` installs ppp")

CASE_PATHS = diff.all_cases()


def test_there_are_enough_cases():
    assert len(CASE_PATHS) >= 60


@pytest.mark.parametrize("path", CASE_PATHS, ids=[path.stem for path in CASE_PATHS])
def test_same_as_chat(path: Path):
    case = diff.load_case(path)
    if case.syslog and os.geteuid() != 0:
        pytest.skip("capturing syslog needs root (a private /dev/log in a mount namespace)")
    problems, runs = diff.compare_case(case)
    assert not problems, (f"{case.name}: {case.description}\n" + "\n".join(problems)
                          + (f"\n(timing differed in all {runs} runs)" if runs > 1 else ""))


# The comparison itself must be able to fail: run chat twice with scripts
# that differ in one observable way and check the difference is reported.

def _chat_outcome(case: diff.Case) -> diff.Outcome:
    with tempfile.TemporaryDirectory(prefix="chatdiff-meta-") as workdir:
        return diff.run_program(case, [diff.CHAT], Path(workdir))


def _case(args: list[bytes], remote: list | None = None) -> diff.Case:
    return diff.Case(name="meta", description="meta", args=args, remote=remote or [])


def test_comparison_sees_a_different_exit_code_and_stderr():
    remote = [["send", "\r\nOK\r\n", 0.1]]
    base = _case([b"-s", b"-v", b"TIMEOUT", b"1", b"OK", b"ATH"], remote)
    other = _case([b"-s", b"-v", b"TIMEOUT", b"1", b"NOPE", b"ATH"], remote)
    problems = diff.differences(base, _chat_outcome(base), _chat_outcome(other))
    assert any(p.startswith("exit code") for p in problems), problems
    assert any(p.startswith("stderr") for p in problems), problems


def test_comparison_sees_different_bytes_and_leftovers():
    remote = [["send", "OK\r\nmore", 0.1]]
    base = _case([b"OK", b"ATH"], remote)
    other = _case([b"OK", b"ATZ"], remote)
    problems = diff.differences(base, _chat_outcome(base), _chat_outcome(other))
    assert any(p.startswith("bytes sent") for p in problems), problems
    leftover_case = _case([b"OK\r\nmo", b"ATH"], remote)
    problems = diff.differences(base, _chat_outcome(base), _chat_outcome(leftover_case))
    assert any(p.startswith("left queued") for p in problems), problems


def test_comparison_sees_timing():
    base = _case([b"", b"ABCDEFGHIJKLMNOPQRST"])
    paused = _case([b"", rb"ABCDEFGHIJ" + rb"\p" * 22 + b"KLMNOPQRST"])
    problems = diff.timing_differences(_chat_outcome(base), _chat_outcome(paused))
    assert any("lasts" in p for p in problems), problems
    delayed = _case([b"", rb"ABCDEFGHIJ\dKLMNOPQRST"])
    problems = diff.timing_differences(_chat_outcome(base), _chat_outcome(delayed))
    assert any("bursts differ" in p for p in problems), problems


def test_normalisation_only_hides_timestamps_and_program_names():
    text = b"Usage: /usr/sbin/chat [-e]\nchat:  Jan  2 03:04:05 CONNECT 9600\nchat:  CONNECT\n"
    assert diff.normalise_output(text) == (
        b"Usage: <program> [-e]\nchat:  <date> CONNECT 9600\nchat:  CONNECT\n")


def test_comparison_sees_missing_pacing():
    paced = _case([b"", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"])
    unpaced = diff.Case(name="meta", description="meta", args=paced.args,
                        env={"PPPUP_CHAT_NO_PACING": "1"})
    with tempfile.TemporaryDirectory(prefix="chatdiff-meta-") as workdir:
        ours = diff.run_program(unpaced, diff.pppup_chat_command(), Path(workdir))
    problems = diff.timing_differences(_chat_outcome(paced), ours)
    assert any("paced" in p for p in problems) and any("lasts" in p for p in problems), problems
