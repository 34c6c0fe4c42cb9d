"""The dialer against the simulated modem and phone network (host, pty lines, no helper needed)."""
from __future__ import annotations

import time

import pytest

from pppup.dialer import Budget, Dialer, budget_for
from pppup_protocol.errors import Code, PppupError
from pppup_sim import World

from .seeds import SEED2_CHAT_SCRIPT, SEED2_NUMBER
from .support import FAST, Recorder, account_from_text, open_line

ACCOUNT = """\
line = "modem1"
peer = "isp"
phone = {phone}
{extra}
[redial]
attempts = {attempts}
delay = 0
"""


@pytest.fixture
def world_of():
    worlds: list[World] = []

    def make(numbers: dict, hosts: dict | None = None, others: dict | None = None, **modem: object) -> World:
        world = World({"delays": dict(FAST), "modems": {"A": {"number": "5550001", **modem}, **(others or {})},
                       "numbers": numbers,
                       "hosts": hosts or {"echo": {"kind": "echo"}}}).start()
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop()


def dial(world: World, tmp_path, phone: str, attempts: int = 3, extra: str = "", budget: Budget | None = None,
         sleep=None, **kwargs):
    account = account_from_text(tmp_path, ACCOUNT.format(phone=phone, attempts=attempts, extra=extra))
    progress = Recorder()
    modem = open_line(world, progress=progress)
    try:
        dialer = Dialer(modem, account, budget or Budget(account.redial.attempts, time.monotonic() + 120),
                        progress, sleep=sleep or time.sleep, **kwargs)
        try:
            return dialer.connect(), progress
        except PppupError as error:
            error.progress = progress      # type: ignore[attr-defined]
            raise
    finally:
        modem.close()


def test_busy_twice_then_connect(world_of, tmp_path):
    world = world_of({"5551": {"host": "echo", "busy_first": 2}})
    connected, progress = dial(world, tmp_path, '"5551"')
    assert connected.attempt == 3 and connected.number == "5551" and connected.speed == 33600
    assert [e.data["number"] for e in world.events(kind="dial", source="A")] == ["5551"] * 3
    assert progress.text.count("BUSY") >= 2 and "dialling 5551 (attempt 3 of 3)" in progress.text
    assert "CONNECT 33600" in progress.text


@pytest.mark.parametrize("outcome, said", [("no-carrier", "NO CARRIER"), ("no-dialtone", None),
                                           ("no-answer", "NO ANSWER"), ("busy", "BUSY")])
def test_each_failure_is_redialled_on_the_next_number(world_of, tmp_path, outcome, said):
    world = world_of({"5552": {"outcome": outcome}, "5553": {"host": "echo"}})
    connected, progress = dial(world, tmp_path, '["5552", "5553"]')
    assert (connected.number, connected.attempt) == ("5553", 2)
    first = world.events(kind="call_failed", source="A")
    assert len(first) == 1 or outcome == "no-dialtone"
    assert "dialling 5552 (attempt 1 of 3)" in progress.text and "dialling 5553 (attempt 2 of 3)" in progress.text
    if said:
        assert said in progress.text


def test_no_dialtone_on_a_line_without_one(world_of, tmp_path):
    world = world_of({"5553": {"host": "echo"}}, dialtone=False)
    with pytest.raises(PppupError) as caught:
        dial(world, tmp_path, '"5553"', attempts=2)
    assert caught.value.code == Code.DIAL
    assert caught.value.message.count("NO DIALTONE") == 2 and "2 attempt(s)" in caught.value.message


def test_the_budget_ends_it_with_every_result_listed(world_of, tmp_path):
    world = world_of({"5554": {"outcome": "busy"}, "5555": {"outcome": "no-answer"}})
    with pytest.raises(PppupError) as caught:
        dial(world, tmp_path, '["5554", "5555"]', attempts=3)
    message = caught.value.message
    assert caught.value.code == Code.DIAL
    assert "5554: BUSY; 5555: NO ANSWER; 5554: BUSY" in message
    assert len(world.events(kind="dial", source="A")) == 3


def test_the_policys_dial_attempts_cut_the_accounts():
    from pppup.accounts import Account, Redial
    account = Account._make([None] * len(Account._fields))._replace(redial=Redial(attempts=5))
    assert budget_for(account, {"dial_attempts": 2, "dial_seconds": 100}, 1000.0) == Budget(2, 1100.0)
    assert budget_for(account, {"dial_attempts": None, "dial_seconds": 100}, 0.0).attempts == 5


def test_back_off_doubles_after_each_round_and_is_capped(world_of, tmp_path):
    world = world_of({"5556": {"outcome": "busy"}, "5557": {"outcome": "busy"}})
    pauses: list[float] = []
    with pytest.raises(PppupError):
        dial(world, tmp_path, '["5556", "5557"]', attempts=6, sleep=pauses.append)
    assert pauses == []              # delay = 0: no pauses at all; now 1 s doubling, capped at 3 s
    account_text = ACCOUNT.format(phone='["5556", "5557"]', attempts=6, extra="").replace(
        "delay = 0", "delay = 1\nmax_delay = 3")
    account = account_from_text(tmp_path, account_text, name="backoff")
    progress = Recorder()
    modem = open_line(world, progress=progress)
    try:
        with pytest.raises(PppupError):
            Dialer(modem, account, Budget(6, time.monotonic() + 120), progress, sleep=pauses.append).connect()
    finally:
        modem.close()
    assert pauses == [1.0, 1.0, 2.0, 2.0, 3.0]


def test_no_attempt_starts_too_close_to_the_dial_time_limit(world_of, tmp_path):
    world = world_of({"5558": {"outcome": "busy"}})
    with pytest.raises(PppupError) as caught:
        dial(world, tmp_path, '"5558"', attempts=5, budget=Budget(5, time.monotonic() + 3.0))
    assert "dial time limit" in caught.value.message
    assert len(world.events(kind="dial", source="A")) == 1


def test_an_init_command_the_modem_refuses(world_of, tmp_path):
    world = world_of({"5551": {"host": "echo"}})
    with pytest.raises(PppupError) as caught:
        dial(world, tmp_path, '"5551"', extra='init = ["ATZ", "ATS99=999"]')
    assert caught.value.code == Code.MODEM and "ERROR to 'ATS99=999'" in caught.value.message
    assert world.events(kind="dial", source="A") == []


def test_no_connect_in_time_aborts_the_dial_and_tries_again(world_of, tmp_path):
    # B rings and never answers (S0=0); our connect_timeout is shorter than the modem's S7
    world = world_of({}, others={"B": {"number": "5550002"}})
    with pytest.raises(PppupError) as caught:
        dial(world, tmp_path, '"5550002"', attempts=2, extra="connect_timeout = 5")
    assert caught.value.message.count("no CONNECT within 5 s") == 2
    assert world.state("A")["hook"] == "on"        # the dial was really aborted
    assert world.events(kind="hangup", source="A", cause="abort-key")


def test_the_callback_set_up_goes_to_the_modem(world_of, tmp_path):
    world = world_of({"5551": {"host": "echo"}})
    dial(world, tmp_path, '"5551"', callback=True)
    commands = [e.data["line"] for e in world.events(kind="command", source="A")]
    assert commands[:3] == ["ATZ", "AT&C0&D3S0=1", "ATDT5551"]
    state = world.state("A")
    assert (state["dcd_mode"], state["dtr_mode"], state["s"][0]) == (0, 3, 1)


# ------------------------------------------------------------------ the chat script dials

def chat_account(tmp_path, script: str, phone: str = "", attempts: int = 3):
    script_file = tmp_path / "isp.chat"
    script_file.write_text(script)
    text = f'line = "modem1"\npeer = "isp"\nchat_file = "isp.chat"\n{phone}\n[redial]\nattempts = {attempts}\n' \
           'delay = 0\n'
    return account_from_text(tmp_path, text)


def run_chat_account(world, account):
    progress = Recorder()
    modem = open_line(world, progress=progress)
    try:
        return Dialer(modem, account, Budget(account.redial.attempts, time.monotonic() + 120),
                      progress).connect(), progress
    finally:
        modem.close()


def test_the_second_seeds_chat_script_verbatim(world_of, tmp_path):
    world = world_of({SEED2_NUMBER: {"host": "isp"}},
                     hosts={"isp": {"kind": "isp", "pppd": ["/bin/sh", "-c", "sleep 5"]}})
    connected, progress = run_chat_account(world, chat_account(tmp_path, SEED2_CHAT_SCRIPT))
    assert connected.number is None and connected.attempt == 1
    commands = [e.data["line"] for e in world.events(kind="command", source="A")]
    assert commands == ["AT", "ATH0", r"AT&F\Q3\V1&D3M1#CC1", "ATD8765432"]
    assert world.state("A")["mode"] == "data" and "CONNECT" in progress.text


def test_a_chat_script_redials_on_its_busy_abort_with_each_number(world_of, tmp_path):
    world = world_of({"5561": {"outcome": "busy"}, "5562": {"host": "echo"}})
    script = "ABORT BUSY\nABORT 'NO CARRIER'\n'' ATZ\nOK ATDT\\T\nCONNECT ''\n"
    connected, progress = run_chat_account(world, chat_account(tmp_path, script, 'phone = ["5561", "5562"]'))
    assert (connected.number, connected.attempt) == ("5562", 2)
    assert [e.data["number"] for e in world.events(kind="dial", source="A")] == ["5561", "5562"]
    assert "BUSY" in progress.text


def test_a_chat_script_failing_after_connect_is_a_login_failure_not_redialled(world_of, tmp_path):
    world = world_of({"5563": {"host": "echo"}})
    script = "TIMEOUT 1\nABORT BUSY\n'' ATZ\nOK ATDT\\T\nCONNECT ''\nogin: alice\n"
    with pytest.raises(PppupError) as caught:
        run_chat_account(world, chat_account(tmp_path, script, 'phone = "5563"'))
    assert caught.value.code == Code.LOGIN and "'ogin:'" in caught.value.message
    assert len(world.events(kind="dial", source="A")) == 1
