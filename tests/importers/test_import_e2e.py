"""Imported accounts dial the simulator on a pty line and log in, up to the point where pppd would start.

The client's own code does the work (pppup.dialer, pppup.login,
pppup.callback, pppup.credentials), exactly as `pppup ACCOUNT` runs it once
the helper has handed over the line; here the test opens the simulator's
pty itself (as the helper would, root-owned).  The far end is the
simulator's ISP (pppd there is a harmless program: the host has no PPP),
login server or KPPP-seed call-back server.
"""
from __future__ import annotations

import time

import pytest

from pppup.callback import CallbackLogin, choose_alias
from pppup.credentials import gather
from pppup.dialer import Budget, Dialer
from pppup.login import log_in
from pppup_sim import World

from flows.support import FAST, Recorder, open_line

from .support import kppp, peers, wvdial

CLIENT = "5550001"
NO_TERMINAL = "/nonexistent"          # never ask: everything comes from the imported files
ISP = {"kind": "isp", "pppd": ["/bin/cat"]}


@pytest.fixture
def world_of():
    worlds: list[World] = []

    def make(numbers: dict, hosts: dict) -> World:
        world = World({"delays": dict(FAST), "modems": {"A": {"number": CLIENT}}, "numbers": numbers,
                       "hosts": hosts}).start()
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop()


def dial_and_log_in(world: World, account, callback_alias: str | None = None) -> Recorder:
    """What `pppup ACCOUNT` does between taking the line and asking the helper for pppd."""
    progress = Recorder()
    credentials = gather(account, NO_TERMINAL)
    modem = open_line(world, progress=progress, secrets=credentials.secrets())
    try:
        budget = Budget(account.redial.attempts, time.monotonic() + 120)
        Dialer(modem, account, budget, progress, callback=account.callback is not None,
               login_password=credentials.login_password, secrets=credentials.secrets()).connect()
        if account.callback is not None:
            CallbackLogin(account, modem, credentials, progress, callback_alias or "", budget.deadline,
                          NO_TERMINAL).run()
        elif account.script is not None and account.script.kind == "login":
            log_in(account, modem, credentials, progress, NO_TERMINAL)
    finally:
        modem.close()
    return progress


def commands(world: World) -> list[str]:
    return [event.data["line"] for event in world.events(kind="command", source="A")]


def test_debian_provider_with_its_pap_chat_script_reaches_the_isp(world_of, tmp_path):
    world = world_of({"01915551234": {"host": "isp"}}, {"isp": ISP})
    account = peers("home", tmp_path).account()
    progress = dial_and_log_in(world, account)
    assert commands(world) == ["ATZ", "ATDT0191-555-1234"]
    assert world.events(kind="dial", source="A")[0].data["number"] == "01915551234"
    assert world.state("A")["mode"] == "data" and "CONNECT" in progress.text


def test_the_second_seeds_script_imported_unchanged_dials(world_of, tmp_path):
    world = world_of({"8765432": {"host": "isp"}}, {"isp": ISP})
    account = peers("seedisp", tmp_path).account()
    dial_and_log_in(world, account)
    assert commands(world) == ["AT", "ATH0", r"AT&F\Q3\V1&D3M1#CC1", "ATD8765432"]
    assert world.state("A")["mode"] == "data"


def test_a_pppconfig_chat_login_logs_in(world_of, tmp_path):
    world = world_of({"5552002": {"host": "shell"}},
                     {"shell": {"kind": "login", "users": {"carol": "s3cret"}, "pppd": ["/bin/cat"]}})
    account = peers("oldisp", tmp_path).account()
    dial_and_log_in(world, account)
    world.wait_event("host", step="login-ok", user="carol", timeout=5)


def test_a_hand_made_peer_with_an_inline_chat_script_dials(world_of, tmp_path):
    world = world_of({"5553003": {"host": "isp"}}, {"isp": ISP})
    account = peers("office", tmp_path).account()
    dial_and_log_in(world, account)
    assert commands(world) == ["ATZ", r"AT\N3", "ATDT5553003"]


def test_wvdial_defaults_dial_in_stupid_mode(world_of, tmp_path):
    world = world_of({"5554001": {"host": "isp"}}, {"isp": ISP})
    account = wvdial("wvdial.conf", None, tmp_path).account()
    progress = dial_and_log_in(world, account)
    assert commands(world) == ["ATZ", "ATQ0 V1 E1 S0=0 &C1 &D2 +FCLASS=0", "ATDT5554001"]
    assert "CONNECT 33600" in progress.text


def test_wvdial_login_prompts_log_in_with_the_imported_secret(world_of, tmp_path):
    world = world_of({"5554010": {"host": "shell"}},
                     {"shell": {"kind": "login", "users": {"frank": "sh3ll pw"}, "pppd": ["/bin/cat"]}})
    account = wvdial("wvdial.conf", "shell", tmp_path).account()
    progress = dial_and_log_in(world, account)
    world.wait_event("host", step="login-ok", user="frank", timeout=5)
    assert "sh3ll pw" not in progress.text and "logged in" in progress.text


def test_kppp_pap_account_dials_its_first_number(world_of, tmp_path):
    world = world_of({"01915550100": {"host": "isp"}}, {"isp": ISP})
    account = kppp("kppprc", tmp_path, account="Example Net")[0].account()
    dial_and_log_in(world, account)
    assert commands(world) == ["ATZ", "AT&F&C1&D2", "ATM0L0", "ATDT0191 5550100"]


def test_kppp_script_login_runs_its_converted_script(world_of, tmp_path):
    host = {"kind": "script", "steps": [
        {"send": "\r\nlogin: "}, {"wait": "hans\r"}, {"send": "Password: "}, {"wait": "h@ns,pw\r"},
        {"send": "\r\nChoice (1,2,3): "}, {"wait": "2\r"}, {"send": "$ "}, {"wait": "never", "timeout": 30}]}
    world = world_of({"5556100": {"host": "uni"}}, {"uni": host})
    account = kppp("kppprc", tmp_path, account="Uni Login")[0].account()
    dial_and_log_in(world, account)
    steps = [event.data for event in world.events(kind="host", source="uni", step="script-step")]
    assert len([step for step in steps if step.get("action") == "wait"]) >= 3, steps
    assert not world.events(kind="host", source="uni", step="script-timeout")


def test_the_kppp_callback_account_runs_to_start_ppp(world_of, tmp_path):
    server = {"kind": "callback", "pppd": ["/bin/cat"], "callback_delay": 0.3,
              "users": {"userxyz": {"callback": {"userxyz-home": CLIENT}}}}
    world = world_of({"5559000": {"host": "cb"}}, {"cb": server})
    account = kppp("kppprc-callback", tmp_path, account="0")[0].account()
    alias = choose_alias(account, None, NO_TERMINAL)
    assert alias == "userxyz-home"
    progress = dial_and_log_in(world, account, alias)
    chosen = world.wait_event("host", step="callback-chosen", timeout=1)
    assert (chosen.data["alias"], chosen.data["number"]) == ("userxyz-home", CLIENT)
    world.wait_event("host", step="shell-command", command="start_ppp", timeout=5)
    assert commands(world)[:4] == ["ATZ", "ATM1L3", "ATX3", "AT&C0&D3S0=1"]
    assert "logged in again after the call-back" in progress.text
