"""`pppup ACCOUNT` for real on the host: installed setuid helper, unprivileged users, simulated modem on a pty.

The host kernel has no PPP, so pppd fails where it starts; everything before
it is real: the helper's lock and fd, the dialling, the call-back, and the
cleanup after Ctrl-C in each phase (a pty has no DTR: the client's own
escape + ATH + ATZ + ATS0=0 must leave the modem on-hook and not answering).
The VM tests (tests/vm/test_flows_*.py) do the same with pppd and real DTR.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from pppup_protocol.errors import Code
from pppup_sim import World

from .runner import PPPDOWN, PPPUP, finish, interrupt, locks_present, policy_text, session_record, \
    wait_for_record
from .seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from .support import FAST

CLIENT, SERVER = "5550001", "5559000"
LINE = "sim1"

CALLBACK_ACCOUNT = f"""\
line = "{LINE}"
peer = "pppt-flows"
phone = "{SERVER}"
login_script = '''
{SEED1_LOGIN_SCRIPT}'''
[login]
user = "{SEED1_USER}"
[callback]
menu_prompt = "{SEED1_MENU_PROMPT}"
wait = 60
"""


def make_world(dte_close_drops_dtr: bool = False, number: dict | None = None, **host: object) -> World:
    spec = {"kind": "callback", "pppd": ["/bin/cat"], "callback_delay": 0.3,
            "users": {SEED1_USER: {"password": "s3cret", "callback": {SEED1_ALIAS: CLIENT}}}}
    spec.update(host)
    return World({"delays": dict(FAST),
                  "modems": {"A": {"number": CLIENT, "dte_close_drops_dtr": dte_close_drops_dtr}},
                  "numbers": {SERVER: number or {"host": "cb"}}, "hosts": {"cb": spec}}).start()


@pytest.fixture
def ann(flow_users):
    user = flow_users["pppt-ann"]
    user.clear_accounts()
    user.write("cb.toml", CALLBACK_ACCOUNT)
    return user


def line_is_clean(world: World, lock_names: list[str]) -> None:
    """No record, no lock, the modem on-hook, in command mode and not auto-answering."""
    assert session_record(LINE) is None
    assert locks_present(lock_names) == []
    state = world.state("A")
    assert (state["hook"], state["mode"], state["s"][0]) == ("on", "command", 0), state


def test_the_seed_callback_flow_reaches_pppd_and_a_failed_pppd_leaves_the_line_clean(ann, policy):
    world = make_world(dte_close_drops_dtr=True)      # as HUPCL on a real port: the helper's close drops DTR
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name]))
        started = time.monotonic()
        result = ann.run(PPPUP, "cb", "-v", timeout=120)
        assert result.returncode == Code.PPP, result.stderr
        assert "the kernel has no PPP support" in result.stderr
        for words in ("dialling 5559000", "asking for a call-back at userxyz-home", "waiting for the call-back",
                      "RING: the server is calling back", "logged in again", "starting PPP (peer pppt-flows)"):
            assert words in result.stderr, result.stderr
        assert time.monotonic() - started < 60
        world.wait_event("host", step="shell-command", command="start_ppp", timeout=1)
        # the helper released the line: its DTR drop (the pty's last close) reset the modem (&D3)
        world.wait_event("reset", source="A", how="dtr", timeout=10)
        status = json.loads(ann.run(PPPUP, "status", "--json").stdout)
        entry = next(e for e in status if e["line"] == LINE)
        assert entry["state"] == "free" and "no PPP support" in entry["last"]["reason"]
        line_is_clean(world, [])
    finally:
        world.stop()


PHASES = {
    # phase: (world options, the simulator event after which Ctrl-C comes, extra wait)
    "dialling": ({"number": {"host": "cb", "delay": 30.0}}, ("dial", {"number": SERVER}), 0.2),
    "first login": ({"menu_prompt": "Pick one: "}, ("host", {"step": "menu"}), 0.3),
    "waiting for the call-back": ({"callback_delay": 60.0}, ("host", {"step": "callback-chosen"}), 0.5),
    "second login": ({"second_login": "password"}, ("host", {"step": "login-prompt", "phase": "callback"}), 0.3),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_ctrl_c_in_each_phase_leaves_the_line_clean(ann, policy, phase):
    options, (kind, fields), settle = PHASES[phase]
    world = make_world(**options)
    proc = None
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name]))
        proc = ann.start(PPPUP, "cb")
        record = wait_for_record(LINE, timeout=30, phase="dialling")
        assert locks_present(record["lock_names"]) == record["lock_names"]   # held while we dial
        world.wait_event(kind, timeout=30, **fields)
        time.sleep(settle)
        assert proc.poll() is None, proc.communicate()
        code, _, err = interrupt(proc)
        assert code == Code.INTERRUPTED, err
        assert f"SIGINT while {phase}: cleaning up" in err, err
        assert f"line {LINE} cleaned up:" in err and "line released" in err, err
        line_is_clean(world, record["lock_names"])
        assert "S0=1" not in err
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        world.stop()


def test_a_busy_line_names_its_holder_and_wait_gets_it_afterwards(ann, flow_users, policy):
    bob = flow_users["pppt-bob"]
    bob.clear_accounts()
    bob.write("other.toml", CALLBACK_ACCOUNT)
    world = make_world(callback_delay=60.0)
    holder = waiter = None
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name, bob.name]))
        holder = ann.start(PPPUP, "cb")
        world.wait_event("host", step="callback-chosen", timeout=30)
        refused = bob.run(PPPUP, "other")
        assert refused.returncode == Code.BUSY, refused.stderr
        assert f"line {LINE} is busy: held by {ann.name} (account cb) since" in refused.stderr
        waiter = bob.start(PPPUP, "other", "--wait", "--wait-timeout", "120")
        time.sleep(2.0)
        assert waiter.poll() is None
        mark = world.mark()
        code, _, _ = interrupt(holder)
        assert code == Code.INTERRUPTED
        # bob's pppup takes the line and dials
        try:
            world.wait_event("dial", source="A", after=mark, timeout=30)
        except TimeoutError:
            waiter.kill()
            raise AssertionError(f"bob's pppup --wait did not dial: {waiter.communicate()}") from None
        assert wait_for_record(LINE, timeout=30)["user"] == bob.name
        code, _, err = interrupt(waiter)
        assert code == Code.INTERRUPTED and "waiting for it" in err, err
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
        world.stop()


def test_wait_gives_up_after_its_timeout(ann, flow_users, policy):
    bob = flow_users["pppt-bob"]
    bob.clear_accounts()
    bob.write("other.toml", CALLBACK_ACCOUNT)
    world = make_world(callback_delay=60.0)
    holder = None
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name, bob.name]))
        holder = ann.start(PPPUP, "cb")
        world.wait_event("host", step="callback-chosen", timeout=30)
        result = bob.run(PPPUP, "other", "--wait", "--wait-timeout", "4")
        assert result.returncode == Code.TIMEOUT, result.stderr
        assert "still busy after waiting 4 s" in result.stderr and ann.name in result.stderr
        interrupt(holder)
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        world.stop()


def test_refusals_and_empty_answers(ann, flow_users, policy):
    outsider = flow_users["pppt-out"]
    outsider.clear_accounts()
    outsider.write("cb.toml", CALLBACK_ACCOUNT)
    world = make_world()
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name]))
        denied = outsider.run(PPPUP, "cb")
        assert denied.returncode == Code.DENIED and "not in group pppup" in denied.stderr
        nothing = ann.run(PPPDOWN)
        assert nothing.returncode == Code.NO_LINK and "you have no link to stop" in nothing.stderr
        status = ann.run(PPPUP, "status")
        assert status.returncode == 0 and status.stdout.splitlines()[0].split()[:3] == ["LINE", "STATE", "USER"]
        assert any(line.split()[:2] == [LINE, "free"] for line in status.stdout.splitlines())
        listing = ann.run(PPPUP, "accounts")
        assert listing.returncode == 0 and "cb" in listing.stdout and "call-back" in listing.stdout
        ann.write("broken.toml", 'line = "sim1"\npeer = "pppt-flows"\nphone = "1"\nspeed = 7\n')
        broken = ann.run(PPPUP, "broken")
        assert broken.returncode == Code.CONFIG and "broken.toml:4: speed must be" in broken.stderr
        ann.write("open.toml", 'line = "sim1"\npeer = "pppt-flows"\nphone = "1"\n[auth]\nuser = "a"\n'
                  'secret = "x"\n', mode=0o644)
        exposed = ann.run(PPPUP, "open")
        assert exposed.returncode == Code.CONFIG and "chmod 600" in exposed.stderr
        assert world.events(kind="command", source="A") == []     # nothing reached the modem
    finally:
        world.stop()


def test_the_dial_time_limit_takes_the_line_back_and_pppup_says_why(ann, policy):
    ann.write("slow.toml", f'line = "{LINE}"\npeer = "pppt-flows"\nphone = "{SERVER}"\nconnect_timeout = 60\n')
    world = make_world(number={"host": "cb", "delay": 40.0})        # CONNECT would take 40 s
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name], dial_seconds=10))
        started = time.monotonic()
        result = ann.run(PPPUP, "slow", timeout=120)
        assert 9 <= time.monotonic() - started < 40, result.stderr
        assert result.returncode == Code.MODEM and "the line hung up" in result.stderr, result.stderr
        assert "dial time limit ran out" in result.stderr
        assert session_record(LINE) is None
        status = json.loads(ann.run(PPPUP, "status", "--json").stdout)[0]
        assert status["state"] == "free" and "dial time limit" in status["last"]["reason"]
    finally:
        world.stop()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(word) for word in f.read().split()]


def test_a_helper_killed_under_pppup_stops_it_before_the_call_back_is_answered(ann, policy):
    # The helper holding the line dies while the client waits for the
    # call-back: the client must stop at once and reset the modem itself,
    # not answer the call-back on a line nobody holds for it any more.
    world = make_world(callback_delay=8.0, callback_attempts=1, answer_timeout=3.0)
    proc = None
    try:
        policy.write(policy_text({LINE: world.tty_path("A")}, pty=True, users=[ann.name]))
        proc = ann.start(PPPUP, "cb")
        record = wait_for_record(LINE, timeout=30, phase="dialling")
        chosen = world.wait_event("host", step="callback-chosen", timeout=30)
        # The server hangs up; the client reads NO CARRIER and begins to wait
        # for the call-back, which comes 8 s later: kill well inside that wait.
        world.wait_event("hangup", source="A", after=chosen.seq, timeout=30)
        time.sleep(1.0)
        helper = record["supervisor_pid"]
        assert helper in _children(proc.pid), "the helper is pppup's child (the shim it spawned)"
        os.kill(helper, signal.SIGKILL)
        code, _, err = finish(proc, timeout=30)
        assert code == Code.HELPER, err
        assert f"the root helper holding line {LINE} ended (killed by SIGKILL; phase: waiting for the call-back)" \
            in err, err
        assert "the line hung up" not in err       # we stopped, nobody had to revoke us
        world.wait_event("host", step="callback-failed", timeout=60)
        assert world.events(kind="answer", source="A") == [], "the reset modem answered the call-back"
        state = world.state("A")
        assert (state["hook"], state["mode"], state["s"][0]) == ("on", "command", 0), state
        status = json.loads(ann.run(PPPUP, "status", "--json").stdout)      # converges the dead helper's line
        assert next(e for e in status if e["line"] == LINE)["state"] == "free"
        line_is_clean(world, record["lock_names"])
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        world.stop()
