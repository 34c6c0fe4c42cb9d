"""KPPP login scripts: the text format, KPPP's commands, its bugs fixed, the seed end to end."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pppup.chat import events as ev
from pppup.chat.channel import Channel
from pppup.chat.engine import ChatOptions, run_chat
from pppup.chat.errors import ChatScriptError
from pppup.chat.kppp import (FixedAnswers, LineIO, LoginOptions, LoginRunner, Looping,
                             PromptRequest, Prompting, TerminalAnswers, answer_call, expect_hangup, hang_up,
                             parse_login_script)
from pppup.chat.script import parse_argv
from pppup_sim import World
from pppup_sim.direct import DirectLine, Send, Wait

SEED = Path("/work/shared/seeds/000_77f9a127674a3278.txt")
FAST = {"dial": 0.05, "ring_interval": 0.1, "connect": 0.05}


def seed_script_text() -> str:
    """The script exactly as the seed shows it (from `Expect ogin:` to `Send start_ppp`)."""
    lines = SEED.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("Expect       ogin:"))
    last = next(i for i, line in enumerate(lines) if "Send         start_ppp" in line)
    return "\n".join(lines[first:last + 1]) + "\n"


# ---------------------------------------------------------------- parsing

def test_the_seed_script_parses_verbatim() -> None:
    script = parse_login_script(seed_script_text(), "seed")
    assert [(c.name, c.argument) for c in script.commands] == [
        ("Expect", "ogin:"), ("ID", ""), ("Expect", "for userxyz:"), ("Send", "userxyz-home"),
        ("Expect", "ogin:"), ("Expect", "assword:"), ("Expect", ">"), ("Send", "start_ppp")]
    assert len(script.warnings) == 5 and "wrapped" in script.warnings[0]
    with pytest.raises(ChatScriptError, match=r"seed:3:5: unknown command 'the'"):
        parse_login_script(seed_script_text(), "seed", strict=True)


def test_arguments_quotes_and_comments() -> None:
    script = parse_login_script(
        'Send AT#CC1   # a comment\nSend "a \\"b\\" # c"\nExpect  for x:  \nSend ""\nSend\n')
    assert [c.argument for c in script.commands] == ["AT#CC1", 'a "b" # c', "for x:", "", ""]


@pytest.mark.parametrize("text,message", [
    ("Expcet ogin:\n", r"1:1: unknown command 'Expcet'"),
    ("  send x\n", r"1:3: unknown command 'send'.*case-sensitive"),
    ("Expect\n", "Expect needs an argument"),
    ("Pause soon\n", "Pause takes whole seconds"),
    ("Timeout 0\n", "Timeout takes whole seconds above 0"),
    ("Hangup now\n", "Hangup takes no argument"),
    ("Save secret\n", "Save can only save the password"),
    ("LoopEnd x\n", "LoopEnd without a LoopStart"),
    ("LoopStart x\nSend y\n", "1:1: LoopStart without a LoopEnd"),
    ('Send "abc\n', "unterminated quote"),
    ('Send "abc" def\n', "text after the quoted argument"),
    ("LoopStart a\n" * 10 + "LoopEnd b\n" * 10, "nested deeper than 9"),
])
def test_parse_errors_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(ChatScriptError, match=message):
        parse_login_script(text, "acct.login")


def test_a_typo_after_a_commented_line_is_only_tolerated_with_a_warning() -> None:
    script = parse_login_script("Send x   # comment\nExpcet y\n", "a")
    assert len(script.commands) == 1 and "Expcet y" in script.warnings[0]


# ---------------------------------------------------------------- running on a direct line

def run_script(text: str, steps: list, options: LoginOptions, start: int = 0,
               stop: int | None = None) -> tuple:
    events: list[object] = []
    with DirectLine() as line:
        line.start(steps)
        fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY)
        try:
            runner = LoginRunner(parse_login_script(text, "t.login"), Channel(fd), options,
                                 events.append)
            result = runner.run(start, stop)
            leftover = line.leftover()
        finally:
            os.close(fd)
        line.stop()
        sent = line.sent_by_dte()
    return result, events, sent, leftover, runner


def test_send_substitutes_username_and_password_with_the_chosen_line_ending() -> None:
    for ending, raw in (("CR", b"\r"), ("LF", b"\n"), ("CR/LF", b"\r\n")):
        result, events, sent, _, _ = run_script(
            "Send %USERNAME%:%PASSWORD%\nSendNoEcho %PASSWORD%\n", [],
            LoginOptions(username="alice", password="pw1", line_ending=ending))
        assert result.ok
        assert sent == b"alice:pw1" + raw + b"pw1" + raw
        shown = [e.text for e in events if isinstance(e, ev.Sending)]
        assert shown == [b"%USERNAME%:%PASSWORD%", b"**********"]


def test_id_is_asked_once_and_reused_after_a_callback() -> None:
    asked: list[PromptRequest] = []

    def answers(request: PromptRequest) -> str:
        asked.append(request)
        return {"id": "bob", "password": "hunter2"}[request.kind]

    steps = [Send(b"login: "), Wait(b"bob\r"), Send(b"Password: "), Wait(b"hunter2\r"),
             Send(b"\r\nNO CARRIER\r\nRING\r\nCONNECT 33600\r\nlogin: "), Wait(b"bob\r"),
             Send(b"Password: "), Wait(b"hunter2\r"), Send(b"$ ")]
    result, events, sent, _, _ = run_script(
        "Expect ogin:\nID Name?\nExpect assword:\nPassword\nExpect ogin:\nID Name?\n"
        "Expect assword:\nPassword\nExpect $\n", steps, LoginOptions(answers=answers))
    assert result.ok, result.failure
    assert [r.kind for r in asked] == ["id", "password"]
    assert sent == b"bob\rhunter2\rbob\rhunter2\r"
    assert not any(b"hunter2" in getattr(e, "text", b"") for e in events)


def test_prompt_uses_the_scan_value_and_pwprompt_is_masked() -> None:
    steps = [Send(b"Your code is 4711\r\nchallenge: "), Wait(b"\r"), Send(b"one-time: "),
             Wait(b"otp-9\r"), Send(b"ok")]
    answers = FixedAnswers(by_text={"answer for 4711": "resp"}, by_kind={"pwprompt": "otp-9"})
    result, events, sent, _, _ = run_script(
        "Scan code is\nExpect challenge:\nPrompt answer for ##\nExpect one-time:\n"
        "PWPrompt token\nExpect ok\n", steps, LoginOptions(answers=answers, received_events=True))
    assert result.ok, result.failure
    assert result.scan_value == "4711"
    assert sent == b"resp\rotp-9\r"
    prompts = [e.request for e in events if isinstance(e, Prompting)]
    assert [(p.kind, p.text, p.secret) for p in prompts] == [
        ("prompt", "answer for 4711", False), ("pwprompt", "token", True)]
    assert not any(b"otp-9" in getattr(e, "text", b"") for e in events)


def test_scan_and_save_the_password() -> None:
    steps = [Send(b"new password: Xy7!\r\nlogin: "), Wait(b"carol\r"), Send(b"Password: "),
             Wait(b"Xy7!\r")]
    result, _, sent, _, runner = run_script(
        "Scan password:\nSave password\nExpect ogin:\nID\nExpect word:\nPassword\n", steps,
        LoginOptions(username="carol"))
    assert result.ok, result.failure
    assert sent == b"carol\rXy7!\r" and runner.password == "Xy7!"


def test_loops_jump_back_when_the_start_string_comes_again() -> None:
    steps = [Send(b"login: "), Wait(b"dave\r"), Send(b"Login incorrect\r\nlogin: "), Wait(b"dave\r"),
             Send(b"Welcome\r\n$ ")]
    result, events, sent, _, _ = run_script(
        "LoopStart ogin:\nSend dave\nLoopEnd $\nSend ppp\n", steps, LoginOptions())
    assert result.ok, result.failure
    assert sent == b"dave\rdave\rppp\r"
    assert [e.string for e in events if isinstance(e, Looping)] == [b"ogin:"]


def test_a_failure_names_the_line_and_the_reason() -> None:
    start = time.monotonic()
    result, _, _, _, _ = run_script("Timeout 1\nExpect ogin:\n", [Send(b"nothing\r\n")], LoginOptions())
    assert not result.ok and result.next_index == 1
    assert result.failure.startswith("t.login:2: Expect failed: Expect 'ogin:': not received within 1 s")
    assert time.monotonic() - start < 3
    result, _, _, _, _ = run_script("Expect ogin:\n", [Send(b"NO CARRIER\r\n")],
                                    LoginOptions(aborts=["NO CARRIER"]))
    assert not result.ok and "the line said 'NO CARRIER'" in result.failure
    result, _, _, _, _ = run_script("Prompt Code?\n", [], LoginOptions())
    assert not result.ok and "needs an answer and none was given" in result.failure


def test_runs_in_parts_and_leaves_later_input_queued() -> None:
    steps = [Send(b"login: x\r\nmore")]
    result, _, _, leftover, runner = run_script("Expect ogin:\nSend a\nExpect more\n", steps,
                                                LoginOptions(), stop=2)
    assert result.ok and result.next_index == 2
    assert leftover == b" x\r\nmore"


def test_terminal_answers_ask_on_a_tty_without_echo_for_secrets() -> None:
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        answers = TerminalAnswers(path)
        reply: list[str] = []
        thread = threading.Thread(target=lambda: reply.append(
            answers(PromptRequest("pwprompt", "Token:", True, 3))))
        thread.start()
        time.sleep(0.2)
        os.write(master, b"s3cret\n")
        thread.join(5)
        shown = os.read(master, 1024)
        assert reply == ["s3cret"]
        assert b"Token:" in shown and b"s3cret" not in shown
    finally:
        os.close(master)
        os.close(slave)


# ---------------------------------------------------------------- on the simulated modem

def test_answer_and_hangup_on_the_simulated_modem() -> None:
    with World({"delays": FAST, "modems": {"A": {}}}) as world:
        fd = os.open(world.tty_path("A"), os.O_RDWR | os.O_NOCTTY)
        try:
            io = LineIO(Channel(fd), LoginOptions(timeout=5, escape_guard=1.1))
            world.ring("A")
            answer_call(io)
            world.wait_event("connect", source="A", timeout=5)
            hang_up(io)
            assert world.state("A")["hook"] == "on"
            assert world.wait_event("hangup", source="A", timeout=5).data["cause"] == "ath"
        finally:
            os.close(fd)


def test_the_seed_callback_script_runs_verbatim_against_the_callback_server() -> None:
    config = {
        "delays": FAST,
        "modems": {"A": {"number": "5550001"}},
        "numbers": {"5550100": {"host": "cb"}},
        "hosts": {"cb": {"kind": "callback", "callback_delay": 0.5, "relogin_wait": 0.3,
                         "pppd": ["/bin/cat"],
                         "users": {"userxyz": {"password": "secret",
                                               "callback": {"userxyz-home": "5550001"}}}}},
    }
    with World(config) as world:
        fd = os.open(world.tty_path("A"), os.O_RDWR | os.O_NOCTTY)
        try:
            # The dial phase (the client's job): KPPP's callback dial string.
            dialled = run_chat(parse_argv(["", "ATZ", "OK", "AT&C0S0=1DT5550100", "CONNECT", r"\c"]).steps,
                               Channel(fd), ChatOptions(pacing=False, timeout=10))
            assert dialled.code == 0
            events: list[object] = []
            script = parse_login_script(seed_script_text(), "seed")
            result = LoginRunner(script, Channel(fd), LoginOptions(username="userxyz", timeout=20),
                                 events.append).run()
            assert result.ok, result.failure
            assert world.wait_event("host", step="pppd-start", timeout=5)
            steps = [e.data["step"] for e in world.events(kind="host")]
            assert "callback-chosen" in steps and steps.count("login-prompt") == 2
            assert world.events(kind="answer", source="A")[0].data["how"] == "auto"
        finally:
            os.close(fd)


def test_expect_hangup_sees_the_server_hang_up() -> None:
    config = {"delays": FAST, "modems": {"A": {"number": "5550001"}},
              "numbers": {"5550100": {"host": "cb"}},
              "hosts": {"cb": {"kind": "callback", "callback_delay": 5.0, "pppd": ["/bin/cat"],
                               "users": {"u": {"password": "p", "callback": {"home": "5550001"}}}}}}
    with World(config) as world:
        fd = os.open(world.tty_path("A"), os.O_RDWR | os.O_NOCTTY)
        try:
            channel = Channel(fd)
            assert run_chat(parse_argv(["", "ATDT5550100", "CONNECT", ""]).steps, channel,
                            ChatOptions(pacing=False, timeout=10)).code == 0
            io = LineIO(channel, LoginOptions(username="u", timeout=10))
            runner = LoginRunner(parse_login_script("Expect ogin:\nID\nExpect for u:\nSend home\n"),
                                 channel, LoginOptions(username="u", timeout=10))
            assert runner.run().ok
            expect_hangup(io, timeout=10)
        finally:
            os.close(fd)
