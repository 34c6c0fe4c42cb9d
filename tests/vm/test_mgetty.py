"""pppup beside Debian's real mgetty on the same UART (VM): the line is shared the UUCP-lock way.

mgetty waits for calls on ttyS1 (dial-in), restarted whenever it exits, as
under init.  Then:

1. a user runs the first seed's call-back flow with pppup on the same line:
   mgetty sees activity, finds pppup's lock (LCK..ttyS1, the name mgetty
   uses) and steps back ("dialout in progress"); the lock stays through the
   call-back gap, so the modem's own auto-answer (pppup's S0=1) takes the
   call-back and mgetty never sends ATA;
2. pppdown: the lock goes, mgetty notices (it polls every 10 s, then waits
   5 s more), exits and is restarted; it initialises the modem again;
3. an outside caller rings: mgetty answers (ATA) and the caller is greeted
   with mgetty's login prompt;
4. while mgetty has that caller (and its lock), `pppup status` shows the
   line in use by mgetty and `pppup` is refused, naming it.

What mgetty logged is saved to $PPPUP_VM_OUT/mgetty.json for
docs/reliability.md (tests/reliability_report.py).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from tests.flows.runner import PPPDOWN, PPPUP, locks_present, session_record, wait_for_record
from tests.flows.seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from tests.vm.observe import Client, pppd_pids
from tests.vm.flows import (CALLBACK_NUMBER, ann, client_number, guest, isp_pppd, ping_isp,  # noqa: F401
                            world_config, write_policy)
from tests.vm.mgetty import Mgetty

pytestmark = pytest.mark.vm

CALLBACK_DELAY_S = 3.0
OUTSIDE_CALLER = "5551234"
ACCOUNT = (f'line = "line1"\npeer = "pppt-flows"\nphone = "{CALLBACK_NUMBER}"\nlogin_script = \'\'\'\n'
           f"{SEED1_LOGIN_SCRIPT}'''\n[login]\nuser = \"{SEED1_USER}\"\n"
           f'[callback]\nmenu_prompt = "{SEED1_MENU_PROMPT}"\nwait = 60\n')
# The words of mgetty's log worth keeping as evidence.
EVIDENCE = ("lock", "dialout", "waiting...", "RING", "ATA", "CONNECT", "banner", "getlogname",
            "lowering DTR", "send: ")


@pytest.fixture(scope="module")
def world(guest, ann):
    hosts = {"cb": {"kind": "callback", "pppd": isp_pppd(), "callback_delay": CALLBACK_DELAY_S,
                    "users": {SEED1_USER: {"callback": {SEED1_ALIAS: client_number(1)}}}},
             # an outside caller that listens for a login prompt
             "caller": {"kind": "script", "steps": [{"wait": "login:", "timeout": 60.0}]}}
    policy = write_policy([ann.name])
    ann.write("cb.toml", ACCOUNT)
    with World(world_config(1, {CALLBACK_NUMBER: {"host": "cb"}}, hosts)) as world:
        yield world
    policy.restore()


def save(report: dict) -> None:
    path = os.path.join(os.environ.get("PPPUP_VM_OUT") or "/tmp", "mgetty.json")
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace(path + ".tmp", path)


def test_pppup_and_mgetty_share_the_line_through_a_call_back(world, ann):
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "steps": []}
    with Mgetty("ttyS1") as mgetty:
        t0 = time.monotonic()

        def step(text: str) -> None:
            report["steps"].append(f"{time.monotonic() - t0:5.1f} s  {text}")

        # -- mgetty owns the idle line
        ready = mgetty.wait_log("waiting...", timeout=60)
        first_pid = mgetty.pid
        step(f"mgetty (pid {first_pid}) initialised the modem and waits for calls")
        report["mgetty_start"] = mgetty.lines(0, *EVIDENCE)

        # -- 1. pppup's call-back flow on the same line
        mark = world.mark()
        client = Client(ann, PPPUP, "cb")
        record = wait_for_record("line1", timeout=60)
        helper = record["supervisor_pid"]
        step(f"pppup took the line (helper pid {helper}, locks {', '.join(record['lock_names'])})")
        backed_off = mgetty.wait_log("dialout in progress", after=ready, timeout=60)
        log = mgetty.log(ready)
        assert f"lock file exists (pid={helper})" in log, log
        step("mgetty saw the activity, found pppup's lock and stepped back (dialout in progress)")
        client.wait_line("the line stays ours for the call-back")
        # the gap: the server has hung up, the call-back is still to come
        gap_record = session_record("line1")
        assert gap_record is not None and gap_record["supervisor_pid"] == helper
        assert locks_present(record["lock_names"]) == record["lock_names"]
        with open("/var/lock/LCK..ttyS1") as f:
            assert int(f.read()) == helper
        assert mgetty.pid == first_pid, "mgetty restarted during the call-back gap"
        step("call-back gap: the server hung up; pppup's lock still names its helper; mgetty still waits")
        assert client.finish(timeout=180) == 0, client.text()
        answered = world.events(kind="answer", source="L1", after=mark)
        assert [a.data["how"] for a in answered] == ["auto"], answered      # the modem itself, S0=1
        assert not [c for c in world.events(kind="command", source="L1", after=mark) if c.data["line"] == "ATA"]
        assert mgetty.log(backed_off).count("ATA") == 0
        step("the call-back was answered by the modem's auto-answer (pppup's S0=1); mgetty sent no ATA")
        wait_for_record("line1", timeout=10, phase="up")
        assert len(ping_isp(2)) == 2
        assert mgetty.pid == first_pid and not mgetty.exits
        step("link up, 2 pings answered; mgetty still waiting for the lock to go")

        # -- 2. pppdown: mgetty takes the line back
        down_at = time.monotonic()
        down = ann.run(PPPDOWN, timeout=120)
        assert down.returncode == 0, down.stderr
        assert session_record("line1") is None and locks_present(record["lock_names"]) == []
        step(f"pppdown: {down.stdout.strip()}")
        exit_at, status = mgetty.wait_exit(down_at, timeout=40)
        assert status == 0
        step(f"mgetty (pid {first_pid}) saw the lock gone and exited 0, {exit_at - down_at:.1f} s after pppdown; "
             "restarted (respawn)")
        after_exit = mgetty.log_size()
        again = mgetty.wait_log("waiting...", after=after_exit, timeout=60)
        second_pid = mgetty.pid
        assert second_pid is not None and second_pid != first_pid
        report["mgetty_restart"] = mgetty.lines(after_exit, *EVIDENCE)
        step(f"mgetty (pid {second_pid}) initialised the modem again and waits for calls")
        assert not pppd_pids()

        # -- 3. an incoming call: mgetty answers it
        ring_mark = world.mark()
        world.ring("L1", caller=OUTSIDE_CALLER, host="caller")
        world.wait_event("command", source="L1", after=ring_mark, line="ATA", timeout=60)
        heard = world.wait_event("host", source="caller", after=ring_mark, step="script-step", timeout=60)
        assert heard.data["action"] == "wait"
        step(f"an outside call ({OUTSIDE_CALLER}) rang; mgetty answered with ATA; the caller got "
             "mgetty's login prompt")
        mgetty.wait_log("getlogname", after=again, timeout=30)
        report["mgetty_answer"] = mgetty.lines(again, *EVIDENCE)

        # -- 4. while mgetty has the caller, pppup is told who holds the line
        with open("/var/lock/LCK..ttyS1") as f:
            assert int(f.read()) == second_pid
        line = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]
        assert line["state"] == "in use by another program" and "mgetty" in line["holder"], line
        busy = ann.run(PPPUP, "cb", timeout=60)
        assert busy.returncode == Code.BUSY and "mgetty" in busy.stderr, busy.stderr
        report["pppup_refused"] = busy.stderr.strip().splitlines()[-1]
        step(f"while mgetty had the caller: pppup status said {line['state']!r} ({line['holder']}); "
             f"pppup cb was refused: {report['pppup_refused']}")
        world.drop_carrier("L1")
    report["mgetty_dialout"] = mgetty.lines(ready, "lock", "dialout")[:12]
    save(report)
