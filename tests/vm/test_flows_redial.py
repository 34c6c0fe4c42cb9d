"""Redial in the VM: BUSY, NO CARRIER and NO DIALTONE are dialled again, within the policy's budget.

pppup dials itself here (phone numbers, no script): at CONNECT the helper
starts pppd against a PAP-less ISP.
"""
from __future__ import annotations

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from tests.flows.runner import PPPDOWN, PPPUP, session_record
from tests.vm.flows import (CLIENT_ADDRESS, ISP_ADDRESS, ann, guest, isp_pppd, ping_isp, world_config,  # noqa: F401
                            write_policy)

pytestmark = pytest.mark.vm

ISP, BUSY_TWICE, NO_CARRIER, NO_DIALTONE, ALWAYS_BUSY = "5551000", "5551001", "5551002", "5551003", "5551004"


def account(numbers: list[str], attempts: int) -> str:
    quoted = ", ".join(f'"{number}"' for number in numbers)
    return (f'line = "line1"\npeer = "pppt-flows"\nphone = [{quoted}]\ninit = ["ATZ", "AT&D2"]\n'
            f"[redial]\nattempts = {attempts}\ndelay = 1\nmax_delay = 2\n")


@pytest.fixture(scope="module")
def world(guest, ann):
    numbers = {ISP: {"host": "isp"}, BUSY_TWICE: {"host": "isp", "busy_first": 2},
               NO_CARRIER: {"outcome": "no-carrier"}, NO_DIALTONE: {"outcome": "no-dialtone"},
               ALWAYS_BUSY: {"outcome": "busy"}}
    hosts = {"isp": {"kind": "isp", "pppd": isp_pppd()}}
    # the policy allows 4 attempts per session; the accounts ask for more
    policy = write_policy([ann.name], extra_rule="dial_attempts = 4\n")
    ann.write("busy.toml", account([BUSY_TWICE], 6))
    ann.write("several.toml", account([NO_CARRIER, NO_DIALTONE, ISP], 6))
    ann.write("hopeless.toml", account([ALWAYS_BUSY], 6))
    with World(world_config(1, numbers, hosts)) as world:
        yield world
    policy.restore()


def test_busy_twice_then_the_link_comes_up(world, ann):
    mark = world.mark()
    result = ann.run(PPPUP, "busy", timeout=180)
    assert result.returncode == 0, result.stderr
    assert f"local {CLIENT_ADDRESS}, remote {ISP_ADDRESS}" in result.stdout
    assert result.stderr.count("BUSY") == 2 and "attempt 3 of 4" in result.stderr, result.stderr
    assert "dialling again in 1 s" in result.stderr and "dialling again in 2 s" in result.stderr
    assert [e.data["number"] for e in world.events(kind="dial", source="L1", after=mark)] == [BUSY_TWICE] * 3
    assert len(ping_isp(2)) == 2
    assert ann.run(PPPDOWN).returncode == 0


def test_no_carrier_and_no_dialtone_move_on_to_the_next_number(world, ann):
    mark = world.mark()
    result = ann.run(PPPUP, "several", timeout=180)
    assert result.returncode == 0, result.stderr
    assert "NO CARRIER" in result.stderr and "NO DIALTONE" in result.stderr
    dialled = [e.data["number"] for e in world.events(kind="dial", source="L1", after=mark)]
    assert dialled == [NO_CARRIER, NO_DIALTONE, ISP]
    assert len(ping_isp(2)) == 2
    assert ann.run(PPPDOWN).returncode == 0


def test_the_policys_attempt_budget_ends_it_and_the_line_is_clean(world, ann):
    mark = world.mark()
    result = ann.run(PPPUP, "hopeless", timeout=180)
    assert result.returncode == Code.DIAL, result.stderr
    assert "every dial attempt failed" in result.stderr and "4 attempt(s)" in result.stderr
    assert len(world.events(kind="dial", source="L1", after=mark)) == 4       # the policy's 4, not the account's 6
    assert session_record("line1") is None
    state = world.state("L1")
    assert (state["hook"], state["mode"], state["s"][0]) == ("on", "command", 0)
    assert world.events(kind="dtr", source="L1", after=mark, high=False)
