"""Attack classes L (locks), D (device paths), K (killing pppd), Z (crashes), O (pppd
options), X2 (full /run) and F5 (fds outliving the session) of security.md, run as
unprivileged users against the installed setuid shim on root-held pty lines.

Besides the autouse oracle (/etc unchanged, no canary, no helper left), every
case checks the line afterwards: no lock and no session record of our lines
left, no pppd left (the `world` fixture).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack_harness import TEST_PEER, answers, raw, request, run_as, wait_no_helpers  # noqa: E402
from line_support import (acquire_code, client, close_world, leftovers, make_world,  # noqa: E402
                          read_end, read_session, remove_leftovers, start_supervisor, wait_gone)

from pppup_protocol import paths  # noqa: E402
from pppup_protocol.errors import Code  # noqa: E402
from pppup_helper import procinfo  # noqa: E402

HELPER_CODE = 13


@pytest.fixture
def world(policy):
    w = make_world()
    policy.write(w.policy_text())
    w.policy = policy
    yield w
    wait_no_helpers()            # a helper may still be cleaning up after its client went
    bad = leftovers(w)
    pppds = _pppd_pids([ln.path for ln in w.lines.values()])
    close_world(w)
    remove_leftovers(w)
    assert not bad, f"left behind: {bad}"
    assert not pppds, f"pppd left running on our lines: {pppds}"


def _pppd_pids(ttys: list[str] | None = None) -> list[int]:
    """Live pppd processes (on one of `ttys`, if given)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") != "/usr/sbin/pppd":
                continue
            fields = procinfo.stat_fields(int(entry))
            if fields is None or fields[0] == "Z":
                continue
            if ttys is None or os.readlink(f"/proc/{entry}/fd/0") in ttys:
                out.append(int(entry))
        except OSError:
            pass
    return out


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def acquire_and_release(user, line="modem1") -> dict:
    return client(user, acquire_code(line) + """
    if fd is not None:
        out["fd"] = {"rdev": [os.major(os.fstat(fd).st_rdev), os.minor(os.fstat(fd).st_rdev)]}
        h.release(); os.close(fd)
    h.close(); emit()
    """)


@pytest.fixture
def sysctl():
    saved = {}

    def set_(name: str, value: str) -> None:
        path = "/proc/sys/" + name.replace(".", "/")
        saved.setdefault(path, open(path).read().strip())
        with open(path, "w") as f:
            f.write(value)
    yield set_
    for path, value in saved.items():
        with open(path, "w") as f:
            f.write(value)


# ===================================================================== L
@pytest.mark.parametrize("protected", ["0", "1"])
def test_L1_symlink_lock_to_shadow_is_reported_not_followed(world, mallory, sysctl, protected):
    sysctl("fs.protected_symlinks", protected)
    lock = os.path.join(paths.LOCK_DIR, f"LCK..pts_{world.lines['modem1'].number}")
    before = _sha("/etc/shadow")
    assert run_as(mallory, ["ln", "-s", "/etc/shadow", lock]).returncode == 0
    try:
        r = acquire_and_release(mallory)
        assert r["error"]["code"] == Code.LINE and "symbolic link" in r["error"]["message"]
        assert "fd" not in r
        assert os.path.islink(lock) and _sha("/etc/shadow") == before
    finally:
        os.unlink(lock)


def test_L2_hardlink_to_a_root_file_is_never_written_or_removed(world, mallory, sysctl):
    sysctl("fs.protected_hardlinks", "0")
    lock = [p for p in world.lines["modem1"].lock_paths() if "/LK." in p][0]
    before = _sha("/etc/passwd")
    assert run_as(mallory, ["ln", "/etc/passwd", lock]).returncode == 0
    try:
        r = acquire_and_release(mallory)
        assert r["error"]["code"] == Code.LINE and "not a lock file" in r["error"]["message"]
        assert os.stat("/etc/passwd").st_nlink == 2 and _sha("/etc/passwd") == before
    finally:
        os.unlink(lock)


def test_L2_users_own_stale_lock_file_is_replaced_by_a_root_owned_one(world, mallory, alice):
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    lock = world.lines["modem1"].lock_paths()[0]
    assert run_as(mallory, ["sh", "-c", f"printf '%10d\\n' {dead.pid} > {lock}"]).returncode == 0
    assert os.stat(lock).st_uid == mallory.uid
    held = client(alice, acquire_code() + f"""
    out["lock_uid"] = os.stat({lock!r}).st_uid
    h.release(); os.close(fd); h.close(); emit()
    """)
    assert held["error"] is None and held["lock_uid"] == 0


def test_L3_fake_live_owner_pid_1_blocks_without_takeover(world, mallory):
    lock = world.lines["modem1"].lock_paths()[0]
    assert run_as(mallory, ["sh", "-c", f"printf '%10d\\n' 1 > {lock}"]).returncode == 0
    try:
        r = acquire_and_release(mallory)
        assert r["error"]["code"] == Code.BUSY and "pid 1 " in r["error"]["message"]
        assert open(lock).read() == "         1\n"
    finally:
        os.unlink(lock)


def test_L3_users_sleeping_process_holds_the_line_and_is_named(world, mallory, alice):
    sleeper = subprocess.Popen(["setpriv", f"--reuid={mallory.uid}", f"--regid={mallory.gid}",
                                "--clear-groups", "sleep", "60"])
    world.procs.append(sleeper)
    time.sleep(0.2)
    lock = world.lines["modem1"].lock_paths()[1]
    assert run_as(mallory, ["sh", "-c", f"printf '%10d\\n' {sleeper.pid} > {lock}"]).returncode == 0
    try:
        r = acquire_and_release(alice)
        assert r["error"]["code"] == Code.BUSY
        assert f"pid {sleeper.pid} ('sleep', user pppt-mallory)" in r["error"]["message"]
    finally:
        os.unlink(lock)


@pytest.mark.parametrize("content,taken", [
    ("huge", False), ("-1\\n", True), ("4294967296\\n", True), ("12abc\\n", True), ("", True),
    ("\\001\\002\\003\\004", True),
])
def test_L4_garbage_lock_content_is_parsed_strictly(world, mallory, alice, content, taken):
    lock = world.lines["modem1"].lock_paths()[0]
    if content == "huge":
        assert run_as(mallory, ["truncate", "-s", "1G", lock]).returncode == 0
    else:
        assert run_as(mallory, ["sh", "-c", f"printf '%b' '{content}' > {lock}"]).returncode == 0
    try:
        r = acquire_and_release(alice)
        if taken:
            assert r["error"] is None and "fd" in r
        else:
            assert r["error"]["code"] == Code.LINE and "not a lock file" in r["error"]["message"]
            assert os.path.getsize(lock) == 1 << 30
    finally:
        if os.path.lexists(lock):
            os.unlink(lock)


def race_for_modem1(users) -> list[dict]:
    """One client per user, all asking for modem1 at the same instant; each
    holds what it won for 3 s so that every loser meets a live owner."""
    go = time.time() + 2.0
    code = f"""
    while time.time() < {go}: pass
    """ + acquire_code() + f"""
    out["won"] = fd is not None
    while time.time() < {go} + 3: time.sleep(0.05)
    if fd is not None: h.release(); os.close(fd)
    h.close(); emit()
    """
    racers = [client(u, code, background=True) for u in users]
    return [json.loads(p.communicate(timeout=90)[0].strip().splitlines()[-1]) for p in racers]


def test_L5_two_users_racing_for_a_stale_lock_get_one_owner(world, mallory, alice):
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    for path in world.lines["modem1"].lock_paths():
        with open(path, "w") as f:
            f.write("%10d\n" % dead.pid)
    results = race_for_modem1([alice, mallory, alice, mallory])
    assert sum(r["won"] for r in results) == 1, results
    assert all(r["won"] or r["error"]["code"] == Code.BUSY for r in results), results


def test_L6_fifo_at_the_lock_path_does_not_hang_the_helper(world, mallory):
    lock = world.lines["modem1"].lock_paths()[0]
    assert run_as(mallory, ["mkfifo", lock]).returncode == 0
    try:
        t0 = time.monotonic()
        r = acquire_and_release(mallory)
        assert time.monotonic() - t0 < 20
        assert r["error"]["code"] == Code.LINE and "FIFO" in r["error"]["message"]
    finally:
        os.unlink(lock)


def test_L6_directory_at_the_lock_path_is_refused(world, mallory):
    lock = world.lines["modem1"].lock_paths()[-1]
    assert run_as(mallory, ["mkdir", lock]).returncode == 0
    try:
        r = acquire_and_release(mallory)
        assert r["error"]["code"] == Code.LINE and "directory" in r["error"]["message"]
    finally:
        os.rmdir(lock)


def test_L7_lock_names_the_live_helper_and_a_killed_helper_is_converged(world, alice, mallory):
    holder = client(alice, acquire_code() + """
    out["ok"] = fd is not None; emit()
    sys.stdin.readline()
    """, background=True)
    import json
    first = json.loads(holder.stdout.readline())
    assert first["ok"]
    from attack_harness import helper_of
    helper = helper_of(alice)
    for path in world.lines["modem1"].lock_paths():
        assert open(path).read() == "%10d\n" % helper
        assert os.stat(path).st_uid == 0
    os.kill(helper, signal.SIGKILL)        # root simulates a crash of the helper (Z1)
    holder.stdin.close()
    holder.wait(timeout=30)
    assert read_session("modem1").supervisor_pid == helper
    status = client(mallory, "h = HelperClient(); out['s'] = h.status(); h.close(); emit()")["s"]
    line = [e for e in status if e["line"] == "modem1"][0]
    assert line["state"] == "free" and "died" in line["last"]["reason"]
    assert leftovers(world) == []


# ===================================================================== D
def test_D1_repointed_policy_symlink_is_refused_by_the_rdev_pin(world, mallory):
    link = os.path.join(world.dev_dir, "modem")
    os.symlink(world.lines["modem1"].path, link)
    st = os.stat(world.lines["modem1"].path)
    pin = f'rdev = "{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"\n'
    world.policy.write(world.policy_text(device={"modem1": link}, extra_line={"modem1": pin}))
    assert acquire_and_release(mallory)["error"] is None        # as configured: fine
    os.unlink(link)
    os.symlink(world.lines["modem2"].path, link)                   # "udev" re-points it
    r = acquire_and_release(mallory)
    assert r["error"]["code"] == Code.LINE and "pins" in r["error"]["message"] and "fd" not in r


def test_D2_users_own_pty_is_never_a_line(world, mallory):
    holder = subprocess.Popen(["setpriv", f"--reuid={mallory.uid}", f"--regid={mallory.gid}", "--clear-groups",
                               "/usr/bin/python3.11", "-I", "-c",
                               "import os,sys; m,s=os.openpty(); print(os.ttyname(s), flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    world.procs.append(holder)
    own = holder.stdout.readline().strip()
    assert os.stat(own).st_uid == mallory.uid
    world.policy.write(world.policy_text(device={"modem1": own}))
    r = acquire_and_release(mallory)
    assert r["error"] is not None and "fd" not in r
    assert f"owned by uid {mallory.uid}" in r["error"]["message"] or r["error"]["code"] == Code.CONFIG


@pytest.mark.parametrize("device", ["/dev/tty", "/dev/console", "/dev/null", "/proc/self/fd/0"])
def test_D2_non_serial_devices_are_refused(world, mallory, device):
    text = world.policy_text(device={"modem1": device}).replace("pty = true\n", "pty = false\n", 1)
    world.policy.write(text)
    r = acquire_and_release(mallory)
    assert r["error"] is not None and r["error"]["code"] in (Code.LINE, Code.CONFIG) and "fd" not in r


@pytest.mark.parametrize("kind", ["fifo", "file", "dir", "dangling"])
def test_D3_wrong_object_at_the_device_path_is_refused_without_hanging(world, mallory, kind):
    path = os.path.join(world.dev_dir, "modem")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "file":
        open(path, "w").close()
    elif kind == "dir":
        os.mkdir(path)
    else:
        os.symlink("/dev/nonexistent-modem", path)
    world.policy.write(world.policy_text(device={"modem1": path}))
    t0 = time.monotonic()
    r = acquire_and_release(mallory)
    assert time.monotonic() - t0 < 20
    assert r["error"] is not None and r["error"]["code"] in (Code.LINE, Code.CONFIG) and "fd" not in r


def test_D4_received_fd_is_the_pinned_tty_read_write_and_no_ctty_anywhere(world, alice):
    expected = os.stat(world.lines["modem1"].path).st_rdev
    holder = client(alice, acquire_code() + """
    import fcntl
    st = os.fstat(fd)
    out.update(rdev=st.st_rdev, acc=fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE, tty=os.isatty(fd),
               link=os.readlink(f"/proc/self/fd/{fd}"))
    emit(); sys.stdin.readline()
    h.release(); os.close(fd); h.close()
    """, background=True)
    import json
    got = json.loads(holder.stdout.readline())
    try:
        assert got["rdev"] == expected and got["acc"] == os.O_RDWR and got["tty"]
        assert got["link"] == world.lines["modem1"].path
        from attack_harness import helper_of
        helper = helper_of(alice)
        assert procinfo.stat_fields(helper)[4] == "0"          # the helper took no ctty
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_D5_line_outside_the_users_rule_is_refused(world, mallory):
    r = acquire_and_release(mallory, "modem2")
    assert r["error"]["code"] == Code.DENIED and "fd" not in r
    assert leftovers(world) == []


def test_D6_second_opener_gets_ebusy_while_the_session_lasts(world, alice, mallory):
    os.chown(world.lines["modem1"].path, 0, mallory.gid)   # as if mallory were in dialout
    os.chmod(world.lines["modem1"].path, 0o660)
    probe = ["/usr/bin/python3.11", "-I", "-c",
             f"import os; os.open({world.lines['modem1'].path!r}, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)"]
    assert run_as(mallory, probe).returncode == 0      # control: without a session she may open it
    holder = client(alice, acquire_code() + "emit(); sys.stdin.readline(); h.release(); os.close(fd); h.close()",
                    background=True)
    import json
    assert json.loads(holder.stdout.readline())["error"] is None
    try:
        r = run_as(mallory, probe)
        assert r.returncode != 0 and "Device or resource busy" in r.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_F6_the_received_fd_is_the_only_way_in(world, mallory):
    """The fd the helper sends is a read-write description of the pinned tty,
    never an O_PATH or root-opened file of some other kind; and it gives no
    way to open the line anew: reopening /proc/self/fd/N checks the device
    node's permissions again, which mallory does not have."""
    st = os.stat(world.lines["modem1"].path)
    r = raw(mallory, {}, [request("acquire", line="modem1", account="a"), {"recv": 15, "keep_fds": True},
                          {"reopen_kept": True}, request("release"), {"recv": 15}, {"close": True}, {"wait": 15}])
    fd = r["events"][1]["fds"]
    assert len(fd) == 1, r["events"]
    fd = fd[0]
    assert fd["chr"] and fd["isatty"] and not fd["o_path"] and not fd["reg"]
    assert fd["accmode"] == os.O_RDWR and fd["rdev"] == [os.major(st.st_rdev), os.minor(st.st_rdev)]
    assert fd["link"] == world.lines["modem1"].path
    assert r["events"][2]["reopen_kept"] == ["EACCES"], r["events"][2]


# ===================================================================== F5
def test_F5_fd_kept_after_release_is_dead(world, alice):
    r = client(alice, acquire_code() + """
    h.release(); h.close()
    out["read"] = os.read(fd, 10).decode()
    try:
        os.write(fd, b"ATDT123\\r"); out["write"] = "ok"
    except OSError as e:
        out["write"] = errno.errorcode[e.errno]
    emit()
    """)
    assert r["read"] == "" and r["write"] == "EIO"


def test_F5_fd_kept_after_the_client_connection_ends_is_dead(world, alice):
    r = client(alice, acquire_code() + """
    h.close()                         # the helper sees EOF and cleans up
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.write(fd, b"AT\\r")
        except OSError as e:
            out["write"] = errno.errorcode[e.errno]; break
        time.sleep(0.05)
    emit()
    """)
    assert r["write"] == "EIO"


def test_F5_dial_time_limit_takes_the_line_back_from_a_connected_client(world, alice):
    world.policy.write(world.policy_text().replace("dial_seconds = 60", "dial_seconds = 10"))
    r = client(alice, acquire_code() + """
    t0 = time.time()
    while time.time() - t0 < 25:
        try:
            os.write(fd, b"AT\\r")
        except OSError as e:
            out["write"] = errno.errorcode[e.errno]; out["after"] = time.time() - t0; break
        time.sleep(0.1)
    emit()
    """)
    assert r["write"] == "EIO" and 9 < r["after"] < 14, r


def test_S3_an_alarm_armed_before_the_shim_cannot_kill_the_helper_holding_the_line(world, mallory):
    """ITIMER_REAL survives the setuid exec: armed by the caller, it killed the
    helper with SIGALRM right after it handed over the line, leaving the line
    locked and the caller's fd alive past the dial time limit."""
    r = raw(mallory, {"itimers": {"REAL": 2.0}},
            [request("acquire", line="modem1", account="a"), {"recv": 15, "keep_fds": True}, {"sleep": 3},
             request("status"), {"recv": 15}, request("release"), {"recv": 15},
             {"write_kept": "AT\r"}, {"close": True}, {"wait": 15}])
    got = answers(r)
    assert [a["ok"] for a in got] == [True, True, True], r["events"]
    assert [e for e in r["events"] if "write_kept" in e][0]["write_kept"] == ["EIO"]
    assert r["exit"] == 0
    assert read_end("modem1").reason == "released by the client"


def test_R4_timer_slack_cannot_stretch_the_dial_time_limit(world, mallory):
    """PR_SET_TIMERSLACK survives exec: with a 60 s slack inherited, the
    helper's poll for the next request overslept the 10 s dial time limit and
    the caller kept the line (40 s and counting)."""
    world.policy.write(world.policy_text().replace("dial_seconds = 60", "dial_seconds = 10"))
    r = raw(mallory, {"timerslack_ns": 60 * 10**9},
            [request("acquire", line="modem1", account="a"), {"recv": 15, "keep_fds": True},
             {"write_kept": "AT\r", "for": 30}, {"wait": 15}], timeout=90)
    assert answers(r)[0]["ok"] is True
    written = [e for e in r["events"] if "write_kept" in e][0]
    assert written["write_kept"] == ["EIO"] and 9 < written["after"] < 14, written
    assert read_end("modem1").reason.startswith("dial time limit")


def test_F5_answer_the_helper_cannot_send_still_ends_the_session(world, mallory):
    """A forged client shrinks SO_SNDBUF of the socket it hands the shim, so a
    large answer (status of a policy with many lines) cannot be sent at all
    (EMSGSIZE).  The helper must treat that as the client going away: release
    the line at once, its descriptor included, not exit with the line locked
    and the client's fd alive until somebody else happens to converge it."""
    spare = "".join(f'\n[lines.spare{i:02d}-{"x" * 20}]\ndevice = "/dev/ttyS{40 + i}"\n' for i in range(30))
    world.policy.write(world.policy_text().replace("\n[peers.", spare + "\n[peers.", 1))
    r = raw(mallory, {"fd3_sndbuf": 1}, [request("acquire", line="modem1", account="a"),
                                          {"recv": 15, "keep_fds": True}, request("status"), {"recv": 15},
                                          {"write_kept": "AT\r", "for": 10}, {"wait": 15}])
    got = answers(r)
    assert got[0]["ok"] is True and len(r["events"][1]["fds"]) == 1
    assert len(got) == 1, "the status answer cannot fit: nothing more arrives"
    written = [e for e in r["events"] if "write_kept" in e][0]
    assert written["write_kept"] == ["EIO"] and written["after"] < 5, written
    assert r["exit"] == 0
    assert leftovers(world) == [], "released by the helper itself, not left for the next status"


# ===================================================================== K
def test_K1_another_user_cannot_stop_a_link_and_the_owner_can(world, alice, mallory):
    sup, info = start_supervisor(world, "pppt-alice")
    r = client(mallory, """
    h = HelperClient(); _, out["named"] = attempt(h.stop, "modem1", False); h.close()
    h = HelperClient(); _, out["own"] = attempt(h.stop, None, False); h.close()
    h = HelperClient(); _, out["all"] = attempt(h.stop, None, True); h.close()
    emit()
    """)
    assert r["named"]["code"] == Code.DENIED
    assert r["own"]["code"] == Code.NO_LINK and r["all"]["code"] == Code.NO_LINK
    assert procinfo.facts(info["pppd"]) is not None          # untouched
    t0 = time.monotonic()
    r = client(alice, "h = HelperClient(); out['s'] = h.stop(None, False); h.close(); emit()")
    assert r["s"][0]["stopped"] and r["s"][0]["pppd"] == "terminated", r
    assert r["s"][0]["reason"] == "pppd was killed by SIGTERM"
    assert time.monotonic() - t0 < 15
    assert sup.wait(timeout=10) == 0
    assert wait_gone(info["pppd"], 2)


def test_K1_line_admin_may_stop_another_users_link(world, alice, mallory):
    sup, info = start_supervisor(world, "pppt-mallory")
    r = client(alice, "h = HelperClient(); out['s'] = h.stop('modem1', False); h.close(); emit()")
    assert r["s"][0]["user"] == "pppt-mallory" and r["s"][0]["stopped"]
    assert sup.wait(timeout=10) == 0


def _fake_stale_record(world, pppd_pid: int, pppd_start: int) -> None:
    """A session record whose supervisor is dead, claiming pppd is `pppd_pid`."""
    from pppup_helper.state import SessionRecord, StateDir
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    ln = world.lines["modem1"]
    with StateDir() as sd:
        sd.write_session(SessionRecord(line="modem1", owner_uid=0, user="root", account="x", phase="up",
                                       supervisor_pid=dead.pid, supervisor_start=1, since=int(time.time()),
                                       device=ln.path, lock_names=tuple(ln.lock_names()), peer=TEST_PEER,
                                       pppd_pid=pppd_pid, pppd_start=pppd_start, link_start=int(time.time())))


@pytest.mark.parametrize("victim", ["root-sleep", "recycled-pid"])
def test_K2_K3_recorded_pppd_pid_that_is_another_process_is_never_signalled(world, mallory, victim):
    p = subprocess.Popen(["sleep", "60"])
    world.procs.append(p)
    time.sleep(0.1)
    start = procinfo.start_time(p.pid)
    _fake_stale_record(world, p.pid, start if victim == "root-sleep" else start - 1)
    client(mallory, "h = HelperClient(); out['s'] = h.status(); h.close(); emit()")
    time.sleep(0.3)
    assert p.poll() is None                       # alive: not signalled
    assert read_session("modem1") is None         # the stale record was converged


@pytest.mark.parametrize("pid", ["0", "1", "-1", "4194305", "\"12\"", "1.5", "true"])
def test_K4_special_pids_in_state_are_no_session(world, mallory, pid):
    os.makedirs(os.path.join(paths.STATE_DIR, "lines"), mode=0o700, exist_ok=True)
    import json
    from pppup_helper.state import SessionRecord, encode
    ln = world.lines["modem1"]
    rec = json.loads(encode(SessionRecord(line="modem1", owner_uid=mallory.uid, user="x", account="x", phase="up",
                                          supervisor_pid=4242, supervisor_start=1, since=1, device=ln.path,
                                          lock_names=())))
    text = json.dumps(rec).replace('"supervisor_pid": 4242', f'"supervisor_pid": {pid}')
    with open(os.path.join(paths.STATE_DIR, "lines", "modem1.json"), "w") as f:
        f.write(text)
    os.chmod(os.path.join(paths.STATE_DIR, "lines", "modem1.json"), 0o600)
    r = client(mallory, """
    h = HelperClient(); _, out['stop'] = attempt(h.stop, 'modem1', False); h.close()
    h = HelperClient(); out['s'] = h.status(); h.close(); emit()
    """)
    assert r["stop"]["code"] == Code.NO_LINK
    assert [e for e in r["s"] if e["line"] == "modem1"][0]["state"] == "free"


@pytest.mark.parametrize("extra", ["signal=9", "signal=SIGKILL", "pid=1"])
def test_K5_the_client_cannot_choose_the_signal_or_the_pid(world, mallory, extra):
    r = raw(mallory, steps=[{"send": f"op=stop\ntarget=modem1\nall=0\n{extra}\n"}, {"recv": 15},
                            {"close": True}, {"wait": 15}])
    got = answers(r)
    assert got and got[0]["ok"] is False and got[0]["code"] == HELPER_CODE


# ===================================================================== Z
def test_Z1_helper_killed_with_pppd_running_leaves_nothing(world, alice, mallory):
    sup, info = start_supervisor(world, "pppt-alice")
    sup.kill()                                   # the supervisor dies
    sup.wait()
    assert wait_gone(info["pppd"], 2), "pppd outlived its supervisor (PDEATHSIG)"
    status = client(mallory, "h = HelperClient(); out['s'] = h.status(); h.close(); emit()")["s"]
    assert [e for e in status if e["line"] == "modem1"][0]["state"] == "free"
    assert leftovers(world) == []


def test_Z2_client_killed_holding_the_fd_releases_the_line(world, alice):
    holder = client(alice, acquire_code() + "emit(); time.sleep(300)", background=True)
    holder.stdout.readline()
    from attack_harness import helper_of
    helper = helper_of(alice)
    holder.kill()
    holder.wait()
    assert wait_gone(helper, 15)
    assert leftovers(world) == []
    assert read_end("modem1").reason == "client disconnected"


def test_Z3_pppd_sigkilled_is_cleaned_up_within_2s(world, alice):
    sup, info = start_supervisor(world, "pppt-alice")
    pidfd = os.pidfd_open(info["pppd"])
    t0 = time.monotonic()
    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    os.close(pidfd)
    # The supervisor (the installed C program the helper became) ends after
    # its finish step has cleaned up and recorded the end.
    assert sup.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 2.0
    assert read_end("modem1").reason == "pppd was killed by SIGKILL"
    assert leftovers(world) == []


@pytest.mark.parametrize("garbage", ["", "{", "null", "x" * 20000, '{"owner_uid": 0}'])
def test_Z4_corrupt_state_is_no_session(world, alice, garbage):
    os.makedirs(os.path.join(paths.STATE_DIR, "lines"), mode=0o700, exist_ok=True)
    path = os.path.join(paths.STATE_DIR, "lines", "modem1.json")
    with open(path, "w") as f:
        f.write(garbage)
    r = acquire_and_release(alice)
    assert r["error"] is None and "fd" in r


# ===================================================================== O
@pytest.mark.parametrize("peer", ["plugin", "pppt-isp\nplugin /tmp/x.so", "../../tmp/x", ".hidden", "-d",
                                  "/etc/passwd", "x" * 300])
def test_O1_O9_hostile_peer_names_never_reach_pppd(world, mallory, peer):
    steps = [request("acquire", line="modem1", account="a"), {"recv": 15},
             {"send": "op=start_pppd\npeer=" + peer + "\nflags=\nuser=\nsecret=\ntimeout=10\n"}, {"recv": 15},
             {"close": True}, {"wait": 20}]
    r = raw(mallory, steps=steps)
    got = answers(r)
    assert got[0]["ok"] is True
    assert got[1]["ok"] is False and got[1]["code"] in (HELPER_CODE, Code.DENIED)
    assert _pppd_pids([world.lines['modem1'].path]) == []


@pytest.mark.parametrize("flag", ["plugin", "record", "noauth", "persist", "file", "nolock", "connect"])
def test_O3_unsafe_flags_are_refused(world, mallory, flag):
    steps = [request("acquire", line="modem1", account="a"), {"recv": 15},
             request("start_pppd", peer=TEST_PEER, flags=flag, user="", secret="", timeout=10), {"recv": 15},
             {"close": True}, {"wait": 20}]
    got = answers(raw(mallory, steps=steps))
    assert got[1]["ok"] is False and got[1]["code"] == Code.DENIED


def test_O2_O4_shell_strings_as_credentials_run_nothing_and_pppd_text_is_not_relayed(world, mallory):
    steps = [request("acquire", line="modem1", account="a"), {"recv": 15},
             request("start_pppd", peer=TEST_PEER, flags="novj", user="$(touch${IFS}/tmp/pwned-O2)",
                     secret="`touch /tmp/pwned-O2b`;touch /tmp/pwned-O2c", timeout=20), {"recv": 40},
             {"close": True}, {"wait": 20}]
    got = answers(raw(mallory, steps=steps, timeout=90))
    assert got[1]["ok"] is False and got[1]["code"] == Code.PPP
    message = got[1]["message"]
    # pppd really ran (and found no kernel PPP on the host); its own text stays in the helper
    assert "the kernel has no PPP support" in message
    assert "/dev/ppp" not in message and "mknod" not in message
    assert not any(n.startswith("pwned-") for n in os.listdir("/tmp"))
    assert read_end("modem1").exit_status == 4


# ===================================================================== E4, F2, P3: the real pppd
HOSTILE_ENV = {"PATH": "/tmp/pwned-bin:/usr/bin:/bin", "IFS": "/", "BASH_ENV": "/tmp/pwned-env",
               "ENV": "/tmp/pwned-env", "HOME": "/tmp", "SHELLOPTS": "xtrace", "LD_PRELOAD": "/tmp/pwned.so",
               "PPPUP_SECRET": "x", "TZ": "../../tmp/tz"}
SECRET = "s3cr3t-never-visible"


def test_E4_F2_P3_pppd_started_for_a_hostile_client_gets_nothing_of_it(world, mallory):
    """mallory's client, run with a hostile environment, has the installed
    helper start the real pppd, which the peer file keeps waiting on an
    option FIFO so it can be looked at: its environment is exactly the fixed
    PATH (E4), it holds the line, /dev/null, its log pipe and the secret pipe
    and nothing else (F2), and neither its argv nor its environment shows
    the PAP user or secret (P3); nothing of it reaches mallory."""
    from attack_harness import finish, raw_background
    fifo = "/run/pppt-hold.fifo"
    peer = os.path.join(paths.PEERS_DIR, "pppt-hold")
    os.mkfifo(fifo, 0o600)
    with open(peer, "w") as f:
        f.write(f"# pppup attack suite: pppd waits here until the test lets it go\nfile {fifo}\n")
    os.chmod(peer, 0o644)
    try:
        world.policy.write(world.policy_text().replace(f'\n[peers.{TEST_PEER}]\n',
                                                       f'\n[peers.{TEST_PEER}]\n[peers.pppt-hold]\n')
                           .replace(f'peers = ["{TEST_PEER}"]', f'peers = ["{TEST_PEER}", "pppt-hold"]'))
        hostile = {"env": HOSTILE_ENV, "timerslack_ns": 60 * 10**9, "nice": 15, "umask": 0,
                   "rlimits": {"CORE": [-1, -1], "FSIZE": [0, -1]}}
        proc = raw_background(mallory, hostile, [
            request("acquire", line="modem1", account="a"), {"recv": 15},
            request("start_pppd", peer="pppt-hold", flags="", user="pppt-user", secret=SECRET, timeout=60),
            {"recv": 90}, {"close": True}, {"wait": 20}])
        tty = world.lines["modem1"].path
        deadline = time.monotonic() + 20
        while not _pppd_pids([tty]) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = _pppd_pids([tty])
        assert len(pids) == 1, "pppd did not start"
        pid = pids[0]
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = [v for v in f.read().split(b"\0") if v]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        fds = {int(n): os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
        # nothing of the caller's process state either: pppd's idle and
        # maxconnect timers must not be stretched by an inherited slack
        with open(f"/proc/{pid}/timerslack_ns") as f:
            slack = int(f.read())
        nice = int(procinfo.stat_fields(pid)[16])
        with open(f"/proc/{pid}/limits") as f:
            limits = f.read()
        umask = proc_umask(pid)
        visible = run_as(mallory, ["/bin/cat", f"/proc/{pid}/environ", f"/proc/{pid}/cmdline"])
        # Let pppd go on: it reads the secret, then finds no kernel PPP on the host.
        with open(fifo, "w"):
            pass
        result = finish(proc, timeout=120)
    finally:
        os.unlink(peer)
        os.unlink(fifo)
    assert environ == [b"PATH=/usr/sbin:/usr/bin:/sbin:/bin"], environ
    assert slack == 50000 and nice == 0 and umask == "0022", (slack, nice, umask)
    assert [l.split()[4:6] for l in limits.splitlines() if l.startswith("Max core file size")] == [["0", "0"]]
    assert [l.split()[3] for l in limits.splitlines() if l.startswith("Max file size")] == ["unlimited"]
    assert argv[:4] == [b"/usr/sbin/pppd", b"call", b"pppt-hold", b"nodetach"], argv
    assert not any(SECRET.encode() in a or b"pppt-user" in a for a in argv), argv
    assert fds[0] == tty and fds[1] == "/dev/null", fds
    assert fds[2].startswith("pipe:") and fds[3].startswith("pipe:"), fds
    extra = {n: target for n, target in fds.items() if n > 3}
    # beyond 0-3 only what pppd opened itself: the option file it is reading, its syslog
    assert all(target.startswith(("socket:", "/etc/ppp/")) for target in extra.values()), fds
    assert SECRET not in visible.stdout and "pppt-user" not in visible.stdout
    got = answers(result)
    assert got[1]["ok"] is False and got[1]["code"] == Code.PPP, got
    assert SECRET not in repr(result)
    assert read_end("modem1").exit_status == 4


def proc_umask(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1] for line in f if line.startswith("Umask:"))


# ===================================================================== C (during a session)
def _change_mid_session(world, mallory, change, restore) -> list[dict]:
    """mallory acquires modem1, then (while she dials) `change` alters what
    root trusts, then she asks for pppd; the answers, `restore` run after."""
    from attack_harness import finish, raw_background
    proc = raw_background(mallory, {}, [request("acquire", line="modem1", account="a"), {"recv": 15},
                                        {"sleep": 4},
                                        request("start_pppd", peer=TEST_PEER, flags="novj", user="", secret="",
                                                timeout=20),
                                        {"recv": 40}, {"close": True}, {"wait": 20}])
    try:
        deadline = time.monotonic() + 15
        while read_session("modem1") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_session("modem1") is not None, "the session never started"
        change()
        got = answers(finish(proc, timeout=90))
    finally:
        restore()
    assert got[0]["ok"] is True
    return got


@pytest.mark.parametrize("change", ["rule-revoked", "peer-removed", "policy-writable"])
def test_C3_policy_changed_while_dialling_decides_start_pppd(world, mallory, change):
    """The policy is read when the connection starts; an administrator who
    revokes the grant (or a policy that became unsafe) while the user dials
    must decide whether pppd starts, not the snapshot from minutes ago."""
    text = world.policy_text()
    if change == "rule-revoked":
        new = text.replace('users = ["pppt-mallory", "pppt-alice"]', 'users = ["pppt-alice"]', 1)
    else:
        new = text
    def apply():
        if change == "policy-writable":
            os.chmod(paths.POLICY, 0o666)
        elif change == "peer-removed":
            world.policy.write(text.replace(f'peers = ["{TEST_PEER}"]', "peers = []"))
        else:
            world.policy.write(new)
    got = _change_mid_session(world, mallory, apply, lambda: os.chmod(paths.POLICY, 0o644))
    assert got[1]["ok"] is False and got[1]["code"] in (Code.DENIED, Code.CONFIG), got[1]
    assert "kernel has no PPP" not in got[1]["message"], "pppd was started"
    assert read_end("modem1").exit_status is None, "pppd must not have run"


def test_C5_peer_file_made_writable_while_dialling_is_refused_before_pppd(world, mallory):
    """pppd reads /etc/ppp/peers/PEER when it starts, maybe an hour after the
    connection's policy check (dial_seconds): checked again right before."""
    peer = os.path.join(paths.PEERS_DIR, TEST_PEER)
    st = os.stat(peer)
    got = _change_mid_session(world, mallory, lambda: os.chown(peer, mallory.uid, mallory.gid),
                              lambda: (os.chown(peer, st.st_uid, st.st_gid), os.chmod(peer, st.st_mode)))
    assert got[1]["ok"] is False and got[1]["code"] == Code.CONFIG and peer in got[1]["message"], got[1]
    assert read_end("modem1").exit_status is None, "pppd must not have run"


# ===================================================================== X2
X2_SCRIPT = textwrap.dedent("""
    set -e
    mount -t tmpfs -o size=64k,nr_inodes=16,mode=1777 tmpfs /run/lock
    i=0; while touch /run/lock/filler$i 2>/dev/null; do i=$((i+1)); done
    exec setpriv --reuid="$1" --regid="$2" --init-groups -- "$3" -I -c "$4"
""")


def test_X2_full_lock_directory_refuses_cleanly(world, mallory):
    """/run/lock full (in a private mount namespace, so nothing else on the machine
    sees the tmpfs): the helper refuses, leaves no partial lock or state."""
    from line_support import CLIENT_PRELUDE, CLIENT_PYTHON
    code = CLIENT_PRELUDE + textwrap.dedent(acquire_code() + """
    out["names"] = sorted(n for n in os.listdir("/run/lock") if not n.startswith("filler"))
    emit()
    """)
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", X2_SCRIPT, "x",
                        str(mallory.uid), str(mallory.gid), CLIENT_PYTHON, code],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["error"]["code"] == Code.LINE and "full" in out["error"]["message"]
    assert out["names"] == []
    assert read_session("modem1") is None


X2_STATE_SCRIPT = textwrap.dedent("""
    set -e
    mount -t tmpfs -o size=64k,nr_inodes=64,mode=0700 tmpfs /run/pppup
    mkdir -m 0700 /run/pppup/admission /run/pppup/lines
    for slot in u"$1".0 all.0; do : > /run/pppup/admission/$slot; done
    : > /run/pppup/lockdir.lock
    i=0; while touch /run/pppup/filler$i 2>/dev/null; do i=$((i+1)); done
    head -c 1M /dev/zero > /run/pppup/blob 2>/dev/null || true
    setpriv --reuid="$1" --regid="$2" --init-groups -- "$3" -I -c "$4"
    ls -A /run/pppup/lines
""")


def test_X2_full_state_directory_refuses_cleanly_and_unlocks(world, mallory):
    """/run/pppup full (a private mount namespace's tiny tmpfs over it: /run is
    shared with world-writable directories on some systems, so a user can
    fill it): the session record cannot be written, so the line is refused
    and its freshly made locks are removed again; nothing half-made stays."""
    from line_support import CLIENT_PRELUDE, CLIENT_PYTHON
    lock_paths = world.lines["modem1"].lock_paths()
    code = CLIENT_PRELUDE + textwrap.dedent(acquire_code() + f"""
    out["locks"] = [p for p in {lock_paths!r} if os.path.lexists(p)]
    emit()
    """)
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", X2_STATE_SCRIPT, "x",
                        str(mallory.uid), str(mallory.gid), CLIENT_PYTHON, code],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    lines = r.stdout.strip().splitlines()
    out = json.loads(lines[-1] if lines[-1].startswith("{") else lines[-2])
    assert out["error"] is not None and out["error"]["code"] in (Code.LINE, Code.HELPER), out
    assert out["locks"] == [], "the locks made for the refused session must be gone"
    assert not [n for n in lines if n.startswith((".tmp", "modem"))], f"left in lines/: {lines}"


# ===================================================================== M7, S5, X4
def test_M7_six_clients_racing_for_a_free_line_get_one_owner(world, mallory, alice):
    results = race_for_modem1([alice, mallory] * 3)
    assert sum(r["won"] for r in results) == 1, results
    assert all(r["won"] or r["error"]["code"] == Code.BUSY for r in results), results


def test_S5_helpers_killed_at_random_points_leave_nothing_the_next_status_does_not_converge(world, alice,
                                                                                            mallory):
    """The helper installs no signal handler that does work: a signal at any
    point of acquire or release (root sends it here, standing in for a
    crash) ends it, and whatever it had made by then -- locks, a record, an
    open line -- is converged by the next helper."""
    import random
    from attack_harness import finish, helper_pids, raw_background
    rng = random.Random(5)
    for delay in [rng.uniform(0.0, 0.6) for _ in range(6)]:
        before = set(helper_pids())
        proc = raw_background(alice, {}, [request("acquire", line="modem1", account="a"), {"recv": 15},
                                          request("release"), {"recv": 15}, {"close": True}, {"wait": 15}])
        deadline = time.monotonic() + 10
        new = []
        while not new and time.monotonic() < deadline:
            new = [p for p in helper_pids() if p not in before]
            time.sleep(0.005)
        time.sleep(delay)
        for pid in new:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        finish(proc, timeout=60)
        wait_no_helpers()
        status = client(mallory, "h = HelperClient(); out['s'] = h.status(); h.close(); emit()")["s"]
        assert [e for e in status if e["line"] == "modem1"][0]["state"] == "free", (delay, status)
        assert leftovers(world) == [], (delay, leftovers(world))


def test_X4_a_lock_holders_hostile_name_reaches_neither_answer_nor_audit_raw(world, mallory, alice):
    """mallory holds modem1's lock with a process whose name (comm) is a
    terminal escape and a newline forging an audit field; alice's refusal
    names the holder, escaped, and every audit line the helper writes stays
    one line of printable ASCII (the syslog socket is captured here)."""
    import socket as socketmod
    if os.path.lexists("/dev/log"):
        pytest.skip("a syslog daemon owns /dev/log here; this case captures the audit itself")
    log = socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_DGRAM)
    log.bind("/dev/log")
    log.settimeout(0.2)
    holder = subprocess.Popen(["setpriv", f"--reuid={mallory.uid}", f"--regid={mallory.gid}", "--clear-groups",
                               "/usr/bin/python3.11", "-I", "-c",
                               "import ctypes,sys; ctypes.CDLL(None).prctl(15, b'\\x1b[2J\\nuid=0 op=x'); "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    world.procs.append(holder)
    lock = world.lines["modem1"].lock_paths()[0]
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert run_as(mallory, ["sh", "-c", f"printf '%10d\\n' {holder.pid} > {lock}"]).returncode == 0
        r = acquire_and_release(alice)
        lines = []
        while True:
            try:
                lines.append(log.recv(4096))
            except OSError:
                break
    finally:
        log.close()
        os.unlink("/dev/log")
        if os.path.lexists(lock):
            os.unlink(lock)
    message = r["error"]["message"]
    assert r["error"]["code"] == Code.BUSY and f"pid {holder.pid}" in message
    assert "\x1b" not in message and "\n" not in message
    ours = [line for line in lines if b"pppup-helper" in line]
    assert any(b"op=acquire" in line and str(holder.pid).encode() in line for line in ours), ours
    for line in ours:
        assert all(0x20 <= byte < 0x7f for byte in line.split(b": ", 1)[1]), line
        assert line.count(b" uid=") == 1, line
