"""The session lifecycle on host ptys with a real policy, locks, state and audit.

Real pppd cannot bring a link up on the host (no /dev/ppp); these tests go up
to pppd's exec and its real failure, and use a real pppd blocked on an
options FIFO where a long-lived pppd is needed (stop, supervise).  The full
link (IP up, PAP, DTR on UARTs) is in the VM tests.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pppup_protocol.errors import Code, PppupError
from pppup_helper import links, pppd, procinfo, state
from pppup_helper.session import LineSession, line_status, stop_links
from pppup_helper.state import SessionRecord, StateDir

from conftest import caller, finish_entry_unsafe


def acquire(world, who="daemon", line="line1", account="work") -> LineSession:
    return LineSession.acquire(world.policy, caller(who), world.grant(who, line, account), account,
                               **world.kw())


def record_of(world, line="line1") -> SessionRecord | None:
    with StateDir(world.state_dir) as sd:
        return sd.read_session(line)


def end_of(world, line="line1"):
    with StateDir(world.state_dir) as sd:
        return sd.read_end(line)


def pty_names(world, line="line1") -> list[str]:
    n = world.devices[line].rsplit("/", 1)[1]
    st = os.stat(world.devices[line])
    return sorted([f"LCK..pts_{n}", f"LCK..{n}", f"LCK..pts:{n}",
                   f"LK.{os.major(st.st_dev):03d}.136.{os.minor(st.st_rdev):03d}"])


# ---------------------------------------------------------------- acquire
def test_acquire_locks_records_and_opens(world):
    s = acquire(world)
    try:
        assert world.locks() == pty_names(world)
        for name in world.locks():
            assert open(os.path.join(world.lock_dir, name), "rb").read() == b"%10d\n" % os.getpid()
        rec = record_of(world)
        assert (rec.phase, rec.owner_uid, rec.user, rec.account) == ("dialling", 1, "daemon", "work")
        assert rec.supervisor_pid == os.getpid() and rec.device == world.devices["line1"]
        fd = s.client_fd()
        try:
            assert os.fstat(fd).st_rdev == os.stat(world.devices["line1"]).st_rdev
            os.write(fd, b"AT\r")
            assert os.read(world.masters["line1"], 10) == b"AT\r"
        finally:
            os.close(fd)
    finally:
        s.release("test over")


def test_second_acquire_is_busy_and_names_the_holder(world):
    s = acquire(world, "daemon")
    try:
        with pytest.raises(PppupError) as e:
            acquire(world, "bin", account="home")
        assert e.value.code == Code.BUSY
        assert "line line1 is busy: held by daemon (account work) since" in str(e.value)
        assert record_of(world).user == "daemon"          # untouched by the loser
    finally:
        s.release("test over")


def test_max_links_counts_live_sessions_of_the_caller(world):
    s = acquire(world, "daemon", "line1")
    try:
        with pytest.raises(PppupError) as e:
            acquire(world, "daemon", "line2")
        assert e.value.code == Code.DENIED and "at most 1" in str(e.value)
        other = acquire(world, "bin", "line2")        # another user is not counted
        other.release("test over")
    finally:
        s.release("test over")


def test_foreign_lock_makes_the_line_busy_with_its_holder(world):
    sleeper = subprocess.Popen(["sleep", "60"])
    world.extra.append(sleeper)
    n = world.devices["line1"].rsplit("/", 1)[1]
    with open(os.path.join(world.lock_dir, f"LCK..{n}"), "wb") as f:
        f.write(b"%10d\n" % sleeper.pid)
    time.sleep(0.1)
    with pytest.raises(PppupError) as e:
        acquire(world)
    assert e.value.code == Code.BUSY and f"pid {sleeper.pid}" in str(e.value)
    assert world.locks() == [f"LCK..{n}"] and record_of(world) is None


def test_device_missing_is_a_line_error_with_nothing_left(world):
    world.load(lines_extra={"line1": ""})
    os.close(world.masters.pop("line1"))        # the pty disappears
    with pytest.raises(PppupError) as e:
        acquire(world)
    assert e.value.code == Code.LINE
    assert world.locks() == [] and record_of(world) is None


# ---------------------------------------------------------------- release
def test_release_revokes_the_clients_fd_unlocks_and_records_the_end(world):
    s = acquire(world)
    fd = s.client_fd()
    s.release("released by the client")
    try:
        assert os.read(fd, 10) == b""
        with pytest.raises(OSError) as e:
            os.write(fd, b"AT\r")
        assert e.value.errno == errno.EIO
    finally:
        os.close(fd)
    assert world.locks() == [] and record_of(world) is None
    end = end_of(world)
    assert (end.reason, end.user, end.account, end.exit_status) == ("released by the client", "daemon",
                                                                    "work", None)
    audit = [l for l in world.audit_lines() if "op=release" in l]
    assert len(audit) == 1 and "dtr=\"no modem-control lines\"" in audit[0] and "result=\"cleaned up\"" in audit[0]
    s.release("again")                    # idempotent
    with pytest.raises(PppupError):
        s.client_fd()


def test_reset_command_is_sent_at_release(world):
    world.load(lines_extra={"line1": 'reset = "ATZ"'})
    s = acquire(world)
    master = world.masters["line1"]
    s.release("test over")
    assert os.read(master, 100).startswith(b"ATZ\r")
    assert any('reset="reset command got no answer"' in l for l in world.audit_lines())


def test_hangup_on_a_pty_reports_no_modem_control_lines(world):
    s = acquire(world)
    try:
        assert s.hangup() == "no modem-control lines"
    finally:
        s.release("test over")


# ------------------------------------------------------------- start_pppd
def test_failing_pppd_is_mapped_and_cleans_up(world):
    s = acquire(world)
    fd = s.client_fd()
    with pytest.raises(PppupError) as e:
        s.start_pppd(world.pppd_grant("daemon", peer="pppup-no-such-peer"), "alice", "secret",
                     time.monotonic() + 20)
    assert e.value.code == Code.PPP
    assert "pppd ended before the link came up: pppd refused its options" in str(e.value)
    assert world.locks() == [] and record_of(world) is None
    assert end_of(world).exit_status == 2
    assert os.read(fd, 10) == b""        # revoked
    os.close(fd)


def test_start_pppd_refuses_a_half_credential_and_releases(world):
    s = acquire(world)
    with pytest.raises(PppupError) as e:
        s.start_pppd(world.pppd_grant("daemon"), "alice", None, time.monotonic() + 5)
    assert e.value.code == Code.USAGE
    # the gate forgets a session whose start_pppd failed: nothing may stay held
    assert world.locks() == [] and record_of(world) is None and s.released


def test_start_pppd_after_the_dial_deadline_releases_the_line(world):
    s = acquire(world)
    s.dial_deadline = time.monotonic() - 1
    with pytest.raises(PppupError) as e:
        s.start_pppd(world.pppd_grant("daemon"), None, None, time.monotonic() + 5)
    assert "dial time limit" in str(e.value)
    assert world.locks() == [] and record_of(world) is None


# ---------------------------------------------------- crashes and converging
HELPER = textwrap.dedent("""
    import os, sys, time, json
    sys.path.insert(0, sys.argv[1])
    from conftest import caller
    from datetime import datetime
    from pppup_helper import pppd, audit
    from pppup_helper.policy import parse_policy
    from pppup_helper.session import LineSession
    root, text, mode, supervisor = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    audit.set_socket_path(os.path.join(root, "log"))
    policy = parse_policy(text.encode(), os.path.join(root, "policy.toml"), ppp_dir=os.path.join(root, "ppp"))
    who = "daemon"
    grant = policy.grant_line(caller(who), "line1", "work", datetime.now().astimezone())
    s = LineSession.acquire(policy, caller(who), grant, "work", lock_dir=os.path.join(root, "lock"),
                            state_dir=os.path.join(root, "state"), supervisor=supervisor)
    if mode == "pppd":
        # Test stand-in for "IP up": a real setuid pppd kept alive on an options
        # FIFO (the host has no /dev/ppp); everything else is the real session.
        fifo = os.path.join(root, "fifo")
        os.mkfifo(fifo)
        pppd.build_argv = lambda *a, **k: [pppd.PPPD, "file", fifo]
        real_spawn = pppd.spawn
        pppd.spawn = lambda argv, fd, secret: real_spawn(argv, fd, secret, check=False)
        s._wait_ip_up = lambda deadline: None
        pg = policy.grant_pppd(caller(who), "line1", "isp", [], datetime.now().astimezone())
        s.start_pppd(pg, None, None, time.monotonic() + 10)
    print(json.dumps({"pid": os.getpid(), "pppd": s.pppd.pid if s.pppd else None}), flush=True)
    if mode in ("supervise", "pppd"):
        s.supervise()           # execs the supervisor: the process ends when the link is cleaned up
    else:
        time.sleep(300)
""")
# The test build of the link supervisor: its finish step is this repository's.
SUPERVISOR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "csrc", "pppup-supervise-asan")


def start_helper(world, mode: str, supervisor: str = SUPERVISOR) -> tuple[subprocess.Popen, dict]:
    problem = finish_entry_unsafe() if supervisor == SUPERVISOR else None
    if problem:
        pytest.fail(problem)
    p = subprocess.Popen([sys.executable, "-c", HELPER, os.path.dirname(__file__), world.root,
                          world.policy_text, mode, supervisor], stdout=subprocess.PIPE, text=True)
    world.extra.append(p)
    info = json.loads(p.stdout.readline())
    return p, info


def release_line(world) -> str:
    """The audit line the supervisor's finish step wrote when it released the link."""
    lines = [l for l in world.audit_lines() if "op=release" in l]
    assert len(lines) == 1, lines
    return lines[0]


def test_killed_helper_is_converged_by_the_next_status(world):
    """Z1/Z2: the helper dies holding lock, state and the line; the user still has an fd."""
    p, info = start_helper(world, "hold")
    users_fd = os.open(world.devices["line1"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    p.kill()
    p.wait()
    assert record_of(world).supervisor_pid == info["pid"] and world.locks() == pty_names(world)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["line"] == "line1" and status[0]["state"] == "free"
    assert status[0]["last"]["reason"] == "the supervising helper died; a later helper cleaned up"
    assert world.locks() == [] and record_of(world) is None
    assert os.read(users_fd, 10) == b""           # the dead session's fd was revoked too
    os.close(users_fd)
    assert any("op=converge" in l and "owner=daemon" in l for l in world.audit_lines())
    acquire(world, "bin").release("test over")    # the line is usable again


def test_recycled_supervisor_pid_is_not_mistaken_for_the_owner(world):
    """L7/K3: the recorded supervisor pid now belongs to another live process."""
    imposter = subprocess.Popen(["sleep", "60"])
    world.extra.append(imposter)
    s = acquire(world)
    names = s.lock.names
    # Rewrite state and locks as if the dead supervisor's pid were now the imposter's.
    with StateDir(world.state_dir) as sd:
        rec = sd.read_session("line1")
        sd.write_session(rec._replace(supervisor_pid=imposter.pid, supervisor_start=1))
    s.lock.created.clear()
    s.line.close()
    s.released = True
    for name in names:
        path = os.path.join(world.lock_dir, name)
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(b"%10d\n" % imposter.pid)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["state"] == "free" and world.locks() == []
    assert imposter.poll() is None                 # nothing was signalled


def test_leftover_pppd_of_a_dead_supervisor_is_verified_and_stopped(world):
    """Z3: pppd survived its supervisor (no PDEATHSIG here): the next helper stops it."""
    fifo = os.path.join(world.root, "fifo2")
    os.mkfifo(fifo)
    leftover = subprocess.Popen([pppd.PPPD, "file", fifo], start_new_session=True)
    world.extra.append(leftover)
    s = acquire(world)
    s._update(phase="up", pppd_pid=leftover.pid, pppd_start=procinfo.start_time(leftover.pid),
              peer="isp", link_start=int(time.time()))
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    s._update(supervisor_pid=dead.pid)
    s.lock.release()
    s.line.close()
    s.released = True
    time.sleep(0.2)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["state"] == "free"
    assert leftover.wait(timeout=5) == -signal.SIGTERM
    assert any("leftover pppd terminated" in l for l in world.audit_lines())


def test_recorded_pppd_pid_pointing_at_another_process_is_never_signalled(world):
    """K2: state says pppd is pid N, but N is some other root process."""
    victim = subprocess.Popen(["sleep", "60"])
    world.extra.append(victim)
    s = acquire(world)
    s._update(phase="up", pppd_pid=victim.pid, pppd_start=procinfo.start_time(victim.pid))
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    s._update(supervisor_pid=dead.pid)
    s.lock.release()
    s.line.close()
    s.released = True
    line_status(world.policy, caller("bin"), **world.kw())
    time.sleep(0.3)
    assert victim.poll() is None
    assert any("left pid" in l and "not /usr/sbin/pppd" in l for l in world.audit_lines())


@pytest.mark.parametrize("garbage", [b"", b"{}", b"\x00" * 64, b"x" * 100000])
def test_corrupt_state_is_no_session_and_is_removed(world, garbage):
    os.makedirs(os.path.join(world.state_dir, "lines"), mode=0o700, exist_ok=True)
    path = os.path.join(world.state_dir, "lines", "line1.json")
    with open(path, "wb") as f:
        f.write(garbage)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["state"] == "free" and not os.path.exists(path)


def test_converging_never_removes_a_record_written_after_its_look(world, monkeypatch):
    # Found by the 1,000-trial race run: a loser's helper converging the line
    # saw no record, the winner's helper then took the line and wrote one,
    # and the loser, finding a file where it had read none, removed it as
    # unreadable.  The winner kept the line with no record of it.
    read = StateDir.read_session
    winner = []

    def read_then_the_winner_acquires(self, line):
        result = read(self, line)
        if line == "line1" and not winner:
            winner.append(None)
            winner[0] = acquire(world, "daemon")
        return result

    monkeypatch.setattr(StateDir, "read_session", read_then_the_winner_acquires)
    try:
        line_status(world.policy, caller("bin"), **world.kw())
        monkeypatch.undo()
        rec = record_of(world)
        assert rec is not None and rec.user == "daemon", "the winner's record was removed"
    finally:
        if winner and winner[0] is not None:
            winner[0].release("test over")


# ------------------------------------------------------------------ status
def test_status_shows_every_line_truthfully(world):
    s = acquire(world, "daemon")
    sleeper = subprocess.Popen(["sleep", "60"])
    world.extra.append(sleeper)
    n2 = world.devices["line2"].rsplit("/", 1)[1]
    with open(os.path.join(world.lock_dir, f"LCK..pts_{n2}"), "wb") as f:
        f.write(b"%10d\n" % sleeper.pid)
    time.sleep(0.1)
    try:
        status = {e["line"]: e for e in line_status(world.policy, caller("bin"), **world.kw())}
        assert status["line1"]["state"] == "dialling" and status["line1"]["user"] == "daemon"
        assert status["line1"]["account"] == "work"
        assert status["line2"]["state"] == "in use by another program"
        assert f"pid {sleeper.pid} ('sleep', user root)" in status["line2"]["holder"]
    finally:
        s.release("test over")


# ------------------------------------------------------- supervise and stop
def test_pppdown_by_the_owner_stops_pppd_and_the_supervisor_cleans_up_within_2s(world):
    p, info = start_helper(world, "pppd")
    rec = record_of(world)
    assert rec.phase == "up" and rec.pppd_pid == info["pppd"]
    # another user, not an admin of the line: refused, nothing signalled
    with pytest.raises(PppupError) as e:
        stop_links(world.policy, caller("bin"), "line1", False, **world.kw())
    assert e.value.code == Code.DENIED
    assert procinfo.facts(info["pppd"]) is not None
    with pytest.raises(PppupError) as e:
        stop_links(world.policy, caller("bin"), None, False, **world.kw())
    assert e.value.code == Code.NO_LINK
    t0 = time.monotonic()
    result = stop_links(world.policy, caller("daemon"), None, False, **world.kw())
    elapsed = time.monotonic() - t0
    assert len(result) == 1 and result[0]["stopped"] and result[0]["pppd"] == "terminated"
    assert result[0]["reason"] == "pppd was killed by SIGTERM"
    assert elapsed < 2.5, elapsed
    assert p.wait(timeout=5) == 0
    assert world.locks() == [] and record_of(world) is None
    audit_lines = world.audit_lines()
    assert any("op=stop" in l and "uid=1 " in l for l in audit_lines)
    released = [l for l in audit_lines if "op=release" in l]
    assert len(released) == 1 and 'result="cleaned up"' in released[0], audit_lines
    assert "dtr=\"no modem-control lines\"" in released[0]


def test_line_admin_may_stop_another_users_link(world):
    p, info = start_helper(world, "pppd")
    result = stop_links(world.policy, caller("sys"), "line1", False, **world.kw())
    assert result[0]["user"] == "daemon" and result[0]["stopped"]
    assert p.wait(timeout=5) == 0


def test_killed_supervisor_takes_pppd_with_it_and_status_converges(world):
    p, info = start_helper(world, "pppd")
    pidfd = os.pidfd_open(info["pppd"])
    p.kill()
    p.wait()
    assert procinfo.wait_pidfd(pidfd, 2.0)          # PDEATHSIG
    os.close(pidfd)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["state"] == "free" and world.locks() == []


def test_supervisor_cleans_up_when_pppd_dies_on_its_own(world):
    p, info = start_helper(world, "pppd")
    pidfd = os.pidfd_open(info["pppd"])
    t0 = time.monotonic()
    signal.pidfd_send_signal(pidfd, signal.SIGKILL)    # a pppd crash
    os.close(pidfd)
    assert p.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 2.0
    assert world.locks() == [] and record_of(world) is None
    assert end_of(world).reason == "pppd was killed by SIGKILL"
    released = release_line(world)
    assert 'reason="pppd was killed by SIGKILL"' in released and 'result="cleaned up"' in released
    cleanup = float(released.split("cleanup=")[1].split("s")[0])
    assert 0 < cleanup < 2.0, released


def test_supervisor_is_the_helper_itself_and_pppds_parent(world):
    """exec keeps the pid: the lock, the record and pppd's parent name the supervisor."""
    p, info = start_helper(world, "pppd")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{p.pid}/exe") != SUPERVISOR and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.readlink(f"/proc/{p.pid}/exe") == SUPERVISOR
    assert info["pid"] == p.pid and record_of(world).supervisor_pid == p.pid
    assert procinfo.facts(info["pppd"]).ppid == p.pid
    for name in world.locks():
        assert open(os.path.join(world.lock_dir, name), "rb").read() == b"%10d\n" % p.pid
    result = stop_links(world.policy, caller("daemon"), None, False, **world.kw())
    assert result[0]["stopped"] and result[0]["pppd"] == "terminated"
    assert p.wait(timeout=5) == 0


def test_without_its_supervisor_the_link_is_stopped_and_released(world):
    p, info = start_helper(world, "pppd", supervisor="/nonexistent/pppup-supervise")
    assert p.wait(timeout=10) == 0
    assert not os.path.exists(f"/proc/{info['pppd']}")
    assert world.locks() == [] and record_of(world) is None
    assert "link supervisor /nonexistent/pppup-supervise is missing" in end_of(world).reason


def test_dialling_session_is_not_stopped_by_pppdown(world):
    s = acquire(world)
    try:
        result = stop_links(world.policy, caller("daemon"), "line1", False, **world.kw())
        assert result[0]["stopped"] is False and "dialling" in result[0]["reason"]
        assert record_of(world) is not None
    finally:
        s.release("test over")


RACE = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from conftest import caller
    from datetime import datetime
    from pppup_helper import audit
    from pppup_helper.policy import parse_policy
    from pppup_helper.session import LineSession
    from pppup_protocol.errors import PppupError
    root, text, line, go = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    audit.set_socket_path(os.path.join(root, "log"))
    policy = parse_policy(text.encode(), os.path.join(root, "policy.toml"), ppp_dir=os.path.join(root, "ppp"))
    grant = policy.grant_line(caller("daemon"), line, "work", datetime.now().astimezone())
    while time.time() < go:
        pass
    try:
        s = LineSession.acquire(policy, caller("daemon"), grant, "work",
                                lock_dir=os.path.join(root, "lock"), state_dir=os.path.join(root, "state"))
        print("won", flush=True)
        time.sleep(1.5)
        s.release("race over")
    except PppupError as e:
        print("lost", e.code.name, flush=True)
""")


def test_concurrent_acquires_of_one_user_cannot_both_pass_max_links(world):
    go = time.time() + 1.5
    racers = [subprocess.Popen([sys.executable, "-c", RACE, os.path.dirname(__file__), world.root,
                                world.policy_text, line, str(go)], stdout=subprocess.PIPE, text=True)
              for line in ("line1", "line2", "line1", "line2")]
    results = sorted(r.communicate(timeout=60)[0].strip() for r in racers)
    assert results.count("won") == 1, results
    assert all(r in ("won", "lost DENIED", "lost BUSY") for r in results), results
    assert world.locks() == [] and record_of(world, "line1") is None and record_of(world, "line2") is None


CRASHER = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, sys.argv[1])
    from conftest import caller
    from datetime import datetime
    from pppup_helper import audit, line, pppd, session, state
    from pppup_helper.policy import parse_policy
    root, text, point = sys.argv[2], sys.argv[3], sys.argv[4]
    audit.set_socket_path(os.path.join(root, "log"))
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)

    if point == "after-lock":
        state.StateDir.write_session = die
    elif point == "after-state":
        line.Line.open = classmethod(lambda cls, device: die())
    elif point == "after-open":
        session.LineSession.client_fd = die
    policy = parse_policy(text.encode(), os.path.join(root, "policy.toml"), ppp_dir=os.path.join(root, "ppp"))
    now = datetime.now().astimezone()
    grant = policy.grant_line(caller("daemon"), "line1", "work", now)
    s = session.LineSession.acquire(policy, caller("daemon"), grant, "work",
                                    lock_dir=os.path.join(root, "lock"), state_dir=os.path.join(root, "state"))
    s.client_fd()
    fifo = os.path.join(root, "fifo")
    os.mkfifo(fifo)
    pppd.build_argv = lambda *a, **k: [pppd.PPPD, "file", fifo]
    real_spawn = pppd.spawn
    pppd.spawn = lambda argv, fd, secret: real_spawn(argv, fd, secret, check=False)
    s._wait_ip_up = lambda deadline: None
    real_update = s._update
    def update(**changes):
        if point == "after-spawn" and "pppd_pid" in changes:
            die()
        real_update(**changes)
        if point == "after-pppd-recorded" and "pppd_pid" in changes:
            print(s.pppd.pid, flush=True)
            die()
    s._update = update
    if point == "during-release":
        line.Line.revoke = die
        s.release("crash test")
    s.start_pppd(policy.grant_pppd(caller("daemon"), "line1", "isp", [], now), None, None, time.monotonic() + 10)
""")


@pytest.mark.parametrize("point", ["after-lock", "after-state", "after-open", "after-spawn",
                                   "after-pppd-recorded", "during-release"])
def test_Z1_crash_at_each_step_is_converged_by_the_next_helper(world, point):
    """The helper is SIGKILLed right after each step; the next status must leave
    no lock, no record, no pppd, and a revoked line."""
    users_fd = os.open(world.devices["line1"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    p = subprocess.Popen([sys.executable, "-c", CRASHER, os.path.dirname(__file__), world.root,
                          world.policy_text, point], stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    pppd_pid = int(out) if out.strip() else None
    if pppd_pid is not None:
        pidfd = os.pidfd_open(pppd_pid)
        assert procinfo.wait_pidfd(pidfd, 2.0), "pppd outlived its supervisor"
        os.close(pidfd)
    status = line_status(world.policy, caller("bin"), **world.kw())
    assert status[0]["state"] == "free", status
    assert world.locks() == [] and record_of(world) is None
    if point not in ("after-lock", "after-state"):
        assert os.read(users_fd, 10) == b""            # the line was opened: revoked now
    os.close(users_fd)
    acquire(world, "bin").release("test over")       # and usable again
