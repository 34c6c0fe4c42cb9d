"""User flows in the VM against ISPs: the second seed's PAP chat script, a login-prompt ISP, wrong passwords.

Real pppd on both ends (the far end in netns `isp`, ours started by the
installed helper), the client's line a real UART, pppup run by an
unprivileged user through the installed setuid shim.
"""
from __future__ import annotations

import json

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from tests.flows.runner import PPPDOWN, PPPUP, wait_for_record
from tests.flows.seeds import SEED2_CHAT_SCRIPT, SEED2_NUMBER
from tests.vm.flows import (CLIENT_ADDRESS, ISP_ADDRESS, ann, assert_line_clean, guest, interface_addresses,  # noqa: F401
                            isp_pppd, ping_isp, world_config, write_policy)

pytestmark = pytest.mark.vm

LOGIN_NUMBER = "5553000"
PAP_ACCOUNT = """\
line = "line1"
peer = "pppt-flows"
chat_file = "seed2.chat"
[auth]
user = "alice"
secret_file = "alice.secret"
"""
LOGIN_ACCOUNT = f"""\
line = "line1"
peer = "pppt-flows"
phone = "{LOGIN_NUMBER}"
login_script = '''
Expect ogin:
ID ""
Expect assword:
Password ""
Expect "$ "
Send ppp
'''
abort = ["Login incorrect"]
[login]
user = "alice"
password_file = "alice.password"
"""


@pytest.fixture(scope="module")
def world(guest, ann):
    hosts = {"isp": {"kind": "isp", "pppd": isp_pppd("require-pap"), "pap_secrets": {"alice": "s3cret"}},
             "login": {"kind": "login", "pppd": isp_pppd(), "users": {"alice": "0pen-sesame"}}}
    numbers = {SEED2_NUMBER: {"host": "isp"}, LOGIN_NUMBER: {"host": "login"}}
    policy = write_policy([ann.name])
    ann.write("seed2.chat", SEED2_CHAT_SCRIPT)
    ann.write("alice.secret", "s3cret\n")
    ann.write("alice.password", "0pen-sesame\n")
    ann.write("pap.toml", PAP_ACCOUNT)
    ann.write("login.toml", LOGIN_ACCOUNT)
    with World(world_config(1, numbers, hosts)) as world:
        yield world
    policy.restore()


def up_ping_down(world: World, ann, account: str) -> str:
    """Bring the account's link up, check it carries IP, end it with pppdown; pppup's stderr."""
    mark = world.mark()
    result = ann.run(PPPUP, account, "-v", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{account}: link up on line1 (ppp0): local {CLIENT_ADDRESS}, remote {ISP_ADDRESS}" in result.stdout
    assert interface_addresses() == (CLIENT_ADDRESS, ISP_ADDRESS)
    record = wait_for_record("line1", timeout=5, phase="up")
    assert len(ping_isp(3)) == 3
    status = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]
    assert (status["state"], status["user"], status["account"], status["local"], status["remote"]) == \
        ("up", ann.name, account, CLIENT_ADDRESS, ISP_ADDRESS)
    # At least the three 84-byte pings, and no more than pppd's own count at
    # the end (status counts from IP up, as pppd does).
    assert status["bytes_sent"] >= 3 * 84 and status["bytes_received"] >= 3 * 84, status
    down = ann.run(PPPDOWN)
    assert down.returncode == 0, down.stderr
    assert f"pppdown: stopped {account} on line1 ({ann.name}); up " in down.stdout and "received" in down.stdout
    last = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]["last"]
    assert last["bytes_sent"] >= status["bytes_sent"] and last["bytes_received"] >= status["bytes_received"], \
        (status, last)
    assert interface_addresses() is None
    assert_line_clean(world, 1, record["lock_names"], mark)
    return result.stderr


def test_the_second_seeds_pap_chat_script_verbatim_against_an_isp(world, ann):
    mark = world.mark()
    transcript = up_ping_down(world, ann, "pap")
    log = [e.data["line"] for e in world.events(kind="host", step="pppd-log", after=mark)]
    assert any("PAP peer authentication succeeded for alice" in line for line in log), log
    commands = [e.data["line"] for e in world.events(kind="command", source="L1", after=mark)]
    assert commands[:4] == ["AT", "ATH0", r"AT&F\Q3\V1&D3M1#CC1", f"ATD{SEED2_NUMBER}"], commands
    # -v shows the conversation; the secret appears nowhere
    assert "> ATD8765432" in transcript and "s3cret" not in transcript


def test_a_login_prompt_isp_with_a_kppp_script(world, ann):
    mark = world.mark()
    transcript = up_ping_down(world, ann, "login")
    assert world.events(kind="host", step="login-ok", after=mark)[0].data["user"] == "alice"
    assert world.events(kind="host", step="shell-command", after=mark)[0].data["command"] == "ppp"
    assert "> alice" in transcript and "0pen-sesame" not in transcript and "??????" in transcript


def test_a_wrong_pap_secret_is_reported_and_the_line_cleaned(world, ann):
    ann.write("alice.secret", "wrong\n")
    try:
        mark = world.mark()
        result = ann.run(PPPUP, "pap", timeout=180)
        assert result.returncode == Code.PPP, result.stderr
        assert "authentication to the peer failed: check the user name and password" in result.stderr
        last = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]
        assert last["state"] == "free" and "authentication" in last["last"]["reason"]
        locks = [e for e in world.events(kind="dtr", source="L1", after=mark)]
        assert locks, "the helper never dropped DTR"
        state = world.state("L1")
        assert (state["hook"], state["s"][0]) == ("on", 0), state
    finally:
        ann.write("alice.secret", "s3cret\n")


def test_a_wrong_login_password_fails_the_login(world, ann):
    ann.write("alice.password", "wrong\n")
    try:
        mark = world.mark()
        result = ann.run(PPPUP, "login", timeout=180)
        assert result.returncode == Code.LOGIN, result.stderr
        assert "the login failed" in result.stderr and "'Login incorrect'" in result.stderr
        assert "line line1 cleaned up" in result.stderr
        assert world.events(kind="host", step="login-failed", after=mark)
        state = world.state("L1")
        assert (state["hook"], state["mode"], state["s"][0]) == ("on", "command", 0), state
        assert json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]["state"] == "free"
    finally:
        ann.write("alice.password", "0pen-sesame\n")
