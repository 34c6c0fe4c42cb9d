"""Who may end whose link, the policy's idle limit, and two users racing for one line (VM, real pppd)."""
from __future__ import annotations

import json
import time

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from tests.flows.runner import PPPDOWN, PPPUP, finish, policy_text, session_record, wait_for_record
from tests.vm.flows import (ISP_NUMBER, adm, ann, assert_line_clean, bob, guest, interface_addresses,  # noqa: F401
                            isp_pppd, ping_isp, world_config, write_policy)

pytestmark = pytest.mark.vm

ACCOUNT = f'line = "line1"\npeer = "pppt-flows"\nphone = "{ISP_NUMBER}"\n'


@pytest.fixture(scope="module")
def world(guest, ann, bob, adm):
    for user in (ann, bob, adm):
        user.write("isp.toml", ACCOUNT)
    hosts = {"isp": {"kind": "isp", "pppd": isp_pppd(), "lines": 2}}
    with World(world_config(1, {ISP_NUMBER: {"host": "isp"}}, hosts)) as world:
        yield world


@pytest.fixture
def policy(ann, bob, adm):
    writer = write_policy([ann.name, bob.name, adm.name], admins=[adm.name])
    yield writer
    writer.restore()


def status(user) -> dict:
    return json.loads(user.run(PPPUP, "status", "--json").stdout)[0]


def test_pppdown_by_another_user_is_refused_and_an_admin_ends_it_with_all(world, ann, bob, adm, policy):
    mark = world.mark()
    up = ann.run(PPPUP, "isp", timeout=180)
    assert up.returncode == 0, up.stderr
    record = wait_for_record("line1", timeout=5, phase="up")
    refused = bob.run(PPPDOWN, "line1")
    assert refused.returncode == Code.DENIED, refused.stderr
    assert "may not stop the link on line line1" in refused.stderr
    nothing = bob.run(PPPDOWN)
    assert nothing.returncode == Code.NO_LINK and "you have no link" in nothing.stderr
    assert status(ann)["state"] == "up" and len(ping_isp(1)) == 1      # still up
    stopped = adm.run(PPPDOWN, "--all")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped isp on line1 ({ann.name}); up " in stopped.stdout
    assert status(ann)["state"] == "free" and interface_addresses() is None
    assert_line_clean(world, 1, record["lock_names"], mark)


def test_the_policys_idle_limit_ends_the_link_and_the_line_is_cleaned(world, ann, policy):
    policy.write(policy_text({"line1": "/dev/ttyS1"}, pty=False, users=[ann.name], extra_rule="idle = 5\n"))
    mark = world.mark()
    up = ann.run(PPPUP, "isp", timeout=180)
    assert up.returncode == 0, up.stderr
    assert "idle limit 5.0 s" in up.stderr
    record = wait_for_record("line1", timeout=5, phase="up")
    started = time.monotonic()
    deadline = started + 60
    while session_record("line1") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    ended = time.monotonic() - started
    assert session_record("line1") is None, "the idle limit did not end the link within 60 s"
    assert 4 <= ended <= 30, ended
    last = status(ann)["last"]
    assert last["reason"] == "idle timeout" and last["user"] == ann.name
    far = world.wait_event("host", step="pppd-exit", after=mark, timeout=30)
    assert far.data["status"] in (5, 16)                # the far end saw us terminate / hang up
    assert_line_clean(world, 1, record["lock_names"], mark)


def test_two_users_race_for_one_line(world, ann, bob, policy):
    racers = {"ann": ann.start(PPPUP, "isp"), "bob": bob.start(PPPUP, "isp")}
    results = {name: finish(proc, timeout=180) for name, proc in racers.items()}
    winners = [name for name, (code, _, _) in results.items() if code == 0]
    losers = [name for name, (code, _, _) in results.items() if code == Code.BUSY]
    assert len(winners) == 1 and len(losers) == 1, results
    winner, loser = (ann, bob) if winners == ["ann"] else (bob, ann)
    code, _, err = results[losers[0]]
    assert f"line line1 is busy: held by {winner.name} (account isp) since" in err, err
    assert status(ann)["user"] == winner.name
    # the loser queues with --wait; the winner hangs up; the loser gets the line
    waiting = loser.start(PPPUP, "isp", "--wait", "--wait-timeout", "180")
    time.sleep(3.0)
    assert waiting.poll() is None
    assert winner.run(PPPDOWN).returncode == 0
    code, out, err = finish(waiting, timeout=180)
    assert code == 0, err
    assert "waiting for it" in err and "link up on line1" in out
    assert status(ann)["user"] == loser.name and len(ping_isp(1)) == 1
    assert loser.run(PPPDOWN).returncode == 0
