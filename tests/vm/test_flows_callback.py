"""The first seed's callback flow in the VM, its KPPP script verbatim, to a live link and back.

dial -> login -> choose the alias -> the server hangs up -> it calls back ->
the modem auto-answers -> second login -> start_ppp -> real pppd at both
ends -> ping -> pppdown -> the modem is reset by the DTR drop (&D3): it no
longer answers calls.
"""
from __future__ import annotations

import json
import time

import pytest

from pppup_sim import World

from tests.flows.runner import PPPDOWN, PPPUP, wait_for_record
from tests.flows.seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from tests.vm.flows import (CALLBACK_NUMBER, CLIENT_ADDRESS, ISP_ADDRESS, ann, assert_line_clean,  # noqa: F401
                            client_number, guest, interface_addresses, isp_pppd, ping_isp, world_config,
                            write_policy)

pytestmark = pytest.mark.vm

ELSEWHERE = "5557777"          # a number nobody answers
CALLBACK_ACCOUNT = f"""\
line = "line1"
peer = "pppt-flows"
phone = "{CALLBACK_NUMBER}"
login_script = '''
{SEED1_LOGIN_SCRIPT}'''
[login]
user = "{SEED1_USER}"
[callback]
menu_prompt = "{SEED1_MENU_PROMPT}"
aliases = ["{SEED1_ALIAS}", "userxyz-office"]
wait = 60
"""


@pytest.fixture(scope="module")
def world(guest, ann):
    aliases = {SEED1_ALIAS: client_number(1), "userxyz-office": client_number(1), "userxyz-away": ELSEWHERE}
    hosts = {"cb": {"kind": "callback", "pppd": isp_pppd(), "callback_delay": 1.0,
                    "users": {SEED1_USER: {"callback": aliases}}}}
    policy = write_policy([ann.name])
    ann.write("cb.toml", CALLBACK_ACCOUNT)
    with World(world_config(1, {CALLBACK_NUMBER: {"host": "cb"}}, hosts)) as world:
        yield world
    policy.restore()


def assert_not_answering(world: World) -> None:
    """An outside call rings, and the modem does not pick up: no auto-answer left behind."""
    mark = world.mark()
    world.ring("L1", caller="5550000")
    world.wait_event("ring", source="L1", after=mark, count=3, timeout=10)
    assert world.events(kind="answer", source="L1", after=mark) == []
    assert world.state("L1")["hook"] == "on"
    world.drop_carrier("L1")           # the caller gives up; the line is free for the next test
    world.wait_event("call_ended", after=mark, timeout=10)


def test_the_first_seeds_callback_flow_verbatim_to_a_live_link(world, ann):
    mark = world.mark()
    started = time.monotonic()
    result = ann.run(PPPUP, "cb", timeout=240)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"pppup cb: link up after {took:.1f} s (pppup's own count: {result.stderr.splitlines()[-2]})")
    assert f"cb: link up on line1 (ppp0): local {CLIENT_ADDRESS}, remote {ISP_ADDRESS}" in result.stdout
    for words in ("asking for a call-back at userxyz-home", "the server hung up as expected",
                  "waiting for the call-back", "RING: the server is calling back", "call-back answered",
                  "logged in again after the call-back", "PPP up in"):
        assert words in result.stderr, result.stderr
    # the server's side: the menu, the alias, the call back to our number, start_ppp
    chosen = world.wait_event("host", step="callback-chosen", after=mark, timeout=1)
    assert (chosen.data["alias"], chosen.data["number"]) == (SEED1_ALIAS, client_number(1))
    assert world.events(kind="answer", source="L1", after=mark)[-1].data["how"] == "auto"
    assert world.events(kind="host", step="shell-command", after=mark)[-1].data["command"] == "start_ppp"
    record = wait_for_record("line1", timeout=5, phase="up")
    assert len(ping_isp(3)) == 3
    status = ann.run(PPPUP, "status")
    assert status.returncode == 0 and any(line.split()[:4] == ["line1", "up", ann.name, "cb"]
                                          for line in status.stdout.splitlines()), status.stdout
    down = ann.run(PPPDOWN, "cb")
    assert down.returncode == 0 and "stopped cb on line1" in down.stdout, down.stderr
    assert interface_addresses() is None
    assert_line_clean(world, 1, record["lock_names"], mark)
    assert world.events(kind="reset", source="L1", after=mark, how="dtr"), "no &D3 reset by the DTR drop"
    assert_not_answering(world)


def test_callback_alias_and_foreground_ctrl_c(world, ann):
    mark = world.mark()
    proc = ann.start(PPPUP, "cb", "--callback", "userxyz-office", "--foreground")
    try:
        wait_for_record("line1", timeout=120, phase="up")
        chosen = world.wait_event("host", step="callback-chosen", after=mark, timeout=1)
        assert chosen.data["alias"] == "userxyz-office"
        assert len(ping_isp(2)) == 2
        time.sleep(1.0)
        assert proc.poll() is None             # --foreground: still there with the link up
        record = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]
        assert record["state"] == "up"
        proc.send_signal(2)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "SIGINT: ending the link" in err and "stopped cb on line1" in out, out + err
        assert json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]["state"] == "free"
        assert_not_answering(world)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_alias_the_account_does_not_offer_is_refused_before_dialling(world, ann):
    mark = world.mark()
    result = ann.run(PPPUP, "cb", "--callback", "userxyz-away")
    assert result.returncode == 2 and "one of: userxyz-home, userxyz-office" in result.stderr
    assert world.events(kind="command", source="L1", after=mark) == []
