"""Ctrl-C (SIGINT to pppup) in every phase, on a real UART: each time the line is left clean.

Phases: dialling, first login, waiting for the call-back, second login, and
pppd starting (where pppup waits for the helper's answer and then takes the
link down again).  After each: exit 130, no session record, no lock file,
DTR dropped (the simulator saw it through /proc/tty/driver/serial), the
modem on-hook in command mode with S0=0, and a call that comes in later is
not answered.
"""
from __future__ import annotations

import json
import time

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from tests.flows.runner import PPPUP, interrupt, wait_for_record
from tests.flows.seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from tests.vm.flows import ann, assert_line_clean, client_number, guest, isp_pppd, world_config, write_policy  # noqa: F401

pytestmark = pytest.mark.vm

NUMBERS = {"dialling": "5552001", "first login": "5552002", "waiting for the call-back": "5552003",
           "second login": "5552004", "pppd starting": "5552005"}


def callback_host(**options: object) -> dict:
    host = {"kind": "callback", "pppd": isp_pppd(), "callback_delay": 1.0,
            "users": {SEED1_USER: {"password": "s3cret", "callback": {SEED1_ALIAS: client_number(1)}}}}
    host.update(options)
    return host


def callback_account(number: str) -> str:
    return (f'line = "line1"\npeer = "pppt-flows"\nphone = "{number}"\nlogin_script = \'\'\'\n'
            f"{SEED1_LOGIN_SCRIPT}'''\n[login]\nuser = \"{SEED1_USER}\"\n"
            f'[callback]\nmenu_prompt = "{SEED1_MENU_PROMPT}"\nwait = 60\n')


@pytest.fixture(scope="module")
def world(guest, ann):
    hosts = {
        "cb": callback_host(),
        "cb_menu": callback_host(menu_prompt="Pick one: "),                    # our Expect never matches
        "cb_late": callback_host(callback_delay=6.0, callback_attempts=1, answer_timeout=4.0),
        "cb_password": callback_host(second_login="password"),                  # waits for a name we never send
        "slow_isp": {"kind": "isp", "pppd": isp_pppd(delay=5.0)},
    }
    numbers = {NUMBERS["dialling"]: {"host": "cb", "delay": 60.0},
               NUMBERS["first login"]: {"host": "cb_menu"},
               NUMBERS["waiting for the call-back"]: {"host": "cb_late"},
               NUMBERS["second login"]: {"host": "cb_password"},
               NUMBERS["pppd starting"]: {"host": "slow_isp"}}
    policy = write_policy([ann.name])
    for phase, number in NUMBERS.items():
        name = phase.replace(" ", "-").replace("-the-", "-")
        text = callback_account(number) if phase != "pppd starting" else \
            f'line = "line1"\npeer = "pppt-flows"\nphone = "{number}"\n'
        ann.write(f"{name}.toml", text)
    with World(world_config(1, numbers, hosts)) as world:
        yield world
    policy.restore()


# phase -> (the simulator event after which Ctrl-C comes, then a pause)
TRIGGERS = {
    "dialling": (("dial", {"source": "L1"}), 0.5),
    "first login": (("host", {"step": "menu"}), 0.5),
    "waiting for the call-back": (("host", {"step": "callback-chosen"}), 1.5),
    "second login": (("host", {"step": "login-prompt", "phase": "callback"}), 0.5),
    "pppd starting": (("connect", {"source": "L1"}), 0.0),     # then: the helper's record says "starting"
}


@pytest.mark.parametrize("phase", list(NUMBERS))
def test_ctrl_c_leaves_the_line_clean(world, ann, phase):
    (kind, fields), pause = TRIGGERS[phase]
    account = phase.replace(" ", "-").replace("-the-", "-")
    mark = world.mark()
    proc = ann.start(PPPUP, account)
    try:
        record = wait_for_record("line1", timeout=60)
        world.wait_event(kind, after=mark, timeout=60, **fields)
        if phase == "pppd starting":
            wait_for_record("line1", timeout=30, phase="starting")
        time.sleep(pause)
        assert proc.poll() is None, proc.communicate()
        code, out, err = interrupt(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == Code.INTERRUPTED, out + err
    if phase == "pppd starting":
        # the helper was already starting pppd: pppup waited for it, then took the link down
        assert "finishing this step first" in err and "taking it down again" in err, err
        assert world.events(kind="host", step="pppd-start", after=mark)
    else:
        assert f"SIGINT while {phase}: cleaning up" in err, err
        assert "DTR dropped" in err and "ATS0=0" in err and "line released" in err, err
    assert_line_clean(world, 1, record["lock_names"], mark)
    assert json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]["state"] == "free"
    if phase == "waiting for the call-back":
        # the server still calls back: the reset modem rings and does not answer
        world.wait_event("host", step="callback-dial", after=mark, timeout=30)
        world.wait_event("ring", source="L1", after=mark, count=2, timeout=30)
        world.wait_event("host", step="callback-failed", after=mark, timeout=30)
        assert world.events(kind="answer", source="L1", after=mark) == []
